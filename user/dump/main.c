// SPDX-License-Identifier: MIT
/*
 * llminstr-dump: reads, checks, exports and packs .llmi containers. This file
 * dispatches subcommands; util.c holds the helpers they share.
 */
#include <stdio.h>
#include <string.h>

#include "dump/dump.h"

static const char usage[] =
"Usage: llminstr-dump COMMAND [ARGS]\n"
"Read, check, export and pack llminstr containers (.llmi).\n"
"\n"
"  info FILE... [--json]         what is inside: records, totals, ratio, errors\n"
"                                (several files: one run, summed, then each)\n"
"  ls FILE... [--wide|--json]    tensors: id, name, step, layer, shape, dtype,\n"
"                                codec, ratio, achieved nmse / max error\n"
"                                (--wide: sizes, mse, whole names)\n"
"  export FILE --tensor ID|NAME -o OUT.npy [--bf16-raw] [--force]\n"
"                                one tensor as a numpy .npy file\n"
"  export FILE... --format safetensors|memmap|hf-arrow -o DIR [--tensor GLOB]\n"
"                                many: a safetensors file per step, a raw file\n"
"                                per name with a numpy.memmap sidecar, or a\n"
"                                Hugging Face datasets directory (Arrow)\n"
"  pack --dtype f32|bf16|f16 --shape AxB --codec SPEC IN.raw -o OUT.llmi\n"
"       [--force]               a raw array in, a one-tensor container out\n"
"  verify FILE [--no-decode]     every record's checksum and contents, every\n"
"                                tensor decoded, the summary and the index\n"
"  perfetto FILE -o OUT.json [--force]\n"
"                                Chrome/Perfetto trace-event timeline\n"
"\n"
"'llminstr-dump COMMAND --help' describes a command. An output that exists\n"
"is refused unless --force; a symbolic link, directory or device always.\n"
"Exit status: 0 done; 1 the file is damaged (what is readable is still\n"
"shown); 2 bad usage; 3 cannot do it (FILE unreadable or not a container, an\n"
"output not created or written). A file whose writer died (no index, maybe an\n"
"incomplete last record) is read up to its last complete record: not damage,\n"
"said on stderr, exit 0.\n"
"\n"
"EXAMPLES:\n"
"  llminstr-dump ls run.llmi\n"
"  llminstr-dump export run.llmi --tensor blk.3.resid -o resid.npy\n"
"  llminstr-dump pack --dtype bf16 --shape 512x4096 --codec quant:nmse=1e-3 \\\n"
"      acts.raw -o acts.llmi\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "info", cmd_info }, { "ls", cmd_ls }, { "export", cmd_export },
		{ "pack", cmd_pack }, { "verify", cmd_verify }, { "perfetto", cmd_perfetto },
	};

	if (argc < 2)
		return dump_err(EXIT_USAGE, "give a command: info, ls, export, pack, verify or perfetto (try --help)");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return dump_err(EXIT_USAGE, "unknown command '%s' (try --help)", argv[1]);
}

// SPDX-License-Identifier: MIT
/*
 * llminstr-dump pack: a raw array (as users already have from their own
 * dumps) in, a one-tensor container out, through the same codec and writer
 * as a live capture. Everything about the input is checked before any
 * output is created: the dtype, the shape, the codec spec and its bound,
 * and that the file holds exactly prod(shape) * dtype size bytes.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fmt.h"
#include "io/outfile.h"
#include "common/parse.h"
#include "dump/dump.h"
#include "io/writer.h"

static const char pack_help[] =
"Usage: llminstr-dump pack --dtype f32|bf16|f16 --shape AxB[xC...] --codec SPEC\n"
"                          IN.raw -o OUT.llmi [--name NAME] [--step N] [--layer N]\n"
"Compresses a raw little-endian C-order array into a one-tensor container.\n"
"  -d, --dtype     f32, bf16 or f16\n"
"  -s, --shape     dimensions, e.g. 512x4096 (at most 8, each >= 1); the input\n"
"                  must hold exactly their product times the dtype size in bytes\n"
"  -c, --codec     lossless | quant:nmse=X | quant:mse=X | quant:abs=X, X > 0\n"
"                  (optional ,chanmean suffix for 2-D [tokens x hidden])\n"
"  -o, --output    the container; created or replaced, a symbolic link is refused\n"
"  -n, --name      tensor name (default: the input's file name)\n"
"      --step N, --layer N   stored with the tensor\n"
"EXAMPLE:\n"
"  llminstr-dump pack --dtype bf16 --shape 512x4096 --codec quant:nmse=1e-3 \\\n"
"      acts.raw -o acts.llmi\n";

static int parse_shape(const char *s, struct llmi_tensor_desc *d)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf) || !*s)
		return -EINVAL;
	strcpy(buf, s);
	d->ndim = 0;
	for (tok = strtok_r(buf, "x", &save); tok; tok = strtok_r(NULL, "x", &save)) {
		uint64_t v;

		if (d->ndim == LLMI_MAX_DIMS || llmi_parse_u64(tok, &v) || v == 0)
			return -EINVAL;
		d->shape[d->ndim++] = v;
	}
	/* "4xx8" and "4x" leave empty fields that strtok would skip. */
	if (!d->ndim || strstr(s, "xx") || s[0] == 'x' || s[strlen(s) - 1] == 'x')
		return -EINVAL;
	return 0;
}

static void *read_input(const char *path, uint64_t want, const char *shape, const char *dtype)
{
	struct stat st;
	uint8_t *buf = NULL;
	uint64_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		dump_err(EXIT_BAD, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		dump_err(EXIT_BAD, "%s: not a regular file", path);
		goto fail;
	}
	if ((uint64_t)st.st_size != want) {
		dump_err(EXIT_BAD, "%s: %lld bytes, but --shape %s --dtype %s needs %llu; check both",
			 path, (long long)st.st_size, shape, dtype, (unsigned long long)want);
		goto fail;
	}
	buf = malloc(want ? want : 1);
	if (!buf) {
		dump_err(EXIT_BAD, "%s: cannot allocate %llu bytes", path, (unsigned long long)want);
		goto fail;
	}
	while (done < want) {
		ssize_t n = read(fd, buf + done, want - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			dump_err(EXIT_BAD, "%s: read failed: %s", path, n ? strerror(errno) : "file shrank");
			goto fail;
		}
		done += n;
	}
	close(fd);
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dtype", required_argument, NULL, 'd' },
		{ "shape", required_argument, NULL, 's' },
		{ "codec", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "step", required_argument, NULL, 'S' },
		{ "layer", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *dtype_s = NULL, *shape_s = NULL, *codec_s = NULL, *out = NULL, *name = NULL;
	const char *step_s = NULL, *layer_s = NULL;
	struct llmi_writer_opts wo = { .sz = sizeof(wo), .writer = "llminstr-dump pack",
				       .flags = LLMI_WRITER_OVERWRITE | LLMI_WRITER_QUIET,
				       .owner_uid = (uid_t)-1, .owner_gid = (gid_t)-1 };
	struct llmi_tensor_desc desc = { 0 };
	struct llmi_codec_spec spec;
	struct llmi_codec_stats cs;
	struct llmi_tensor_rec tr;
	struct llmi_codec *codec = NULL;
	struct llmi_writer *w = NULL;
	enum llmi_dtype dt;
	uint64_t numel, step = 0, layer = 0;
	void *src = NULL, *blob = NULL;
	size_t cap, blob_len, esz;
	char base[4096], spec_txt[64];
	long ncpu;
	int c, err, ret = EXIT_BAD;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:s:c:o:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dtype_s = optarg; break;
		case 's': shape_s = optarg; break;
		case 'c': codec_s = optarg; break;
		case 'o': out = optarg; break;
		case 'n': name = optarg; break;
		case 'S': step_s = optarg; break;
		case 'L': layer_s = optarg; break;
		case 'h': fputs(pack_help, stdout); return 0;
		default:
			return dump_err(EXIT_USAGE, "pack: unknown or incomplete option '%s' (try --help)",
					argv[optind - 1]);
		}
	}
	if (optind != argc - 1 || !dtype_s || !shape_s || !codec_s || !out)
		return dump_err(EXIT_USAGE,
				"pack: needs --dtype, --shape, --codec, IN.raw and -o OUT.llmi (try --help)");
	if (llmi_dtype_parse(dtype_s, &dt))
		return dump_err(EXIT_USAGE, "pack: --dtype '%s' is not one of f32, bf16, f16", dtype_s);
	desc.dtype = dt;
	esz = llmi_dtype_size(dt);
	if (parse_shape(shape_s, &desc))
		return dump_err(EXIT_USAGE,
				"pack: --shape '%s' is not AxB[xC...] with 1 to 8 whole numbers >= 1", shape_s);
	numel = llmi_tensor_numel(&desc);
	if (!numel || numel > UINT64_MAX / esz)
		return dump_err(EXIT_USAGE, "pack: --shape '%s' is too large", shape_s);
	if (llmi_codec_spec_parse(codec_s, &spec))
		return dump_err(EXIT_USAGE,
				"pack: --codec '%s' is not lossless or quant:nmse|mse|abs=X with X > 0 and finite",
				codec_s);
	if (spec.flags & LLMI_CODEC_PREDICT)
		return dump_err(EXIT_USAGE, "pack: --codec ',predict' needs a reference tensor; a single raw file has none");
	if ((step_s && llmi_parse_u64(step_s, &step)) ||
	    (layer_s && (llmi_parse_u64(layer_s, &layer) || layer > INT32_MAX)))
		return dump_err(EXIT_USAGE, "pack: --step and --layer take whole numbers >= 0");
	if (!name) {
		snprintf(base, sizeof(base), "%s", argv[optind]);
		name = basename(base);
	}
	if (strlen(name) > LLMI_NAME_MAX)
		return dump_err(EXIT_USAGE, "pack: --name is longer than %u bytes", LLMI_NAME_MAX);

	src = read_input(argv[optind], numel * esz, shape_s, dtype_s);
	if (!src)
		goto out;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	codec = llmi_codec__new(ncpu > 0 ? (ncpu > 16 ? 16 : ncpu) : 1);
	if (!codec) {
		dump_err(EXIT_BAD, "cannot create a codec context: %s", strerror(errno));
		goto out;
	}
	cap = llmi_codec_bound(numel * esz);
	blob = malloc(cap ? cap : 1);
	if (!blob) {
		dump_err(EXIT_BAD, "cannot allocate %zu bytes for the encoded tensor", cap);
		goto out;
	}
	err = llmi_codec__encode(codec, &spec, &desc, src, NULL, blob, cap, &blob_len, &cs);
	if (err) {
		dump_err(EXIT_BAD, "%s: encoding failed: %s", argv[optind], strerror(-err));
		goto out;
	}
	llmi_sudo_owner(&wo.owner_uid, &wo.owner_gid);
	w = llmi_writer__new(out, &wo);
	if (!w) {
		char why[PATH_MAX + 128];

		dump_err(EXIT_BAD, "%s", llmi_out_strerror(why, sizeof(why), out, errno,
							 LLMI_OUT_FORCE));
		goto out;
	}
	llmi_tensor_rec_init(&tr, &desc, &spec, &cs);
	tr.step = step;
	tr.layer = layer_s ? (int32_t)layer : -1;
	tr.tid = gettid();
	tr.capture_ns = llmi_now_ns();
	err = llmi_writer__tensor(w, &tr, name, blob, blob_len);
	if (!err)
		err = llmi_writer__close(w);
	if (err) {
		dump_err(EXIT_BAD, "%s: writing failed: %s", out, strerror(-err));
		goto out;
	}
	llmi_codec_spec_format(&spec, spec_txt, sizeof(spec_txt));
	printf("packed %s -> %s: %s %s, %s, %llu -> %zu bytes (%.2fx), mse %.3g nmse %.3g max err %.3g\n",
	       argv[optind], out, shape_s, llmi_dtype_name(dt), spec_txt,
	       (unsigned long long)(numel * esz), blob_len, dump_ratio(numel * esz, blob_len),
	       cs.mse, cs.nmse, cs.max_abs_err);
	ret = 0;
out:
	llmi_writer__free(w);
	if (ret && w)
		unlink(out);
	llmi_codec__free(codec);
	free(src);
	free(blob);
	return ret;
}

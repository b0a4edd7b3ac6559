/* SPDX-License-Identifier: MIT */
/*
 * llminstr-dump: the reader tool (DESIGN.md, "Command-line contract").
 * One file per subcommand group; this header holds what they share.
 *
 * Exit status, so that a script tells a crash from corruption: 0 done (a
 * file whose writer died, with every complete record intact, is done: it
 * is said on stderr, not an error); 1 the file is damaged (what is
 * readable was still shown or written); 2 bad usage; 3 cannot do it: FILE
 * cannot be read or is not a container, an output cannot be created or
 * written, out of memory.
 */
#ifndef LLMI_DUMP_H
#define LLMI_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "codec/codec.h"
#include "format/reader.h"
#include "format/timeline.h"

#define EXIT_DAMAGED	1
#define EXIT_USAGE	2
#define EXIT_CANNOT	3

/* Prints "llminstr-dump: <msg>" on stderr; returns code. */
int dump_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* This thread's messages into buf instead (the first kept, for the library:
 * llminstr_read.h); NULL: stderr again. */
void dump_err_to(char *buf, size_t len);
/*
 * Opens a container with the codec's blob check plugged into the reader
 * (format/reader.h), or says why not in one line and sets *code to
 * EXIT_DAMAGED (a container whose header is damaged) or EXIT_CANNOT.
 */
struct llmi_reader *dump_open(const char *path, int *code);

/*
 * Creates OUT through io/outfile.h: an existing file is refused unless
 * force, a symbolic link, directory or device always; NULL when it cannot,
 * said in one line. dump_out_failed() removes what a failed command wrote.
 */
FILE *dump_create(const char *path, bool force);
void dump_out_failed(FILE *f, const char *path);

/*
 * What a reader could not read, as lines a user can act on: a torn tail (the
 * writer died mid-record: only what it never finished is lost, not damage)
 * and damage (anything else skipped, plus tensor records whose headers are
 * inconsistent). See FORMAT.md, "Reading".
 */
#define DUMP_LOSS_LEN	(2 * LLMI_ERRLEN)
struct dump_loss {
	char torn[DUMP_LOSS_LEN];		/* empty when the tail is whole */
	char damage[6][DUMP_LOSS_LEN];
	int ndamage;
};
/* From the reader's status: call after the records were checked. */
void dump_loss(const struct llmi_reader *r, struct dump_loss *l);
/* One line on stderr (damage first, the torn tail otherwise); EXIT_DAMAGED on damage, else 0. */
int dump_loss_report(const char *path, const struct dump_loss *l);

void dump_shape(const struct llmi_tensor_rec *t, char *buf, size_t len);
void dump_codec(const struct llmi_tensor_rec *t, char *buf, size_t len);
const char *dump_dtype(unsigned dtype);
double dump_ratio(uint64_t raw, uint64_t stored);

/*
 * Decodes tensor record i into a new buffer of its raw_bytes (references
 * of predicted tensors decoded first). NULL on error, said (path names the
 * file), with *code set (EXIT_DAMAGED or EXIT_CANNOT).
 *
 * cache (may be NULL), for decoding every tensor in file order (verify):
 * dump_cache_init() counts which tensors later ones are predicted from;
 * each of those is kept once decoded, until its last user is decoded, so
 * every tensor is decoded once whatever the chains. It needs tensor ids
 * 0..n-1, which verify has checked.
 */
struct dump_ref {
	void *data;		/* decoded, while uses > 0 */
	uint64_t raw_bytes;
	uint32_t uses;		/* tensors still to decode that are predicted from it */
	uint16_t dtype;
};
struct dump_cache {
	struct dump_ref *v;	/* by tensor id */
	uint64_t n;
};
void *dump_decode(struct llmi_reader *r, const char *path, struct llmi_codec *c, size_t i,
		  struct llmi_tensor_info *ti, struct dump_cache *cache, int *code);
/* The same into dst (len bytes at least raw_bytes): 0, or the exit code after saying why. */
int dump_decode_into(struct llmi_reader *r, const char *path, struct llmi_codec *c, size_t i,
		     struct llmi_tensor_info *ti, void *dst, size_t len);
int dump_cache_init(struct dump_cache *cache, struct llmi_reader *r);
void dump_cache_free(struct dump_cache *cache);

/* Replaces bytes a terminal would interpret with "?". */
void dump_printable(char *s);
/* Writes a .npy v1.0 file of the tensor t (shape), data in numpy dtype descr. */
int dump_write_npy(FILE *f, const char *descr, const struct llmi_tensor_rec *t,
		   const void *data, size_t len);

/* String tables by kind and id (timeline.c); NULL with errno (ENOMEM). bad counts damaged tables. */
struct dump_names;
struct dump_names *dump_names__load(struct llmi_reader *r, uint64_t *bad);
/* The string of (kind, id), NUL-terminated and printable; NULL when absent. */
const char *dump_names__get(const struct dump_names *d, unsigned kind, uint64_t id);
size_t dump_names__count(const struct dump_names *d, unsigned kind);
void dump_names__free(struct dump_names *d);
/*
 * Events record i: its header and events (read event k with
 * llmi_events_get(); they point into *payload, which the caller frees).
 * -EBADMSG damaged (why says how), -errno when unreadable.
 */
int dump_tl_batch(struct llmi_reader *r, size_t i, struct llmi_events_rec *h,
		  const void **events, void **payload, char *why, size_t whylen);

/*
 * The tokens records of r, sorted by (pid, first); NULL with errno (ENOMEM).
 * get() copies up to n ids of process pid (0: any) from token `first` on,
 * across records, and returns how many it found in a row.
 */
struct dump_tokens;
struct dump_tokens *dump_tokens__load(struct llmi_reader *r);
size_t dump_tokens__get(const struct dump_tokens *d, uint32_t pid, uint64_t first, int64_t *ids,
			size_t n);
void dump_tokens__free(struct dump_tokens *d);

int cmd_info(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_export(int argc, char **argv);
/* export --format safetensors|memmap|hf-arrow of paths (one run) into dir (exportset.c). */
struct dump_export_opts {
	const char *format, *dir;
	const char *glob;		/* --tensor GLOB, or NULL */
	int64_t step;			/* --step, -1: all */
	bool bf16_raw, force;
	bool quiet;			/* no progress line, no closing line on stdout (the library) */
	uint64_t shard_bytes;		/* hf-arrow: most bytes a shard holds, 0: 2 GB */
	uint64_t tokens_per_file;	/* safetensors: files of whole steps, about this many rows */
};
/* The exit code. */
int dump_export_set(char *const *paths, size_t npaths, const struct dump_export_opts *o);
int cmd_pack(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_perfetto(int argc, char **argv);

#endif

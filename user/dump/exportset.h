/* SPDX-License-Identifier: MIT */
/*
 * What the exports of many tensors share (exportset.c): the files of a run,
 * the selected tensors, one decode buffer, the progress line. exporthf.c
 * writes the hf-arrow format with them.
 */
#ifndef LLMI_EXPORTSET_H
#define LLMI_EXPORTSET_H

#include "common/json.h"
#include "dump/dump.h"

struct src {
	const char *path;
	char stem[64];			/* file name without directory and .llmi */
	struct llmi_reader *r;
	struct dump_names *names;
	struct dump_tokens *tok;	/* loaded by the formats that need ids */
};

struct item {
	unsigned src;			/* which file */
	size_t rec;			/* record index */
	struct llmi_tensor_rec t;
	char *name;
};

struct set {
	struct src *src;
	size_t nsrc;
	const struct dump_export_opts *o;
	const char *dir;
	bool bf16_raw, force;
	struct llmi_codec *codec;
	void *buf, *wide;		/* decoded, and bf16 widened (set_decode()) */
	size_t buf_cap, wide_cap;
	struct item *v;
	size_t n;
	uint64_t total, done;		/* raw bytes, for the progress line */
	size_t files, exported;		/* files finished, tensors in them */
	double next_show;
	bool tty;
	int ret;			/* worst exit so far */
};

/* qsort order of items: step, then file, then record. */
int set_by_step(const void *x, const void *y);
/* On a terminal, at most five times a second: k of s->n tensors and the bytes done. */
void set_progress(struct set *s, size_t k, bool last);
/* *buf grown to hold n bytes (kept between tensors); NULL when out of memory. */
void *set_room(void **buf, size_t *cap, size_t n);
/*
 * Decodes it as the export writes it (bf16 widened to float32 unless
 * keep16) into one of s's buffers, valid until the next call; NULL after
 * saying why (s->ret set).
 */
const void *set_decode(struct set *s, const struct item *it, bool keep16, size_t *len);
/* Flushes and closes a finished output; on failure says why and removes it. 0 or EXIT_CANNOT. */
int set_close(struct set *s, FILE *f, const char *path);

/* A safetensors header built in memory: begin (NULL when out of memory),
 * the caller's __metadata__ pairs into j, then each tensor in data order
 * (the caller ends __metadata__ first), then end: the header padded to 8,
 * its length in *hlen (free() it), or NULL. */
struct set_st {
	FILE *f;
	char *buf;
	size_t len;
	uint64_t off;
	struct llmi_json j;
};
FILE *set_st_begin(struct set_st *h, const char *source);
void set_st_tensor(struct set_st *h, const char *name, const char *dtype, const uint64_t *shape,
		   unsigned nd, uint64_t bytes);
char *set_st_end(struct set_st *h, size_t *hlen);
const char *set_st_dtype(unsigned dtype);	/* "F32", "BF16", "F16" */
/* path created (as --force allows) with the length and header written; NULL when not, said. */
FILE *set_st_create(struct set *s, const char *path, const char *hdr, size_t hlen);

/* Ends the JSON document j with a newline and closes it as set_close(). */
int set_json_close(struct set *s, struct llmi_json *j, FILE *f, const char *path);
/* Creates DIR (an existing one only with --force); 0 or the exit code, said. */
int set_mkdir(struct set *s);
/* DIR/data-NNNNN-of-MMMMM.arrow, dataset_info.json, state.json (exporthf.c). */
int export_hf_arrow(struct set *s);
/* safetensors --tokens-per-file: DIR/part-NNNNN-of-MMMMM.safetensors (exporthf.c). */
int export_st_tokens(struct set *s);

#endif

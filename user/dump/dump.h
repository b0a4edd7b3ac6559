/* SPDX-License-Identifier: MIT */
/*
 * llminstr-dump: the reader tool (DESIGN.md, "Command-line contract").
 * One file per subcommand group; this header holds what they share.
 * Exit status: 0 done, 1 the file or the data is bad, 2 bad usage.
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

#define EXIT_BAD	1
#define EXIT_USAGE	2

/* Prints "llminstr-dump: <msg>" on stderr; returns code. */
int dump_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Opens a container or says why not (one line). */
struct llmi_reader *dump_open(const char *path);

/* Creates OUT without following a link at its path (O_NOFOLLOW); NULL on error, said. */
FILE *dump_create(const char *path);

/*
 * What a reader could not read, as lines a user can act on: a torn tail (the
 * writer died mid-record: only what it never finished is lost, not damage)
 * and damage (anything else skipped, plus tensor records whose headers are
 * inconsistent). See FORMAT.md, "Reading".
 */
#define DUMP_LOSS_LEN	(LLMI_ERRLEN + 96)
struct dump_loss {
	char torn[DUMP_LOSS_LEN];		/* empty when the tail is whole */
	char damage[5][DUMP_LOSS_LEN];
	int ndamage;
};
void dump_loss(const struct llmi_reader *r, uint64_t bad_tensors, uint64_t first_bad_tensor_off,
	       struct dump_loss *l);
/* One line on stderr (damage first, the torn tail otherwise); EXIT_BAD on damage, else 0. */
int dump_loss_report(const char *path, const struct dump_loss *l);

void dump_shape(const struct llmi_tensor_rec *t, char *buf, size_t len);
void dump_codec(const struct llmi_tensor_rec *t, char *buf, size_t len);
const char *dump_dtype(unsigned dtype);
double dump_ratio(uint64_t raw, uint64_t stored);

/* Decodes tensor record i into a new buffer of its raw_bytes (references
 * of predicted tensors decoded first). NULL on error, said. */
void *dump_decode(struct llmi_reader *r, struct llmi_codec *c, size_t i, struct llmi_tensor_info *ti);

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
 * Events record i: its header and events (pointing into *payload, which the
 * caller frees). -EBADMSG damaged, -EPROTO an event layout of another
 * version (h is filled), -errno when unreadable.
 */
int dump_tl_batch(struct llmi_reader *r, size_t i, struct llmi_events_rec *h,
		  const struct llmi_tl_event **ev, void **payload);

int cmd_info(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_perfetto(int argc, char **argv);

#endif

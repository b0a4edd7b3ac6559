/* SPDX-License-Identifier: MIT */
/*
 * Every file a tool writes is created here: the .llmi container (writer.c),
 * --json, --perfetto and llminstr-dump's outputs. The tools run as root, so
 * creating an output must never destroy data or be steered elsewhere:
 *
 * - an existing name is refused (O_EXCL) unless LLMI_OUT_FORCE, and even
 *   then only a regular file is replaced: never a symbolic link (O_NOFOLLOW,
 *   also for a link planted between unlink and create), a directory or a
 *   device such as /dev/null;
 * - the new file is locked (flock LOCK_EX, held while its fd is open), and a
 *   locked file is never replaced: two outputs of one run given one path, or
 *   two tracers given the same -o, are refused instead of one silently
 *   unlinking what the other is writing;
 * - under sudo the file belongs to the invoking user.
 *
 * Failures come back as -errno; llmi_out_strerror() turns one into the line
 * a user reads (what is wrong with which path, and what to do).
 */
#ifndef LLMI_OUTFILE_H
#define LLMI_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define LLMI_OUT_FORCE	(1u << 0)	/* replace an existing regular file (--force) */

/*
 * Creates path for writing, mode 0644, with extra open flags (O_DIRECT...).
 * Returns the fd, locked, or -errno: -EEXIST (exists, no force), -EBUSY (a
 * locked output: being written), -ELOOP (a symbolic link), -EISDIR, -ENOENT
 * (no such directory), -EACCES, ...; -EEXIST also for anything but a regular
 * file in the way with force (llmi_out_strerror() tells them apart).
 */
int llmi_out_create(const char *path, int extra_oflags, unsigned flags);

/* The same as a stdio stream (full buffering is the caller's). NULL, errno set. */
FILE *llmi_out_fopen(const char *path, unsigned flags);

/*
 * One line for a failed create of path ("out.json exists; --force replaces
 * it", "/dev/null is not a regular file; name a file to write"), no newline.
 * err: the -errno (or errno) the create gave. Returns buf.
 */
const char *llmi_out_strerror(char *buf, size_t len, const char *path, int err, unsigned flags);

/*
 * The user who ran sudo (SUDO_UID / SUDO_GID), when we run as root through
 * it: false when not root, not under sudo, or the variables are malformed.
 */
bool llmi_sudo_owner(uid_t *uid, gid_t *gid);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every tool's human-readable output and file creation share:
 * byte counts with binary units, the invoking user under sudo, and output
 * files created the safe way (no symlink followed, owned by that user).
 */
#ifndef LLMI_FMT_H
#define LLMI_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* "512 B", "1.5 KiB", "16.1 MiB"...; returns buf. */
const char *llmi_fmt_bytes(char *buf, size_t len, uint64_t bytes);

/*
 * The user who ran sudo (SUDO_UID / SUDO_GID), when we run as root through
 * it: false when not root, not under sudo, or the variables are malformed.
 */
bool llmi_sudo_owner(uid_t *uid, gid_t *gid);

/*
 * Creates (or truncates) an output file for the user: never through a
 * symbolic link at path (ELOOP; a root tool must not be steered into
 * overwriting another file), and under sudo owned by the invoking user.
 * NULL with errno set.
 */
FILE *llmi_create_output(const char *path);

#endif

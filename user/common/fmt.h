/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every tool's human-readable output and file creation share:
 * byte counts with binary units, and the invoking user under sudo (files a
 * tool creates for its user belong to that user, not to root).
 */
#ifndef LLMI_FMT_H
#define LLMI_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* "512 B", "1.5 KiB", "16.1 MiB"...; returns buf. */
const char *llmi_fmt_bytes(char *buf, size_t len, uint64_t bytes);

/*
 * The user who ran sudo (SUDO_UID / SUDO_GID), when we run as root through
 * it: false when not root, not under sudo, or the variables are malformed.
 */
bool llmi_sudo_owner(uid_t *uid, gid_t *gid);

#endif

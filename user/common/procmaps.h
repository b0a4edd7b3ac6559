/* SPDX-License-Identifier: MIT */
/*
 * /proc/PID/maps: which files a process maps and where. The tracer finds
 * the CUDA libraries of a target here (pip-wheel copies included, never a
 * hard-coded path) and turns runtime addresses into file addresses.
 */
#ifndef LLMI_PROCMAPS_H
#define LLMI_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LLMI_MAP_R 4u
#define LLMI_MAP_W 2u
#define LLMI_MAP_X 1u

struct llmi_map {
	uint64_t start, end;	/* [start, end) in the process */
	uint64_t offset;	/* file offset of start */
	uint64_t inode;
	uint32_t perms;		/* LLMI_MAP_* */
	const char *path;	/* "" for anonymous; "[heap]" etc. as the kernel prints */
	bool deleted;		/* the kernel's " (deleted)" suffix, cut from path */
};

struct llmi_maps;

/* Reads /proc/PID/maps; NULL with errno (ENOENT: no such process). */
struct llmi_maps *llmi_maps__read(pid_t pid);
/* Parses maps text (tests, saved copies); NULL with errno EINVAL on a bad line. */
struct llmi_maps *llmi_maps__parse(const char *text, size_t len);
void llmi_maps__free(struct llmi_maps *m);

size_t llmi_maps__count(const struct llmi_maps *m);
const struct llmi_map *llmi_maps__get(const struct llmi_maps *m, size_t i);
/* The mapping that contains addr, or NULL. */
const struct llmi_map *llmi_maps__find_addr(const struct llmi_maps *m, uint64_t addr);
/*
 * Path of the first mapped file whose base name matches the fnmatch(3)
 * pattern (e.g. "libcudart.so*"), or NULL. The path is owned by m.
 */
const char *llmi_maps__find_lib(const struct llmi_maps *m, const char *pattern);
/* Path of the process's executable as mapped (the first file mapping), or NULL. */
const char *llmi_maps__exe(const struct llmi_maps *m);

#endif

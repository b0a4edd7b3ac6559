/* SPDX-License-Identifier: MIT */
/*
 * ELF symbol tables: name -> file offset (where a uprobe attaches) and
 * address -> name (what a launched host stub is called). Reads .symtab and
 * .dynsym with libelf; the tables are loaded once and sorted, so a lookup is
 * a binary search.
 */
#ifndef LLMI_ELFSYM_H
#define LLMI_ELFSYM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/procmaps.h"

struct llmi_elf;

/* NULL with errno: ENOENT, EACCES, ENOEXEC (not an ELF file). */
struct llmi_elf *llmi_elf__open(const char *path);
void llmi_elf__free(struct llmi_elf *e);

/* ET_DYN (shared object or PIE) rather than ET_EXEC. */
bool llmi_elf__is_dyn(const struct llmi_elf *e);

/*
 * A defined function symbol's st_value (virtual address in the file's own
 * space) and its file offset (what uprobe attach takes). -ENOENT when the
 * file defines no such function. Versioned names ("cudaMalloc@@libcudart.so.13")
 * match their base name.
 */
int llmi_elf__sym_addr(const struct llmi_elf *e, const char *name, uint64_t *vaddr,
		       uint64_t *file_off);

/*
 * The function symbol that contains vaddr (a file virtual address), or NULL;
 * *sym_start gets its st_value when not NULL. The string is owned by e.
 */
const char *llmi_elf__sym_at(const struct llmi_elf *e, uint64_t vaddr, uint64_t *sym_start);

/*
 * Runtime address in a process -> the file's virtual address, using the
 * mapping that holds it (the PIE/shared-object load bias: the mapping's
 * file offset is placed at the PT_LOAD segment that covers it).
 */
int llmi_elf__runtime_to_vaddr(const struct llmi_elf *e, const struct llmi_map *m,
			       uint64_t addr, uint64_t *vaddr);
/* The reverse: file virtual address -> runtime address, given the maps. */
int llmi_elf__vaddr_to_runtime(const struct llmi_elf *e, const struct llmi_maps *maps,
			       const char *path, uint64_t vaddr, uint64_t *addr);

/*
 * nvcc's launch stubs keep the handle __cudaGetKernel gave them in a static
 * of the stub (crt/host_runtime.h), named in .symtab (a stripped file has
 * none): after a late attach, reading these statics names the handles
 * fetched before it. One per kernel: the static's file vaddr and the
 * kernel's mangled name (owned by e).
 */
struct llmi_handle_slot {
	uint64_t vaddr;
	uint64_t fvaddr;	/* the stub's "__f" (the kernel's host function), 0: none */
	const char *kernel;	/* as the stub's name spells it */
};
size_t llmi_elf__handle_slots(const struct llmi_elf *e, const struct llmi_handle_slot **slots);

/*
 * A per-process symbolizer: runtime address -> function name, demangled,
 * with or without its argument list. Opens each mapped ELF file once
 * (through /proc/PID/root when the target runs in another mount namespace)
 * and caches it. Not for hot paths: callers cache names by address.
 */
struct llmi_symres;
struct llmi_symres *llmi_symres__new(pid_t pid);
void llmi_symres__free(struct llmi_symres *r);
/* Rereads /proc/PID/maps (after a dlopen). */
int llmi_symres__refresh(struct llmi_symres *r);
/*
 * Name of the function at addr into buf; strip_args drops the "(...)" of a
 * demangled C++ name. -ENOENT when no symbol covers addr (buf then holds
 * "0x<addr>" so the caller can still print something).
 */
int llmi_symres__name(struct llmi_symres *r, uint64_t addr, bool strip_args,
		      char *buf, size_t len);

#endif

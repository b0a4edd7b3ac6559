// SPDX-License-Identifier: MIT
/*
 * ELF function symbols, both ways. The tracer needs name -> file offset to
 * attach uprobes (libbpf's uprobe attach takes the offset in the file, not
 * the virtual address: for a shared object built with lld or a PIE the two
 * differ, and only the PT_LOAD that holds the symbol knows by how much), and
 * address -> name to call a launched host stub by its kernel name.
 *
 * A file is read once with libelf: the defined STT_FUNC and STT_GNU_IFUNC
 * symbols of .symtab and .dynsym (the second is all a stripped library has),
 * names copied into one pool, two sorted index arrays for the two binary
 * searches, and the PT_LOAD headers for address translation. The file is
 * closed after loading, so a cached struct llmi_elf holds no descriptor.
 *
 * .symtab also names the statics nvcc's launch stubs keep (the kernel's
 * handle and its host function): after a late attach, they name the
 * kernel handles fetched before it (llmi_elf__handle_slots, symres).
 *
 * Addresses in a process: a mapping (start, offset) says where a page of the
 * file sits; the file offset of a runtime address is therefore
 * addr - start + offset, and the PT_LOAD whose file range holds that offset
 * gives the virtual address. This works for ET_EXEC (no bias), PIEs and
 * shared objects alike, and for libraries whose segments the loader split
 * into several mappings (RELRO), without computing a bias at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/demangle.h"
#include "common/elfsym.h"

struct seg {
	uint64_t vaddr, memsz, off, filesz;
	uint32_t flags;
};

struct sym {
	uint64_t addr, size;
	uint32_t name;	/* offset into names */
	uint32_t ver;	/* .dynsym: offset of its version name, 0 when none */
	uint8_t rank;	/* lower is the better name for an address */
	uint8_t hidden;	/* .dynsym: a non-default version ("f@V1" beside "f@@V2") */
};

/* Version names of a .dynsym, by version index (.gnu.version_d). */
struct versions {
	Elf_Data *versym;
	uint32_t *name;	/* pool offsets, 0 for none */
	size_t n;
};

struct llmi_elf {
	bool dyn;
	struct seg *segs;
	size_t nsegs;
	struct sym *syms;	/* by address */
	size_t nsyms;
	uint32_t *by_name;	/* indexes into syms, by base name */
	char *names;
	size_t names_len, names_cap;
	uint32_t pool0;	/* the empty string at pool offset 0 */
	struct llmi_handle_slot *hslots;	/* nvcc's kernel handle statics (.symtab) */
	size_t nhslots, hslots_cap;
	/* while loading: each static's name without its "8__handle" / "3__f" */
	struct stub_static { uint32_t key; uint64_t vaddr; } *hkeys, *fkeys;
	size_t nfkeys, fkeys_cap;
};

/* Length of the base of a versioned name ("f@@V" -> 1). */
static size_t base_len(const char *s)
{
	const char *at = strchr(s, '@');

	return at ? (size_t)(at - s) : strlen(s);
}

/* Among equal base names: unversioned, then the default version "@@", then "@". */
static int version_rank(const char *s)
{
	const char *at = strchr(s, '@');

	return !at ? 0 : at[1] == '@' ? 1 : 2;
}

static int cmp_base(const char *a, size_t la, const char *b, size_t lb)
{
	int c = memcmp(a, b, la < lb ? la : lb);

	return c ? c : (la > lb) - (la < lb);
}

static int cmp_by_name(const void *pa, const void *pb, void *arg)
{
	const struct llmi_elf *e = arg;
	const struct sym *a = &e->syms[*(const uint32_t *)pa], *b = &e->syms[*(const uint32_t *)pb];
	const char *na = e->names + a->name, *nb = e->names + b->name;
	int c = cmp_base(na, base_len(na), nb, base_len(nb));

	if (c)
		return c;
	c = (a->hidden ? 2 : version_rank(na)) - (b->hidden ? 2 : version_rank(nb));
	if (c)
		return c;
	return (a->addr > b->addr) - (a->addr < b->addr);
}

static int cmp_by_addr(const void *pa, const void *pb)
{
	const struct sym *a = pa, *b = pb;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	return (int)a->rank - (int)b->rank;
}

/* Room for one more element in *v (n used of *cap), doubling from first. */
static int grow(void *v, size_t n, size_t *cap, size_t elem, size_t first)
{
	void **pv = v, *p;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : first;
	p = realloc(*pv, nc * elem);
	if (!p)
		return -ENOMEM;
	*pv = p;
	*cap = nc;
	return 0;
}

static int add_name(struct llmi_elf *e, const char *s, uint32_t *off)
{
	size_t n = strlen(s) + 1;

	if (e->names_len + n > e->names_cap) {
		size_t cap = e->names_cap ? e->names_cap * 2 : 65536;
		char *p;

		while (cap < e->names_len + n)
			cap *= 2;
		if (cap > UINT32_MAX)
			return -E2BIG;
		p = realloc(e->names, cap);
		if (!p)
			return -ENOMEM;
		e->names = p;
		e->names_cap = cap;
	}
	memcpy(e->names + e->names_len, s, n);
	*off = (uint32_t)e->names_len;
	e->names_len += n;
	return 0;
}

static int load_versions(struct llmi_elf *e, Elf *elf, struct versions *v)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *d;
		size_t off = 0;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_GNU_versym) {
			v->versym = elf_getdata(scn, NULL);
			continue;
		}
		if (sh.sh_type != SHT_GNU_verdef || !(d = elf_getdata(scn, NULL)))
			continue;
		for (;;) {
			GElf_Verdef vd;
			GElf_Verdaux va;
			const char *name;

			if (!gelf_getverdef(d, (int)off, &vd) ||
			    !gelf_getverdaux(d, (int)(off + vd.vd_aux), &va))
				break;
			name = elf_strptr(elf, sh.sh_link, va.vda_name);
			if (name && *name && !(vd.vd_flags & VER_FLG_BASE)) {
				size_t idx = vd.vd_ndx & 0x7fff;

				if (idx >= v->n) {
					uint32_t *p = realloc(v->name, (idx + 1) * sizeof(*p));

					if (!p)
						return -ENOMEM;
					memset(p + v->n, 0, (idx + 1 - v->n) * sizeof(*p));
					v->name = p;
					v->n = idx + 1;
				}
				if (add_name(e, name, &v->name[idx]))
					return -ENOMEM;
			}
			if (!vd.vd_next)
				break;
			off += vd.vd_next;
		}
	}
	return 0;
}

/*
 * nvcc's launch stub for a kernel K keeps the handle __cudaGetKernel gave
 * it in a function-local static, "static cudaKernel_t __handle" in
 * __cudaLaunch (crt/host_runtime.h). Its .symtab name is
 * _ZZ[L]<n>__device_stub__<K without its leading '_'><stub params>E8__handle,
 * the <n> characters after the length being the stub's own name. Returns
 * K's mangled name's length (written to k, with its '_'), 0 if sym is not
 * such a static.
 */
static size_t handle_slot_kernel(const char *sym, char *k, size_t cap)
{
	static const char stub[] = "__device_stub__";
	const char *p = sym + 3;
	size_t n = 0, len = strlen(sym);

	if (strncmp(sym, "_ZZ", 3) || len < 12 || strcmp(sym + len - 10, "E8__handle"))
		return 0;
	if (*p == 'L')
		p++;
	while (*p >= '0' && *p <= '9' && n < 100000)
		n = n * 10 + (size_t)(*p++ - '0');
	if (n <= sizeof(stub) - 1 || n > strlen(p) || strncmp(p, stub, sizeof(stub) - 1) ||
	    n - (sizeof(stub) - 1) + 2 > cap)
		return 0;
	k[0] = '_';
	memcpy(k + 1, p + sizeof(stub) - 1, n - (sizeof(stub) - 1));
	k[n - (sizeof(stub) - 1) + 1] = '\0';
	return n - (sizeof(stub) - 1) + 1;
}

/* A static's name up to its stub's closing 'E' into the pool (its key). */
static int add_key(struct llmi_elf *e, const char *name, size_t suffix, uint32_t *off)
{
	char k[8192];
	size_t n = strlen(name) - suffix;

	if (n >= sizeof(k))
		return -ENAMETOOLONG;
	memcpy(k, name, n);
	k[n] = '\0';
	return add_name(e, k, off);
}

/*
 * A stub's statics: "__handle" (the kernel's handle) and "__f" (the
 * kernel's host function, __f = fun in __cudaLaunch), paired by name once
 * the file is read.
 */
static int add_stub_static(struct llmi_elf *e, const char *name, uint64_t vaddr)
{
	size_t len = strlen(name);
	char k[4096];
	uint32_t off, key;
	int err;

	if (len > 5 && !strcmp(name + len - 5, "E3__f") && !strncmp(name, "_ZZ", 3) &&
	    strstr(name, "__device_stub__")) {
		err = grow(&e->fkeys, e->nfkeys, &e->fkeys_cap, sizeof(*e->fkeys), 64);
		if (err)
			return err;
		err = add_key(e, name, 4, &key);
		if (err)
			return err == -ENAMETOOLONG ? 0 : err;
		e->fkeys[e->nfkeys++] = (struct stub_static){ key, vaddr };
		return 0;
	}
	if (!handle_slot_kernel(name, k, sizeof(k)))
		return 0;
	if (e->nhslots == e->hslots_cap) {	/* hslots and hkeys grow together */
		size_t cap = e->hslots_cap;

		err = grow(&e->hslots, e->nhslots, &cap, sizeof(*e->hslots), 64);
		if (!err)
			err = grow(&e->hkeys, e->nhslots, &e->hslots_cap, sizeof(*e->hkeys), 64);
		if (err)
			return err;
	}
	err = add_name(e, k, &off);
	if (!err)
		err = add_key(e, name, 9, &key);
	if (err)
		return err == -ENAMETOOLONG ? 0 : err;
	/* the pool may move as it grows: names are pointed to once loading is done */
	e->hkeys[e->nhslots] = (struct stub_static){ key, vaddr };
	e->hslots[e->nhslots].vaddr = vaddr;
	e->hslots[e->nhslots].fvaddr = 0;
	e->hslots[e->nhslots++].kernel = (const char *)(uintptr_t)off;
	return 0;
}

static const char *key_pool;	/* for the comparators below, while loading */

static int cmp_static(const void *a, const void *b)
{
	return strcmp(key_pool + ((const struct stub_static *)a)->key,
		      key_pool + ((const struct stub_static *)b)->key);
}

/* Once the pool is final: kernel names to pointers, each handle to its "__f". */
static void stub_statics_finish(struct llmi_elf *e)
{
	size_t i;

	key_pool = e->names;
	if (e->nfkeys)
		qsort(e->fkeys, e->nfkeys, sizeof(*e->fkeys), cmp_static);
	for (i = 0; i < e->nhslots; i++) {
		struct stub_static *f = e->nfkeys ? bsearch(&e->hkeys[i], e->fkeys, e->nfkeys,
							    sizeof(*e->fkeys), cmp_static) : NULL;

		e->hslots[i].kernel = e->names + (uintptr_t)e->hslots[i].kernel;
		e->hslots[i].fvaddr = f ? f->vaddr : 0;
	}
	free(e->hkeys);
	free(e->fkeys);
	e->hkeys = e->fkeys = NULL;
	e->nfkeys = e->fkeys_cap = 0;
}

static int load_symtab(struct llmi_elf *e, Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh,
		       const struct versions *v, size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t i, n;

	if (!data || !sh->sh_entsize)
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n; i++) {
		GElf_Sym s;
		const char *name;
		struct sym *y;
		int type, bind, err;

		if (!gelf_getsym(data, (int)i, &s))
			break;
		type = GELF_ST_TYPE(s.st_info);
		bind = GELF_ST_BIND(s.st_info);
		if (type == STT_OBJECT && bind == STB_LOCAL && sh->sh_type == SHT_SYMTAB &&
		    s.st_shndx != SHN_UNDEF && s.st_value && s.st_size == 8) {
			name = elf_strptr(elf, sh->sh_link, s.st_name);
			err = name ? add_stub_static(e, name, s.st_value) : 0;
			if (err)
				return err;
			continue;
		}
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_shndx == SHN_UNDEF ||
		    !s.st_value)
			continue;
		name = elf_strptr(elf, sh->sh_link, s.st_name);
		if (!name || !*name)
			continue;
		if (e->nsyms == *cap) {
			size_t nc = *cap ? *cap * 2 : 1024;

			y = realloc(e->syms, nc * sizeof(*y));
			if (!y)
				return -ENOMEM;
			e->syms = y;
			*cap = nc;
		}
		y = &e->syms[e->nsyms];
		err = add_name(e, name, &y->name);
		if (err)
			return err;
		y->addr = s.st_value;
		y->size = s.st_size;
		y->ver = 0;
		y->hidden = 0;
		if (sh->sh_type == SHT_DYNSYM && v->versym) {
			GElf_Versym vs;

			if (gelf_getversym(v->versym, (int)i, &vs)) {
				y->hidden = !!(vs & 0x8000);
				if ((vs & 0x7fff) < v->n)
					y->ver = v->name[vs & 0x7fff];
			}
		}
		/*
		 * For an address with aliases: plain names before "f@V" spellings,
		 * sized before unsized, public names before the implementation's
		 * "__" ones (getpid, not __getpid), global before weak before local.
		 */
		y->rank = (uint8_t)((strchr(name, '@') ? 32 : 0) + (s.st_size ? 0 : 16) +
				    (name[0] == '_' && name[1] == '_' ? 4 : 0) +
				    (bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2));
		e->nsyms++;
	}
	return 0;
}

static int load(struct llmi_elf *e, int fd)
{
	Elf *elf;
	GElf_Ehdr eh;
	Elf_Scn *scn = NULL;
	struct versions v = { 0 };
	size_t i, nph, cap = 0, out;
	int err = 0;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return -ENOEXEC;
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
	    (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) || elf_getphdrnum(elf, &nph)) {
		err = -ENOEXEC;
		goto out;
	}
	e->dyn = eh.e_type == ET_DYN;

	e->segs = calloc(nph ? nph : 1, sizeof(*e->segs));
	if (!e->segs) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		e->segs[e->nsegs++] = (struct seg){ ph.p_vaddr, ph.p_memsz, ph.p_offset,
						    ph.p_filesz, ph.p_flags };
	}

	/* pool offset 0 means "no version": start the pool with an empty string */
	err = add_name(e, "", &e->pool0);
	if (!err)
		err = load_versions(e, elf, &v);
	if (err)
		goto out;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		err = load_symtab(e, elf, scn, &sh, &v, &cap);
		if (err)
			goto out;
	}

	/* by address; .symtab and .dynsym repeat each other: one entry per name and address */
	if (e->nsyms)	/* no symbol table: e->syms is NULL, which qsort may not get */
		qsort(e->syms, e->nsyms, sizeof(*e->syms), cmp_by_addr);
	for (i = 0, out = 0; i < e->nsyms; i++) {
		size_t j;
		bool dup = false;

		for (j = out; j-- > 0 && e->syms[j].addr == e->syms[i].addr;) {
			if (!strcmp(e->names + e->syms[j].name, e->names + e->syms[i].name)) {
				dup = true;
				break;
			}
		}
		if (!dup)
			e->syms[out++] = e->syms[i];
	}
	e->nsyms = out;
	stub_statics_finish(e);	/* the pool no longer moves */

	e->by_name = malloc((e->nsyms ? e->nsyms : 1) * sizeof(*e->by_name));
	if (!e->by_name) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < e->nsyms; i++)
		e->by_name[i] = (uint32_t)i;
	qsort_r(e->by_name, e->nsyms, sizeof(*e->by_name), cmp_by_name, e);
out:
	free(v.name);
	elf_end(elf);
	return err;
}

struct llmi_elf *llmi_elf__open(const char *path)
{
	struct llmi_elf *e;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	err = load(e, fd);
	close(fd);
	if (err) {
		llmi_elf__free(e);
		errno = -err;
		return NULL;
	}
	return e;
}

void llmi_elf__free(struct llmi_elf *e)
{
	if (!e)
		return;
	free(e->segs);
	free(e->syms);
	free(e->by_name);
	free(e->names);
	free(e->hslots);
	free(e->hkeys);
	free(e->fkeys);
	free(e);
}

size_t llmi_elf__handle_slots(const struct llmi_elf *e, const struct llmi_handle_slot **slots)
{
	*slots = e->hslots;
	return e->nhslots;
}

bool llmi_elf__is_dyn(const struct llmi_elf *e)
{
	return e->dyn;
}

static const struct seg *seg_of_vaddr(const struct llmi_elf *e, uint64_t vaddr)
{
	size_t i;

	for (i = 0; i < e->nsegs; i++)
		if (vaddr >= e->segs[i].vaddr && vaddr - e->segs[i].vaddr < e->segs[i].filesz)
			return &e->segs[i];
	return NULL;
}

int llmi_elf__sym_addr(const struct llmi_elf *e, const char *name, uint64_t *vaddr,
		       uint64_t *file_off)
{
	size_t lo = 0, hi = e->nsyms, ql = base_len(name), i, found;
	const struct sym *y;
	const struct seg *sg;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *n = e->names + e->syms[e->by_name[mid]].name;

		if (cmp_base(n, base_len(n), name, ql) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == e->nsyms)
		return -ENOENT;
	found = lo;
	{
		const char *n = e->names + e->syms[e->by_name[lo]].name;

		if (cmp_base(n, base_len(n), name, ql))
			return -ENOENT;
	}
	/*
	 * A versioned query wants its version: "f@V1" spelt so in .symtab, or a
	 * .dynsym "f" whose version is V1. Without a match, the default one.
	 */
	if (name[ql] == '@') {
		const char *qv = name + ql + 1 + (name[ql + 1] == '@');

		for (i = lo; i < e->nsyms; i++) {
			const struct sym *c = &e->syms[e->by_name[i]];
			const char *n = e->names + c->name;

			if (cmp_base(n, base_len(n), name, ql))
				break;
			if (!strcmp(n, name) || (c->ver && !strcmp(e->names + c->ver, qv))) {
				found = i;
				break;
			}
		}
	}
	y = &e->syms[e->by_name[found]];
	if (vaddr)
		*vaddr = y->addr;
	if (file_off) {
		sg = seg_of_vaddr(e, y->addr);
		if (!sg)
			return -ENOENT;
		*file_off = y->addr - sg->vaddr + sg->off;
	}
	return 0;
}

const char *llmi_elf__sym_at(const struct llmi_elf *e, uint64_t vaddr, uint64_t *sym_start)
{
	size_t lo = 0, hi = e->nsyms, i, k;

	/* first symbol above vaddr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	i = lo - 1;
	/* aliases at one address sort best-first: go to the first of them */
	while (i > 0 && e->syms[i - 1].addr == e->syms[i].addr)
		i--;
	if (!e->syms[i].size) {
		/* an unsized (assembler) function runs to the next symbol */
		if (lo < e->nsyms || e->syms[i].addr == vaddr)
			goto hit;
		return NULL;
	}
	/* the nearest may end before vaddr while an enclosing one does not; look a little back */
	for (k = 0; k < 8; k++) {
		const struct sym *y = &e->syms[i];

		if (y->size && vaddr - y->addr < y->size)
			goto hit;
		if (!i)
			break;
		i--;
	}
	return NULL;
hit:
	if (sym_start)
		*sym_start = e->syms[i].addr;
	return e->names + e->syms[i].name;
}

int llmi_elf__runtime_to_vaddr(const struct llmi_elf *e, const struct llmi_map *m,
			       uint64_t addr, uint64_t *vaddr)
{
	uint64_t off;
	size_t i;

	if (addr < m->start || addr >= m->end)
		return -EINVAL;
	off = addr - m->start + m->offset;
	for (i = 0; i < e->nsegs; i++) {
		const struct seg *s = &e->segs[i];

		if (off >= s->off && off - s->off < s->filesz) {
			*vaddr = off - s->off + s->vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

int llmi_elf__vaddr_to_runtime(const struct llmi_elf *e, const struct llmi_maps *maps,
			       const char *path, uint64_t vaddr, uint64_t *addr)
{
	const struct seg *s = seg_of_vaddr(e, vaddr);
	uint64_t off;
	size_t i, n = llmi_maps__count(maps);
	bool have = false;

	if (!s)
		return -ENOENT;
	off = vaddr - s->vaddr + s->off;
	for (i = 0; i < n; i++) {
		const struct llmi_map *m = llmi_maps__get(maps, i);
		bool x_seg = s->flags & PF_X, x_map = m->perms & LLMI_MAP_X;

		if (strcmp(m->path, path) || off < m->offset || off - m->offset >= m->end - m->start)
			continue;
		/*
		 * A file page shared by two segments is mapped twice; the mapping
		 * with the segment's permissions is the one the code runs from.
		 */
		if (!have || x_seg == x_map) {
			*addr = m->start + (off - m->offset);
			have = true;
			if (x_seg == x_map)
				return 0;
		}
	}
	return have ? 0 : -ENOENT;
}

/* The per-process symbolizer. */

struct symres_file {
	char *path;
	uint64_t inode;
	struct llmi_elf *elf;	/* NULL when it could not be opened: not retried */
	bool hscanned;		/* its handle slots are in handles[] */
};

/* A kernel handle static of a mapped file (llmi_elf__handle_slots). */
struct symres_handle {
	uint64_t addr;		/* of the static, in the process */
	uint64_t faddr;		/* of the stub's "__f", 0: none */
	uint64_t value;		/* the handle it held when last read */
	const char *kernel;	/* mangled; owned by the file's llmi_elf */
};

struct llmi_symres {
	pid_t pid;
	struct llmi_maps *maps;
	struct symres_file *files;
	size_t nfiles, cap;
	struct symres_handle *handles;
	size_t nhandles, hcap;
	uint64_t handles_maps;	/* the maps generation the slots were gathered for */
	uint64_t maps_gen;
};

struct llmi_symres *llmi_symres__new(pid_t pid)
{
	struct llmi_symres *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return NULL;
	r->pid = pid;
	err = llmi_symres__refresh(r);
	if (err) {
		llmi_symres__free(r);
		errno = -err;
		return NULL;
	}
	return r;
}

void llmi_symres__free(struct llmi_symres *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nfiles; i++) {
		free(r->files[i].path);
		llmi_elf__free(r->files[i].elf);
	}
	free(r->files);
	free(r->handles);
	llmi_maps__free(r->maps);
	free(r);
}

int llmi_symres__refresh(struct llmi_symres *r)
{
	struct llmi_maps *m = llmi_maps__read(r->pid);

	if (!m)
		return -errno;
	llmi_maps__free(r->maps);
	r->maps = m;
	r->maps_gen++;
	return 0;
}

/*
 * The target may live in another mount namespace (a container): its paths
 * are valid under /proc/PID/root. A file deleted since it was mapped is
 * still reachable through /proc/PID/map_files.
 */
static struct llmi_elf *open_mapped(const struct llmi_symres *r, const struct llmi_map *m)
{
	struct llmi_elf *e = NULL;
	char p[PATH_MAX + 64];

	if (r->pid > 0 && m->deleted) {
		snprintf(p, sizeof(p), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)r->pid,
			 m->start, m->end);
		e = llmi_elf__open(p);
	}
	if (!e && r->pid > 0 && (size_t)snprintf(p, sizeof(p), "/proc/%d/root%s", (int)r->pid,
						 m->path) < sizeof(p))
		e = llmi_elf__open(p);
	if (!e)
		e = llmi_elf__open(m->path);
	return e;
}

static struct llmi_elf *file_of(struct llmi_symres *r, const struct llmi_map *m)
{
	struct symres_file *f;
	size_t i;

	for (i = 0; i < r->nfiles; i++)
		if (r->files[i].inode == m->inode && !strcmp(r->files[i].path, m->path))
			return r->files[i].elf;
	if (r->nfiles == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 16;

		f = realloc(r->files, nc * sizeof(*f));
		if (!f)
			return NULL;
		r->files = f;
		r->cap = nc;
	}
	f = &r->files[r->nfiles];
	f->path = strdup(m->path);
	if (!f->path)
		return NULL;
	f->inode = m->inode;
	f->hscanned = false;
	f->elf = open_mapped(r, m);
	r->nfiles++;
	return f->elf;
}

/*
 * The load bias of e as mapped in maps (0 for ET_EXEC): where its first
 * PT_LOAD segment landed. Statics in .bss lie past the file's end, in no
 * file mapping, so their addresses come from the bias.
 */
static int load_bias(const struct llmi_elf *e, const struct llmi_maps *maps, const char *path,
		     uint64_t *bias)
{
	uint64_t rt;

	if (!e->dyn) {
		*bias = 0;
		return 0;
	}
	if (!e->nsegs || llmi_elf__vaddr_to_runtime(e, maps, path, e->segs[0].vaddr, &rt))
		return -ENOENT;
	*bias = rt - e->segs[0].vaddr;
	return 0;
}

/* Gathers the handle statics of every mapped file not yet looked at. */
static void handles_gather(struct llmi_symres *r)
{
	size_t i, j, nmaps = llmi_maps__count(r->maps);

	for (i = 0; i < nmaps; i++) {
		const struct llmi_map *m = llmi_maps__get(r->maps, i);
		const struct llmi_handle_slot *hs;
		struct symres_file *f;
		struct llmi_elf *e;
		uint64_t bias;
		size_t n;

		if (m->path[0] != '/' || !(e = file_of(r, m)))
			continue;
		f = NULL;
		for (j = 0; j < r->nfiles && !f; j++)
			if (r->files[j].elf == e)
				f = &r->files[j];
		if (!f || f->hscanned)
			continue;
		f->hscanned = true;
		n = llmi_elf__handle_slots(e, &hs);
		if (!n || load_bias(e, r->maps, m->path, &bias))
			continue;
		for (j = 0; j < n; j++) {
			if (grow(&r->handles, r->nhandles, &r->hcap, sizeof(*r->handles), 64))
				return;
			r->handles[r->nhandles++] = (struct symres_handle){
				hs[j].vaddr + bias, hs[j].fvaddr ? hs[j].fvaddr + bias : 0, 0,
				hs[j].kernel };
		}
	}
	r->handles_maps = r->maps_gen;
}

/*
 * A kernel handle fetched by an nvcc stub (cudaKernel_t): its stub's entry
 * in r->handles, read from the stubs' statics in the process, or NULL.
 */
static const struct symres_handle *handle_kernel(struct llmi_symres *r, uint64_t addr)
{
	char path[64];
	size_t i;
	int fd;

	if (r->pid <= 0 || !addr)
		return NULL;
	if (r->handles_maps != r->maps_gen || !r->maps_gen)
		handles_gather(r);
	for (i = 0; i < r->nhandles; i++)
		if (r->handles[i].value == addr)
			return &r->handles[i];
	/* not among the values last read: read them again (a handle is set once) */
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)r->pid);
	fd = r->nhandles ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		return NULL;
	for (i = 0; i < r->nhandles; i++) {
		if (r->handles[i].value)
			continue;
		if (pread(fd, &r->handles[i].value, 8, (off_t)r->handles[i].addr) != 8)
			r->handles[i].value = 0;
	}
	close(fd);
	for (i = 0; i < r->nhandles; i++)
		if (r->handles[i].value == addr)
			return &r->handles[i];
	return NULL;
}

/*
 * The name of a stub's kernel. The stub's own name spells the kernel's
 * mangled name, except for lambdas, which nvcc encodes its own way
 * ("Unvdl", "Unvhdl": no demangler reads them); those are named from the
 * kernel's host function, whose address the stub keeps in "__f".
 */
static int handle_name(struct llmi_symres *r, const struct symres_handle *h, bool strip_args,
		       char *buf, size_t len)
{
	char path[64];
	uint64_t f = 0;
	int fd;

	llmi_demangle(h->kernel, strip_args, buf, len);
	if (strncmp(buf, "_Z", 2) || !h->faddr)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)r->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread(fd, &f, 8, (off_t)h->faddr) != 8)
		f = 0;
	close(fd);
	if (f && llmi_maps__find_addr(r->maps, f) && llmi_symres__name(r, f, strip_args, buf, len))
		llmi_demangle(h->kernel, strip_args, buf, len);
	return 0;
}

int llmi_symres__name(struct llmi_symres *r, uint64_t addr, bool strip_args, char *buf,
		      size_t len)
{
	const struct llmi_map *m = llmi_maps__find_addr(r->maps, addr);
	struct llmi_elf *e;
	const char *sym;
	uint64_t vaddr;

	if (len)
		snprintf(buf, len, "0x%" PRIx64, addr);
	/* mapped since we last looked (dlopen): read the maps once more */
	if (!m && !llmi_symres__refresh(r))
		m = llmi_maps__find_addr(r->maps, addr);
	if (!m || m->path[0] != '/') {	/* a heap address: maybe a kernel handle */
		const struct symres_handle *h = handle_kernel(r, addr);

		return h ? handle_name(r, h, strip_args, buf, len) : -ENOENT;
	}
	e = file_of(r, m);
	if (!e || llmi_elf__runtime_to_vaddr(e, m, addr, &vaddr))
		return -ENOENT;
	sym = llmi_elf__sym_at(e, vaddr, NULL);
	if (!sym)
		return -ENOENT;
	/* "memcpy@GLIBC_2.2.5" as written in .symtab: the version is not part of the name */
	if (strchr(sym, '@')) {
		char base[512];

		snprintf(base, sizeof(base), "%.*s", (int)base_len(sym), sym);
		llmi_demangle(base, strip_args, buf, len);
		return 0;
	}
	llmi_demangle(sym, strip_args, buf, len);
	return 0;
}

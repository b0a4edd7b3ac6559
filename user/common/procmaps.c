// SPDX-License-Identifier: MIT
/*
 * /proc/PID/maps reader. The tracer never assumes where a CUDA library lives:
 * it asks the target's own maps (pip wheels load libcudart from
 * site-packages), and the symbolizer turns runtime addresses back into file
 * addresses through the mapping that holds them.
 *
 * The kernel prints "start-end perms offset major:minor inode path", the path
 * starting after padding to a fixed column and running to the end of the
 * line: it may contain spaces, and the kernel appends " (deleted)" when the
 * file was unlinked after mapping. The text is copied once and the paths
 * point into the copy, so a struct llmi_maps is one allocation for the
 * entries and one for the strings.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/procmaps.h"

struct llmi_maps {
	struct llmi_map *v;
	size_t n;
	char *text;
};

static const char deleted_sfx[] = " (deleted)";

static bool parse_hex(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	int nd = 0;

	for (; p < end; p++, nd++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (nd >= 16)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	if (!nd)
		return false;
	*out = v;
	*pp = p;
	return true;
}

static bool parse_dec(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (p >= end || *p < '0' || *p > '9')
		return false;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	*pp = p;
	return true;
}

static bool expect(const char **pp, const char *end, char c)
{
	if (*pp >= end || **pp != c)
		return false;
	(*pp)++;
	return true;
}

/* One line [p, end) (no newline) into m; the path is NUL-terminated in place. */
static bool parse_line(char *line, char *end, struct llmi_map *m)
{
	const char *p = line;
	uint64_t dev;

	memset(m, 0, sizeof(*m));
	if (!parse_hex(&p, end, &m->start) || !expect(&p, end, '-') ||
	    !parse_hex(&p, end, &m->end) || m->end < m->start || !expect(&p, end, ' '))
		return false;
	if (end - p < 4)
		return false;
	if (p[0] == 'r')
		m->perms |= LLMI_MAP_R;
	else if (p[0] != '-')
		return false;
	if (p[1] == 'w')
		m->perms |= LLMI_MAP_W;
	else if (p[1] != '-')
		return false;
	if (p[2] == 'x')
		m->perms |= LLMI_MAP_X;
	else if (p[2] != '-')
		return false;
	if (p[3] != 'p' && p[3] != 's')
		return false;
	p += 4;
	if (!expect(&p, end, ' ') || !parse_hex(&p, end, &m->offset) || !expect(&p, end, ' ') ||
	    !parse_hex(&p, end, &dev) || !expect(&p, end, ':') || !parse_hex(&p, end, &dev) ||
	    !expect(&p, end, ' ') || !parse_dec(&p, end, &m->inode))
		return false;
	/* Anonymous mappings end right after the inode (older kernels add a space). */
	if (p < end && *p != ' ')
		return false;
	while (p < end && *p == ' ')
		p++;
	*end = '\0';
	if (m->inode && (size_t)(end - p) > sizeof(deleted_sfx) - 1 &&
	    !memcmp(end - (sizeof(deleted_sfx) - 1), deleted_sfx, sizeof(deleted_sfx) - 1)) {
		m->deleted = true;
		end[-(long)(sizeof(deleted_sfx) - 1)] = '\0';
	}
	m->path = p;
	return true;
}

struct llmi_maps *llmi_maps__parse(const char *text, size_t len)
{
	struct llmi_maps *m;
	size_t cap = 0, i;
	char *p, *end;

	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->text = malloc(len + 1);
	if (!m->text)
		goto err_nomem;
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	if (memchr(m->text, '\0', len))
		goto err_inval;

	for (i = 0; i < len; i++)
		cap += m->text[i] == '\n';
	cap++;
	m->v = calloc(cap, sizeof(*m->v));
	if (!m->v)
		goto err_nomem;

	for (p = m->text, end = m->text + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl ? nl : end;

		if (le > p) {
			if (!parse_line(p, le, &m->v[m->n]))
				goto err_inval;
			/* find_addr binary-searches: the kernel prints in order, keep it so. */
			if (m->n && m->v[m->n].start < m->v[m->n - 1].end)
				goto err_inval;
			m->n++;
		}
		p = le + 1;
	}
	return m;

err_inval:
	llmi_maps__free(m);
	errno = EINVAL;
	return NULL;
err_nomem:
	llmi_maps__free(m);
	errno = ENOMEM;
	return NULL;
}

struct llmi_maps *llmi_maps__read(pid_t pid)
{
	struct llmi_maps *m = NULL;
	char path[64], *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, err = 0;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/maps");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t r;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 16384);

			if (!nb) {
				err = ENOMEM;
				goto out;
			}
			buf = nb;
			cap = cap ? cap * 2 : 16384;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* A process that exits while we read reports ESRCH; say "no such process". */
			err = errno == ESRCH ? ENOENT : errno;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	m = llmi_maps__parse(buf, len);
	if (!m)
		err = errno;
out:
	close(fd);
	free(buf);
	if (err)
		errno = err;
	return m;
}

void llmi_maps__free(struct llmi_maps *m)
{
	if (!m)
		return;
	free(m->v);
	free(m->text);
	free(m);
}

size_t llmi_maps__count(const struct llmi_maps *m)
{
	return m->n;
}

const struct llmi_map *llmi_maps__get(const struct llmi_maps *m, size_t i)
{
	return i < m->n ? &m->v[i] : NULL;
}

const struct llmi_map *llmi_maps__find_addr(const struct llmi_maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->v[mid].start)
			hi = mid;
		else if (addr >= m->v[mid].end)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}

static bool is_file(const struct llmi_map *mp)
{
	return mp->path[0] == '/';
}

const char *llmi_maps__find_lib(const struct llmi_maps *m, const char *pattern)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		const char *base;

		if (!is_file(&m->v[i]))
			continue;
		base = strrchr(m->v[i].path, '/') + 1;
		if (!fnmatch(pattern, base, 0))
			return m->v[i].path;
	}
	return NULL;
}

const char *llmi_maps__exe(const struct llmi_maps *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (is_file(&m->v[i]))
			return m->v[i].path;
	return NULL;
}

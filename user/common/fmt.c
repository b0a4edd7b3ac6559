// SPDX-License-Identifier: MIT
/* See fmt.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/fmt.h"
#include "common/parse.h"

const char *llmi_fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

bool llmi_sudo_owner(uid_t *uid, gid_t *gid)
{
	const char *u = getenv("SUDO_UID"), *g = getenv("SUDO_GID");
	uint64_t uv, gv;

	if (geteuid() != 0 || !u || !g || llmi_parse_u64(u, &uv) || llmi_parse_u64(g, &gv) ||
	    uv >= (uid_t)-1 || gv >= (gid_t)-1)
		return false;
	*uid = (uid_t)uv;
	*gid = (gid_t)gv;
	return true;
}

FILE *llmi_create_output(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	uid_t uid;
	gid_t gid;
	FILE *f;
	int err;

	if (fd < 0)
		return NULL;
	/* Best effort: a file we cannot give away is still the user's output. */
	if (llmi_sudo_owner(&uid, &gid) && fchown(fd, uid, gid))
		(void)0;
	f = fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
		errno = err;
	}
	return f;
}

// SPDX-License-Identifier: MIT
/* See outfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/outfile.h"

bool llmi_sudo_owner(uid_t *uid, gid_t *gid)
{
	const char *u = getenv("SUDO_UID"), *g = getenv("SUDO_GID");
	unsigned long long uv, gv;
	char *end;

	if (geteuid() != 0 || !u || !g || !*u || !*g || *u == '-' || *g == '-')
		return false;
	errno = 0;
	uv = strtoull(u, &end, 10);
	if (errno || *end)
		return false;
	gv = strtoull(g, &end, 10);
	if (errno || *end || uv >= (uid_t)-1 || gv >= (gid_t)-1)
		return false;
	*uid = (uid_t)uv;
	*gid = (gid_t)gv;
	return true;
}

/* True when another open file holds the lock of the regular file at path. */
static bool held(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	bool busy;

	if (fd < 0)
		return false;
	busy = flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK;
	close(fd);	/* drops the probe's lock, if it got one */
	return busy;
}

/* Why the name at path is in the way of an exclusive create. */
static int in_the_way(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;	/* gone meanwhile: retry */
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EEXIST;
	return held(path) ? -EBUSY : -EEXIST;
}

int llmi_out_create(const char *path, int extra_oflags, unsigned flags)
{
	int oflags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | extra_oflags;
	uid_t uid;
	gid_t gid;
	int fd = -1, err;

	if (!path || !*path)
		return -ENOENT;
	for (int tries = 0; tries < 3; tries++) {
		struct stat st;

		fd = open(path, oflags, 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
		err = in_the_way(path);
		if (err == 0)
			continue;
		/* Only a regular file nobody writes is replaced, and only with force. */
		if (err != -EEXIST || !(flags & LLMI_OUT_FORCE) || lstat(path, &st) ||
		    !S_ISREG(st.st_mode))
			return err;
		/*
		 * Unlink, then create exclusively again: a link planted in
		 * between is refused by O_EXCL|O_NOFOLLOW, not followed.
		 */
		if (unlink(path) && errno != ENOENT)
			return -errno;
	}
	if (fd < 0)
		return -errno;
	/* Fresh and ours: the lock cannot be held by anyone else yet. */
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	/* Best effort: a file we cannot give away is still the user's output. */
	if (llmi_sudo_owner(&uid, &gid) && fchown(fd, uid, gid))
		(void)0;
	return fd;
}

FILE *llmi_out_fopen(const char *path, unsigned flags)
{
	int fd = llmi_out_create(path, 0, flags), err;
	FILE *f;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
		unlink(path);
		errno = err;
	}
	return f;
}

const char *llmi_out_strerror(char *buf, size_t len, const char *path, int err, unsigned flags)
{
	char dir[PATH_MAX];
	struct stat st;

	if (err < 0)
		err = -err;
	if (!path || !*path) {
		snprintf(buf, len, "an empty file name; name a file to write");
		return buf;
	}
	switch (err) {
	case EEXIST:
		if (!lstat(path, &st) && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
		    !S_ISLNK(st.st_mode)) {
			snprintf(buf, len, "%s is not a regular file; name a file to write", path);
			break;
		}
		snprintf(buf, len, "%s exists; --force replaces it", path);
		break;
	case EBUSY:
		snprintf(buf, len, "%s is being written by another output or process; "
			 "choose another name", path);
		break;
	case ELOOP:
		snprintf(buf, len, "%s is a symbolic link; refusing to write through it "
			 "(name a regular file)", path);
		break;
	case EISDIR:
		snprintf(buf, len, "%s is a directory; name a file", path);
		break;
	case ENOENT:
		snprintf(dir, sizeof(dir), "%s", path);
		snprintf(buf, len, "%s: directory %s does not exist", path, dirname(dir));
		break;
	case ENOTDIR:
		snprintf(buf, len, "%s: a part of the path is not a directory", path);
		break;
	default:
		snprintf(buf, len, "%s: cannot create: %s", path, strerror(err));
		break;
	}
	(void)flags;
	return buf;
}

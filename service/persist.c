/*
 * Atomic state files: write a temporary file, fsync it, rename it over the
 * target, fsync the directory so the rename itself is durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist.h"

/* A name is one directory entry: anything else would escape dir. */
static int name_check(const char *name)
{
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return 0;
}

/* mkdir -p: each missing component is created 0700, as state is private. */
static int dir_create(const char *dir)
{
	char path[PATH_MAX];
	char *p;
	char c;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
		*p = c;
	}
}

static int dir_open(const char *dir)
{
	int fd;
	int ret;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : -errno;
	ret = dir_create(dir);
	if (ret < 0)
		return ret;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

static int fd_write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		/* A regular file never accepts zero bytes without an error;
		 * guard against looping forever if one does. */
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Creates dir/tmp with buf as its content, on stable storage when it returns 0. */
static int tmp_write(int dirfd, const char *tmp, const void *buf, size_t len)
{
	int fd;
	int ret;

	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	ret = fd_write_all(fd, buf, len);
	if (ret < 0)
		goto out_close;
	if (fsync(fd) < 0) {
		ret = -errno;
		goto out_close;
	}
	/* close() may still report a deferred write error (NFS). */
	return close(fd) < 0 ? -errno : 0;

out_close:
	close(fd);
	return ret;
}

int persist_write(const char *dir, const char *name, const void *buf, size_t len)
{
	char tmp[NAME_MAX + 1];
	int dirfd;
	int ret;

	if (!*dir)
		return -EINVAL;
	ret = name_check(name);
	if (ret < 0)
		return ret;
	if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;

	dirfd = dir_open(dir);
	if (dirfd < 0)
		return dirfd;
	ret = tmp_write(dirfd, tmp, buf, len);
	if (ret == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		ret = -errno;
	if (ret < 0)
		unlinkat(dirfd, tmp, 0);
	else if (fsync(dirfd) < 0)
		/* Without this the rename may not survive a crash. */
		ret = -errno;
	close(dirfd);
	return ret;
}

int persist_read_file(const char *path, char **bufp, size_t *lenp)
{
	struct stat st;
	size_t cap;
	size_t len = 0;
	char *buf;
	char *grown;
	ssize_t n;
	int fd;
	int ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	/* st_size is only a hint (procfs reports 0, the file may grow), so
	 * read to end of file whatever it says. */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t)st.st_size < SIZE_MAX / 2
		      ? (size_t)st.st_size + 1
		      : 4096;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		if (len + 1 == cap) {
			if (cap > SIZE_MAX / 2) {
				ret = -EFBIG;
				goto out_free;
			}
			grown = realloc(buf, cap * 2);
			if (!grown) {
				ret = -ENOMEM;
				goto out_free;
			}
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	close(fd);
	return 0;

out_free:
	free(buf);
out_close:
	close(fd);
	return ret;
}

int persist_read(const char *dir, const char *name, char **buf, size_t *len)
{
	char path[PATH_MAX];
	int ret;

	ret = name_check(name);
	if (ret < 0)
		return ret;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return persist_read_file(path, buf, len);
}

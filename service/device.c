/*
 * Storage devices of this node, through libblkid.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <blkid/blkid.h>
#include <linux/fs.h>

#include <vdisk/ctl.h>
#include <vdisk/syntax.h>

#include "device.h"


/* The device carrying tag spec (UUID=, LABEL=, PARTUUID=), or NULL. */
static char *tag_evaluate(const char *spec)
{
	blkid_cache fresh;
	char *found;

	/* Tries the udev symlinks first, then scans (blkid.conf EVALUATE). */
	found = blkid_evaluate_tag(spec, NULL, NULL);
	if (found)
		return found;
	/* The scan skips devices blkid.tab already knows, with the tags
	 * they had then: a device relabelled, or a loop device set up
	 * again over another image, is only found by probing afresh. */
	if (blkid_get_cache(&fresh, "/dev/null") < 0)
		return NULL;
	found = blkid_evaluate_tag(spec, NULL, &fresh);
	blkid_put_cache(fresh);
	return found;
}

int device_resolve(const char *spec, char *path, size_t pathlen)
{
	char *found = NULL;
	const char *src = spec;
	int ret;

	ret = vdisk_device_spec_check(spec);
	if (ret < 0)
		return ret;
	if (spec[0] != '/') {
		found = tag_evaluate(spec);
		if (!found)
			return -ENOENT;
		src = found;
	}
	if (strlen(src) >= pathlen)
		ret = -ENAMETOOLONG;
	else
		strcpy(path, src);
	free(found);
	return ret;
}

static int mode_check(mode_t mode)
{
	if (S_ISREG(mode) || S_ISBLK(mode))
		return 0;
	return S_ISDIR(mode) ? -EISDIR : -ENOTBLK;
}

int device_probe(const char *spec, char *path, size_t pathlen, uint64_t *size)
{
	struct stat st;
	int fd;
	int ret;

	ret = device_resolve(spec, path, pathlen);
	if (ret < 0)
		return ret;
	/* Check the type before opening: opening a character device can act
	 * on it (a watchdog device arms on open). */
	if (stat(path, &st) < 0)
		return -errno;
	ret = mode_check(st.st_mode);
	if (ret < 0)
		return ret;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* The path may have been replaced since the stat(). */
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	ret = mode_check(st.st_mode);
	if (ret < 0)
		goto out_close;
	if (S_ISREG(st.st_mode))
		*size = (uint64_t)st.st_size;
	else if (ioctl(fd, BLKGETSIZE64, size) < 0)
		ret = -errno;
out_close:
	close(fd);
	return ret;
}

/* The inventory under construction, with each entry's device number to
 * recognise a device libblkid already named. */
struct scan {
	struct device_info *list;
	dev_t *devnos;
	size_t count;
	size_t cap;
};

static struct device_info *scan_add(struct scan *s, dev_t devno)
{
	struct device_info *list;
	dev_t *devnos;
	size_t cap;

	if (s->count == s->cap) {
		cap = s->cap ? s->cap * 2 : 16;
		list = reallocarray(s->list, cap, sizeof(*list));
		if (!list)
			return NULL;
		s->list = list;
		devnos = reallocarray(s->devnos, cap, sizeof(*devnos));
		if (!devnos)
			return NULL;
		s->devnos = devnos;
		s->cap = cap;
	}
	s->devnos[s->count] = devno;
	memset(&s->list[s->count], 0, sizeof(s->list[0]));
	return &s->list[s->count++];
}

static bool scan_has(const struct scan *s, dev_t devno)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		if (s->devnos[i] == devno)
			return true;
	return false;
}

/* Reads a small sysfs attribute as a NUL-terminated string. */
static int sysfs_read(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Block device size in bytes from sysfs, which needs no open() of the
 * device: no permission on it, no side effect. */
static int devno_size(dev_t devno, uint64_t *size)
{
	char path[64];
	char buf[32];
	int ret;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/size", major(devno), minor(devno));
	ret = sysfs_read(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	/* Always in 512-byte sectors, whatever the logical block size. */
	if (sscanf(buf, "%" SCNu64, size) != 1)
		return -EINVAL;
	*size *= 512;
	return 0;
}

static void tag_copy(char *dst, size_t len, const char *value)
{
	snprintf(dst, len, "%s", value);
}

/*
 * Devices never probed: a loop device may be backed by a file of a FUSE
 * filesystem served by this very daemon (an ndfs file made a block device),
 * and reading it while the daemon is busy scanning would never return; RAM
 * and zram disks hold nothing worth sharing. Name such devices by path.
 */
static bool scan_skipped(const char *name)
{
	static const char *const prefixes[] = { "loop", "ram", "zram", "nbd" };
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

/* Copies what libblkid identified on the device into info. */
static void scan_tags(blkid_cache cache, struct device_info *info)
{
	blkid_tag_iterate tags;
	const char *type, *value;
	char pttype[32] = "";
	blkid_dev dev = blkid_get_dev(cache, info->path, BLKID_DEV_NORMAL);

	if (!dev)
		return;
	tags = blkid_tag_iterate_begin(dev);
	while (tags && blkid_tag_next(tags, &type, &value) == 0) {
		if (!strcmp(type, "UUID"))
			tag_copy(info->uuid, sizeof(info->uuid), value);
		else if (!strcmp(type, "LABEL"))
			tag_copy(info->label, sizeof(info->label), value);
		else if (!strcmp(type, "PARTUUID"))
			tag_copy(info->partuuid, sizeof(info->partuuid), value);
		else if (!strcmp(type, "TYPE"))
			tag_copy(info->type, sizeof(info->type), value);
		else if (!strcmp(type, "PTTYPE"))
			tag_copy(pttype, sizeof(pttype), value);
	}
	blkid_tag_iterate_end(tags);
	/* A partitioned disk has no content type; its table type (gpt, dos)
	 * says more than nothing. */
	if (!info->type[0])
		tag_copy(info->type, sizeof(info->type), pttype);
}

/* Every block device sysfs lists (blank disks included: they are the usual
 * thing to make a virtual disk of), with the tags libblkid finds on it. */
static int scan_sysfs(struct scan *s)
{
	struct device_info *info;
	struct dirent *d;
	unsigned int maj;
	unsigned int min;
	char attr[PATH_MAX];
	char buf[32];
	struct stat st;
	uint64_t size;
	blkid_cache cache;
	dev_t devno;
	DIR *dir;
	int ret = 0;

	/* A private cache backed by /dev/null: scanning must not rewrite the
	 * system's blkid.tab. */
	if (blkid_get_cache(&cache, "/dev/null") < 0)
		return -ENOMEM;
	dir = opendir("/sys/class/block");
	if (!dir) {
		ret = errno == ENOENT ? 0 : -errno;
		goto out_put_cache;
	}
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.' || scan_skipped(d->d_name))
			continue;
		snprintf(attr, sizeof(attr), "/sys/class/block/%s/dev", d->d_name);
		if (sysfs_read(attr, buf, sizeof(buf)) < 0 || sscanf(buf, "%u:%u", &maj, &min) != 2)
			continue;
		devno = makedev(maj, min);
		if (scan_has(s, devno) || devno_size(devno, &size) < 0 || !size)
			continue;
		snprintf(attr, sizeof(attr), "/dev/%s", d->d_name);
		if (stat(attr, &st) < 0 || !S_ISBLK(st.st_mode) || st.st_rdev != devno)
			continue;
		info = scan_add(s, devno);
		if (!info) {
			ret = -ENOMEM;
			break;
		}
		strcpy(info->path, attr);
		info->size = size;
		scan_tags(cache, info);
	}
	closedir(dir);
out_put_cache:
	blkid_put_cache(cache);
	return ret;
}

int device_scan(struct device_info **list, size_t *count)
{
	/* Nothing allocated while empty: list stays NULL for no device. */
	struct scan s = {0};
	int ret;

	ret = scan_sysfs(&s);
	free(s.devnos);
	if (ret < 0) {
		free(s.list);
		return ret;
	}
	*list = s.list;
	*count = s.count;
	return 0;
}

/* Attribute attr of block device devno, its first line ("dev" is M:m, a
 * loop device's "loop/backing_file" a path); -errno when it has none. */
static int devno_attr(dev_t devno, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s", major(devno), minor(devno), attr);
	ret = sysfs_read(path, buf, len);
	if (!ret)
		buf[strcspn(buf, "\n")] = '\0';
	return ret;
}

int device_identify(const char *spec, struct device_id *id)
{
	char path[PATH_MAX], buf[PATH_MAX];
	unsigned int maj, min;
	struct stat st;
	int ret;

	memset(id, 0, sizeof(*id));
	ret = device_resolve(spec, path, sizeof(path));
	if (ret < 0)
		return ret;
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode)) {
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		return 0;
	}
	id->blk = true;
	id->dev = st.st_rdev;
	/* The kernel walks ".." from where the symlink led: the disk. */
	if (!devno_attr(st.st_rdev, "partition", buf, sizeof(buf)) &&
	    !devno_attr(st.st_rdev, "../dev", buf, sizeof(buf)) &&
	    sscanf(buf, "%u:%u", &maj, &min) == 2)
		id->whole = makedev(maj, min);
	/* A partition of a loop device reads its disk's file. */
	if ((!devno_attr(st.st_rdev, "loop/backing_file", buf, sizeof(buf)) ||
	     (id->whole && !devno_attr(id->whole, "loop/backing_file", buf, sizeof(buf)))) &&
	    buf[0] == '/' && !stat(buf, &st)) {
		id->backing_dev = st.st_dev;
		id->backing_ino = st.st_ino;
	}
	return 0;
}

static bool file_is(dev_t dev, ino_t ino, const struct device_id *f)
{
	return dev && !f->blk && f->dev == dev && f->ino == ino;
}

bool device_id_overlap(const struct device_id *a, const struct device_id *b)
{
	if (a->blk && b->blk)
		return a->dev == b->dev || (a->whole && a->whole == b->dev) ||
		       (b->whole && b->whole == a->dev) ||
		       (a->backing_dev && a->backing_dev == b->backing_dev &&
			a->backing_ino == b->backing_ino);
	if (a->blk)
		return file_is(a->backing_dev, a->backing_ino, b);
	if (b->blk)
		return file_is(b->backing_dev, b->backing_ino, a);
	return a->dev == b->dev && a->ino == b->ino;
}

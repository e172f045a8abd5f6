/*
 * Storage devices of this node: resolving a device spec to a path with
 * libblkid, probing its size, and the inventory of local block devices.
 *
 * A device spec is an absolute path (a block device or a regular file),
 * UUID=value, LABEL=value or PARTUUID=value, at most VDISK_DEVICE_MAX bytes.
 */
#ifndef VDISK_DEVICE_H
#define VDISK_DEVICE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* One block device found by device_scan(). Strings are "" when absent and
 * truncated when longer than their array. */
struct device_info {
	/* Device node, as libblkid names it (/dev/sdb1, /dev/mapper/vg-lv). */
	char path[PATH_MAX];
	/* Filesystem or volume UUID (the UUID= tag). */
	char uuid[64];
	/* Filesystem or volume label (the LABEL= tag). */
	char label[64];
	/* GPT/MBR partition UUID (the PARTUUID= tag). */
	char partuuid[64];
	/* Content type ("ext4", "xfs", "LVM2_member", "swap"...) or, for a
	 * partitioned disk, the partition table type ("gpt", "dos"). */
	char type[32];
	/* Size in bytes. */
	uint64_t size;
};

/* A spec's syntax: vdisk_device_spec_check(), <vdisk/syntax.h>. */

/*
 * Resolves spec into path: an absolute path is copied as is; a tag is looked
 * up with libblkid. Returns 0, -EINVAL for a malformed spec, -ENOENT if no
 * device carries the tag, -ENAMETOOLONG if the result does not fit pathlen.
 */
int device_resolve(const char *spec, char *path, size_t pathlen);

/*
 * Resolves spec, opens it read-write to prove it is usable and returns its
 * size in bytes and its path. A regular file or a block device is accepted;
 * a directory fails with -EISDIR, any other file type with -ENOTBLK. Otherwise
 * returns the -errno of the failing step (-ENOENT for a missing file,
 * -EACCES, -EROFS...).
 */
int device_probe(const char *spec, char *path, size_t pathlen, uint64_t *size);

/*
 * Lists the block devices of this node with a non-zero size, with the tags
 * libblkid finds on them (empty for blank disks). Loop, RAM, zram and nbd
 * devices are left out: a loop device may be backed by this daemon's own
 * device filesystem. Stores a malloc'd array in *list (NULL when *count is 0) for the
 * caller to free. Returns 0 or -errno.
 */
int device_scan(struct device_info **list, size_t *count);

#endif

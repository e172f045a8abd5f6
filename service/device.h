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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
 * What a spec names, whatever the name: the same file or block device
 * reached through a symlink, a UUID= tag or /dev/disk/by-id/ has the same
 * identity. A block device also carries the disk it is a partition of and
 * the file a loop device reads, so a disk and its partition, or a loop
 * device and its image file, overlap.
 */
struct device_id {
	bool blk;
	dev_t dev; /* block device: its number; file: its filesystem's */
	ino_t ino; /* file: its inode */
	dev_t whole; /* a partition's disk, else 0 */
	dev_t backing_dev; /* a loop device's backing file, else 0 */
	ino_t backing_ino;
};

/* 0 with *id, or the -errno of resolving (device_resolve(): a tag the udev
 * symlinks lack costs a probe of every device) or stat()ing spec. */
int device_identify(const char *spec, struct device_id *id);

/* Whether writing to one could change what the other holds. */
bool device_id_overlap(const struct device_id *a, const struct device_id *b);

/*
 * Lists the block devices of this node with a non-zero size, with the tags
 * libblkid finds on them (empty for blank disks). Loop, RAM, zram and nbd
 * devices are left out: a loop device may be backed by this daemon's own
 * device filesystem. Stores a malloc'd array in *list (NULL when *count is 0) for the
 * caller to free. Returns 0 or -errno.
 */
int device_scan(struct device_info **list, size_t *count);

#endif

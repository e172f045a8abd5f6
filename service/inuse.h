/*
 * Who has each virtual disk open on this node: NBD clients, opens of the
 * device file (ndfs), and loop devices over it. `disk delete` asks every
 * member before the disk goes (cdb.c), so that a disk in use anywhere is
 * refused with the users named, unless forced.
 *
 * Threads: the data thread records opens and closes (the NBD server and
 * ndfs live there); the control thread describes. A mutex guards the table:
 * an open or a close is a few stores, a description a walk of the opens.
 */
#ifndef VDISK_INUSE_H
#define VDISK_INUSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum inuse_kind {
	INUSE_NBD, /* an NBD connection in transmission */
	INUSE_FILE, /* an open of the device file */
};

struct inuse;

/* ndfs_mount: where this node's device files are ("" without ndfs): a
 * loop device whose backing file is under it counts as a user. */
int inuse_create(struct inuse **out, const char *ndfs_mount);
void inuse_destroy(struct inuse *u);

/* Data thread: disk is open (pid 0 when unknown, TCP peers); returns a token
 * for inuse_close(), 0 if it could not be recorded (out of memory: the
 * disk then looks unused, which a delete tells apart by nothing). */
uint64_t inuse_open(struct inuse *u, const char *disk, enum inuse_kind kind, pid_t pid);
/* Data thread: token 0 is a no-op. */
void inuse_close(struct inuse *u, uint64_t token);

/* Any thread: this node's users of disk in one line ("" when none): "1 NBD
 * client (pid 4242, fio), 1 open of the device file (pid 77, qemu-system-x86),
 * loop0 over the device file". Returns the length written. */
size_t inuse_describe(struct inuse *u, const char *disk, char *buf, size_t len);

#endif

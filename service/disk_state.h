/*
 * Which path serves a disk now, as this node sees it, and why: what `disk
 * show` and `disk list` say, so that an administrator never reads the
 * database's primary path as the one in use while its node is down.
 *
 * The judgement mirrors the router's choice (router.c: the primary unless
 * it cannot be used; a failed path is held only while the other one works;
 * a disk with a path on a fenced node waits) from what the control plane
 * knows: quorum,
 * the suspend flag, which nodes run vdiskd, the lease's fences, and the
 * paths the router holds as failed (its published statistics). Pure: any
 * thread, unit-tested with made-up inputs.
 */
#ifndef VDISK_DISK_STATE_H
#define VDISK_DISK_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A fence that lasts until the fence command says the node is off. */
#define DISK_STATE_FENCE_COMMAND UINT64_MAX

struct disk_state_path {
	bool exists; /* the disk has this path */
	const char *node; /* its node's name */
	bool member; /* that node's vdiskd is in the group */
	uint64_t fence_ms; /* the node's fence left, 0 none, or DISK_STATE_FENCE_COMMAND */
	uint64_t failed_ms; /* held as failed for this long, 0 not failed */
};

struct disk_state_in {
	bool quorate;
	bool lease; /* this node's lease runs (lease.h): it may issue I/O */
	bool suspended;
	/* A mirror: the primary is the writer, the secondary never serves
	 * in its place (a promotion moves the writer, docs/mirror.md). */
	bool mirror;
	struct disk_state_path path[2]; /* primary, secondary */
};

enum disk_serving {
	DISK_SERVED_PRIMARY, /* the primary path, as the database says */
	DISK_SERVED_SECONDARY, /* the secondary path: the primary cannot be used */
	DISK_SERVED_HELD, /* nothing runs now; I/O waits (quorum, suspend, a fence) */
	DISK_SERVED_NONE, /* no path can serve it: I/O fails after the I/O timeout */
};

struct disk_state {
	enum disk_serving serving;
	int path; /* 0 primary, 1 secondary, -1 none */
	char why[384]; /* "" when the primary serves as it should */
};

void disk_state_judge(const struct disk_state_in *in, struct disk_state *out);

/* "primary", "secondary", "held", "none" */
const char *disk_serving_name(enum disk_serving s);

#endif

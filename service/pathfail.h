/*
 * The paths the router holds as failed: a path that failed is left alone
 * until a deadline while its disk has another one (router.c says how long
 * and when one is tried again). A pure table: times are passed in.
 *
 * Threads: the data thread only (the router's).
 */
#ifndef VDISK_PATHFAIL_H
#define VDISK_PATHFAIL_H

#include <stddef.h>
#include <stdint.h>

#include "vdmap.h"

#define PATHFAIL_MAX 256

struct path_fail {
	uint32_t disk_id;
	uint8_t path; /* 0 primary, 1 secondary: an index into vdmap_disk.paths */
	uint64_t since; /* monotonic ns */
	uint64_t until;
};

struct pathfails {
	struct path_fail f[PATHFAIL_MAX];
	size_t n;
};

/* The entry holding path of disk_id at now, or NULL. */
const struct path_fail *pathfails_find(const struct pathfails *pf, uint32_t disk_id, uint8_t path,
				       uint64_t now);
/* Holds path of disk_id from now until until (its entry renewed, or an
 * expired one reused; a full table forgets nothing and holds nothing new). */
void pathfails_add(struct pathfails *pf, uint32_t disk_id, uint8_t path, uint64_t now,
		   uint64_t until);
/* A node back in the membership of map (not a member of old): what failed
 * on its paths before is over. */
void pathfails_forget_returned(struct pathfails *pf, const struct vdmap *map,
			       const struct vdmap *old);

#endif

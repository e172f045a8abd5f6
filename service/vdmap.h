/*
 * The mapping snapshot: what the data plane needs from the control plane
 * (members, configuration number, virtual disks and their paths). The control
 * plane builds a new one after every database change or membership change
 * and hands it to the data-plane thread, which swaps it in and frees the old
 * one. A snapshot never changes once built, and only the data thread holds
 * one, so nothing in it needs a lock.
 */
#ifndef VDISK_VDMAP_H
#define VDISK_VDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

struct vdmap_disk {
	char name[VDISK_NAME_MAX + 1];
	uint32_t id;
	uint64_t size;
	uint32_t uid, gid, mode;
	int64_t mtime;
	/* paths[0] primary, paths[1] secondary (nodeid 0: none) */
	struct db_path paths[2];
	/* A mirror (db.h): paths are replicas, paths[0]'s node the writer;
	 * state[] as in the database. */
	bool mirror;
	uint8_t state[2];
	uint64_t datagen;
	/* Requests queue, none is issued: a reconfiguration cycle or
	 * maintenance (suspend) holds the disk. */
	bool held;
	/* ... for a cycle that outdates a mirror's replica: its drain waits
	 * for reads only. The changes out wait for that very cycle (the
	 * writer parks them until the replica is outdated), and none is
	 * acknowledged before it commits; reads out now began before any
	 * write the replica misses was acknowledged. */
	bool held_reads_only;
	/* Not served to this node's clients (stopped.h): no NBD export, no
	 * device file; the paths serve the other nodes all the same. */
	bool stopped;
};

/* Data thread: no request of a held disk is out any more (each held disk is
 * reported once per snapshot that holds it). */
typedef void (*vdmap_drained_fn)(void *ctx, uint32_t disk_id, uint64_t seq);

/* Data thread: the writer of a mirrored disk asks that replica path (0 or
 * 1) be given state (enum db_replica_state), if the disk's data generation
 * is still datagen: outdated when it failed a change (the change waits for
 * it), syncing when it is back to be copied, up to date once it is. */
typedef void (*vdmap_replica_ask_fn)(void *ctx, uint32_t disk_id, uint8_t path, uint64_t datagen,
				     uint8_t state);

/* A node that left the membership: its disks are held until its lease has
 * certainly run out (lease.h). */
#define VDMAP_MAX_FENCES 64
struct vdmap_fence {
	uint32_t nodeid;
	uint64_t until; /* monotonic ns */
};

struct vdmap {
	uint64_t seq; /* publication number, grows with every snapshot */
	vdmap_drained_fn drained;
	void *drained_ctx; /* must outlive the data thread */
	vdmap_replica_ask_fn replica_ask; /* with drained_ctx */
	uint64_t config; /* configuration number */
	uint32_t local_nodeid;
	bool quorate;
	size_t nmembers;
	uint32_t members[64];
	size_t nfences;
	struct vdmap_fence fences[VDMAP_MAX_FENCES];
	size_t ndisks;
	struct vdmap_disk disks[]; /* sorted by name */
};

/* Builds a snapshot (malloc'd, one block: free() releases it). */
struct vdmap *vdmap_build(const struct db *db, uint64_t config, uint32_t local_nodeid,
			  bool quorate, const uint32_t *members, size_t nmembers);

const struct vdmap_disk *vdmap_disk_by_name(const struct vdmap *m, const char *name);
const struct vdmap_disk *vdmap_disk_by_id(const struct vdmap *m, uint32_t id);
/* The disk as this node's clients see it (the NBD server, ndfs): NULL when
 * it is missing or stopped here. */
const struct vdmap_disk *vdmap_export_by_name(const struct vdmap *m, const char *name);
const struct vdmap_disk *vdmap_export_by_id(const struct vdmap *m, uint32_t id);
bool vdmap_is_member(const struct vdmap *m, uint32_t nodeid);
/* Whether a path of d is on a node fenced at now (monotonic ns). */
bool vdmap_disk_fenced(const struct vdmap *m, const struct vdmap_disk *d, uint64_t now);

#endif

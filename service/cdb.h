/*
 * The replicated cluster database: the database (db.h) kept identical on
 * every member by applying updates delivered in CPG agreed order, synced after
 * each membership change, persisted in the state directory and mirrored into
 * CMAP.
 *
 * Ownership: the cdb owns its membership (corosync connections), its database
 * and every pending operation. Everything runs on the control-plane loop; no
 * other thread touches it.
 *
 * An operation (cdb_disk_create, cdb_update_submit) either fails at once
 * (returns -errno, reason in err, callback never called) or returns 0 and
 * later calls its callback exactly once, from the loop, with the result as
 * every member computed it (or -ECANCELED from cdb_stop).
 */
#ifndef VDISK_CDB_H
#define VDISK_CDB_H

#include <stdbool.h>
#include <stdint.h>

#include <qb/qbloop.h>

#include "cpg_msg.h"
#include "db.h"
#include "membership.h"

/* Longest an operation may take, from request to its update's delivery. */
#define CDB_OP_TIMEOUT_MS 15000

struct cdb;
struct prober;

/* rc 0: the update was applied; disk is the row after it (create, perm) or
 * NULL; generation is the database generation after it; err is NULL or a
 * note for the requester (what CDB_CREATE_FORCE overrode). */
typedef void (*cdb_done_fn)(void *ctx, int rc, const char *err, const struct db_disk *disk,
			    uint64_t generation);

/* Loads the persisted state from state_dir and starts the corosync
 * connections. Fails if the state file exists but cannot be read. */
int cdb_start(struct cdb **out, qb_loop_t *loop, const char *state_dir, char *err,
	      size_t errlen);
void cdb_stop(struct cdb *c);

/*
 * Creates a disk. disk holds name, paths (nodeid + device spec), uid, gid,
 * mode and, with CDB_CREATE_SIZE, size. Each path is checked on its own node
 * (device opened, size read, and compared with the storage of every other
 * disk on that node: the same file or device by any name, a partition of it,
 * a loop device over it) before the row is multicast; without
 * CDB_CREATE_SIZE the size is the primary path's, rounded down to whole
 * sectors. Storage of another disk fails with -EBUSY, unless
 * CDB_CREATE_FORCE, which says what it overrode in the callback's note.
 *
 * With disk->mirror the two paths are replicas on two nodes (docs/mirror.md):
 * the size is the smaller device's, the disk gets a new data generation,
 * and the secondary replica starts outdated, every region to be copied
 * (CDB_CREATE_CLEAN: both up to date, the administrator vouching that the
 * devices hold the same bytes, new and zeroed for instance).
 */
#define CDB_CREATE_SIZE (1u << 0)
#define CDB_CREATE_FORCE (1u << 1)
#define CDB_CREATE_CLEAN (1u << 2)
int cdb_disk_create(struct cdb *c, const struct db_disk *disk, unsigned int flags,
		    cdb_done_fn done, void *ctx, char *err, size_t errlen);

/* A new data generation for a mirrored disk: random, never 0. */
uint64_t cdb_datagen_new(void);

/* Submits a delete, perm or replica update (copied). */
int cdb_update_submit(struct cdb *c, const struct db_update *u, cdb_done_fn done, void *ctx,
		      char *err, size_t errlen);

/* Runs on the loop with the scan's outcome: 0 and this node's devices
 * (valid for the call), or -errno (-ECANCELED when vdiskd stops). */
typedef void (*cdb_scan_fn)(void *ctx, int rc, const struct device_info *list, size_t count);

/* Rescans local devices with libblkid, on the prober, and publishes the
 * inventory if it changed. 0 and done (if not NULL) runs later, or -errno. */
int cdb_inventory_rescan(struct cdb *c, cdb_scan_fn done, void *ctx);

/* The device prober every part of the control plane checks paths with. */
struct prober *cdb_prober(const struct cdb *c);

/* Called on the loop after every change the data plane follows: membership,
 * quorum, an applied update, a completed sync, losing corosync. */
typedef void (*cdb_watch_fn)(void *ctx);
void cdb_watch(struct cdb *c, cdb_watch_fn fn, void *ctx);

/*
 * The reconfiguration cycle (reconfig.h) shares the database's CPG group, so
 * its messages are ordered with the updates. deliver gets PREPARE, ACK,
 * COMMIT and CANCEL messages as they are delivered; confchg runs after every
 * membership change and after losing corosync.
 */
struct cdb_cycle_ops {
	void (*deliver)(void *ctx, uint32_t from, const struct cpg_msg *msg);
	void (*confchg)(void *ctx);
};
void cdb_cycle_attach(struct cdb *c, const struct cdb_cycle_ops *ops, void *ctx);
/* Multicasts a message to the group (body is consumed). */
int cdb_send(struct cdb *c, enum cpg_msg_type type, uint64_t reqid, struct json_object *body);
/* The same, for member to only (the others drop it). */
int cdb_send_to(struct cdb *c, enum cpg_msg_type type, uint32_t to, uint64_t reqid,
		struct json_object *body);
/* Applies a committed change at its delivery, exactly as an update would be
 * (refused alike everywhere while syncing or without quorum). */
int cdb_commit_apply(struct cdb *c, uint32_t from, const struct db_update *u, char *err,
		     size_t errlen);

/*
 * The lease (lease.h) shares the group too. confchg runs first after every
 * membership change (before the watchers: the snapshot they publish carries
 * the fences it sets), with the new members; deliver gets BEAT messages,
 * mine true for this process's own.
 */
struct cdb_lease_ops {
	void (*deliver)(void *ctx, uint32_t from, bool mine, const struct cpg_msg *msg);
	void (*confchg)(void *ctx, const uint32_t *members, size_t n);
};
void cdb_lease_attach(struct cdb *c, const struct cdb_lease_ops *ops, void *ctx);

/* Whether a disk is in use (inuse_ask.h) shares the group too: deliver gets
 * INUSE_QUERY and the INUSE_REPLY messages for this node, confchg runs after
 * every membership change. */
struct cdb_inuse_ops {
	void (*deliver)(void *ctx, uint32_t from, const struct cpg_msg *msg);
	void (*confchg)(void *ctx);
};
void cdb_inuse_attach(struct cdb *c, const struct cdb_inuse_ops *ops, void *ctx);

const struct db *cdb_db(const struct cdb *c);
struct membership *cdb_membership(const struct cdb *c);
bool cdb_synced(const struct cdb *c);
/* 0, or the -errno of the last failed save of the database to state_dir. */
int cdb_save_error(const struct cdb *c);
uint64_t cdb_config(const struct cdb *c);

#endif

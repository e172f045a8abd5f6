/*
 * The reconfiguration cycle: every mapping change (map set, map promote,
 * suspend, resume) runs PREPARE -> ACK -> COMMIT or CANCEL over the
 * database's CPG group, so it never races with I/O:
 *
 *   PREPARE(txid, change)  the coordinator (the node asked) multicasts it;
 *                          every member holds new requests for the disk
 *                          (queued, not failed), waits for its outstanding
 *                          ones, checks its own path in the new mapping,
 *                          runs the pre-change hook, and multicasts ACK;
 *   COMMIT(txid)           once every member of the PREPARE's configuration
 *                          acked: every member applies the change, takes the
 *                          new mapping, runs the post-change hook and
 *                          resumes, re-routing what it queued;
 *   CANCEL(txid, reason)   an ACK refused or missing after ack_timeout_ms,
 *                          a membership change, or no outcome at all: every
 *                          member resumes on the old mapping.
 * The first COMMIT or CANCEL delivered decides, for every member alike
 * (agreed order). The coordinator cancels for a missing ACK or a member that
 * left; if the coordinator itself left, the lowest remaining nodeid does; a
 * member that sees no outcome for twice the ACK timeout cancels itself.
 * One cycle runs at a time; requests queue behind it.
 *
 * Hooks (`[reconfig] pre_hook`, `post_hook`) run as `HOOK DISK PHASE` with
 * PHASE prepare, commit or cancel, and VDISK_DISK, VDISK_PHASE, VDISK_CHANGE
 * (map, suspend, resume, replica), VDISK_TXID, VDISK_COORDINATOR, VDISK_PRIMARY and
 * VDISK_SECONDARY (NODE:DEVICE after the change, "" for none) in the
 * environment. A failing pre_hook cancels; post_hook's status is logged.
 *
 * Threads: everything runs on the control-plane loop, except the drained
 * notifications, which the data thread posts through a mailbox.
 */
#ifndef VDISK_RECONFIG_H
#define VDISK_RECONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <qb/qbloop.h>

#include "cdb.h"
#include "config.h"
#include "vdmap.h"

enum reconfig_kind {
	RECONFIG_MAP = 1, /* paths[0] primary, paths[1] secondary (nodeid 0: none) */
	RECONFIG_PROMOTE, /* node's path becomes the primary */
	RECONFIG_SUSPEND,
	RECONFIG_RESUME,
	/* A mirror's writer asks that path's replica be given state (vdmap.h's
	 * replica_ask, not a user): outdated when it failed a change, syncing
	 * when it is back and being copied, up to date once copied. Only if
	 * the data generation is still expect (else the replicas changed
	 * first: nothing to do); the disk gets a new one. */
	RECONFIG_REPLICA,
};

struct reconfig_req {
	enum reconfig_kind kind;
	char disk[VDISK_NAME_MAX + 1];
	uint32_t node; /* PROMOTE */
	struct db_path paths[2]; /* MAP */
	bool keep_secondary; /* MAP: paths[1] is the disk's current secondary */
	bool force; /* MAP: a new path may be another disk's storage too */
	uint8_t path; /* REPLICA */
	uint8_t state; /* REPLICA */
	uint64_t expect; /* REPLICA */
};

/* What a cycle cost, for the requester. */
struct reconfig_result {
	bool unchanged; /* nothing to do: no cycle ran */
	uint64_t txid;
	uint64_t cycle_us; /* PREPARE sent to the outcome delivered */
	uint64_t held_us; /* this node's I/O hold for the disk */
	uint64_t drain_us_max; /* the slowest member's drain */
	uint32_t drain_node; /* ... and who it was */
};

/* rc 0: committed (or unchanged); disk is the row after it. Else -errno with
 * the reason in err (-ECANCELED: the cycle was cancelled). */
typedef void (*reconfig_done_fn)(void *ctx, int rc, const char *err, const struct db_disk *disk,
				 const struct reconfig_result *res);

/* Builds and hands the data plane a mapping snapshot; returns its seq. The
 * reconfig module marks the disks it holds through reconfig_holds(). */
typedef uint64_t (*reconfig_publish_fn)(void *ctx);

struct reconfig;

int reconfig_start(struct reconfig **out, qb_loop_t *loop, struct cdb *cdb,
		   const struct vdisk_config *cfg, reconfig_publish_fn publish, void *ctx);
/* After the data thread is gone. Pending requests get -ECANCELED. */
void reconfig_stop(struct reconfig *rc);

/* Starts (or queues) a change. Fails at once (-errno, reason in err, done
 * never called) on what can be checked here; otherwise done runs exactly
 * once, later, from the loop. */
int reconfig_request(struct reconfig *rc, const struct reconfig_req *req, reconfig_done_fn done,
		     void *ctx, char *err, size_t errlen);

/* Marks the disks a cycle holds in a snapshot being built, and tells the
 * router whom to report drains and mirror replicas' changes to (a REPLICA
 * cycle follows, one per disk at a time). */
void reconfig_snapshot_mark(struct reconfig *rc, struct vdmap *map);

/* Whether a request of this node for disk is queued or running. */
bool reconfig_queued(const struct reconfig *rc, const char *disk);

/* After a database or membership change: waiting requests may go now. */
void reconfig_kick(struct reconfig *rc);

#endif

/*
 * Path checks on this node (path_probe.c): answering a member's check of a
 * path, and the storage of other disks a new path is compared with. Control
 * loop only.
 */
#ifndef VDISK_PATH_PROBE_H
#define VDISK_PATH_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vdisk/ctl.h>

#include "cdb.h"
#include "cpg_msg.h"
#include "db.h"
#include "membership.h"

/* Probes the device msg names and replies to from, later, from the loop; a
 * malformed probe is logged and dropped. */
void path_probe_answer(struct cdb *c, uint32_t from, const struct cpg_msg *msg);

/* The paths on one node of the disks of a database: specs[i] is a path of
 * disk names[i]. Owned by whoever collected them. */
struct path_claims {
	size_t n;
	char (*names)[VDISK_NAME_MAX + 1];
	char (*specs)[VDISK_DEVICE_MAX + 1];
};

/* Every path on node of every disk of db but except (NULL: none). 0 or
 * -ENOMEM. */
int path_claims_collect(const struct db *db, uint32_t node, const char *except,
			struct path_claims *pc);
void path_claims_free(struct path_claims *pc);

/* The disk of a prober_result's claim index, or NULL. */
const char *path_claims_name(const struct path_claims *pc, int claim);

/* The sentence for a path p that is disk claim's storage too: the refusal,
 * or (forced) what --force overrode. */
void path_claim_format(char *buf, size_t len, const struct db *db, struct membership *m,
		       const struct db_path *p, const char *claim, bool forced);

#endif

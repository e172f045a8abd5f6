/*
 * A mirror's writer failover: when the node that writes a mirrored disk
 * leaves the membership, the node of its other replica, if that replica is
 * up to date, promotes itself (a reconfiguration cycle, as `vdiskctl map
 * promote` runs), and the departed writer's replica is outdated in the same
 * change (reconfig.c): it may hold writes the survivor lacks, never
 * acknowledged, and is copied whole when it is back. Writes wait meanwhile
 * and go on once the promotion committed and the departed node's lease ran
 * out (router.h). Pacemaker's agent may promote first; either way one
 * cycle wins and the other finds nothing to do.
 *
 * Without quorum, nothing is promoted: the partition that has it decides.
 *
 * Threads: the control loop.
 */
#ifndef VDISK_FAILOVER_H
#define VDISK_FAILOVER_H

#include "cdb.h"
#include "reconfig.h"

/* After a membership or database change: promotes this node for every
 * mirror whose writer left and whose replica here is up to date. */
void failover_check(struct cdb *cdb, struct reconfig *rc);

#endif

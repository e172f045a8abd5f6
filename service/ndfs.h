/*
 * The device filesystem (ndfs): a FUSE mount with one regular file per
 * virtual disk of the current mapping snapshot. Owner, group, mode, size and
 * modification time come from the cluster database and the kernel enforces
 * them (default_permissions); reads, writes, fsync and fallocate go through
 * the router like NBD requests; chmod and chown become cluster database
 * permission updates. Nothing can be created, removed or renamed.
 *
 * Threads: ndfs_start() and ndfs_destroy() run on the control thread. The
 * filesystem is served on the data-plane thread (transport_loop()); only a
 * permission update visits the control thread, for the cluster database.
 */
#ifndef VDISK_NDFS_H
#define VDISK_NDFS_H

#include <qb/qbloop.h>

#include "cdb.h"
#include "inuse.h"
#include "router.h"
#include "transport.h"

struct ndfs;

/*
 * Control thread, after router_start(): mounts the filesystem on mountpoint
 * (created if missing; a stale mount left by a crashed daemon is detached
 * first) and hands it to the data thread. ctl_loop is the control thread's
 * loop, where permission updates meet cdb. 0, or -errno with the reason
 * logged.
 */
int ndfs_start(struct ndfs **out, struct transport *t, struct router *r, struct cdb *cdb,
	       struct inuse *inuse, qb_loop_t *ctl_loop, const char *mountpoint);

/*
 * Control thread, after cdb_stop(), transport_halt() and router_destroy()
 * (the router's requests may still point into buffers freed here), before
 * transport_stop(): unmounts, fails what is still pending with EIO and frees
 * everything.
 */
void ndfs_destroy(struct ndfs *n);

#endif

/*
 * Control server: the libqb IPC service vdiskctl and the OCF agents talk to
 * (protocol in include/vdisk/ctl.h). Reads are open to every local user;
 * changes need root or membership of the haclient group, judged from the
 * client's credentials as the kernel reports them.
 *
 * Ownership: the server borrows the cdb and the transport (which must
 * outlive it); each connection with a change or a ping in flight holds a
 * libqb reference on itself until it is answered.
 */
#ifndef VDISK_CTL_SERVER_H
#define VDISK_CTL_SERVER_H

#include <qb/qbloop.h>

#include "cdb.h"
#include "router.h"
#include "transport.h"

#define CTL_ADMIN_GROUP "haclient"

struct ctl;

/* The parts the server reports on; borrowed, they must outlive it. */
struct ctl_parts {
	struct cdb *cdb;
	struct transport *transport;
	struct router *router;
	struct reconfig *reconfig;
	struct lease *lease; /* its fences, for which path serves a disk */
	struct inuse_ask *ask; /* whether a disk is in use, before a delete */
	struct inuse *inuse; /* who has which disk open on this node */
	struct stopped *stopped; /* disks not served to this node's clients */
	const char *policy; /* the transport policy's name, for link status */
};

int ctl_start(struct ctl **out, qb_loop_t *loop, const char *ipc_name,
	      const struct ctl_parts *parts);
void ctl_stop(struct ctl *ctl);

#endif

/*
 * Membership: the corosync boundary of vdiskd. Owns the CPG, quorum and CMAP
 * connections, feeds their events to one consumer (the cluster database), and
 * keeps the node table from CMAP's nodelist. cs_error_t never leaves this
 * file: everything returns 0 or -errno.
 *
 * If corosync goes away the connections are dropped, the consumer is told
 * (lost), and they are re-established every second until corosync is back.
 */
#ifndef VDISK_MEMBERSHIP_H
#define VDISK_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <corosync/cmap.h>
#include <qb/qbloop.h>

#include <vdisk/ctl.h>

#define MEMBERSHIP_GROUP "vdisk"
#define MEMBERSHIP_MAX_NODES 64
/* Links read from the nodelist: ring0_addr .. ring7_addr, knet's most. */
#define MEMBERSHIP_MAX_LINKS 8

/* A node of corosync's nodelist. */
struct membership_node {
	uint32_t nodeid;
	char name[VDISK_NODE_MAX + 1]; /* nodelist name, else ring0_addr */
	char addr[MEMBERSHIP_MAX_LINKS][256]; /* ringX_addr, "" if none */
};

/* Called on the loop thread. members: sorted, unique nodeids of the vdiskd
 * processes in the CPG group. */
struct membership_ops {
	void (*confchg)(void *ctx, const uint32_t *members, size_t n);
	void (*deliver)(void *ctx, uint32_t nodeid, uint32_t pid, const void *msg, size_t len);
	void (*quorum)(void *ctx, bool quorate);
	void (*lost)(void *ctx);
};

struct membership;

int membership_start(struct membership **out, qb_loop_t *loop, const struct membership_ops *ops,
		     void *ctx);
void membership_stop(struct membership *m);

/* Multicasts buf (agreed order) and takes ownership of it (malloc'd). Sends
 * are queued while corosync pushes back. -ENOTCONN when not joined. */
int membership_send(struct membership *m, void *buf, size_t len);

uint32_t membership_local_nodeid(const struct membership *m);
/* Whether nodeid left in the last membership change because its node went
 * from corosync's ring (down, cut off or frozen: it may still run), not
 * because its vdiskd left the group or died on a node corosync still sees. */
bool membership_left_down(const struct membership *m, uint32_t nodeid);
/* Grows with every membership change and every loss of corosync: a message
 * sent and delivered in the same view saw no change in between. */
uint64_t membership_view(const struct membership *m);
/* Corosync quorum, and vdiskd running on a majority of the nodelist. */
bool membership_quorate(const struct membership *m);
bool membership_is_member(const struct membership *m, uint32_t nodeid);
size_t membership_members(const struct membership *m, const uint32_t **members);
size_t membership_nodes(const struct membership *m, const struct membership_node **nodes);

/* Name of a node for messages: nodelist name, or "node<ID>" if unknown. */
const char *membership_node_name(const struct membership *m, uint32_t nodeid);
/* Resolves a node name or decimal nodeid from the nodelist; -ENOENT if none. */
int membership_node_lookup(const struct membership *m, const char *text, uint32_t *nodeid);

/* Corosync's token and consensus timeouts as it runs with them (CMAP
 * runtime.config.totem.*): 0, or -errno when not connected or not there. */
int membership_totem_ms(const struct membership *m, uint32_t *token, uint32_t *consensus);

/* The CMAP connection, for the database mirror; false when not connected. */
bool membership_cmap(const struct membership *m, cmap_handle_t *handle);

/* Converts corosync's status codes; the only place that knows them. */
int membership_cs_errno(int cs_error);

#endif

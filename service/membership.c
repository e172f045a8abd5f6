/*
 * CPG membership, quorum and the CMAP nodelist.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <qb/qblist.h>
#include <qb/qblog.h>

#include "membership.h"

#define RECONNECT_MS 1000
#define SEND_RETRY_MS 10

struct send_buf {
	struct qb_list_head list;
	void *buf;
	size_t len;
};

struct membership {
	qb_loop_t *loop;
	const struct membership_ops *ops;
	void *ctx;

	cpg_handle_t cpg;
	quorum_handle_t quorum;
	cmap_handle_t cmap;
	int cpg_fd, quorum_fd; /* -1 when not polled */
	bool connected; /* all three handles up and the group joined */
	bool warned; /* "corosync is not running" logged once per outage */

	uint32_t local_nodeid;
	bool quorate;
	uint64_t view;
	uint32_t members[MEMBERSHIP_MAX_NODES];
	size_t nmembers;
	/* Left in the last change with the node itself gone from corosync's
	 * ring (not a process that left or died on a node still there). */
	uint32_t down[MEMBERSHIP_MAX_NODES];
	size_t ndown;
	struct membership_node nodes[MEMBERSHIP_MAX_NODES];
	size_t nnodes;

	struct qb_list_head sendq;
	qb_loop_timer_handle reconnect_timer;
	qb_loop_timer_handle send_timer;
	bool send_timer_armed;
};

/* Only one membership exists per process; corosync's callbacks carry no
 * context pointer we control, so they find it here. */
static struct membership *the_membership;

int membership_cs_errno(int cs_error)
{
	switch (cs_error) {
	case CS_OK:
		return 0;
	case CS_ERR_TRY_AGAIN:
		return -EAGAIN;
	case CS_ERR_NO_MEMORY:
		return -ENOMEM;
	case CS_ERR_ACCESS:
		return -EACCES;
	case CS_ERR_NOT_EXIST:
		return -ENOENT;
	case CS_ERR_EXIST:
		return -EEXIST;
	case CS_ERR_TOO_BIG:
		return -EMSGSIZE;
	case CS_ERR_INVALID_PARAM:
		return -EINVAL;
	case CS_ERR_LIBRARY:
	case CS_ERR_BAD_HANDLE:
	case CS_ERR_NOT_SUPPORTED:
		return -ENOTCONN;
	default:
		return -EIO;
	}
}

static void nodelist_load(struct membership *m)
{
	char key[128], *str;
	size_t i, n = 0;
	int link;

	for (i = 0; n < MEMBERSHIP_MAX_NODES; i++) {
		struct membership_node *node = &m->nodes[n];

		snprintf(key, sizeof(key), "nodelist.node.%zu.nodeid", i);
		if (cmap_get_uint32(m->cmap, key, &node->nodeid) != CS_OK)
			break;
		snprintf(key, sizeof(key), "nodelist.node.%zu.name", i);
		if (cmap_get_string(m->cmap, key, &str) != CS_OK) {
			snprintf(key, sizeof(key), "nodelist.node.%zu.ring0_addr", i);
			if (cmap_get_string(m->cmap, key, &str) != CS_OK)
				str = NULL;
		}
		if (str)
			snprintf(node->name, sizeof(node->name), "%s", str);
		else
			snprintf(node->name, sizeof(node->name), "node%" PRIu32, node->nodeid);
		free(str);
		for (link = 0; link < MEMBERSHIP_MAX_LINKS; link++) {
			snprintf(key, sizeof(key), "nodelist.node.%zu.ring%d_addr", i, link);
			node->addr[link][0] = '\0';
			if (cmap_get_string(m->cmap, key, &str) != CS_OK)
				continue;
			snprintf(node->addr[link], sizeof(node->addr[link]), "%s", str);
			free(str);
		}
		n++;
	}
	m->nnodes = n;
}

static void sendq_flush(struct membership *m);

static void send_retry(void *data)
{
	struct membership *m = data;

	m->send_timer_armed = false;
	sendq_flush(m);
}

static void sendq_flush(struct membership *m)
{
	struct send_buf *sb;
	struct iovec iov;
	cs_error_t cs;

	while (m->connected && !qb_list_empty(&m->sendq)) {
		sb = qb_list_first_entry(&m->sendq, struct send_buf, list);
		iov.iov_base = sb->buf;
		iov.iov_len = sb->len;
		cs = cpg_mcast_joined(m->cpg, CPG_TYPE_AGREED, &iov, 1);
		if (cs == CS_ERR_TRY_AGAIN) {
			/* Corosync's queue is full: come back later rather
			 * than spin, the loop must keep dispatching. */
			if (!m->send_timer_armed &&
			    qb_loop_timer_add(m->loop, QB_LOOP_MED, SEND_RETRY_MS * QB_TIME_NS_IN_MSEC,
					      m, send_retry, &m->send_timer) == 0)
				m->send_timer_armed = true;
			return;
		}
		if (cs != CS_OK)
			qb_log(LOG_ERR, "cpg_mcast_joined: %s; message of %zu bytes dropped",
			       strerror(-membership_cs_errno(cs)), sb->len);
		qb_list_del(&sb->list);
		free(sb->buf);
		free(sb);
	}
}

static void sendq_drop(struct membership *m)
{
	struct send_buf *sb, *tmp;

	qb_list_for_each_entry_safe(sb, tmp, &m->sendq, list) {
		qb_list_del(&sb->list);
		free(sb->buf);
		free(sb);
	}
}

int membership_send(struct membership *m, void *buf, size_t len)
{
	struct send_buf *sb;

	if (!m->connected) {
		free(buf);
		return -ENOTCONN;
	}
	sb = malloc(sizeof(*sb));
	if (!sb) {
		free(buf);
		return -ENOMEM;
	}
	sb->buf = buf;
	sb->len = len;
	qb_list_add_tail(&sb->list, &m->sendq);
	if (!m->send_timer_armed)
		sendq_flush(m);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static void cpg_confchg(cpg_handle_t handle, const struct cpg_name *group,
			const struct cpg_address *members, size_t nmembers,
			const struct cpg_address *left, size_t nleft,
			const struct cpg_address *joined, size_t njoined)
{
	struct membership *m = the_membership;
	size_t i, n = 0;

	for (i = 0; i < nmembers && n < MEMBERSHIP_MAX_NODES; i++)
		m->members[n++] = members[i].nodeid;
	qsort(m->members, n, sizeof(m->members[0]), cmp_u32);
	/* Two processes of one node (a restart racing the old one's exit)
	 * count as one member. */
	for (i = 1, m->nmembers = n ? 1 : 0; i < n; i++)
		if (m->members[i] != m->members[m->nmembers - 1])
			m->members[m->nmembers++] = m->members[i];
	m->ndown = 0;
	for (i = 0; i < nleft && m->ndown < MEMBERSHIP_MAX_NODES; i++)
		if (left[i].reason != CPG_REASON_LEAVE && left[i].reason != CPG_REASON_PROCDOWN)
			m->down[m->ndown++] = left[i].nodeid;
	/* The nodelist may have been reloaded with the membership change. */
	nodelist_load(m);
	m->view++;
	qb_log(LOG_INFO, "CPG group %s: %zu members, %zu joined, %zu left", MEMBERSHIP_GROUP,
	       m->nmembers, njoined, nleft);
	m->ops->confchg(m->ctx, m->members, m->nmembers);
}

static void cpg_deliver(cpg_handle_t handle, const struct cpg_name *group, uint32_t nodeid,
			uint32_t pid, void *msg, size_t len)
{
	struct membership *m = the_membership;

	m->ops->deliver(m->ctx, nodeid, pid, msg, len);
}

static void quorum_notify(quorum_handle_t handle, uint32_t quorate, uint64_t ring_seq,
			  uint32_t nview, uint32_t *view)
{
	struct membership *m = the_membership;

	if (m->quorate == !!quorate)
		return;
	m->quorate = !!quorate;
	qb_log(LOG_NOTICE, "quorum %s", quorate ? "gained" : "lost");
	m->ops->quorum(m->ctx, m->quorate);
}

static void connection_drop(struct membership *m);
static void reconnect_schedule(struct membership *m);

static int corosync_dispatch(int32_t fd, int32_t revents, void *data)
{
	struct membership *m = data;
	cs_error_t cs;

	if (fd == m->cpg_fd)
		cs = cpg_dispatch(m->cpg, CS_DISPATCH_ALL);
	else
		cs = quorum_dispatch(m->quorum, CS_DISPATCH_ALL);
	if (cs != CS_OK && cs != CS_ERR_TRY_AGAIN) {
		qb_log(LOG_ERR, "lost the connection to corosync (%s); reconnecting",
		       strerror(-membership_cs_errno(cs)));
		connection_drop(m);
		m->ops->lost(m->ctx);
		reconnect_schedule(m);
		/* The fd was removed from the loop by connection_drop. */
		return 0;
	}
	return 0;
}

static void connection_drop(struct membership *m)
{
	if (m->cpg_fd >= 0)
		qb_loop_poll_del(m->loop, m->cpg_fd);
	if (m->quorum_fd >= 0)
		qb_loop_poll_del(m->loop, m->quorum_fd);
	m->cpg_fd = m->quorum_fd = -1;
	if (m->cpg) {
		if (m->connected) {
			struct cpg_name name;

			strcpy(name.value, MEMBERSHIP_GROUP);
			name.length = strlen(MEMBERSHIP_GROUP);
			cpg_leave(m->cpg, &name);
		}
		cpg_finalize(m->cpg);
	}
	if (m->quorum)
		quorum_finalize(m->quorum);
	if (m->cmap)
		cmap_finalize(m->cmap);
	m->cpg = m->quorum = m->cmap = 0;
	m->connected = false;
	m->quorate = false;
	m->nmembers = 0;
	m->view++;
	sendq_drop(m);
	if (m->send_timer_armed) {
		qb_loop_timer_del(m->loop, m->send_timer);
		m->send_timer_armed = false;
	}
}

static int poll_add(struct membership *m, int fd)
{
	return qb_loop_poll_add(m->loop, QB_LOOP_HIGH, fd, POLLIN, m, corosync_dispatch);
}

static int connection_open(struct membership *m)
{
	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = cpg_deliver,
		.cpg_confchg_fn = cpg_confchg,
	};
	quorum_callbacks_t qcb = { .quorum_notify_fn = quorum_notify };
	struct cpg_name name;
	uint32_t qtype;
	int quorate;
	int fd, rc;

	if ((rc = membership_cs_errno(cmap_initialize(&m->cmap))) ||
	    (rc = membership_cs_errno(quorum_initialize(&m->quorum, &qcb, &qtype))) ||
	    (rc = membership_cs_errno(quorum_trackstart(m->quorum, CS_TRACK_CHANGES))) ||
	    (rc = membership_cs_errno(quorum_getquorate(m->quorum, &quorate))) ||
	    (rc = membership_cs_errno(quorum_fd_get(m->quorum, &fd))))
		return rc;
	m->quorate = !!quorate;
	rc = poll_add(m, fd);
	if (rc)
		return rc;
	m->quorum_fd = fd;

	if ((rc = membership_cs_errno(cpg_model_initialize(&m->cpg, CPG_MODEL_V1,
							   (cpg_model_data_t *)&model, NULL))) ||
	    (rc = membership_cs_errno(cpg_local_get(m->cpg, &m->local_nodeid))) ||
	    (rc = membership_cs_errno(cpg_fd_get(m->cpg, &fd))))
		return rc;
	rc = poll_add(m, fd);
	if (rc)
		return rc;
	m->cpg_fd = fd;
	nodelist_load(m);

	strcpy(name.value, MEMBERSHIP_GROUP);
	name.length = strlen(MEMBERSHIP_GROUP);
	rc = membership_cs_errno(cpg_join(m->cpg, &name));
	if (rc)
		return rc;
	m->connected = true;
	return 0;
}

static void reconnect(void *data)
{
	struct membership *m = data;
	int rc;

	m->reconnect_timer = 0;
	rc = connection_open(m);
	if (rc == 0) {
		qb_log(LOG_NOTICE, "connected to corosync as node %" PRIu32 ", %s",
		       m->local_nodeid, m->quorate ? "quorate" : "not quorate");
		m->warned = false;
		m->ops->quorum(m->ctx, m->quorate);
		return;
	}
	if (!m->warned)
		qb_log(LOG_WARNING, "cannot connect to corosync (%s); retrying every %d ms",
		       strerror(-rc), RECONNECT_MS);
	m->warned = true;
	connection_drop(m);
	reconnect_schedule(m);
}

static void reconnect_schedule(struct membership *m)
{
	if (qb_loop_timer_add(m->loop, QB_LOOP_LOW, RECONNECT_MS * QB_TIME_NS_IN_MSEC, m,
			      reconnect, &m->reconnect_timer))
		qb_log(LOG_CRIT, "cannot arm the corosync reconnect timer");
}

int membership_start(struct membership **out, qb_loop_t *loop, const struct membership_ops *ops,
		     void *ctx)
{
	struct membership *m;

	if (the_membership)
		return -EBUSY;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->loop = loop;
	m->ops = ops;
	m->ctx = ctx;
	m->cpg_fd = m->quorum_fd = -1;
	qb_list_init(&m->sendq);
	the_membership = m;
	/* Connect from the loop so the consumer sees every event from there. */
	if (qb_loop_timer_add(loop, QB_LOOP_HIGH, 0, m, reconnect, &m->reconnect_timer)) {
		the_membership = NULL;
		free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void membership_stop(struct membership *m)
{
	if (!m)
		return;
	if (m->reconnect_timer)
		qb_loop_timer_del(m->loop, m->reconnect_timer);
	connection_drop(m);
	the_membership = NULL;
	free(m);
}

bool membership_left_down(const struct membership *m, uint32_t nodeid)
{
	size_t i;

	for (i = 0; i < m->ndown; i++)
		if (m->down[i] == nodeid)
			return true;
	return false;
}

uint64_t membership_view(const struct membership *m)
{
	return m->view;
}

uint32_t membership_local_nodeid(const struct membership *m)
{
	return m->local_nodeid;
}

bool membership_quorate(const struct membership *m)
{
	uint32_t lowest = UINT32_MAX;
	size_t i;

	if (!m->connected || !m->quorate)
		return false;
	/* Corosync's quorum counts corosyncs; the database lives in the
	 * vdiskds. A lone vdiskd on a quorate node must not take changes that
	 * the majority, rejoining, would overwrite: so a majority of the
	 * nodelist must run vdiskd here too; an even split is won by the half
	 * with the lowest nodeid, as corosync's auto_tie_breaker would. */
	if (m->nmembers * 2 > m->nnodes)
		return true;
	if (m->nmembers * 2 < m->nnodes)
		return false;
	for (i = 0; i < m->nnodes; i++)
		if (m->nodes[i].nodeid < lowest)
			lowest = m->nodes[i].nodeid;
	return membership_is_member(m, lowest);
}

bool membership_is_member(const struct membership *m, uint32_t nodeid)
{
	size_t i;

	for (i = 0; i < m->nmembers; i++)
		if (m->members[i] == nodeid)
			return true;
	return false;
}

size_t membership_members(const struct membership *m, const uint32_t **members)
{
	*members = m->members;
	return m->nmembers;
}

size_t membership_nodes(const struct membership *m, const struct membership_node **nodes)
{
	*nodes = m->nodes;
	return m->nnodes;
}

const char *membership_node_name(const struct membership *m, uint32_t nodeid)
{
	/* Rotating buffers: a message may name two unknown nodes. */
	static char unknown[2][32];
	static unsigned int next;
	char *buf;
	size_t i;

	for (i = 0; i < m->nnodes; i++)
		if (m->nodes[i].nodeid == nodeid)
			return m->nodes[i].name;
	buf = unknown[next++ % 2];
	snprintf(buf, sizeof(unknown[0]), "node%" PRIu32, nodeid);
	return buf;
}

int membership_node_lookup(const struct membership *m, const char *text, uint32_t *nodeid)
{
	char *end;
	unsigned long id;
	size_t i;

	for (i = 0; i < m->nnodes; i++) {
		if (strcmp(m->nodes[i].name, text) == 0) {
			*nodeid = m->nodes[i].nodeid;
			return 0;
		}
	}
	errno = 0;
	id = strtoul(text, &end, 10);
	if (errno || *end || end == text || text[0] == '-' || id == 0 || id > UINT32_MAX)
		return -ENOENT;
	for (i = 0; i < m->nnodes; i++) {
		if (m->nodes[i].nodeid == id) {
			*nodeid = (uint32_t)id;
			return 0;
		}
	}
	return -ENOENT;
}

int membership_totem_ms(const struct membership *m, uint32_t *token, uint32_t *consensus)
{
	int rc;

	if (!m->connected)
		return -ENOTCONN;
	rc = membership_cs_errno(cmap_get_uint32(m->cmap, "runtime.config.totem.token", token));
	if (!rc)
		rc = membership_cs_errno(cmap_get_uint32(m->cmap, "runtime.config.totem.consensus",
							 consensus));
	return rc;
}

bool membership_cmap(const struct membership *m, cmap_handle_t *handle)
{
	*handle = m->cmap;
	return m->connected;
}

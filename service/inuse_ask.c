/*
 * Is a disk in use anywhere in the cluster (inuse_ask.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblist.h>
#include <qb/qblog.h>

#include "cdb_msg.h"
#include "inuse_ask.h"
#include "membership.h"

struct ask {
	struct qb_list_head list;
	struct inuse_ask *a;
	uint64_t reqid;
	char disk[VDISK_NAME_MAX + 1];
	bool delivered; /* our query came back: waiting is set */
	uint32_t waiting[MEMBERSHIP_MAX_NODES]; /* members yet to answer (0: answered) */
	size_t nwaiting;
	char users[2048]; /* "n1: ...; n3: ..." */
	qb_loop_timer_handle timer;
	inuse_ask_fn done;
	void *ctx;
};

struct inuse_ask {
	qb_loop_t *loop;
	struct cdb *c;
	struct inuse *local;
	struct qb_list_head asks;
	uint64_t next_reqid;
};

static struct membership *members_of(const struct inuse_ask *a)
{
	return cdb_membership(a->c);
}

static void ask_end(struct ask *k, int rc, const char *users)
{
	qb_loop_timer_del(k->a->loop, k->timer);
	qb_list_del(&k->list);
	k->done(k->ctx, rc, users);
	free(k);
}

static void ask_check(struct ask *k)
{
	size_t i;

	if (!k->delivered)
		return;
	for (i = 0; i < k->nwaiting; i++)
		if (k->waiting[i])
			return;
	ask_end(k, 0, k->users);
}

static void ask_timeout(void *data)
{
	struct ask *k = data;
	struct membership *m = members_of(k->a);
	char why[256] = "";
	size_t i, used = 0;

	for (i = 0; i < k->nwaiting && used < sizeof(why); i++)
		if (k->waiting[i])
			used += (size_t)snprintf(why + used, sizeof(why) - used, "%s%s",
						 used ? ", " : "",
						 membership_node_name(m, k->waiting[i]));
	snprintf(k->users, sizeof(k->users), "no answer within %d ms from %s: cannot tell "
		 "whether '%s' is in use there (an older vdiskd does not answer)",
		 INUSE_ASK_TIMEOUT_MS, why[0] ? why : "the cluster", k->disk);
	ask_end(k, -ETIMEDOUT, k->users);
}

static struct ask *ask_find(struct inuse_ask *a, uint64_t reqid)
{
	struct ask *k;

	qb_list_for_each_entry(k, &a->asks, list)
		if (k->reqid == reqid)
			return k;
	return NULL;
}

/* Our own query delivered: from now on, every member of this membership
 * answers (they all deliver it), or leaves. */
static void query_delivered(struct ask *k)
{
	const uint32_t *members;
	size_t n = membership_members(members_of(k->a), &members);

	k->delivered = true;
	k->nwaiting = n < MEMBERSHIP_MAX_NODES ? n : MEMBERSHIP_MAX_NODES;
	memcpy(k->waiting, members, k->nwaiting * sizeof(*members));
}

static void reply_taken(struct ask *k, uint32_t from, const char *users)
{
	size_t i, len;

	for (i = 0; i < k->nwaiting; i++) {
		if (k->waiting[i] != from)
			continue;
		k->waiting[i] = 0;
		len = strlen(k->users);
		if (users[0])
			snprintf(k->users + len, sizeof(k->users) - len, "%s%s: %s",
				 len ? "; " : "", membership_node_name(members_of(k->a), from),
				 users);
		ask_check(k);
		return;
	}
}

static void query_answer(struct inuse_ask *a, uint32_t from, uint64_t reqid, const char *disk)
{
	struct json_object *body = json_object_new_object();
	char users[CDB_INUSE_USERS_MAX + 1];

	inuse_describe(a->local, disk, users, sizeof(users));
	json_object_object_add(body, "disk", json_object_new_string(disk));
	json_object_object_add(body, "users", json_object_new_string(users));
	if (cdb_send_to(a->c, CPG_MSG_INUSE_REPLY, from, reqid, body))
		qb_log(LOG_WARNING, "cannot answer node %" PRIu32 " whether '%s' is in use", from,
		       disk);
}

static void inuse_deliver(void *ctx, uint32_t from, const struct cpg_msg *msg)
{
	struct inuse_ask *a = ctx;
	uint32_t self = membership_local_nodeid(members_of(a));
	bool reply = msg->type == CPG_MSG_INUSE_REPLY;
	struct cdb_msg_inuse m;
	struct ask *k;

	if (cdb_msg_inuse_decode(msg->body, reply, &m)) {
		qb_log(LOG_WARNING, "malformed in-use message from node %" PRIu32, from);
		return;
	}
	if (!reply) {
		k = from == self ? ask_find(a, msg->reqid) : NULL;
		if (k && !k->delivered)
			query_delivered(k);
		query_answer(a, from, msg->reqid, m.disk);
		return;
	}
	k = ask_find(a, msg->reqid);
	if (k && k->delivered && !strcmp(k->disk, m.disk))
		reply_taken(k, from, m.users);
}

/* A member that left answers nothing more: it no longer counts. */
static void inuse_confchg(void *ctx)
{
	struct inuse_ask *a = ctx;
	struct membership *m = members_of(a);
	struct ask *k, *tmp;
	size_t i;

	qb_list_for_each_entry_safe(k, tmp, &a->asks, list) {
		for (i = 0; i < k->nwaiting; i++)
			if (k->waiting[i] && !membership_is_member(m, k->waiting[i]))
				k->waiting[i] = 0;
		ask_check(k);
	}
}

static const struct cdb_inuse_ops inuse_ops = {
	.deliver = inuse_deliver,
	.confchg = inuse_confchg,
};

int inuse_ask_create(struct inuse_ask **out, qb_loop_t *loop, struct cdb *c, struct inuse *local)
{
	struct inuse_ask *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->loop = loop;
	a->c = c;
	a->local = local;
	qb_list_init(&a->asks);
	cdb_inuse_attach(c, &inuse_ops, a);
	*out = a;
	return 0;
}

void inuse_ask_destroy(struct inuse_ask *a)
{
	struct ask *k, *tmp;

	if (!a)
		return;
	cdb_inuse_attach(a->c, NULL, NULL);
	qb_list_for_each_entry_safe(k, tmp, &a->asks, list)
		ask_end(k, -ECANCELED, "vdiskd is shutting down");
	free(a);
}

int inuse_ask(struct inuse_ask *a, const char *disk, inuse_ask_fn done, void *ctx)
{
	struct ask *k = calloc(1, sizeof(*k));
	struct json_object *body;
	int rc;

	if (!k)
		return -ENOMEM;
	k->a = a;
	k->reqid = ++a->next_reqid;
	snprintf(k->disk, sizeof(k->disk), "%s", disk);
	k->done = done;
	k->ctx = ctx;
	rc = qb_loop_timer_add(a->loop, QB_LOOP_LOW,
			       (uint64_t)INUSE_ASK_TIMEOUT_MS * QB_TIME_NS_IN_MSEC, k, ask_timeout,
			       &k->timer);
	if (rc) {
		free(k);
		return rc < 0 ? rc : -ENOMEM;
	}
	qb_list_add_tail(&k->list, &a->asks);
	body = json_object_new_object();
	json_object_object_add(body, "disk", json_object_new_string(disk));
	rc = cdb_send(a->c, CPG_MSG_INUSE_QUERY, k->reqid, body);
	if (rc) {
		qb_loop_timer_del(a->loop, k->timer);
		qb_list_del(&k->list);
		free(k);
	}
	return rc;
}

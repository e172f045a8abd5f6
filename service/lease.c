/*
 * The lease: beats over CPG, renewal on their delivery, fences of the
 * nodes that left (lease.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "cdb.h"
#include "cdb_msg.h"
#include "clock.h"
#include "lease.h"

#define MS 1000000ull
/* As transport_internal.h's: how far two monotonic clocks may drift
 * apart, in parts per million. */
#define DRIFT_PPM 500
/* An automatic lease is corosync's token + consensus + this: a membership
 * change (detection, then agreement) ends within the lease of the nodes
 * that stay, so they never stall for it. */
#define AUTO_EXTRA_MS 1000
/* Fences set before corosync's timeouts could be read. */
#define UNKNOWN_FENCE_MS 60000

struct lease {
	qb_loop_t *loop;
	struct cdb *cdb;
	_Atomic uint64_t lease_ns; /* 0: automatic, not known yet */
	_Atomic uint64_t until;
	qb_loop_timer_handle timer;
	bool valid; /* as last logged */
	uint32_t members[MEMBERSHIP_MAX_NODES];
	size_t nmembers;
	/* Per member of this view: the send time of its last beat delivered
	 * here (its clock), which our beats echo back. */
	uint64_t seen[MEMBERSHIP_MAX_NODES];
	struct vdmap_fence fences[VDMAP_MAX_FENCES];
	size_t nfences;
};

uint64_t lease_length(const struct lease *l)
{
	return atomic_load(&l->lease_ns);
}

uint64_t lease_until(const struct lease *l)
{
	return atomic_load_explicit(&l->until, memory_order_acquire);
}

static void lease_log(struct lease *l, uint64_t now)
{
	bool valid = now < lease_until(l);

	if (valid == l->valid)
		return;
	l->valid = valid;
	if (valid)
		qb_log(LOG_NOTICE, "lease: renewed; this node may issue I/O to its storage");
	else
		qb_log(LOG_WARNING, "lease: expired (no beat came back from a quorate membership "
		       "in %" PRIu64 " ms); no I/O to this node's storage until it does",
		       l->lease_ns / MS);
}

/* An automatic lease takes its length from corosync once it can. */
static bool lease_known(struct lease *l)
{
	uint32_t token, consensus;

	if (l->lease_ns)
		return true;
	if (membership_totem_ms(cdb_membership(l->cdb), &token, &consensus))
		return false;
	l->lease_ns = ((uint64_t)token + consensus + AUTO_EXTRA_MS) * MS;
	qb_log(LOG_NOTICE, "lease: %" PRIu64 " ms (corosync token %" PRIu32 " + consensus %" PRIu32
	       " + %u ms)", l->lease_ns / MS, token, consensus, AUTO_EXTRA_MS);
	return true;
}

static void beat_send(struct lease *l)
{
	struct membership *m = cdb_membership(l->cdb);
	struct json_object *body, *seen;
	size_t i;
	int rc;

	if (!lease_known(l) || !membership_is_member(m, membership_local_nodeid(m)))
		return;
	body = json_object_new_object();
	json_object_object_add(body, "view", json_object_new_int64((int64_t)membership_view(m)));
	seen = json_object_new_array();
	for (i = 0; i < l->nmembers; i++) {
		struct json_object *e;

		if (!l->seen[i])
			continue;
		e = json_object_new_array();
		json_object_array_add(e, json_object_new_int64(l->members[i]));
		json_object_array_add(e, json_object_new_int64((int64_t)l->seen[i]));
		json_object_array_add(seen, e);
	}
	json_object_object_add(body, "seen", seen);
	rc = cdb_send(l->cdb, CPG_MSG_BEAT, now_ns(), body);
	if (rc && rc != -ENOTCONN)
		qb_log(LOG_DEBUG, "lease: cannot send a beat: %s", strerror(-rc));
}

/* Beats go eight times a lease (one lost or late still leaves most of it);
 * every 100 ms while its length is unknown. */
static uint64_t tick_ns(const struct lease *l)
{
	return l->lease_ns ? l->lease_ns / 8 : 100 * MS;
}

static void lease_tick(void *data)
{
	struct lease *l = data;
	uint64_t now = now_ns();

	lease_log(l, now);
	beat_send(l);
	if (qb_loop_timer_add(l->loop, QB_LOOP_HIGH, tick_ns(l), l, lease_tick, &l->timer))
		qb_log(LOG_ERR, "lease: cannot set its timer: the lease will run out");
}

static size_t member_index(const struct lease *l, uint32_t node)
{
	size_t i;

	for (i = 0; i < l->nmembers; i++)
		if (l->members[i] == node)
			return i;
	return SIZE_MAX;
}

/*
 * Renewal (lease.h). Another member's beat, delivered here in this view,
 * that echoes our beat sent at s: that member delivered ours in a ring
 * with us, then sent its own, before it could have left us (it fences us
 * from its view change, which comes after): the lease runs to s + lease.
 * Our own beat delivered back is proof only when we are the view's only
 * member: a corosync that froze holding the token delivers what we queued
 * meanwhile, in the old view, after the others have gone on without it.
 */
static void beat_deliver(void *ctx, uint32_t from, bool mine, const struct cpg_msg *msg)
{
	struct lease *l = ctx;
	struct membership *m = cdb_membership(l->cdb);
	uint32_t me = membership_local_nodeid(m);
	uint64_t now = now_ns(), sent = 0;
	struct cdb_msg_beat beat;
	size_t i;

	if (!l->lease_ns || cdb_msg_beat_decode(msg->body, &beat))
		return;
	if (!mine) {
		i = member_index(l, from);
		if (i != SIZE_MAX)
			l->seen[i] = msg->reqid;
		for (i = 0; i < beat.nseen; i++)
			if (beat.seen[i].node == me)
				sent = beat.seen[i].sent;
	} else if (l->nmembers == 1 && beat.view == membership_view(m)) {
		sent = msg->reqid;
	}
	if (!sent || sent > now || !membership_quorate(m))
		return;
	if (sent + l->lease_ns > lease_until(l))
		atomic_store_explicit(&l->until, sent + l->lease_ns, memory_order_release);
	lease_log(l, now);
}

static bool in_list(const uint32_t *list, size_t n, uint32_t node)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i] == node)
			return true;
	return false;
}

static void fence_add(struct lease *l, uint32_t node, uint64_t until)
{
	size_t i;

	for (i = 0; i < l->nfences; i++)
		if (l->fences[i].nodeid == node)
			break;
	if (i == l->nfences) {
		if (l->nfences == VDMAP_MAX_FENCES)
			return; /* no more nodes than that exist */
		l->nfences++;
	}
	l->fences[i] = (struct vdmap_fence){ node, until };
}

/* Every node corosync lost is fenced until its lease certainly ran out (a
 * loss of our own corosync comes here with no members). Our own lease runs
 * on: only beats of a new view renew it. */
static void lease_confchg(void *ctx, const uint32_t *members, size_t n)
{
	struct lease *l = ctx;
	struct membership *m = cdb_membership(l->cdb);
	uint64_t now = now_ns(), len, until;
	size_t i = 0;

	/* A node back in the membership issues I/O as a member again. */
	while (i < l->nfences) {
		if (in_list(members, n, l->fences[i].nodeid))
			l->fences[i] = l->fences[--l->nfences];
		else
			i++;
	}
	len = lease_known(l) ? l->lease_ns : UNKNOWN_FENCE_MS * MS;
	until = now + len + len / 1000000 * DRIFT_PPM + LEASE_MARGIN_MS * MS;
	for (i = 0; i < l->nmembers; i++) {
		/* A vdiskd that left the group or died issues nothing more:
		 * only a node corosync lost may still run. And only a quorate
		 * view takes disks over: a node cut off from the others has
		 * nothing to fence them from (it stops its own I/O). */
		if (in_list(members, n, l->members[i]) ||
		    (n && (!membership_left_down(m, l->members[i]) || !membership_quorate(m))))
			continue;
		fence_add(l, l->members[i], until);
		qb_log(LOG_NOTICE, "lease: node %" PRIu32 " left; its disks wait %" PRIu64
		       " ms for its lease to run out", l->members[i], (until - now) / MS);
	}
	if (n)
		memcpy(l->members, members, n * sizeof(*members));
	l->nmembers = n;
	/* Beats of earlier views prove nothing in this one. */
	memset(l->seen, 0, sizeof(l->seen));
	/* A beat of the new view renews the lease at once. */
	if (n)
		beat_send(l);
}

size_t lease_fences(const struct lease *l, uint64_t now, struct vdmap_fence *out)
{
	size_t i, n = 0;

	for (i = 0; i < l->nfences; i++)
		if (now < l->fences[i].until)
			out[n++] = l->fences[i];
	return n;
}

static const struct cdb_lease_ops lease_ops = {
	.deliver = beat_deliver,
	.confchg = lease_confchg,
};

int lease_create(struct lease **out, qb_loop_t *loop, uint32_t lease_ms)
{
	struct lease *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->lease_ns = (uint64_t)lease_ms * MS;
	*out = l;
	return 0;
}

int lease_attach(struct lease *l, struct cdb *c)
{
	int rc;

	l->cdb = c;
	rc = qb_loop_timer_add(l->loop, QB_LOOP_HIGH, tick_ns(l), l, lease_tick, &l->timer);
	if (rc) {
		l->cdb = NULL;
		return rc;
	}
	cdb_lease_attach(c, &lease_ops, l);
	return 0;
}

void lease_destroy(struct lease *l)
{
	if (!l)
		return;
	if (l->cdb)
		qb_loop_timer_del(l->loop, l->timer);
	free(l);
}

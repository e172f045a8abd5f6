/*
 * The lease: beats over CPG, renewal on their delivery, fences of the
 * nodes that left (lease.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <qb/qblog.h>

#include "cdb.h"
#include "cdb_msg.h"
#include "clock.h"
#include "hook.h"
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
/* A fence command that failed runs again this much later; one that has not
 * ended after RUN_TIMEOUT_MS is killed and runs again. */
#define FENCE_RETRY_MS 1000
#define RUN_TIMEOUT_MS 30000

struct lease;

/* A node's fence, and the fence command that waits for it to be fenced. */
struct fence_run {
	struct lease *l;
	uint32_t nodeid;
	struct hook *hook; /* running, or NULL between runs */
	qb_loop_timer_handle retry; /* between runs: the next; during one: its end */
	bool retry_set;
	unsigned runs;
	uint64_t bound; /* when its lease has certainly run out */
	char node[64]; /* its name, for the command and the log */
	char since[24]; /* when it last joined: seconds since the epoch */
};

struct fence {
	struct vdmap_fence f; /* until UINT64_MAX while the command waits */
	struct fence_run *run; /* with a fence command, else NULL */
};

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
	/* Per member: when it joined the membership as this node saw it
	 * (seconds since the epoch): a fence since then finds it off. */
	int64_t joined[MEMBERSHIP_MAX_NODES];
	struct fence fences[VDMAP_MAX_FENCES];
	size_t nfences;
	char fence_cmd[PATH_MAX]; /* "" for none */
	lease_changed_fn changed;
	void *changed_ctx;
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

static void run_free(struct fence_run *r)
{
	if (!r)
		return;
	if (r->hook)
		hook_kill(r->hook);
	if (r->retry_set)
		qb_loop_timer_del(r->l->loop, r->retry);
	free(r);
}

static struct fence *fence_find(struct lease *l, uint32_t node)
{
	size_t i;

	for (i = 0; i < l->nfences; i++)
		if (l->fences[i].f.nodeid == node)
			return &l->fences[i];
	return NULL;
}

static void fence_remove(struct lease *l, struct fence *f)
{
	run_free(f->run);
	*f = l->fences[--l->nfences];
}

static void run_start(struct fence_run *r);

static void run_retry(void *data)
{
	struct fence_run *r = data;

	r->retry_set = false;
	if (r->hook) {
		/* Still running: hung (a fencer that does not answer). */
		qb_log(LOG_WARNING, "lease: %s %s %s %" PRIu32 " still runs after %u ms; "
		       "killed, it runs again", r->l->fence_cmd, r->node, r->since, r->nodeid,
		       RUN_TIMEOUT_MS);
		hook_kill(r->hook);
		r->hook = NULL;
	}
	run_start(r);
}

static void run_again(struct fence_run *r, uint32_t ms)
{
	if (qb_loop_timer_add(r->l->loop, QB_LOOP_HIGH, ms * MS, r, run_retry, &r->retry)) {
		qb_log(LOG_ERR, "lease: cannot set a timer: node %s's disks wait until it is "
		       "back in the membership", r->node);
		return;
	}
	r->retry_set = true;
}

/* The fence command ended: 0 says the node is fenced (its disks go to
 * their other paths now); anything else, it runs again. */
static void run_done(void *ctx, int status)
{
	struct fence_run *r = ctx;
	struct lease *l = r->l;
	struct fence *f = fence_find(l, r->nodeid);
	uint64_t now = now_ns();
	char why[96];

	r->hook = NULL;
	if (r->retry_set) {
		qb_loop_timer_del(l->loop, r->retry);
		r->retry_set = false;
	}
	if (status == 0) {
		/* Fenced, and its lease run out too: a command that says yes
		 * too soon (a wrong one) still cannot end the fence early. */
		if (now < r->bound)
			qb_log(LOG_NOTICE, "lease: %s %s %s %" PRIu32 " says node %s is fenced; "
			       "its disks go on without it once its lease has run out, in %"
			       PRIu64 " ms", l->fence_cmd, r->node, r->since, r->nodeid, r->node,
			       (r->bound - now) / MS);
		else
			qb_log(LOG_NOTICE, "lease: %s %s %s %" PRIu32 " says node %s is fenced; "
			       "its disks go on without it", l->fence_cmd, r->node, r->since,
			       r->nodeid, r->node);
		if (f) {
			f->f.until = r->bound;
			f->run = NULL;
		}
		free(r);
		l->changed(l->changed_ctx);
		return;
	}
	/* The first failure and then one in a minute: the disks still wait. */
	if (r->runs == 1 || r->runs % (60000 / FENCE_RETRY_MS) == 0)
		qb_log(LOG_WARNING, "lease: %s %s %s %" PRIu32 ": %s (run %u); node %s's disks "
		       "wait until it succeeds or the node is back", l->fence_cmd, r->node,
		       r->since, r->nodeid, hook_status_str(status, why, sizeof(why)), r->runs,
		       r->node);
	run_again(r, FENCE_RETRY_MS);
}

static void run_start(struct fence_run *r)
{
	struct lease *l = r->l;
	char id[16];
	char *argv[] = { l->fence_cmd, r->node, r->since, id, NULL };
	char *env[] = { NULL };
	int rc;

	snprintf(id, sizeof(id), "%" PRIu32, r->nodeid);
	r->runs++;
	rc = hook_run(&r->hook, l->loop, l->fence_cmd, argv, env, run_done, r);
	if (rc) {
		r->hook = NULL;
		if (r->runs == 1)
			qb_log(LOG_ERR, "lease: cannot run %s: %s; node %s's disks wait until it "
			       "runs and succeeds, or the node is back", l->fence_cmd,
			       strerror(-rc), r->node);
		run_again(r, FENCE_RETRY_MS);
		return;
	}
	run_again(r, RUN_TIMEOUT_MS);
}

/* A node lost: fenced until its lease certainly ran out (until), and, with
 * a fence command (and a view of the cluster: not when our own corosync went
 * away), until the command says it has been fenced since it joined, at
 * joined (seconds since the epoch). */
static void fence_add(struct lease *l, uint32_t node, uint64_t until, uint64_t now,
		      bool command, int64_t joined)
{
	struct membership *m = cdb_membership(l->cdb);
	struct fence *f = fence_find(l, node);
	struct fence_run *r = NULL;

	if (!f) {
		if (l->nfences == VDMAP_MAX_FENCES)
			return; /* no more nodes than that exist */
		f = &l->fences[l->nfences++];
		*f = (struct fence){ .f.nodeid = node };
	}
	if (!l->fence_cmd[0] || !command) {
		f->f.until = until;
		qb_log(LOG_NOTICE, "lease: node %s left; its disks wait %" PRIu64
		       " ms for its lease to run out", membership_node_name(m, node),
		       (until - now) / MS);
		return;
	}
	f->f.until = UINT64_MAX;
	if (f->run)
		return; /* already waiting for it */
	r = calloc(1, sizeof(*r));
	if (!r) {
		qb_log(LOG_ERR, "lease: out of memory: node %s's disks wait until it is back in "
		       "the membership", membership_node_name(m, node));
		return;
	}
	*r = (struct fence_run){ .l = l, .nodeid = node, .bound = until };
	snprintf(r->node, sizeof(r->node), "%s", membership_node_name(m, node));
	snprintf(r->since, sizeof(r->since), "%lld", (long long)joined);
	f->run = r;
	qb_log(LOG_NOTICE, "lease: node %s left; its disks wait until %s says it is fenced",
	       r->node, l->fence_cmd);
	run_start(r);
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
		if (in_list(members, n, l->fences[i].f.nodeid))
			fence_remove(l, &l->fences[i]);
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
		fence_add(l, l->members[i], until, now, n > 0, l->joined[i]);
	}
	if (n) {
		int64_t joined[MEMBERSHIP_MAX_NODES], wall = (int64_t)time(NULL);
		size_t j;

		for (i = 0; i < n; i++) {
			j = member_index(l, members[i]);
			joined[i] = j == SIZE_MAX ? wall : l->joined[j];
		}
		memcpy(l->members, members, n * sizeof(*members));
		memcpy(l->joined, joined, n * sizeof(*joined));
	}
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
		if (now < l->fences[i].f.until)
			out[n++] = l->fences[i].f;
	return n;
}

static const struct cdb_lease_ops lease_ops = {
	.deliver = beat_deliver,
	.confchg = lease_confchg,
};

int lease_create(struct lease **out, qb_loop_t *loop, uint32_t lease_ms, const char *fence_cmd,
		 lease_changed_fn changed, void *ctx)
{
	struct lease *l;

	if (fence_cmd && strlen(fence_cmd) >= sizeof(l->fence_cmd))
		return -ENAMETOOLONG;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->lease_ns = (uint64_t)lease_ms * MS;
	snprintf(l->fence_cmd, sizeof(l->fence_cmd), "%s", fence_cmd ? fence_cmd : "");
	l->changed = changed;
	l->changed_ctx = ctx;
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
	while (l->nfences)
		fence_remove(l, &l->fences[0]);
	free(l);
}

/*
 * The reconfiguration cycle (reconfig.h: PREPARE, ACK, COMMIT or CANCEL over
 * the database's CPG group) on three members in one process, corosync faked
 * at the membership.h boundary (fake_membership.h). Each member runs its own
 * cdb and reconfig on the shared loop; its publish callback builds the
 * mapping snapshot as vdiskd's map_publish() does and plays the router: it
 * reports each held disk drained, at once or when the test lets it, and
 * keeps what the snapshots said of the disk so the test can follow every
 * member's I/O hold.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cdb.h"
#include "config.h"
#include "reconfig.h"
#include "reconfig_msg.h"
#include "vdmap.h"

#include "fake_membership.h"

#define NODES FAKE_NODES
#define DISK "vd1"
/* Short, so a cancelled cycle is quick; long enough for a loaded machine
 * (or a sanitizer build) to drain and ack well within it. */
#define ACK_MS 300
/* Long enough for a cycle to reach its hold everywhere, well within
 * ACK_MS, so a slow drain released after it still commits. */
#define INTERIM_MS (ACK_MS / 4)
/* How long a test waits for an answer before it calls it lost. */
#define ANSWER_MS 3000

struct node {
	uint32_t id;
	struct cdb *cdb;
	struct reconfig *rc;
	struct vdisk_config cfg;
	uint64_t seq; /* of the last snapshot */
	/* The router: reports a held disk drained at once, or, when
	 * drain_later, keeps the last report back for drain_release(). */
	bool drain_later;
	struct {
		bool pending;
		vdmap_drained_fn fn;
		void *ctx;
		uint32_t disk_id;
		uint64_t seq;
	} drain;
	/* DISK as the last snapshot had it, and its course: each state unlike
	 * the one before, "2" for primary on node 2, "H2" the same but held. */
	struct vdmap_disk last;
	char history[256];
};

/* What a requester's done() got; done() calls are numbered in order. */
struct answer {
	bool done;
	unsigned int order;
	int rc;
	char err[512];
	bool have_disk;
	struct db_disk disk;
	struct reconfig_result res;
	uint64_t asked_ns, answered_ns;
};

/* An outcome message as the bus delivered it. */
struct outcome {
	enum cpg_msg_type type;
	uint32_t from;
	uint64_t txid;
	char reason[256];
};

/* Global, not on a test's stack: a test that fails leaves requests that
 * reconfig_stop() answers in the teardown. */
static struct node nodes[NODES + 1];
static struct answer answers[4];
static unsigned int nasked, nanswered;
static struct outcome outcomes[8];
static size_t noutcomes, nprepares;
static const uint32_t all[] = { 1, 2, 3 };

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The data plane, played */

static void history_note(struct node *n, const struct vdmap_disk *d)
{
	char state[16];
	const char *prev = strrchr(n->history, ' ');

	n->last = *d;
	snprintf(state, sizeof(state), "%s%u", d->held ? "H" : "", d->paths[0].nodeid);
	prev = prev ? prev + 1 : n->history;
	if (!strcmp(prev, state))
		return;
	if (n->history[0])
		strcat(n->history, " ");
	strcat(n->history, state);
	assert_true(strlen(n->history) < sizeof(n->history) - sizeof(state));
}

/*
 * What the router does with a new snapshot: it reports each held disk drained
 * once the snapshot's requests are out (here at once: none ever is), or, for a
 * node told drain_later, keeps the report back (one disk is all it needs).
 * The real router reports from the data thread; drained() only posts to the
 * control loop's mailbox, so calling it from the loop is the same.
 */
static void router_take(struct node *n, const struct vdmap *map)
{
	size_t i;

	for (i = 0; i < map->ndisks; i++) {
		if (!map->disks[i].held)
			continue;
		if (!n->drain_later) {
			map->drained(map->drained_ctx, map->disks[i].id, map->seq);
			continue;
		}
		n->drain.pending = true;
		n->drain.fn = map->drained;
		n->drain.ctx = map->drained_ctx;
		n->drain.disk_id = map->disks[i].id;
		n->drain.seq = map->seq;
	}
}

/* The outstanding request that held the drain back is done now. */
static void drain_release(struct node *n)
{
	assert_true(n->drain.pending);
	n->drain.pending = false;
	n->drain.fn(n->drain.ctx, n->drain.disk_id, n->drain.seq);
}

/* As vdiskd's map_publish(), without the lease's fences. */
static uint64_t publish(void *ctx)
{
	struct node *n = ctx;
	struct membership *m = cdb_membership(n->cdb);
	const struct vdmap_disk *d;
	const uint32_t *members;
	size_t count = membership_members(m, &members);
	struct vdmap *map;

	map = vdmap_build(cdb_db(n->cdb), cdb_config(n->cdb), n->id,
			  membership_quorate(m) && cdb_synced(n->cdb), members, count);
	assert_non_null(map);
	map->seq = ++n->seq;
	reconfig_snapshot_mark(n->rc, map);
	d = vdmap_disk_by_name(map, DISK);
	if (d)
		history_note(n, d);
	router_take(n, map);
	free(map);
	return n->seq;
}

/* As vdiskd's state_changed(). */
static void state_changed(void *ctx)
{
	struct node *n = ctx;

	publish(n);
	reconfig_kick(n->rc);
}

/* Records the cycle's messages as every member gets them. */
static void tap(uint32_t from, const void *buf, size_t len)
{
	struct cpg_msg msg;
	const char *reason = "";
	char err[128];

	assert_int_equal(cpg_msg_decode(buf, len, &msg, err, sizeof(err)), 0);
	if (msg.type == CPG_MSG_PREPARE)
		nprepares++;
	if (msg.type == CPG_MSG_COMMIT || msg.type == CPG_MSG_CANCEL) {
		struct outcome *o;

		assert_true(noutcomes < sizeof(outcomes) / sizeof(outcomes[0]));
		o = &outcomes[noutcomes++];
		if (msg.type == CPG_MSG_CANCEL)
			assert_int_equal(reconfig_msg_cancel_decode(msg.body, &reason), 0);
		*o = (struct outcome){ .type = msg.type, .from = from, .txid = msg.reqid };
		snprintf(o->reason, sizeof(o->reason), "%s", reason);
	}
	cpg_msg_release(&msg);
}

/* Running the bus */

/* Steps until *flag or ms passed; returns *flag. */
static bool pump_until(const bool *flag, unsigned int ms)
{
	uint64_t end = mono_ns() + ms * 1000000ull;

	while (!*flag && mono_ns() < end)
		fake_step();
	return *flag;
}

/* Delivers and runs timers for ms, whatever happens. */
static void pump_for(unsigned int ms)
{
	bool never = false;

	pump_until(&never, ms);
}

/* Until a's done() ran (failing the test if it does not), then until
 * nothing moves any more. */
static void pump_answer(const struct answer *a)
{
	assert_true(pump_until(&a->done, ANSWER_MS));
	fake_pump();
}

/* Fixture: three members, and DISK on node 2 (primary) and node 3
 * (secondary), one file standing for a dual-ported device. */

static void node_start(uint32_t id)
{
	struct node *n = &nodes[id];
	char err[256];

	n->id = id;
	config_init(&n->cfg);
	n->cfg.ack_timeout_ms = ACK_MS;
	fake_state_dir(id, n->cfg.state_dir, sizeof(n->cfg.state_dir));
	fake.next_nodeid = id;
	if (cdb_start(&n->cdb, fake.loop, n->cfg.state_dir, err, sizeof(err)))
		fail_msg("cdb_start: %s", err);
	assert_int_equal(reconfig_start(&n->rc, fake.loop, n->cdb, &n->cfg, publish, n), 0);
	cdb_watch(n->cdb, state_changed, n);
}

static void created(void *ctx, int rc, const char *err, const struct db_disk *disk,
		    uint64_t generation)
{
	if (rc)
		fail_msg("creating " DISK ": %s", err);
	*(bool *)ctx = true;
}

static void disk_create(void)
{
	struct db_disk d = { .name = DISK, .mode = 0660 };
	bool done = false;
	char err[256];

	d.primary.nodeid = 2;
	d.secondary.nodeid = 3;
	snprintf(d.primary.device, sizeof(d.primary.device), "%s", fake.backing);
	snprintf(d.secondary.device, sizeof(d.secondary.device), "%s", fake.backing);
	if (cdb_disk_create(nodes[1].cdb, &d, 0, created, &done, err, sizeof(err)))
		fail_msg("cdb_disk_create: %s", err);
	assert_true(pump_until(&done, ANSWER_MS));
	fake_pump();
}

static int setup(void **state)
{
	uint32_t id;

	memset(nodes, 0, sizeof(nodes));
	memset(answers, 0, sizeof(answers));
	nasked = nanswered = 0;
	fake_bus_init("test_reconfig");
	fake.tap = tap;
	for (id = 1; id <= NODES; id++)
		node_start(id);
	fake_confchg(all, NODES, true);
	fake_pump();
	disk_create();
	/* Each history starts from the state the test starts with. */
	for (id = 1; id <= NODES; id++) {
		assert_string_equal(nodes[id].history, "2");
		assert_false(nodes[id].last.held);
	}
	noutcomes = nprepares = 0;
	return 0;
}

/* As vdiskd stops: the database (and its group) first, then the cycle. */
static int teardown(void **state)
{
	uint32_t id;

	for (id = 1; id <= NODES; id++)
		cdb_stop(nodes[id].cdb);
	for (id = 1; id <= NODES; id++)
		reconfig_stop(nodes[id].rc);
	fake_bus_fini();
	return 0;
}

/* Requests */

static void answered(void *ctx, int rc, const char *err, const struct db_disk *disk,
		     const struct reconfig_result *res)
{
	struct answer *a = ctx;

	assert_false(a->done); /* exactly once */
	a->done = true;
	a->order = ++nanswered;
	a->rc = rc;
	snprintf(a->err, sizeof(a->err), "%s", err ? err : "");
	a->have_disk = disk != NULL;
	if (disk)
		a->disk = *disk;
	a->res = *res;
	a->answered_ns = mono_ns();
}

static struct answer *request(uint32_t on, const struct reconfig_req *req)
{
	struct answer *a;
	char err[256];

	assert_true(nasked < sizeof(answers) / sizeof(answers[0]));
	a = &answers[nasked++];
	a->asked_ns = mono_ns();
	if (reconfig_request(nodes[on].rc, req, answered, a, err, sizeof(err)))
		fail_msg("reconfig_request: %s", err);
	assert_false(a->done); /* answered from the loop, never inline */
	return a;
}

static struct answer *promote(uint32_t on, uint32_t node)
{
	struct reconfig_req req = { .kind = RECONFIG_PROMOTE, .disk = DISK, .node = node };

	return request(on, &req);
}

/* Suspend or resume. */
static struct answer *ask(uint32_t on, enum reconfig_kind kind)
{
	struct reconfig_req req = { .kind = kind, .disk = DISK };

	return request(on, &req);
}

/* Checks */

/* Every member holds DISK with its mapping still on node primary. */
static void assert_held_everywhere(uint32_t primary)
{
	uint32_t id;

	for (id = 1; id <= NODES; id++) {
		const struct db_disk *d = db_disk_find(cdb_db(nodes[id].cdb), DISK);

		assert_true(nodes[id].last.held);
		assert_int_equal(nodes[id].last.paths[0].nodeid, primary);
		assert_int_equal(d->primary.nodeid, primary);
	}
}

/* Every member's database and last snapshot map DISK to primary and
 * secondary, and its snapshot no longer holds it (unless suspended). */
static void assert_mapped_everywhere(uint32_t primary, uint32_t secondary, bool suspended)
{
	uint32_t id;

	for (id = 1; id <= NODES; id++) {
		const struct db_disk *d = db_disk_find(cdb_db(nodes[id].cdb), DISK);
		const struct vdmap_disk *v = &nodes[id].last;

		assert_non_null(d);
		assert_int_equal(d->primary.nodeid, primary);
		assert_int_equal(d->secondary.nodeid, secondary);
		assert_string_equal(d->primary.device, fake.backing);
		assert_int_equal(d->suspended, suspended);
		assert_int_equal(v->held, suspended);
		assert_memory_equal(&v->paths[0], &d->primary, sizeof(d->primary));
		assert_memory_equal(&v->paths[1], &d->secondary, sizeof(d->secondary));
	}
}

static void assert_histories(const char *expect)
{
	uint32_t id;

	for (id = 1; id <= NODES; id++)
		assert_string_equal(nodes[id].history, expect);
}

/* The only outcome delivered: type from node from, with reason. */
static void assert_outcome(enum cpg_msg_type type, uint32_t from, const char *reason)
{
	assert_int_equal(noutcomes, 1);
	assert_int_equal(outcomes[0].type, type);
	assert_int_equal(outcomes[0].from, from);
	assert_string_equal(outcomes[0].reason, reason);
}

/* A cancelled promotion of node 3 leaves node 2 primary everywhere, and
 * released. */
static void assert_cancelled(const struct answer *a, const char *reason)
{
	char err[512];

	assert_true(a->done);
	assert_int_equal(a->rc, -ECANCELED);
	snprintf(err, sizeof(err), "cancelled: %s", reason);
	assert_string_equal(a->err, err);
	assert_false(a->have_disk);
	assert_histories("2 H2 2");
	assert_mapped_everywhere(2, 3, false);
}

/* Hooks */

static void script_write(const char *name, const char *body, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", fake.dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

/* Each node's hooks append "PHASE CHANGE PRIMARY SECONDARY COORDINATOR" to
 * hooks.nN, for both pre_hook and post_hook. */
static void hooks_record(void)
{
	char body[256], name[32];
	uint32_t id;

	for (id = 1; id <= NODES; id++) {
		struct vdisk_config *cfg = &nodes[id].cfg;

		snprintf(name, sizeof(name), "record.n%u", id);
		snprintf(body, sizeof(body),
			 "[ \"$1\" = \"$VDISK_DISK\" ] && [ \"$2\" = \"$VDISK_PHASE\" ] &&\n"
			 "echo \"$2 $VDISK_CHANGE $VDISK_PRIMARY $VDISK_SECONDARY "
			 "$VDISK_COORDINATOR\" >>%s/hooks.n%u",
			 fake.dir, id);
		script_write(name, body, cfg->post_hook, sizeof(cfg->post_hook));
		snprintf(cfg->pre_hook, sizeof(cfg->pre_hook), "%s", cfg->post_hook);
	}
}

/* The file's text ("" if there is none yet) into buf. */
static const char *file_read(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* A post_hook runs after the outcome, unwaited for: wait for what every
 * node's hooks wrote to read expect, with $B for fake.backing. */
static void assert_hook_logs(const char *expect)
{
	uint64_t end = mono_ns() + ANSWER_MS * 1000000ull;
	char want[1024], got[1024], path[128];
	const char *p;
	size_t n = 0;
	uint32_t id;

	for (p = expect; *p && n < sizeof(want) - 1; p++) {
		if (p[0] == '$' && p[1] == 'B') {
			n += (size_t)snprintf(want + n, sizeof(want) - n, "%s", fake.backing);
			p++;
		} else {
			want[n++] = *p;
		}
	}
	want[n] = '\0';
	for (id = 1; id <= NODES; id++) {
		snprintf(path, sizeof(path), "%s/hooks.n%u", fake.dir, id);
		while (strcmp(file_read(path, got, sizeof(got)), want) && mono_ns() < end)
			fake_step();
		assert_string_equal(got, want);
	}
}

/* Cases */

/*
 * map promote on a quorate cluster: every member holds the disk until the
 * slowest one (node 3) drained, all ack, the coordinator commits, and every
 * member takes the new mapping while still holding, then releases it.
 */
static void test_promote_commits(void **state)
{
	struct answer *a;

	nodes[3].drain_later = true;
	a = promote(1, 3);
	pump_for(INTERIM_MS);
	assert_false(a->done);
	assert_int_equal(nprepares, 1);
	assert_int_equal(noutcomes, 0);
	assert_held_everywhere(2);
	assert_histories("2 H2");

	drain_release(&nodes[3]);
	pump_answer(a);
	assert_int_equal(a->rc, 0);
	assert_string_equal(a->err, "");
	assert_true(a->have_disk);
	assert_int_equal(a->disk.primary.nodeid, 3);
	assert_int_equal(a->disk.secondary.nodeid, 2);
	assert_false(a->res.unchanged);
	/* Node 1's first cycle. */
	assert_int_equal(a->res.txid, (uint64_t)1 << 32 | 1);
	assert_int_equal(a->res.drain_node, 3);
	/* Node 3 drained once released, a step after its PREPARE came. */
	assert_true(a->res.drain_us_max >= INTERIM_MS * 1000 / 2);
	assert_true(a->res.held_us >= a->res.drain_us_max);
	assert_outcome(CPG_MSG_COMMIT, 1, "");
	/* The new mapping is in place before the hold ends. */
	assert_histories("2 H2 H3 3");
	assert_mapped_everywhere(3, 2, false);
}

/* A member whose I/O never drains never acks: the coordinator cancels once
 * ack_timeout_ms ran out, naming it, and all resume on the old mapping. */
static void test_undrained_member_cancels(void **state)
{
	struct answer *a;
	char reason[64];

	nodes[3].drain_later = true;
	a = promote(1, 3);
	pump_for(INTERIM_MS);
	assert_false(a->done);
	assert_held_everywhere(2);

	pump_answer(a);
	assert_true(a->answered_ns - a->asked_ns >= ACK_MS * 1000000ull);
	snprintf(reason, sizeof(reason), "no acknowledgement within %u ms from n3", ACK_MS);
	assert_outcome(CPG_MSG_CANCEL, 1, reason);
	assert_cancelled(a, reason);
	assert_true(nodes[3].drain.pending); /* it still never drained */
}

/* Runs a promotion of node 3 asked of node 1 until every member holds the
 * disk, node 3 too slow to drain so the cycle stays open. */
static struct answer *promote_pending(void)
{
	struct answer *a;

	nodes[3].drain_later = true;
	a = promote(1, 3);
	pump_for(INTERIM_MS);
	assert_false(a->done);
	assert_held_everywhere(2);
	return a;
}

/*
 * Cuts the cluster in two while node 1's promotion of node 3 is pending: each
 * side cancels at once (not at a member's own outcome timeout, twice
 * ack_timeout_ms), the majority first, as expect says, and every member, on
 * either side, resumes on the old mapping.
 */
static void partition_cancels(const uint32_t majority[2], uint32_t minority,
			      const struct outcome expect[2])
{
	struct answer *a = promote_pending();
	size_t i;

	fake_confchg(majority, 2, true);
	fake_confchg(&minority, 1, false);
	pump_answer(a);
	assert_true(membership_left_down(cdb_membership(nodes[majority[0]].cdb), minority));
	assert_true(a->answered_ns - a->asked_ns < 2 * ACK_MS * 1000000ull);
	assert_int_equal(noutcomes, 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(outcomes[i].type, CPG_MSG_CANCEL);
		assert_int_equal(outcomes[i].from, expect[i].from);
		assert_string_equal(outcomes[i].reason, expect[i].reason);
	}
	/* Node 1 coordinated: it cancelled its own cycle on its side. */
	assert_cancelled(a, "the membership changed during the cycle");
}

/* A member cut off mid-cycle: the coordinator cancels in the majority; the
 * member alone, which no longer sees the coordinator, cancels for itself. */
static void test_member_leaves_cancels(void **state)
{
	static const uint32_t majority[] = { 1, 2 };
	static const struct outcome expect[] = {
		{ .from = 1, .reason = "the membership changed during the cycle" },
		{ .from = 3, .reason = "the coordinator n1 left during the cycle" },
	};

	partition_cancels(majority, 3, expect);
}

/* The coordinator cut off mid-cycle: the lowest remaining nodeid cancels for
 * the others; the coordinator, alone, cancels its own request. */
static void test_coordinator_leaves_lowest_cancels(void **state)
{
	static const uint32_t majority[] = { 2, 3 };
	static const struct outcome expect[] = {
		{ .from = 2, .reason = "the coordinator n1 left during the cycle" },
		{ .from = 1, .reason = "the membership changed during the cycle" },
	};

	partition_cancels(majority, 1, expect);
}

/* A pre_hook failing on one member refuses its ACK: the coordinator cancels
 * with that member's reason, and every post_hook sees the cancel. */
static void test_pre_hook_failure_cancels(void **state)
{
	char fail[PATH_MAX], reason[PATH_MAX + 64];
	struct answer *a;

	hooks_record();
	script_write("fail", "exit 1", fail, sizeof(fail));
	snprintf(nodes[2].cfg.pre_hook, sizeof(nodes[2].cfg.pre_hook), "%s", fail);
	/* The others' pre_hooks may be killed by the cancel: only post. */
	nodes[1].cfg.pre_hook[0] = nodes[3].cfg.pre_hook[0] = '\0';
	a = promote(1, 3);
	pump_answer(a);
	snprintf(reason, sizeof(reason), "n2: pre-change hook %s: exit status 1", fail);
	assert_outcome(CPG_MSG_CANCEL, 1, reason);
	assert_cancelled(a, reason);
	/* The paths of the change as it was proposed. */
	assert_hook_logs("cancel map n3:$B n2:$B n1\n");
}

/* A request asked while a cycle runs waits for it, then runs against the
 * database the first left: node 3's promotion of node 2, nothing to do when
 * asked, swaps the paths back once node 1's promotion of node 3 committed. */
static void test_second_request_queues(void **state)
{
	struct answer *a, *b;

	nodes[2].drain_later = true;
	a = promote(1, 3);
	pump_for(INTERIM_MS);
	b = promote(3, 2);
	pump_for(INTERIM_MS);
	assert_false(a->done);
	assert_false(b->done);
	assert_int_equal(nprepares, 1);
	assert_held_everywhere(2);

	nodes[2].drain_later = false;
	drain_release(&nodes[2]);
	pump_answer(b);
	assert_int_equal(a->order, 1);
	assert_int_equal(a->rc, 0);
	assert_int_equal(a->res.txid, (uint64_t)1 << 32 | 1);
	assert_int_equal(b->order, 2);
	assert_int_equal(b->rc, 0);
	assert_false(b->res.unchanged);
	assert_int_equal(b->res.txid, (uint64_t)3 << 32 | 1);
	assert_int_equal(b->disk.primary.nodeid, 2);
	assert_int_equal(nprepares, 2);
	assert_int_equal(noutcomes, 2);
	assert_int_equal(outcomes[0].txid, a->res.txid);
	assert_int_equal(outcomes[1].txid, b->res.txid);
	/* Released in between: b's cycle began after a's ended. */
	assert_histories("2 H2 H3 3 H3 H2 2");
	assert_mapped_everywhere(2, 3, false);
}

/* Suspend holds the disk past its cycle, until resume's cycle commits; the
 * hooks see both cycles on every node. */
static void test_suspend_holds_until_resume(void **state)
{
	struct answer *s, *r;

	hooks_record();
	s = ask(2, RECONFIG_SUSPEND);
	pump_answer(s);
	assert_int_equal(s->rc, 0);
	assert_true(s->disk.suspended);
	assert_mapped_everywhere(2, 3, true);
	pump_for(ACK_MS);
	assert_histories("2 H2");
	assert_mapped_everywhere(2, 3, true);

	r = ask(3, RECONFIG_RESUME);
	pump_answer(r);
	assert_int_equal(r->rc, 0);
	assert_false(r->disk.suspended);
	assert_int_equal(s->order, 1);
	assert_int_equal(r->order, 2);
	assert_int_equal(noutcomes, 2);
	assert_histories("2 H2 2");
	assert_mapped_everywhere(2, 3, false);
	assert_hook_logs("prepare suspend n2:$B n3:$B n2\n"
			 "commit suspend n2:$B n3:$B n2\n"
			 "prepare resume n2:$B n3:$B n3\n"
			 "commit resume n2:$B n3:$B n3\n");
}

/*
 * A request with nothing to do, answered when its turn comes, must not stop
 * the queue: the suspend asked right after it still runs, not left waiting
 * for some other event to kick the queue, or for its request timeout
 * (CDB_OP_TIMEOUT_MS + 2 x ack_timeout_ms, then -ETIMEDOUT). Fails today:
 * requests_kick_run() hands the first waiting request to request_send() and
 * returns, and when request_send() answers it at once (nothing to change,
 * or an error) no PREPARE goes out, so no cycle_end() kicks the queue again.
 */
static void test_unchanged_request_keeps_the_queue_going(void **state)
{
	struct answer *a, *b;

	a = ask(1, RECONFIG_RESUME); /* not suspended: nothing to do */
	b = ask(1, RECONFIG_SUSPEND);
	pump_until(&b->done, ANSWER_MS);
	assert_true(a->done);
	assert_int_equal(a->rc, 0);
	assert_true(a->res.unchanged);
	assert_int_equal(a->order, 1);
	assert_true(b->done);
	assert_int_equal(b->rc, 0);
	assert_int_equal(b->order, 2);
	fake_pump();
	assert_mapped_everywhere(2, 3, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_promote_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undrained_member_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_leaves_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coordinator_leaves_lowest_cancels, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pre_hook_failure_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_request_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_holds_until_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unchanged_request_keeps_the_queue_going, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

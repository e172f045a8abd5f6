/*
 * The router's state machine (router.c), with the real parts around it: a
 * transport with a real data loop whose connections to two other nodes are
 * socketpairs (far_fixture.h: the test plays those nodes, reads every
 * request the router sends them and answers as remote.c would), the
 * snapshot handed over by router_map_post(), and the real io_uring backend
 * for a disk whose primary path is this node's, on a file in /dev/shm.
 *
 * Checked (router.h, DESIGN.md I2 and I3): a request carries a deadline in
 * its node's clock and the lowest id still pending; a write past its
 * deadline is asked after while its node is reachable and moves on only
 * once the node says it can never run or leaves the membership (a silent
 * node is not enough), while a read moves on at once; a flush goes to every path that acknowledged
 * writes since it last flushed, and a failure on one of them is the
 * client's; a disk with a path on a fenced node is not routed until the
 * fence ends; a failed path is held only while the disk has another, and
 * not past its node's return to the membership. A mirror's writer sends a
 * change to every up-to-date replica and answers once all have it; one
 * that fails a leg is reported lost and the change waits until a mapping
 * says that replica is outdated (or is sent to it again when a new mapping
 * still calls it up to date); reads stay on this node's replica; a node
 * that is not the writer sends changes to the writer only.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dloop.h"
#include "far_fixture.h"
#include "router.h"

#define LOCAL 1 /* the node under test */
#define PEER 2
#define OTHER 3
#define CONFIG 5
#define REMOTE 7 /* primary on PEER, secondary on OTHER */
#define MIXED 8 /* primary here (a file), secondary on PEER */
#define LEN 512
#define TIMEOUT_MS 200 /* [io] timeout_ms */
#define PROBE_MS 1000 /* router.c's */
#define MS 1000000ull
/* PEER's clock runs this far ahead of ours: deadlines are told in it. */
#define PEER_AHEAD (5000 * MS)

struct rig {
	struct transport t;
	struct router *r;
	struct far_node nodes[2]; /* PEER, OTHER */
	char path[64];
	int fd;
};

/* A client request and what became of it. */
struct creq {
	struct vd_request r;
	uint8_t buf[LEN];
	int status;
	int done; /* times done() ran */
};

static struct rig *rig;

static struct far_node *node(uint32_t nodeid)
{
	return &rig->nodes[nodeid == PEER ? 0 : 1];
}

static void loop_stop(void *data)
{
	(void)data;
	dloop_stop(rig->t.loop);
}

/* Runs the data loop for ms: the router's tick, timeouts and the backend. */
static void run_ms(uint64_t ms)
{
	dloop_timer_t timer;

	assert_int_equal(dloop_timer_add(rig->t.loop, ms * MS, NULL, loop_stop, &timer), 0);
	dloop_run(rig->t.loop);
}

static void creq_done(struct vd_request *r, int status)
{
	struct creq *c = (struct creq *)r;

	c->status = status;
	c->done++;
}

static void submit(struct creq *c, uint32_t disk, uint8_t op)
{
	memset(c, 0, sizeof(*c));
	c->r = (struct vd_request){
		.disk_id = disk,
		.op = op,
		.offset = 4096,
		.length = op == VD_FLUSH ? 0 : LEN,
		.buf = c->buf,
		.done = creq_done,
	};
	memset(c->buf, 0x5a, sizeof(c->buf));
	assert_int_equal(router_submit(rig->r, &c->r), 0);
}

/* Frames nodeid has read so far. */
static size_t frames(uint32_t nodeid)
{
	far_read(node(nodeid));
	return node(nodeid)->nframes;
}

/* The last frame nodeid read is op (VD_* or VD_PROBE) for c's request. */
static const struct far_frame *assert_sent(uint32_t nodeid, const struct creq *c, uint8_t op)
{
	const struct far_frame *f = far_last(node(nodeid));

	assert_int_equal(f->h.client, TCLIENT_BACKEND);
	assert_int_equal(vd_opword_op(f->h.op), op);
	assert_int_equal(vd_reqid_id(f->h.reqid), c->r.id);
	assert_int_equal(f->h.disk, c->r.disk_id);
	return f;
}

/* The last frame nodeid read is a mirror leg of c (a request of its own,
 * with its own id) doing op on the replica of path 1. */
static const struct far_frame *assert_leg(uint32_t nodeid, const struct creq *c, uint8_t op)
{
	const struct far_frame *f = far_last(node(nodeid));

	assert_int_equal(f->h.client, TCLIENT_BACKEND);
	assert_int_equal(vd_opword_op(f->h.op), op);
	assert_int_not_equal(vd_reqid_id(f->h.reqid), c->r.id);
	assert_int_equal(f->h.disk, c->r.disk_id);
	assert_int_equal(f->h.status, 1);
	assert_int_equal(f->h.offset, c->r.offset);
	return f;
}

/* nodeid answers frame f (op 0: the request itself; VD_PROBE: a probe). */
static void answer(uint32_t nodeid, const struct far_frame *f, uint8_t op, int status)
{
	struct frame_hdr h = {
		.client = TCLIENT_ROUTER,
		.flags = FRAME_F_REPLY,
		.op = vd_opword(op, 0),
		.reqid = f->h.reqid,
		.config = f->h.config,
		.disk = f->h.disk,
		.status = status,
		.offset = f->h.offset,
		.length = f->h.length,
	};

	far_send(node(nodeid), h, NULL);
}

/* Setup */

/* A snapshot; PEER left the membership if gone is, fenced until
 * fence_until unless that is 0. */
static struct vdmap *map_make(uint32_t gone, uint64_t fence_until)
{
	struct vdmap *m = calloc(1, sizeof(*m) + 2 * sizeof(m->disks[0]));
	struct vdmap_disk *d;

	assert_non_null(m);
	m->seq = 1;
	m->config = CONFIG;
	m->local_nodeid = LOCAL;
	m->quorate = true;
	m->members[m->nmembers++] = LOCAL;
	if (gone != PEER)
		m->members[m->nmembers++] = PEER;
	m->members[m->nmembers++] = OTHER;
	if (fence_until)
		m->fences[m->nfences++] = (struct vdmap_fence){ gone, fence_until };
	m->ndisks = 2;
	d = &m->disks[0];
	strcpy(d->name, "remote");
	d->id = REMOTE;
	d->size = 1 << 20;
	d->paths[0].nodeid = PEER;
	strcpy(d->paths[0].device, "/dev/peer");
	d->paths[1].nodeid = OTHER;
	strcpy(d->paths[1].device, "/dev/other");
	d = &m->disks[1];
	strcpy(d->name, "mixed");
	d->id = MIXED;
	d->size = 1 << 20;
	d->paths[0].nodeid = LOCAL;
	snprintf(d->paths[0].device, sizeof(d->paths[0].device), "%s", rig->path);
	d->paths[1].nodeid = PEER;
	strcpy(d->paths[1].device, "/dev/peer");
	return m;
}

static uint32_t lost_disk;
static uint8_t lost_path;
static uint64_t lost_datagen;
static uint8_t lost_want;
static int lost_count;

static void replica_lost(void *ctx, uint32_t disk_id, uint8_t path, uint64_t datagen,
			 uint8_t want)
{
	(void)ctx;
	lost_disk = disk_id;
	lost_path = path;
	lost_datagen = datagen;
	lost_want = want;
	lost_count++;
}

static struct vdmap *mirror_map(uint64_t seq, uint8_t here, uint8_t peer)
{
	struct vdmap *m = map_make(0, 0);

	m->seq = seq;
	m->replica_ask = replica_lost;
	m->disks[1].mirror = true;
	m->disks[1].state[0] = here;
	m->disks[1].state[1] = peer;
	m->disks[1].datagen = 0x77;
	lost_count = 0;
	return m;
}

static void map_post(struct vdmap *m)
{
	assert_int_equal(router_map_post(rig->r, m), 0);
	mailbox_drain(rig->t.to_data);
	assert_ptr_equal(router_map(rig->r), m);
}

/* What heartbeats would have told: PEER's clock is PEER_AHEAD ahead,
 * OTHER's is ours. */
static void clocks_known(void)
{
	uint64_t now = now_ns();

	node(PEER)->p->clk_valid = true;
	node(PEER)->p->clk_lo = (int64_t)PEER_AHEAD;
	node(PEER)->p->clk_at = now;
	node(OTHER)->p->clk_valid = true;
	node(OTHER)->p->clk_lo = 0;
	node(OTHER)->p->clk_at = now;
}

static int setup(void **state)
{
	(void)state;
	rig = calloc(1, sizeof(*rig));
	assert_non_null(rig);
	snprintf(rig->path, sizeof(rig->path), "/dev/shm/vdisk-test_router-XXXXXX");
	rig->fd = mkstemp(rig->path);
	assert_true(rig->fd >= 0);
	assert_int_equal(ftruncate(rig->fd, 1 << 20), 0);

	transport_fixture_init(&rig->t, LOCAL);
	assert_int_equal(mailbox_create_dloop(&rig->t.to_data, rig->t.loop), 0);
	far_node_add(&rig->t, node(PEER), PEER);
	far_node_add(&rig->t, node(OTHER), OTHER);
	clocks_known();
	assert_int_equal(router_start(&rig->r, &rig->t, TIMEOUT_MS, NULL, 0), 0);
	mailbox_drain(rig->t.to_data);
	map_post(map_make(0, 0));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	router_destroy(rig->r);
	far_fixture_destroy(&rig->t, rig->nodes, 2);
	close(rig->fd);
	unlink(rig->path);
	free(rig);
	rig = NULL;
	return 0;
}

/* A mapping in which "mixed" is a mirror: its writer's replica here, the
 * other on PEER, in the given states; seq as given. */
static struct vdmap *mirror_map(uint64_t seq, uint8_t here, uint8_t peer);

/* Tests */

/* The deadline is told in PEER's clock, not later than ours plus the
 * timeout would be there; low is the oldest request still pending. */
static void test_frame_deadline_and_low(void **state)
{
	struct creq a, b, c;
	const struct far_frame *f;
	uint64_t before, after;

	(void)state;
	before = now_ns();
	submit(&a, REMOTE, VD_WRITE);
	after = now_ns();
	f = assert_sent(PEER, &a, VD_WRITE);
	assert_true(f->h.deadline >= before + TIMEOUT_MS * MS + PEER_AHEAD - 10 * MS);
	assert_true(f->h.deadline <= after + TIMEOUT_MS * MS + PEER_AHEAD);
	assert_int_equal(f->h.low, a.r.id);
	assert_int_equal(f->h.payload_len, LEN);

	submit(&b, REMOTE, VD_WRITE);
	assert_int_equal(assert_sent(PEER, &b, VD_WRITE)->h.low, a.r.id);
	answer(PEER, f, 0, 0);
	assert_int_equal(a.done, 1);
	assert_int_equal(a.status, 0);
	/* a is answered: b is the oldest now. */
	submit(&c, REMOTE, VD_READ);
	assert_int_equal(assert_sent(PEER, &c, VD_READ)->h.low, b.r.id);
}

/* A write past its deadline is asked after, not sent elsewhere, while PEER
 * is reachable and says it may still run; it moves on once PEER says it can
 * never start, and a late answer to the old attempt changes nothing. */
static void test_write_probed_until_dead(void **state)
{
	const struct far_frame *req, *probe;
	struct far_frame first;
	struct creq w;

	(void)state;
	submit(&w, REMOTE, VD_WRITE);
	first = *assert_sent(PEER, &w, VD_WRITE);
	run_ms(TIMEOUT_MS + 60);
	probe = assert_sent(PEER, &w, VD_PROBE);
	assert_int_equal(probe->h.reqid, first.h.reqid);
	assert_int_equal(probe->h.deadline, first.h.deadline);
	assert_int_equal(frames(OTHER), 0);

	answer(PEER, probe, VD_PROBE, -EINPROGRESS);
	run_ms(PROBE_MS + 60);
	assert_int_equal(frames(PEER), 3); /* asked again, nothing else */
	assert_int_equal(frames(OTHER), 0);
	assert_int_equal(w.done, 0);

	answer(PEER, assert_sent(PEER, &w, VD_PROBE), VD_PROBE, -ETIMEDOUT);
	req = assert_sent(OTHER, &w, VD_WRITE);
	assert_int_not_equal(req->h.reqid, first.h.reqid);
	answer(PEER, &first, 0, -EIO); /* too late: the attempt is over */
	assert_int_equal(w.done, 0);
	answer(OTHER, req, 0, 0);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, 0);
}

/* A write PEER still runs is waited for and completes with PEER's answer. */
static void test_running_write_waited(void **state)
{
	struct far_frame first;
	struct creq w;
	int i;

	(void)state;
	submit(&w, REMOTE, VD_WRITE);
	first = *assert_sent(PEER, &w, VD_WRITE);
	for (i = 0; i < 2; i++) {
		run_ms(i ? PROBE_MS + 60 : TIMEOUT_MS + 60);
		answer(PEER, assert_sent(PEER, &w, VD_PROBE), VD_PROBE, -EINPROGRESS);
	}
	assert_int_equal(frames(OTHER), 0);
	answer(PEER, &first, 0, 0);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, 0);
}

/* A read past its deadline moves on at once: repeating it harms nothing. */
static void test_read_moves_at_once(void **state)
{
	struct creq r;

	(void)state;
	submit(&r, REMOTE, VD_READ);
	assert_sent(PEER, &r, VD_READ);
	run_ms(TIMEOUT_MS + 60);
	assert_int_equal(frames(PEER), 1); /* no probe */
	assert_sent(OTHER, &r, VD_READ);
}

/* With PEER silent (no link carries data), a write out to it past its
 * deadline does not move on, however long the silence: a stopped vdiskd
 * runs what it had queued to its kernel when it goes on. PEER is asked
 * (the probe waits for a link), and the write moves only once PEER leaves
 * the membership. */
#define SILENCE_MS (2 * 1000 + 1000) /* what the router once took for "dead" */
static void test_silent_peer_write_waits(void **state)
{
	struct creq w;

	(void)state;
	submit(&w, REMOTE, VD_WRITE);
	assert_sent(PEER, &w, VD_WRITE);
	node(PEER)->p->links[0].hb_up = false;
	run_ms(TIMEOUT_MS + SILENCE_MS);
	assert_int_equal(frames(OTHER), 0);
	assert_int_equal(w.done, 0);
	map_post(map_make(PEER, 0));
	answer(OTHER, assert_sent(OTHER, &w, VD_WRITE), 0, 0);
	assert_int_equal(w.status, 0);
	assert_int_equal(w.done, 1);
}

/* Nothing bounds PEER's clock: its deadline cannot be told, so the request
 * goes to the next path instead. */
static void test_unknown_clock_skipped(void **state)
{
	struct creq w;

	(void)state;
	node(PEER)->p->clk_valid = false;
	submit(&w, REMOTE, VD_WRITE);
	assert_int_equal(frames(PEER), 0);
	assert_sent(OTHER, &w, VD_WRITE);
}

/* Writes acknowledged on both paths, then a flush: it reaches both, the
 * primary first, and succeeds only then. */
static void test_flush_covers_every_path(void **state)
{
	struct creq w1, w2, fl;
	const struct far_frame *f;

	(void)state;
	submit(&w1, REMOTE, VD_WRITE);
	answer(PEER, assert_sent(PEER, &w1, VD_WRITE), 0, 0);
	/* The primary path fails w2: it is done on the secondary. */
	submit(&w2, REMOTE, VD_WRITE);
	answer(PEER, assert_sent(PEER, &w2, VD_WRITE), 0, -EIO);
	answer(OTHER, assert_sent(OTHER, &w2, VD_WRITE), 0, 0);
	assert_int_equal(w2.status, 0);

	submit(&fl, REMOTE, VD_FLUSH);
	f = assert_sent(PEER, &fl, VD_FLUSH);
	assert_int_equal(f->h.status, 0); /* the primary path, failed or not */
	answer(PEER, f, 0, 0);
	assert_int_equal(fl.done, 0);
	f = assert_sent(OTHER, &fl, VD_FLUSH);
	assert_int_equal(f->h.status, 1);
	answer(OTHER, f, 0, 0);
	assert_int_equal(fl.done, 1);
	assert_int_equal(fl.status, 0);

	/* Both flushed: the next flush goes to the current route only. */
	submit(&fl, REMOTE, VD_FLUSH);
	answer(OTHER, assert_sent(OTHER, &fl, VD_FLUSH), 0, 0);
	assert_int_equal(fl.done, 1);
}

/* A flush that fails on a path it must cover is the client's error, not
 * re-issued on the other path (which never saw those writes). */
static void test_flush_failure_reported(void **state)
{
	struct creq w, fl;
	size_t other;

	(void)state;
	submit(&w, REMOTE, VD_WRITE);
	answer(PEER, assert_sent(PEER, &w, VD_WRITE), 0, 0);
	submit(&fl, REMOTE, VD_FLUSH);
	other = frames(OTHER);
	answer(PEER, assert_sent(PEER, &fl, VD_FLUSH), 0, -EIO);
	assert_int_equal(fl.done, 1);
	assert_int_equal(fl.status, -EIO);
	assert_int_equal(frames(OTHER), other);
}

/* PEER acknowledged writes as the primary; then the disk is promoted on
 * OTHER (PEER stays up, as the secondary): the flush must still reach
 * PEER, whose cache took those writes, through its path in the new
 * mapping. */
static void test_flush_follows_node_after_promote(void **state)
{
	struct vdmap *m = map_make(0, 0);
	struct vdmap_disk *d = &m->disks[0];
	struct db_path p = d->paths[0];
	const struct far_frame *f;
	struct creq w, fl;

	(void)state;
	submit(&w, REMOTE, VD_WRITE);
	answer(PEER, assert_sent(PEER, &w, VD_WRITE), 0, 0);
	d->paths[0] = d->paths[1];
	d->paths[1] = p;
	map_post(m);
	submit(&fl, REMOTE, VD_FLUSH);
	f = assert_sent(PEER, &fl, VD_FLUSH);
	assert_int_equal(f->h.status, 1); /* PEER's path is the secondary now */
	answer(PEER, f, 0, 0);
	assert_int_equal(fl.done, 1);
	assert_int_equal(fl.status, 0);
	assert_int_equal(frames(OTHER), 0);
}

/* PEER acknowledged a write, then left the membership (its vdiskd stopped):
 * what it wrote went through to the shared storage, and the flush is done
 * on the path that is left instead of waiting for PEER. */
static void test_flush_of_departed_path(void **state)
{
	struct creq w, fl;

	(void)state;
	submit(&w, REMOTE, VD_WRITE);
	answer(PEER, assert_sent(PEER, &w, VD_WRITE), 0, 0);
	map_post(map_make(PEER, 0));
	submit(&fl, REMOTE, VD_FLUSH);
	assert_int_equal(frames(PEER), 1);
	answer(OTHER, assert_sent(OTHER, &fl, VD_FLUSH), 0, 0);
	assert_int_equal(fl.done, 1);
	assert_int_equal(fl.status, 0);
}

/* A local write is covered by the local flush, a remote one by PEER's. */
static void test_flush_local_and_remote(void **state)
{
	struct creq w, fl;

	(void)state;
	submit(&w, MIXED, VD_WRITE);
	run_ms(20);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, 0);
	submit(&fl, MIXED, VD_FLUSH);
	run_ms(20);
	assert_int_equal(fl.done, 1);
	assert_int_equal(fl.status, 0);
	assert_int_equal(frames(PEER), 0);
}

/* PEER left the membership less than a lease ago: its disk waits, on both
 * paths, until the fence ends, then goes to the path that is left. */
static void test_fenced_disk_waits(void **state)
{
	struct creq w;

	(void)state;
	map_post(map_make(PEER, now_ns() + 150 * MS));
	submit(&w, REMOTE, VD_WRITE);
	run_ms(100);
	assert_int_equal(frames(PEER) + frames(OTHER), 0);
	run_ms(100);
	assert_int_equal(frames(PEER), 0);
	answer(OTHER, assert_sent(OTHER, &w, VD_WRITE), 0, 0);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, 0);
}

/* Both paths of a disk failed (nobody answered a read, which gets EIO): a
 * new request does not wait out the hold until it gets EIO too. A held path
 * whose node is reachable is tried again by a new request half a timeout
 * after it failed: the primary, PEER's, first. */
static void test_held_paths_tried_again(void **state)
{
	struct creq r, r2;

	(void)state;
	submit(&r, REMOTE, VD_READ);
	assert_sent(PEER, &r, VD_READ);
	run_ms(TIMEOUT_MS + 60);
	assert_sent(OTHER, &r, VD_READ);
	/* Unanswered there too, then without a path for the timeout. */
	run_ms(2 * TIMEOUT_MS + 60);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.status, -EIO);
	assert_int_equal(frames(PEER) + frames(OTHER), 2);
	submit(&r2, REMOTE, VD_WRITE);
	answer(PEER, assert_sent(PEER, &r2, VD_WRITE), 0, 0);
	assert_int_equal(r2.done, 1);
	assert_int_equal(r2.status, 0);
}

/* A path that failed is not held once its node has left the membership
 * and come back: the disk goes to its primary again at once. */
static void test_path_hold_ends_on_rejoin(void **state)
{
	struct creq r, w;

	(void)state;
	submit(&r, REMOTE, VD_READ);
	assert_sent(PEER, &r, VD_READ);
	run_ms(TIMEOUT_MS + 60);
	assert_sent(OTHER, &r, VD_READ);
	map_post(map_make(PEER, 0));
	map_post(map_make(0, 0));
	submit(&w, REMOTE, VD_WRITE);
	answer(PEER, assert_sent(PEER, &w, VD_WRITE), 0, 0);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, 0);
}

/* The writer's change goes to both replicas (the leg to PEER names the
 * other path), and is answered only once PEER's leg is; a read stays here. */
static void test_mirror_fans_out(void **state)
{
	struct creq w, rd;

	(void)state;
	map_post(mirror_map(2, DB_REPLICA_UPTODATE, DB_REPLICA_UPTODATE));
	submit(&w, MIXED, VD_WRITE);
	run_ms(20);
	assert_int_equal(w.done, 0);
	assert_int_equal(frames(PEER), 1);
	answer(PEER, assert_leg(PEER, &w, VD_WRITE), 0, 0);
	run_ms(5);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, 0);
	submit(&rd, MIXED, VD_READ);
	run_ms(20);
	assert_int_equal(rd.done, 1);
	assert_int_equal(rd.status, 0);
	assert_int_equal(frames(PEER), 1);
}

/* PEER's replica fails the leg: reported lost, and the write waits; a new
 * mapping that still calls it up to date sends the leg again; one that
 * says it is outdated completes the write, and the next write goes here
 * only. */
static void test_mirror_failed_replica_outdated_first(void **state)
{
	struct creq w, w2;

	(void)state;
	map_post(mirror_map(2, DB_REPLICA_UPTODATE, DB_REPLICA_UPTODATE));
	submit(&w, MIXED, VD_WRITE);
	run_ms(20);
	answer(PEER, assert_leg(PEER, &w, VD_WRITE), 0, -EIO);
	run_ms(100);
	assert_int_equal(w.done, 0);
	assert_int_equal(lost_count, 1);
	assert_int_equal(lost_disk, MIXED);
	assert_int_equal(lost_path, 1);
	assert_true(lost_datagen == 0x77);
	assert_int_equal(lost_want, DB_REPLICA_OUTDATED);

	/* the outdate was cancelled: the leg goes again */
	map_post(mirror_map(3, DB_REPLICA_UPTODATE, DB_REPLICA_UPTODATE));
	run_ms(40);
	assert_int_equal(frames(PEER), 2);
	answer(PEER, assert_leg(PEER, &w, VD_WRITE), 0, -EIO);
	run_ms(60);
	assert_int_equal(w.done, 0);

	map_post(mirror_map(4, DB_REPLICA_UPTODATE, DB_REPLICA_OUTDATED));
	run_ms(40);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, 0);
	submit(&w2, MIXED, VD_WRITE);
	run_ms(20);
	assert_int_equal(w2.done, 1);
	assert_int_equal(frames(PEER), 2);
}

/* A change that fails on every up-to-date replica is the client's error. */
static void test_mirror_fails_everywhere(void **state)
{
	struct creq w;

	(void)state;
	map_post(mirror_map(2, DB_REPLICA_OUTDATED, DB_REPLICA_UPTODATE));
	submit(&w, MIXED, VD_WRITE);
	run_ms(20);
	answer(PEER, assert_leg(PEER, &w, VD_WRITE), 0, -EIO);
	run_ms(20);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, -EIO);
	assert_int_equal(lost_count, 0);
}

/* Not the writer: changes and flushes go to the writer's path only (no leg
 * here, even though this node holds a replica); reads to the replica here. */
static void test_mirror_not_writer(void **state)
{
	struct vdmap *m = mirror_map(2, DB_REPLICA_UPTODATE, DB_REPLICA_UPTODATE);
	struct db_path here = m->disks[1].paths[0];
	struct creq w, fl, rd;

	(void)state;
	m->disks[1].paths[0] = m->disks[1].paths[1];
	m->disks[1].paths[1] = here;
	map_post(m);
	submit(&w, MIXED, VD_WRITE);
	submit(&fl, MIXED, VD_FLUSH);
	run_ms(20);
	assert_int_equal(frames(PEER), 2);
	assert_int_equal(node(PEER)->frames[0].h.status, 0);
	assert_int_equal(node(PEER)->frames[1].h.status, 0);
	answer(PEER, &node(PEER)->frames[0], 0, 0);
	answer(PEER, &node(PEER)->frames[1], 0, 0);
	run_ms(5);
	assert_int_equal(w.done + fl.done, 2);
	submit(&rd, MIXED, VD_READ);
	run_ms(20);
	assert_int_equal(rd.done, 1);
	assert_int_equal(frames(PEER), 2);
}

/* This node's replica is outdated (or being copied): its reads go to the
 * writer, never to the file here. */
static void test_mirror_outdated_reads_writer(void **state)
{
	struct vdmap *m = mirror_map(2, DB_REPLICA_UPTODATE, DB_REPLICA_OUTDATED);
	struct db_path here = m->disks[1].paths[0];
	struct creq rd;

	(void)state;
	m->disks[1].paths[0] = m->disks[1].paths[1];
	m->disks[1].paths[1] = here;
	map_post(m);
	submit(&rd, MIXED, VD_READ);
	run_ms(20);
	/* not read here (that would have completed by now), but on PEER's */
	assert_int_equal(rd.done, 0);
	assert_int_equal(assert_sent(PEER, &rd, VD_READ)->h.status, 0);
}

/* Two overlapping writes on the writer: the second waits until the first
 * is done on every replica, so both replicas apply them in one order. */
static void test_mirror_overlap_waits(void **state)
{
	struct creq w1, w2;

	(void)state;
	map_post(mirror_map(2, DB_REPLICA_UPTODATE, DB_REPLICA_UPTODATE));
	submit(&w1, MIXED, VD_WRITE);
	submit(&w2, MIXED, VD_WRITE);
	run_ms(60);
	assert_int_equal(frames(PEER), 1);
	answer(PEER, assert_leg(PEER, &w1, VD_WRITE), 0, 0);
	run_ms(60);
	assert_int_equal(w1.done, 1);
	assert_int_equal(w2.done, 0);
	assert_int_equal(frames(PEER), 2);
	answer(PEER, assert_leg(PEER, &w2, VD_WRITE), 0, 0);
	run_ms(10);
	assert_int_equal(w2.done, 1);
	assert_int_equal(w2.status, 0);
}

/* Not the writer: an error the writer answers is final (it tried every
 * replica), not sent again and again. */
static void test_mirror_writer_error_final(void **state)
{
	struct vdmap *m = mirror_map(2, DB_REPLICA_UPTODATE, DB_REPLICA_UPTODATE);
	struct db_path here = m->disks[1].paths[0];
	struct creq w;

	(void)state;
	m->disks[1].paths[0] = m->disks[1].paths[1];
	m->disks[1].paths[1] = here;
	map_post(m);
	submit(&w, MIXED, VD_WRITE);
	run_ms(20);
	answer(PEER, assert_sent(PEER, &w, VD_WRITE), 0, -EIO);
	run_ms(60);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.status, -EIO);
	assert_int_equal(frames(PEER), 1);
}

/* A read that failed on the only up-to-date replica is not sent there in
 * a loop: it waits, and gets EIO after the I/O timeout. */
static void test_mirror_read_fails_once(void **state)
{
	struct creq rd;

	(void)state;
	map_post(mirror_map(2, DB_REPLICA_OUTDATED, DB_REPLICA_UPTODATE));
	submit(&rd, MIXED, VD_READ);
	run_ms(20);
	answer(PEER, assert_sent(PEER, &rd, VD_READ), 0, -EIO);
	run_ms(TIMEOUT_MS / 2);
	assert_int_equal(rd.done, 0);
	assert_int_equal(frames(PEER), 1);
	run_ms(TIMEOUT_MS);
	assert_int_equal(rd.done, 1);
	assert_int_equal(rd.status, -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frame_deadline_and_low, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_probed_until_dead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_running_write_waited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_moves_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_peer_write_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_clock_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_covers_every_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_failure_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_follows_node_after_promote, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flush_of_departed_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_local_and_remote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fenced_disk_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_paths_tried_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_hold_ends_on_rejoin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_fans_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_failed_replica_outdated_first, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mirror_fails_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_not_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_outdated_reads_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_overlap_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_writer_error_final, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_read_fails_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Serving other nodes' requests (remote.c) with the real parts around it: a
 * transport with a real data loop whose connections to the two senders are
 * socketpairs (built as conn.c leaves them once authenticated), the router
 * set up by router_start() and given its snapshot by router_map_post() (it
 * starts the backend and remote.c, as in vdiskd), and the io_uring backend
 * on a file in /dev/shm and on /dev/full (every write to it fails with
 * -ENOSPC). Requests enter through peer_receive(), as conn.c hands over a
 * frame it read; answers are read from the senders' ends of the socketpairs
 * and decoded with frame_hdr_decode().
 *
 * What the test sees of an execution: a write to the file is copied when it
 * is submitted (tmpfs; its completion still runs later, from a job of the
 * loop), so the file's bytes tell whether it ran; a request answered from
 * the recent-completions table or refused is answered during
 * peer_receive(), one that runs only once the loop ran (backend.h: done()
 * never inline).
 *
 * Checked: a write sent again after it completed is answered from the
 * recent-completions table with its status and not run again; a copy that
 * arrives while the first still runs is not run and both share one answer,
 * as the latest attempt (reads too, though a completed read runs again); a
 * request routed with another configuration gets -ESTALE and is not run;
 * after the transport reports that the sender restarted (peer_reset()), its
 * requests run again and what still ran for its old life is answered to
 * nobody.
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
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "dloop.h"
#include "far_fixture.h"
#include "router.h"

#define LOCAL 1 /* the serving node */
#define PEER 2 /* a node whose router sends requests */
#define OTHER 3 /* another one */
#define CONFIG 5
#define DISK 7 /* path 0 here: the file */
#define FULL 8 /* path 0 here: /dev/full */
#define LEN 512
#define OFF 4096
#define FILE_SIZE (1 << 20)
#define TIMEOUT_NS (5 * 1000000000ull) /* a run that takes this long failed */
#define TMPFS_MAGIC 0x01021994

struct rig {
	struct transport t;
	struct router *r;
	struct far_node nodes[2]; /* PEER, OTHER */
	char path[64];
	int fd; /* the file, as the test reads and writes it */
	size_t want; /* answers that end the run */
	bool timed_out;
};

static struct rig *rig;

static struct far_node *node(uint32_t nodeid)
{
	return &rig->nodes[nodeid == PEER ? 0 : 1];
}

/* Every answer the senders have read. */
static size_t answers(void)
{
	far_read(&rig->nodes[0]);
	far_read(&rig->nodes[1]);
	return rig->nodes[0].nframes + rig->nodes[1].nframes;
}

static int32_t far_event(int32_t fd, int32_t revents, void *data)
{
	(void)fd;
	(void)revents;
	(void)data;
	if (answers() >= rig->want)
		dloop_stop(rig->t.loop);
	return 0;
}

static void run_timeout(void *data)
{
	(void)data;
	rig->timed_out = true;
	dloop_stop(rig->t.loop);
}

/* Runs the loop until the senders read `more` answers more than they have. */
static void run_for(size_t more)
{
	dloop_timer_t timer;
	int i;

	rig->want = answers() + more;
	rig->timed_out = false;
	for (i = 0; i < 2; i++)
		assert_int_equal(dloop_poll_add(rig->t.loop, rig->nodes[i].far, POLLIN,
						&rig->nodes[i], far_event),
				 0);
	assert_int_equal(dloop_timer_add(rig->t.loop, TIMEOUT_NS, NULL, run_timeout, &timer), 0);
	dloop_run(rig->t.loop);
	dloop_timer_del(rig->t.loop, timer);
	for (i = 0; i < 2; i++)
		dloop_poll_del(rig->t.loop, rig->nodes[i].far);
	assert_false(rig->timed_out);
	assert_int_equal(answers(), rig->want);
}

static void turn_stop(void *data)
{
	(void)data;
	dloop_stop(rig->t.loop);
}

/* One turn of the loop: the jobs queued now run (the completions of writes
 * to the file among them), then nothing more is answered. */
static void turn_quiet(void)
{
	size_t n = answers();

	assert_int_equal(dloop_job_add(rig->t.loop, NULL, turn_stop), 0);
	dloop_run(rig->t.loop);
	assert_int_equal(answers(), n);
}

/* Requests and answers. */

static struct frame_hdr request(uint8_t op, uint32_t from, uint32_t disk, uint64_t id,
				uint8_t attempt)
{
	return (struct frame_hdr){
		.type = FRAME_DATA,
		.client = TCLIENT_BACKEND,
		.op = op,
		.src_node = from,
		.reqid = vd_reqid_wire(id, attempt),
		.config = CONFIG,
		.disk = disk,
		.status = 0, /* path 0, the primary: this node's */
		.offset = OFF,
		.length = LEN,
		.payload_len = op == VD_WRITE ? LEN : 0,
		.msg_len = op == VD_WRITE ? LEN : 0,
		.deadline = now_ns() + TIMEOUT_NS,
	};
}

/* h arrives from its sender over link 0, as the next frame of the channel,
 * acknowledging what the sender read. */
static void deliver(struct frame_hdr h, uint8_t fill)
{
	uint8_t payload[LEN];

	memset(payload, fill, sizeof(payload));
	far_send(node(h.src_node), h, h.payload_len ? payload : NULL);
}

static void write_attempt(uint32_t from, uint32_t disk, uint64_t id, uint8_t attempt,
			  uint8_t fill)
{
	deliver(request(VD_WRITE, from, disk, id, attempt), fill);
}

/* The file holds fill at OFF. */
static void assert_file(uint8_t fill)
{
	uint8_t got[LEN], want[LEN];

	assert_int_equal(pread(rig->fd, got, LEN, OFF), LEN);
	memset(want, fill, sizeof(want));
	assert_memory_equal(got, want, LEN);
}

static void file_fill(uint8_t fill)
{
	uint8_t buf[LEN];

	memset(buf, fill, sizeof(buf));
	assert_int_equal(pwrite(rig->fd, buf, LEN, OFF), LEN);
}

/* The latest answer from's sender read went to (id, attempt) of disk with
 * status. */
static const struct far_frame *assert_answer(uint32_t from, uint32_t disk, uint64_t id,
					     uint8_t attempt, int status)
{
	const struct far_frame *a = far_last(node(from));

	assert_int_equal(a->h.type, FRAME_DATA);
	assert_int_equal(a->h.src_node, LOCAL);
	assert_int_equal(a->h.client, TCLIENT_ROUTER);
	assert_true(a->h.flags & FRAME_F_REPLY);
	assert_int_equal(a->h.reqid, vd_reqid_wire(id, attempt));
	assert_int_equal(a->h.disk, disk);
	assert_int_equal(a->h.status, status);
	return a;
}

/* The latest answer to PEER is read (id, attempt) of DISK, done, with LEN
 * bytes of fill. */
static void assert_read_answer(uint64_t id, uint8_t attempt, uint8_t fill)
{
	const struct far_frame *a = assert_answer(PEER, DISK, id, attempt, 0);
	uint8_t want[LEN];

	assert_int_equal(a->h.payload_len, LEN);
	memset(want, fill, sizeof(want));
	assert_memory_equal(a->data, want, LEN);
}

/* A write of fill to the file as (from, id, attempt) runs (the file holds
 * it), and is not answered before it completes. */
static void write_runs(uint32_t from, uint64_t id, uint8_t attempt, uint8_t fill)
{
	size_t n = answers();

	write_attempt(from, DISK, id, attempt, fill);
	assert_file(fill);
	assert_int_equal(answers(), n);
}

/* A write to /dev/full as (from, id, attempt) is not answered at once: it
 * runs (an answer from the table or a refusal would be there already). */
static void full_write_runs(uint32_t from, uint64_t id, uint8_t attempt)
{
	size_t n = answers();

	write_attempt(from, FULL, id, attempt, 0x66);
	assert_int_equal(answers(), n);
}

/* What runs for (from, disk, id) completes: one answer, to attempt. */
static void completes(uint32_t from, uint32_t disk, uint64_t id, uint8_t attempt, int status)
{
	run_for(1);
	assert_answer(from, disk, id, attempt, status);
}

/* A copy of (from, disk, id) as attempt is answered at once with status,
 * and not run: the file keeps what it had, nothing more is answered when
 * the loop runs. */
static void write_from_table(uint32_t from, uint32_t disk, uint64_t id, uint8_t attempt,
			     int status)
{
	uint8_t before[LEN], after[LEN];
	size_t n = answers();

	assert_int_equal(pread(rig->fd, before, LEN, OFF), LEN);
	write_attempt(from, disk, id, attempt, 0x77);
	assert_int_equal(answers(), n + 1);
	assert_answer(from, disk, id, attempt, status);
	turn_quiet();
	assert_int_equal(pread(rig->fd, after, LEN, OFF), LEN);
	assert_memory_equal(before, after, LEN);
}

/* Setup. */

static struct vdmap *map_make(void)
{
	struct vdmap *m = calloc(1, sizeof(*m) + 2 * sizeof(m->disks[0]));
	struct vdmap_disk *d;
	size_t i;

	assert_non_null(m);
	m->seq = 1;
	m->config = CONFIG;
	m->local_nodeid = LOCAL;
	m->quorate = true;
	m->nmembers = 3;
	m->members[0] = LOCAL;
	m->members[1] = PEER;
	m->members[2] = OTHER;
	m->ndisks = 2;
	for (i = 0; i < 2; i++) {
		d = &m->disks[i];
		snprintf(d->name, sizeof(d->name), "vd%zu", i + 1);
		d->id = i ? FULL : DISK;
		d->size = FILE_SIZE;
		d->paths[0].nodeid = LOCAL;
		snprintf(d->paths[0].device, sizeof(d->paths[0].device), "%s",
			 i ? "/dev/full" : rig->path);
		d->paths[1].nodeid = OTHER;
		strcpy(d->paths[1].device, "/dev/never-opened");
	}
	return m;
}

static int setup(void **state)
{
	struct vdmap *m;
	struct statfs sfs;

	(void)state;
	rig = calloc(1, sizeof(*rig));
	assert_non_null(rig);
	snprintf(rig->path, sizeof(rig->path), "/dev/shm/vdisk-test_remote-XXXXXX");
	rig->fd = mkstemp(rig->path);
	assert_true(rig->fd >= 0);
	assert_int_equal(ftruncate(rig->fd, FILE_SIZE), 0);
	/* Writes to it are copied when submitted (see the top). */
	assert_int_equal(fstatfs(rig->fd, &sfs), 0);
	assert_int_equal(sfs.f_type, TMPFS_MAGIC);

	transport_fixture_init(&rig->t, LOCAL);
	assert_int_equal(mailbox_create_dloop(&rig->t.to_data, rig->t.loop), 0);
	far_node_add(&rig->t, &rig->nodes[0], PEER);
	far_node_add(&rig->t, &rig->nodes[1], OTHER);

	/* The router starts the backend and remote.c on the data thread, and
	 * takes its snapshot there. */
	assert_int_equal(router_start(&rig->r, &rig->t, 1000, NULL, 0), 0);
	mailbox_drain(rig->t.to_data);
	assert_non_null(rig->t.clients[TCLIENT_BACKEND].recv);
	assert_non_null(rig->t.clients[TCLIENT_BACKEND].reset);
	m = map_make();
	assert_int_equal(router_map_post(rig->r, m), 0);
	mailbox_drain(rig->t.to_data);
	assert_ptr_equal(router_map(rig->r), m);
	return 0;
}

/* What still runs is freed by router_destroy(), as when the daemon stops;
 * answers still unacknowledged go with the channel. */
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

/* Tests. */

static void test_retransmit_answered_from_table(void **state)
{
	(void)state;
	/* A failure the table must hand back as it was, not a fresh 0. */
	full_write_runs(PEER, 1000, 0);
	completes(PEER, FULL, 1000, 0, -ENOSPC);
	/* The router's next attempt of it, and the same attempt once more. */
	write_from_table(PEER, FULL, 1000, 1, -ENOSPC);
	write_from_table(PEER, FULL, 1000, 1, -ENOSPC);

	/* A success is remembered too. */
	write_runs(PEER, 1001, 0, 0x33);
	completes(PEER, DISK, 1001, 0, 0);
	write_from_table(PEER, DISK, 1001, 3, 0);

	/* The same id from another node is another request. */
	full_write_runs(OTHER, 1000, 0);
	completes(OTHER, FULL, 1000, 0, -ENOSPC);
	write_runs(OTHER, 1001, 0, 0x44);
	completes(OTHER, DISK, 1001, 0, 0);
}

static void test_duplicate_in_flight(void **state)
{
	size_t n;

	(void)state;
	/* Copies with other data: one that ran would show in the file. */
	write_runs(PEER, 2000, 0, 0x11);
	write_attempt(PEER, DISK, 2000, 1, 0x12);
	write_attempt(PEER, DISK, 2000, 2, 0x13);
	/* Not run again, and no answer yet: the first one's completion is
	 * the answer, as the attempt the router waits for now. */
	assert_file(0x11);
	assert_int_equal(answers(), 0);
	completes(PEER, DISK, 2000, 2, 0);
	turn_quiet();
	assert_file(0x11);
	/* Done now: a later copy comes from the table. */
	write_from_table(PEER, DISK, 2000, 3, 0);

	/* A failure is shared just the same. */
	n = answers();
	full_write_runs(PEER, 2001, 0);
	write_attempt(PEER, FULL, 2001, 1, 0x66);
	write_attempt(PEER, FULL, 2001, 2, 0x66);
	assert_int_equal(answers(), n);
	completes(PEER, FULL, 2001, 2, -ENOSPC);
	write_from_table(PEER, FULL, 2001, 3, -ENOSPC);
}

/* Reads are harmless to repeat: one in flight is still not run twice, but
 * one that completed is run again (it reads what the disk holds now), not
 * answered from the table. */
static void test_read_duplicate(void **state)
{
	(void)state;
	file_fill(0xa0);
	deliver(request(VD_READ, PEER, DISK, 3000, 0), 0);
	deliver(request(VD_READ, PEER, DISK, 3000, 1), 0);
	assert_int_equal(answers(), 0);
	run_for(1);
	assert_read_answer(3000, 1, 0xa0);
	turn_quiet();

	file_fill(0xa1);
	deliver(request(VD_READ, PEER, DISK, 3000, 2), 0);
	assert_int_equal(answers(), 1);
	run_for(1);
	assert_read_answer(3000, 2, 0xa1);
}

static void test_stale_config(void **state)
{
	struct frame_hdr h = request(VD_WRITE, PEER, DISK, 4000, 0);

	(void)state;
	h.config = CONFIG - 1;
	deliver(h, 0x55);
	assert_int_equal(answers(), 1);
	assert_int_equal(assert_answer(PEER, DISK, 4000, 0, -ESTALE)->h.config, CONFIG - 1);
	assert_file(0);

	/* A sender ahead of this node is just as far from its mapping. */
	h.config = CONFIG + 1;
	h.reqid = vd_reqid_wire(4000, 1);
	deliver(h, 0x55);
	assert_int_equal(answers(), 2);
	assert_answer(PEER, DISK, 4000, 1, -ESTALE);
	turn_quiet();
	assert_file(0);

	/* Routed again with this node's mapping, it runs: the rejections
	 * were not remembered as its outcome. */
	write_runs(PEER, 4000, 2, 0x55);
	completes(PEER, DISK, 4000, 2, 0);
}

/* datapath_client_restart.sh on one node: the restarted sender's router
 * numbers its requests from the start again, and the same id with other
 * data must be written, not answered with the old life's status. */
static void test_peer_restart(void **state)
{
	(void)state;
	write_runs(PEER, 5000, 0, 0x11);
	completes(PEER, DISK, 5000, 0, 0);
	full_write_runs(OTHER, 5000, 0);
	completes(OTHER, FULL, 5000, 0, -ENOSPC);

	far_restart(node(PEER));
	write_runs(PEER, 5000, 0, 0x22);
	completes(PEER, DISK, 5000, 0, 0);
	write_from_table(PEER, DISK, 5000, 1, 0);

	/* Only that sender is forgotten. */
	write_from_table(OTHER, FULL, 5000, 1, -ENOSPC);
}

/* The sender restarts while its request runs: the new life's request of the
 * same id is not folded into the old one, and the old one's completion is
 * answered to nobody (nor remembered). */
static void test_peer_restart_in_flight(void **state)
{
	(void)state;
	write_runs(PEER, 6000, 0, 0x11);
	far_restart(node(PEER));
	write_runs(PEER, 6000, 0, 0x22);

	/* Both complete in this turn, the old one first. */
	completes(PEER, DISK, 6000, 0, 0);
	turn_quiet();
	assert_int_equal(node(PEER)->nframes, 1);
	write_from_table(PEER, DISK, 6000, 1, 0);
}

/* A request whose deadline has passed (its frame waited in a socket while
 * this node was stopped, or its sender has given up) never runs: refused
 * at once with -ETIMEDOUT, and not remembered as the request's outcome, so
 * a later attempt with time left runs. */
static void test_expired_not_run(void **state)
{
	struct frame_hdr h = request(VD_WRITE, PEER, DISK, 7000, 0);

	(void)state;
	h.deadline = now_ns() - 1;
	deliver(h, 0x55);
	assert_int_equal(answers(), 1);
	assert_answer(PEER, DISK, 7000, 0, -ETIMEDOUT);
	turn_quiet();
	assert_file(0);

	/* No deadline at all is refused just the same. */
	h.deadline = 0;
	h.reqid = vd_reqid_wire(7000, 1);
	deliver(h, 0x55);
	assert_answer(PEER, DISK, 7000, 1, -ETIMEDOUT);
	assert_file(0);

	write_runs(PEER, 7000, 2, 0x56);
	completes(PEER, DISK, 7000, 2, 0);
}

/* A probe of attempt (id, attempt) on path 0 with the given deadline. */
static void probe(uint64_t id, uint8_t attempt, uint64_t deadline)
{
	struct frame_hdr h = request(VD_PROBE, PEER, DISK, id, attempt);

	h.deadline = deadline;
	deliver(h, 0);
}

static void assert_probe_answer(uint64_t id, uint8_t attempt, int status)
{
	const struct far_frame *a = assert_answer(PEER, DISK, id, attempt, status);

	assert_int_equal(vd_opword_op(a->h.op), VD_PROBE);
}

/* What a sender learns of an attempt past its deadline (remote.h). */
static void test_probe(void **state)
{
	size_t n;

	(void)state;
	/* Running: it may still land. The answer then goes to the attempt
	 * the probe named. */
	write_runs(PEER, 8000, 0, 0x21);
	n = answers();
	probe(8000, 1, now_ns() - 1);
	assert_int_equal(answers(), n + 1);
	assert_probe_answer(8000, 1, -EINPROGRESS);
	completes(PEER, DISK, 8000, 1, 0);

	/* Done: answered as itself, with its status. */
	probe(8000, 1, now_ns() - 1);
	assert_int_equal(vd_opword_op(assert_answer(PEER, DISK, 8000, 1, 0)->h.op), 0);

	/* Never seen, its deadline not yet passed: its frame may still be on
	 * the way. */
	probe(8001, 0, now_ns() + TIMEOUT_NS);
	assert_probe_answer(8001, 0, -EINPROGRESS);
	/* Past it: it can never start. */
	probe(8001, 0, now_ns() - 1);
	assert_probe_answer(8001, 0, -ETIMEDOUT);
	turn_quiet();
	assert_file(0x21);
}

/* 20,000 other writes of the same sender complete while it still waits for
 * the answer to one: a retry of that one is still known (the 8192 shared
 * slots of old turned over and ran it again, over the newer data). Once the
 * sender's frames say it has every answer below it, the record is gone. */
static void test_retries_recognised(void **state)
{
	struct frame_hdr h;
	uint64_t id;

	(void)state;
	write_runs(PEER, 9000, 0, 0x31);
	completes(PEER, DISK, 9000, 0, 0);
	for (id = 9001; id <= 29000; id++) {
		h = request(VD_WRITE, PEER, DISK, id, 0);
		h.low = 9000;
		deliver(h, 0x32);
		run_for(1);
	}
	assert_file(0x32);
	write_from_table(PEER, DISK, 9000, 1, 0);
	assert_file(0x32);

	/* Another node's traffic does not push it out either. */
	full_write_runs(OTHER, 9000, 0);
	completes(OTHER, FULL, 9000, 0, -ENOSPC);
	write_from_table(PEER, DISK, 9000, 2, 0);

	/* The sender has the answer: a request of it that runs now (it never
	 * sends that id again) carries low past it, and the record goes. */
	h = request(VD_WRITE, PEER, DISK, 29001, 0);
	h.low = 29001;
	deliver(h, 0x33);
	completes(PEER, DISK, 29001, 0, 0);
	write_runs(PEER, 9000, 3, 0x34);
	completes(PEER, DISK, 9000, 3, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_retransmit_answered_from_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_restart_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_not_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retries_recognised, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

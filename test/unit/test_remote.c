/*
 * Serving other nodes' requests (remote.c) between a fake transport and a
 * fake backend: this file implements, at link time, the transport calls
 * remote.c makes (client registration and the two sends), backend_submit()
 * and router_map(), so the real request_receive(), serve_done() and
 * remote_peer_reset() run and the test decides when each I/O completes.
 * Checked: a write sent again after it completed is answered from the
 * recent-completions table with its status and not run again; a copy that
 * arrives while the first still runs is not run and both share one answer,
 * as the latest attempt (reads too, though a completed read runs again);
 * a request routed with another configuration gets -ESTALE and is not
 * run; after the transport reports that the sender restarted, its requests
 * run again and what still ran for its old life is answered to nobody.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "remote.h"
#include "router.h"

#define LOCAL 1 /* the serving node */
#define PEER 2 /* the node whose router sends the requests */
#define OTHER 3
#define CONFIG 5
#define DISK 7
#define DEV "/dev/fake-primary"
#define LEN 512
#define OFF 4096

struct transport {
	int unused;
};

struct backend {
	int unused;
};

struct router {
	int unused;
};

static struct transport fake_t;
static struct backend fake_b;
static struct router fake_r;
static struct vdmap *map;
static struct remote *rs;

/* What remote.c registered with the transport. */
static transport_recv_fn recv_fn;
static transport_reset_fn reset_fn;
static void *client_ctx;

/* Answers sent, in order. */
struct sent {
	uint32_t nodeid;
	struct frame_hdr h;
	size_t len;
	uint8_t data[LEN];
};

#define MAX_SENT 16
static struct sent sent[MAX_SENT];
static size_t nsent;

/* I/O submitted to the backend, in order; NULL once completed (remote.c
 * frees it in done()). */
#define MAX_IO 16
static struct backend_io *ios[MAX_IO];
static char io_spec[MAX_IO][VDISK_DEVICE_MAX + 1];
static size_t nios;

/* The transport and the backend, faked. */

int transport_client_register(struct transport *t, enum tclient client, transport_recv_fn recv,
			      transport_reset_fn reset, void *ctx)
{
	assert_ptr_equal(t, &fake_t);
	assert_int_equal(client, TCLIENT_BACKEND);
	recv_fn = recv;
	reset_fn = reset;
	client_ctx = ctx;
	return 0;
}

static struct sent *sent_add(struct transport *t, uint32_t nodeid, const struct frame_hdr *h,
			     const void *payload, size_t len)
{
	struct sent *s;

	assert_ptr_equal(t, &fake_t);
	assert_true(nsent < MAX_SENT);
	assert_true(len <= LEN);
	s = &sent[nsent++];
	s->nodeid = nodeid;
	s->h = *h;
	s->len = len;
	if (len)
		memcpy(s->data, payload, len);
	return s;
}

int transport_send(struct transport *t, uint32_t nodeid, const struct frame_hdr *h,
		   const void *payload, size_t len)
{
	sent_add(t, nodeid, h, payload, len);
	return 0;
}

/* Sent at once: the buffer goes back to its owner before this returns. */
int transport_send_buffer(struct transport *t, uint32_t nodeid, const struct frame_hdr *h,
			  uint8_t *frame, size_t len, void (*release)(void *owner), void *owner)
{
	sent_add(t, nodeid, h, frame + FRAME_HDR_SIZE, len);
	release(owner);
	return 0;
}

int backend_submit(struct backend *b, const char *spec, struct backend_io *io)
{
	assert_ptr_equal(b, &fake_b);
	assert_true(nios < MAX_IO);
	strcpy(io_spec[nios], spec);
	ios[nios++] = io;
	return 0;
}

const struct vdmap *router_map(const struct router *r)
{
	assert_ptr_equal(r, &fake_r);
	return map;
}

/* Helpers. */

/* Completes submitted I/O i; a read gets its buffer filled first. */
static void complete(size_t i, int status)
{
	struct backend_io *io;

	assert_true(i < nios);
	io = ios[i];
	assert_non_null(io);
	ios[i] = NULL;
	if (io->op == VD_READ && !status)
		memset(io->buf, 0xa0 + (int)i, io->length);
	io->done(io, status);
}

static struct frame_hdr request(uint8_t op, uint32_t from, uint64_t id, uint8_t attempt)
{
	return (struct frame_hdr){
		.type = FRAME_DATA,
		.client = TCLIENT_BACKEND,
		.op = op,
		.src_node = from,
		.reqid = vd_reqid_wire(id, attempt),
		.config = CONFIG,
		.disk = DISK,
		.status = 0, /* path 0, the primary: this node's */
		.offset = OFF,
		.length = LEN,
		.payload_len = op == VD_WRITE ? LEN : 0,
		.msg_len = op == VD_WRITE ? LEN : 0,
	};
}

static void deliver(const struct frame_hdr *h, uint8_t fill)
{
	uint8_t payload[LEN];

	if (h->op != VD_WRITE) {
		recv_fn(client_ctx, h, NULL, 0);
		return;
	}
	memset(payload, fill, sizeof(payload));
	recv_fn(client_ctx, h, payload, sizeof(payload));
}

static void write_attempt(uint32_t from, uint64_t id, uint8_t attempt, uint8_t fill)
{
	struct frame_hdr h = request(VD_WRITE, from, id, attempt);

	deliver(&h, fill);
}

/* Answer n went to the sender of (from, id, attempt) with status. */
static void assert_answer(size_t n, uint32_t from, uint64_t id, uint8_t attempt, int status)
{
	const struct sent *s;

	assert_true(n < nsent);
	s = &sent[n];
	assert_int_equal(s->nodeid, from);
	assert_int_equal(s->h.client, TCLIENT_ROUTER);
	assert_true(s->h.flags & FRAME_F_REPLY);
	assert_int_equal(s->h.reqid, vd_reqid_wire(id, attempt));
	assert_int_equal(s->h.disk, DISK);
	assert_int_equal(s->h.status, status);
}

/* I/O i is the write of LEN bytes of fill at OFF on this node's path. */
static void assert_write_io(size_t i, uint8_t fill)
{
	uint8_t want[LEN];

	assert_true(i < nios);
	assert_non_null(ios[i]);
	assert_string_equal(io_spec[i], DEV);
	assert_int_equal(ios[i]->op, VD_WRITE);
	assert_int_equal(ios[i]->offset, OFF);
	assert_int_equal(ios[i]->length, LEN);
	memset(want, fill, sizeof(want));
	assert_memory_equal(ios[i]->buf, want, LEN);
}

static int setup(void **state)
{
	struct vdmap_disk *d;

	(void)state;
	map = calloc(1, sizeof(*map) + sizeof(map->disks[0]));
	assert_non_null(map);
	map->config = CONFIG;
	map->local_nodeid = LOCAL;
	map->quorate = true;
	map->nmembers = 3;
	map->members[0] = LOCAL;
	map->members[1] = PEER;
	map->members[2] = OTHER;
	map->ndisks = 1;
	d = &map->disks[0];
	strcpy(d->name, "vd1");
	d->id = DISK;
	d->size = 1 << 20;
	d->paths[0].nodeid = LOCAL;
	strcpy(d->paths[0].device, DEV);
	d->paths[1].nodeid = OTHER;
	strcpy(d->paths[1].device, "/dev/fake-secondary");
	nsent = 0;
	nios = 0;
	memset(ios, 0, sizeof(ios));
	recv_fn = NULL;
	reset_fn = NULL;
	assert_int_equal(remote_start(&rs, &fake_t, &fake_b, &fake_r), 0);
	assert_non_null(recv_fn);
	assert_non_null(reset_fn);
	return 0;
}

/* What still runs is freed by remote_destroy(), as when the daemon stops. */
static int teardown(void **state)
{
	(void)state;
	remote_destroy(rs);
	rs = NULL;
	free(map);
	map = NULL;
	return 0;
}

/* A write of (from, id) as attempt runs: one more I/O, and no answer until
 * it completes. Returns the I/O's index. */
static size_t write_runs(uint32_t from, uint64_t id, uint8_t attempt, uint8_t fill)
{
	size_t n = nsent;

	write_attempt(from, id, attempt, fill);
	assert_write_io(nios - 1, fill);
	assert_int_equal(nsent, n);
	return nios - 1;
}

/* A copy of (from, id) as attempt is not run and answered at once. */
static void write_from_table(uint32_t from, uint64_t id, uint8_t attempt, int status)
{
	size_t n = nsent, i = nios;

	write_attempt(from, id, attempt, 0x77);
	assert_int_equal(nios, i);
	assert_int_equal(nsent, n + 1);
	assert_answer(n, from, id, attempt, status);
}

/* I/O i completes with status: one answer, to (from, id) as attempt. */
static void completes(size_t i, int status, uint32_t from, uint64_t id, uint8_t attempt)
{
	size_t n = nsent;

	complete(i, status);
	assert_int_equal(nsent, n + 1);
	assert_answer(n, from, id, attempt, status);
}

/* Tests. */

static void test_retransmit_answered_from_table(void **state)
{
	size_t i;

	(void)state;
	/* A failure the table must hand back as it was, not a fresh 0. */
	i = write_runs(PEER, 1000, 0, 0x11);
	completes(i, -ENOSPC, PEER, 1000, 0);
	/* The router's next attempt of it, and the same attempt once more. */
	write_from_table(PEER, 1000, 1, -ENOSPC);
	write_from_table(PEER, 1000, 1, -ENOSPC);

	/* A success is remembered too. */
	i = write_runs(PEER, 1001, 0, 0x33);
	completes(i, 0, PEER, 1001, 0);
	write_from_table(PEER, 1001, 3, 0);

	/* The same id from another node is another request. */
	write_runs(OTHER, 1000, 0, 0x44);
	assert_int_equal(nios, 3);
}

static void test_duplicate_in_flight(void **state)
{
	size_t i;

	(void)state;
	i = write_runs(PEER, 2000, 0, 0x11);
	/* Not run again, and no answer yet: the first one's completion is
	 * the answer, as the attempt the router waits for now. */
	write_attempt(PEER, 2000, 1, 0x11);
	write_attempt(PEER, 2000, 2, 0x11);
	assert_int_equal(nios, 1);
	assert_int_equal(nsent, 0);
	completes(i, -EIO, PEER, 2000, 2);

	/* Done now: a later copy comes from the table. */
	write_from_table(PEER, 2000, 3, -EIO);
	assert_int_equal(nios, 1);
}

/* Reads are harmless to repeat: one in flight is still not run twice, but
 * one that completed is run again, not answered from the table. */
static void test_read_duplicate(void **state)
{
	struct frame_hdr h = request(VD_READ, PEER, 3000, 0);
	uint8_t want[LEN];

	(void)state;
	deliver(&h, 0);
	h.reqid = vd_reqid_wire(3000, 1);
	deliver(&h, 0);
	assert_int_equal(nios, 1);
	assert_int_equal(ios[0]->op, VD_READ);
	assert_int_equal(nsent, 0);
	completes(0, 0, PEER, 3000, 1);
	assert_int_equal(sent[0].len, LEN);
	memset(want, 0xa0, sizeof(want));
	assert_memory_equal(sent[0].data, want, LEN);

	h.reqid = vd_reqid_wire(3000, 2);
	deliver(&h, 0);
	assert_int_equal(nios, 2);
	completes(1, 0, PEER, 3000, 2);
	memset(want, 0xa1, sizeof(want));
	assert_memory_equal(sent[1].data, want, LEN);
}

static void test_stale_config(void **state)
{
	struct frame_hdr h = request(VD_WRITE, PEER, 4000, 0);
	uint8_t payload[LEN];

	(void)state;
	memset(payload, 0x55, sizeof(payload));
	h.config = CONFIG - 1;
	recv_fn(client_ctx, &h, payload, sizeof(payload));
	assert_int_equal(nios, 0);
	assert_int_equal(nsent, 1);
	assert_answer(0, PEER, 4000, 0, -ESTALE);
	assert_int_equal(sent[0].h.config, CONFIG - 1);

	/* A sender ahead of this node is just as far from its mapping. */
	h.config = CONFIG + 1;
	h.reqid = vd_reqid_wire(4000, 1);
	recv_fn(client_ctx, &h, payload, sizeof(payload));
	assert_int_equal(nios, 0);
	assert_int_equal(nsent, 2);
	assert_answer(1, PEER, 4000, 1, -ESTALE);

	/* Routed again with this node's mapping, it runs: the rejections
	 * were not remembered as its outcome. */
	completes(write_runs(PEER, 4000, 2, 0x55), 0, PEER, 4000, 2);
}

/* datapath_client_restart.sh on one node: the restarted sender's router
 * numbers its requests from the start again, and the same id with other
 * data must be written, not answered with the old life's status. */
static void test_peer_restart(void **state)
{
	(void)state;
	completes(write_runs(PEER, 5000, 0, 0x11), -ENOSPC, PEER, 5000, 0);
	completes(write_runs(OTHER, 5000, 0, 0x99), -ENOSPC, OTHER, 5000, 0);

	reset_fn(client_ctx, PEER);
	completes(write_runs(PEER, 5000, 0, 0x22), 0, PEER, 5000, 0);
	write_from_table(PEER, 5000, 1, 0);

	/* Only that sender is forgotten. */
	write_from_table(OTHER, 5000, 1, -ENOSPC);
	assert_int_equal(nios, 3);
}

/* The sender restarts while its request runs: the new life's request of the
 * same id is not folded into the old one, and the old one's completion is
 * answered to nobody (nor remembered). */
static void test_peer_restart_in_flight(void **state)
{
	size_t old, new;

	(void)state;
	old = write_runs(PEER, 6000, 0, 0x11);
	reset_fn(client_ctx, PEER);
	new = write_runs(PEER, 6000, 0, 0x22);
	assert_int_equal(nios, 2);

	complete(old, -ENOSPC);
	assert_int_equal(nsent, 0);
	completes(new, 0, PEER, 6000, 0);
	write_from_table(PEER, 6000, 1, 0);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

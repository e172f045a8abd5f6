/*
 * Cluster database replication with corosync mocked at its boundary: this file
 * implements membership.h as an in-process bus that delivers every multicast
 * to every member of a configuration in one total order, the way CPG does, so
 * several cdb instances replicate against each other in one process.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cdb.h"

#define NODES 3

struct membership {
	uint32_t nodeid;
	const struct membership_ops *ops;
	void *ctx;
	bool quorate;
	uint32_t members[NODES];
	size_t nmembers;
};

struct bus_msg {
	uint32_t from;
	void *buf;
	size_t len;
};

static struct membership *nodes[NODES + 1];
static uint32_t starting_nodeid;
static struct bus_msg queue[256];
static size_t queued;
static qb_loop_t *loop;

/* The corosync boundary, faked. */

int membership_start(struct membership **out, qb_loop_t *l, const struct membership_ops *ops,
		     void *ctx)
{
	struct membership *m = calloc(1, sizeof(*m));

	m->nodeid = starting_nodeid;
	m->ops = ops;
	m->ctx = ctx;
	nodes[m->nodeid] = m;
	*out = m;
	return 0;
}

void membership_stop(struct membership *m)
{
	nodes[m->nodeid] = NULL;
	free(m);
}

int membership_send(struct membership *m, void *buf, size_t len)
{
	assert_true(queued < sizeof(queue) / sizeof(queue[0]));
	queue[queued++] = (struct bus_msg){ .from = m->nodeid, .buf = buf, .len = len };
	return 0;
}

uint32_t membership_local_nodeid(const struct membership *m)
{
	return m->nodeid;
}

bool membership_quorate(const struct membership *m)
{
	return m->quorate;
}

bool membership_is_member(const struct membership *m, uint32_t nodeid)
{
	size_t i;

	for (i = 0; i < m->nmembers; i++)
		if (m->members[i] == nodeid)
			return true;
	return false;
}

const char *membership_node_name(const struct membership *m, uint32_t nodeid)
{
	static char names[NODES + 1][8];

	snprintf(names[nodeid % (NODES + 1)], sizeof(names[0]), "n%u", nodeid);
	return names[nodeid % (NODES + 1)];
}

bool membership_cmap(const struct membership *m, cmap_handle_t *handle)
{
	return false;
}

int membership_cs_errno(int cs_error)
{
	return cs_error ? -EIO : 0;
}

/* The bus */

static void loop_stop(void *data)
{
	qb_loop_stop(loop);
}

/* Runs the loop's timers and jobs for a moment. */
static void loop_spin(void)
{
	qb_loop_timer_handle t;

	qb_loop_timer_add(loop, QB_LOOP_LOW, 5 * QB_TIME_NS_IN_MSEC, NULL, loop_stop, &t);
	qb_loop_run(loop);
}

/* Delivers messages in send order to each member of the sender's
 * configuration (agreed order), until nothing moves. */
static void pump(void)
{
	size_t rounds;

	for (rounds = 0; rounds < 50; rounds++) {
		struct bus_msg msg;
		uint32_t id;

		loop_spin();
		if (!queued)
			continue;
		msg = queue[0];
		memmove(queue, queue + 1, --queued * sizeof(queue[0]));
		for (id = 1; id <= NODES; id++) {
			struct membership *m = nodes[id];

			if (m && nodes[msg.from] && membership_is_member(nodes[msg.from], id))
				m->ops->deliver(m->ctx, msg.from, (uint32_t)getpid(), msg.buf,
						msg.len);
		}
		free(msg.buf);
		rounds = 0;
	}
}

/* Installs a configuration on the listed nodes. */
static void confchg(const uint32_t *ids, size_t n, bool quorate)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct membership *m = nodes[ids[i]];

		memcpy(m->members, ids, n * sizeof(*ids));
		m->nmembers = n;
		m->quorate = quorate;
		m->ops->confchg(m->ctx, ids, n);
	}
}

/* Fixture: three cdbs with state dirs and a backing file on node 2. */

static struct cdb *cdbs[NODES + 1];
static char tmpdir[64];
static char backing[128];

static void node_start(uint32_t id)
{
	char dir[128], err[256];

	snprintf(dir, sizeof(dir), "%s/n%u", tmpdir, id);
	starting_nodeid = id;
	if (cdb_start(&cdbs[id], loop, dir, err, sizeof(err)))
		fail_msg("cdb_start: %s", err);
}

static int setup(void **state)
{
	static const uint32_t all[] = { 1, 2, 3 };
	FILE *f;
	uint32_t id;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cdb.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(backing, sizeof(backing), "%s/disk.img", tmpdir);
	f = fopen(backing, "w");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
	loop = qb_loop_create();
	for (id = 1; id <= NODES; id++)
		node_start(id);
	confchg(all, NODES, true);
	pump();
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	uint32_t id;

	for (id = 1; id <= NODES; id++) {
		cdb_stop(cdbs[id]);
		cdbs[id] = NULL;
	}
	while (queued)
		free(queue[--queued].buf);
	qb_loop_destroy(loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

struct result {
	bool done;
	int rc;
	char err[256];
	uint64_t generation;
};

static void record(void *ctx, int rc, const char *err, const struct db_disk *disk,
		   uint64_t generation)
{
	struct result *r = ctx;

	r->done = true;
	r->rc = rc;
	r->generation = generation;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
}

static int create(uint32_t on, const char *name, uint32_t node, const char *dev,
		  struct result *r)
{
	struct db_disk d = { .mode = 0660 };
	char err[256];
	int rc;

	snprintf(d.name, sizeof(d.name), "%s", name);
	d.primary.nodeid = node;
	snprintf(d.primary.device, sizeof(d.primary.device), "%s", dev);
	memset(r, 0, sizeof(*r));
	rc = cdb_disk_create(cdbs[on], &d, false, record, r, err, sizeof(err));
	if (rc) {
		r->done = true;
		r->rc = rc;
		snprintf(r->err, sizeof(r->err), "%s", err);
	}
	return rc;
}

static void assert_converged(void)
{
	const struct db *a = cdb_db(cdbs[1]);
	uint32_t id;

	for (id = 2; id <= NODES; id++) {
		const struct db *b = cdb_db(cdbs[id]);
		size_t i;

		assert_true(cdb_synced(cdbs[id]));
		assert_int_equal(a->generation, b->generation);
		assert_int_equal(a->ndisks, b->ndisks);
		for (i = 0; i < a->ndisks; i++)
			assert_memory_equal(&a->disks[i], &b->disks[i], sizeof(a->disks[i]));
	}
}

static void test_sync_at_start(void **state)
{
	uint32_t id;

	for (id = 1; id <= NODES; id++)
		assert_true(cdb_synced(cdbs[id]));
	/* Each node published its device inventory once. */
	assert_int_equal(cdb_db(cdbs[1])->ninv, NODES);
	assert_converged();
}

static void test_create_remote_path(void **state)
{
	struct result r;

	assert_int_equal(create(1, "vd1", 2, backing, &r), 0);
	assert_false(r.done); /* answered from the loop, never inline */
	pump();
	assert_true(r.done);
	assert_int_equal(r.rc, 0);
	assert_converged();
	assert_int_equal(db_disk_find(cdb_db(cdbs[3]), "vd1")->size, 1 << 20);
	assert_int_equal(db_disk_find(cdb_db(cdbs[3]), "vd1")->primary.nodeid, 2);
}

static void test_create_missing_device(void **state)
{
	uint64_t gen = cdb_db(cdbs[1])->generation;
	struct result r;

	assert_int_equal(create(1, "vd1", 2, "/srv/missing", &r), 0);
	pump();
	assert_int_equal(r.rc, -ENOENT);
	assert_string_equal(r.err, "n2: /srv/missing: No such file or directory");
	assert_int_equal(cdb_db(cdbs[2])->generation, gen);
	assert_null(db_disk_find(cdb_db(cdbs[2]), "vd1"));
}

static void test_concurrent_create_one_wins(void **state)
{
	struct result a, b;

	assert_int_equal(create(1, "same", 2, backing, &a), 0);
	assert_int_equal(create(3, "same", 2, backing, &b), 0);
	pump();
	assert_true(a.done && b.done);
	assert_true((a.rc == 0) != (b.rc == 0));
	assert_int_equal(a.rc ? a.rc : b.rc, -EEXIST);
	assert_string_equal(a.rc ? a.err : b.err, "disk 'same' already exists");
	assert_converged();
}

static void test_partition_refuses_then_catches_up(void **state)
{
	static const uint32_t majority[] = { 1, 2 }, minority[] = { 3 }, all[] = { 1, 2, 3 };
	uint64_t gen3 = cdb_db(cdbs[3])->generation;
	struct result r;

	confchg(majority, 2, true);
	confchg(minority, 1, false);
	pump();
	assert_int_equal(create(3, "vdx", 3, backing, &r), -EROFS);
	assert_non_null(strstr(r.err, "no quorum"));
	assert_int_equal(create(1, "vd1", 2, backing, &r), 0);
	pump();
	assert_int_equal(r.rc, 0);
	assert_int_equal(cdb_db(cdbs[3])->generation, gen3);
	assert_null(db_disk_find(cdb_db(cdbs[3]), "vd1"));

	confchg(all, 3, true);
	pump();
	assert_converged();
	assert_non_null(db_disk_find(cdb_db(cdbs[3]), "vd1"));
	assert_true(cdb_config(cdbs[3]) == cdb_config(cdbs[1]));
}

static void test_restart_restores_state(void **state)
{
	static const uint32_t two[] = { 1, 3 }, all[] = { 1, 2, 3 };
	struct result r;

	assert_int_equal(create(2, "vd1", 2, backing, &r), 0);
	pump();
	assert_int_equal(r.rc, 0);
	cdb_stop(cdbs[2]);
	confchg(two, 2, true);
	pump();
	node_start(2);
	assert_int_equal(cdb_db(cdbs[2])->generation, cdb_db(cdbs[1])->generation);
	assert_non_null(db_disk_find(cdb_db(cdbs[2]), "vd1"));
	confchg(all, 3, true);
	pump();
	assert_converged();
}

static void test_delete_and_perm_replicate(void **state)
{
	struct db_update u = { .op = DB_OP_PERM, .flags = DB_PERM_MODE };
	struct result r, p = { 0 }, d = { 0 };
	char err[256];

	assert_int_equal(create(1, "vd1", 2, backing, &r), 0);
	pump();
	strcpy(u.disk.name, "vd1");
	u.disk.mode = 0600;
	assert_int_equal(cdb_update_submit(cdbs[2], &u, record, &p, err, sizeof(err)), 0);
	pump();
	assert_int_equal(p.rc, 0);
	assert_int_equal(db_disk_find(cdb_db(cdbs[3]), "vd1")->mode, 0600);
	u.op = DB_OP_DELETE;
	assert_int_equal(cdb_update_submit(cdbs[3], &u, record, &d, err, sizeof(err)), 0);
	pump();
	assert_int_equal(d.rc, 0);
	assert_null(db_disk_find(cdb_db(cdbs[1]), "vd1"));
	assert_int_equal(cdb_update_submit(cdbs[3], &u, record, &d, err, sizeof(err)), -ENOENT);
	assert_converged();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_at_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_remote_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_missing_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_create_one_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partition_refuses_then_catches_up, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restart_restores_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_and_perm_replicate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

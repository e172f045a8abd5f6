/*
 * Cluster database replication with corosync mocked at its boundary
 * (fake_membership.h: an in-process bus that delivers every multicast to
 * every member of a configuration in one total order, the way CPG does), so
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

#include "fake_membership.h"

#define NODES FAKE_NODES

/* Fixture: three cdbs with state dirs, and fake.backing for a device on node 2. */

static struct cdb *cdbs[NODES + 1];

static void node_start(uint32_t id)
{
	char dir[128], err[256];

	fake_state_dir(id, dir, sizeof(dir));
	fake.next_nodeid = id;
	if (cdb_start(&cdbs[id], fake.loop, dir, err, sizeof(err)))
		fail_msg("cdb_start: %s", err);
}

static int setup(void **state)
{
	static const uint32_t all[] = { 1, 2, 3 };
	uint32_t id;

	fake_bus_init("test_cdb");
	for (id = 1; id <= NODES; id++)
		node_start(id);
	fake_confchg(all, NODES, true);
	fake_pump();
	return 0;
}

static int teardown(void **state)
{
	uint32_t id;

	for (id = 1; id <= NODES; id++) {
		cdb_stop(cdbs[id]);
		cdbs[id] = NULL;
	}
	fake_bus_fini();
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

static int create_flags(uint32_t on, const char *name, uint32_t node, const char *dev,
			unsigned int flags, struct result *r)
{
	struct db_disk d = { .mode = 0660 };
	char err[256];
	int rc;

	snprintf(d.name, sizeof(d.name), "%s", name);
	d.primary.nodeid = node;
	snprintf(d.primary.device, sizeof(d.primary.device), "%s", dev);
	memset(r, 0, sizeof(*r));
	rc = cdb_disk_create(cdbs[on], &d, flags, record, r, err, sizeof(err));
	if (rc) {
		r->done = true;
		r->rc = rc;
		snprintf(r->err, sizeof(r->err), "%s", err);
	}
	return rc;
}

static int create(uint32_t on, const char *name, uint32_t node, const char *dev,
		  struct result *r)
{
	return create_flags(on, name, node, dev, 0, r);
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

	assert_int_equal(create(1, "vd1", 2, fake.backing, &r), 0);
	assert_false(r.done); /* answered from the loop, never inline */
	fake_pump();
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
	fake_pump();
	assert_int_equal(r.rc, -ENOENT);
	assert_string_equal(r.err, "n2: /srv/missing: No such file or directory");
	assert_int_equal(cdb_db(cdbs[2])->generation, gen);
	assert_null(db_disk_find(cdb_db(cdbs[2]), "vd1"));
}

/* A second disk on the storage of the first, named another way, is refused
 * on the node that has it, and accepted with --force, which says so. */
static void test_create_claimed_storage(void **state)
{
	char link[256], other[256], want[512];
	uint64_t gen;
	struct result r;
	FILE *f;

	assert_int_equal(create(1, "vd1", 2, fake.backing, &r), 0);
	fake_pump();
	assert_int_equal(r.rc, 0);
	snprintf(link, sizeof(link), "%s/by-id", fake.dir);
	assert_int_equal(symlink(fake.backing, link), 0);
	gen = cdb_db(cdbs[1])->generation;

	assert_int_equal(create(3, "vd2", 2, link, &r), 0);
	fake_pump();
	assert_int_equal(r.rc, -EBUSY);
	snprintf(want, sizeof(want), "n2: %s is the storage of disk 'vd1' already (its primary "
		 "path n2:%s): a device backs one virtual disk; give another device, or --force "
		 "to share it", link, fake.backing);
	assert_string_equal(r.err, want);
	assert_int_equal(cdb_db(cdbs[2])->generation, gen);
	assert_null(db_disk_find(cdb_db(cdbs[2]), "vd2"));

	/* Node 3 has no disk on it: the same file is not a claim there. */
	assert_int_equal(create(3, "vd3", 3, link, &r), 0);
	fake_pump();
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");

	assert_int_equal(create_flags(1, "vd4", 2, link, CDB_CREATE_FORCE, &r), 0);
	fake_pump();
	assert_int_equal(r.rc, 0);
	snprintf(want, sizeof(want), "--force: n2: %s is the storage of disk 'vd1' too (its "
		 "primary path n2:%s); writes to either disk change the other", link, fake.backing);
	assert_string_equal(r.err, want);

	/* Another file of the same size is nobody's. */
	snprintf(other, sizeof(other), "%s/other.img", fake.dir);
	f = fopen(other, "w");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
	assert_int_equal(create(2, "vd5", 2, other, &r), 0);
	fake_pump();
	assert_int_equal(r.rc, 0);
	assert_converged();
	unlink(other);
	unlink(link);
}

static void test_concurrent_create_one_wins(void **state)
{
	struct result a, b;

	assert_int_equal(create(1, "same", 2, fake.backing, &a), 0);
	assert_int_equal(create(3, "same", 2, fake.backing, &b), 0);
	fake_pump();
	assert_true(a.done && b.done);
	assert_true((a.rc == 0) != (b.rc == 0));
	assert_int_equal(a.rc ? a.rc : b.rc, -EEXIST);
	assert_string_equal(a.rc ? a.err : b.err, "disk 'same' already exists: choose another name, or delete it first");
	assert_converged();
}

static void test_partition_refuses_then_catches_up(void **state)
{
	static const uint32_t majority[] = { 1, 2 }, minority[] = { 3 }, all[] = { 1, 2, 3 };
	uint64_t gen3 = cdb_db(cdbs[3])->generation;
	struct result r;

	fake_confchg(majority, 2, true);
	fake_confchg(minority, 1, false);
	fake_pump();
	assert_int_equal(create(3, "vdx", 3, fake.backing, &r), -EROFS);
	assert_non_null(strstr(r.err, "no quorum"));
	assert_int_equal(create(1, "vd1", 2, fake.backing, &r), 0);
	fake_pump();
	assert_int_equal(r.rc, 0);
	assert_int_equal(cdb_db(cdbs[3])->generation, gen3);
	assert_null(db_disk_find(cdb_db(cdbs[3]), "vd1"));

	fake_confchg(all, 3, true);
	fake_pump();
	assert_converged();
	assert_non_null(db_disk_find(cdb_db(cdbs[3]), "vd1"));
	assert_true(cdb_config(cdbs[3]) == cdb_config(cdbs[1]));
}

static void test_restart_restores_state(void **state)
{
	static const uint32_t two[] = { 1, 3 }, all[] = { 1, 2, 3 };
	struct result r;

	assert_int_equal(create(2, "vd1", 2, fake.backing, &r), 0);
	fake_pump();
	assert_int_equal(r.rc, 0);
	cdb_stop(cdbs[2]);
	fake_confchg(two, 2, true);
	fake_pump();
	node_start(2);
	assert_int_equal(cdb_db(cdbs[2])->generation, cdb_db(cdbs[1])->generation);
	assert_non_null(db_disk_find(cdb_db(cdbs[2]), "vd1"));
	fake_confchg(all, 3, true);
	fake_pump();
	assert_converged();
}

static void test_delete_and_perm_replicate(void **state)
{
	struct db_update u = { .op = DB_OP_PERM, .flags = DB_PERM_MODE };
	struct result r, p = { 0 }, d = { 0 };
	char err[256];

	assert_int_equal(create(1, "vd1", 2, fake.backing, &r), 0);
	fake_pump();
	strcpy(u.disk.name, "vd1");
	u.disk.mode = 0600;
	assert_int_equal(cdb_update_submit(cdbs[2], &u, record, &p, err, sizeof(err)), 0);
	fake_pump();
	assert_int_equal(p.rc, 0);
	assert_int_equal(db_disk_find(cdb_db(cdbs[3]), "vd1")->mode, 0600);
	u.op = DB_OP_DELETE;
	assert_int_equal(cdb_update_submit(cdbs[3], &u, record, &d, err, sizeof(err)), 0);
	fake_pump();
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
		cmocka_unit_test_setup_teardown(test_create_claimed_storage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_create_one_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partition_refuses_then_catches_up, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restart_restores_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_and_perm_replicate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

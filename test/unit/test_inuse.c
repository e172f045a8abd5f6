/*
 * Who has a disk open: this node's table (inuse.c), and the cluster's
 * answer before a delete (inuse_ask.c) over three cdbs on the fake bus.
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
#include "inuse.h"
#include "inuse_ask.h"

#include "fake_membership.h"

#define NODES FAKE_NODES

static void test_describe(void **state)
{
	struct inuse *u;
	char buf[512], want[256];
	uint64_t a, b, c;

	assert_int_equal(inuse_create(&u, ""), 0);
	inuse_describe(u, "vd1", buf, sizeof(buf));
	assert_string_equal(buf, "");
	a = inuse_open(u, "vd1", INUSE_NBD, getpid());
	b = inuse_open(u, "vd1", INUSE_NBD, 0);
	c = inuse_open(u, "vd2", INUSE_FILE, getpid());
	assert_true(a && b && c && a != b);
	inuse_describe(u, "vd1", buf, sizeof(buf));
	snprintf(want, sizeof(want), "2 NBD clients (pid %d, test_inuse; over TCP)", (int)getpid());
	assert_string_equal(buf, want);
	inuse_describe(u, "vd2", buf, sizeof(buf));
	snprintf(want, sizeof(want), "1 open of the device file (pid %d, test_inuse)",
		 (int)getpid());
	assert_string_equal(buf, want);
	inuse_close(u, a);
	inuse_close(u, b);
	inuse_close(u, 0);
	inuse_describe(u, "vd1", buf, sizeof(buf));
	assert_string_equal(buf, "");
	/* A short buffer gets a terminated prefix. */
	assert_true(inuse_describe(u, "vd2", buf, 10) < 10);
	assert_int_equal(strlen(buf), 9);
	inuse_close(u, c);
	inuse_destroy(u);
}

/* Fixture: three members, each with its own table and asker. */
static struct cdb *cdbs[NODES + 1];
static struct inuse *tables[NODES + 1];
static struct inuse_ask *asks[NODES + 1];

static int setup(void **state)
{
	static const uint32_t all[] = { 1, 2, 3 };
	char dir[128], err[256];
	uint32_t id;

	fake_bus_init("test_inuse");
	for (id = 1; id <= NODES; id++) {
		fake_state_dir(id, dir, sizeof(dir));
		fake.next_nodeid = id;
		if (cdb_start(&cdbs[id], fake.loop, dir, err, sizeof(err)))
			fail_msg("cdb_start: %s", err);
		assert_int_equal(inuse_create(&tables[id], ""), 0);
		assert_int_equal(inuse_ask_create(&asks[id], fake.loop, cdbs[id], tables[id]), 0);
	}
	fake_confchg(all, NODES, true);
	fake_pump();
	return 0;
}

static int teardown(void **state)
{
	uint32_t id;

	for (id = 1; id <= NODES; id++) {
		inuse_ask_destroy(asks[id]);
		cdb_stop(cdbs[id]);
		inuse_destroy(tables[id]);
	}
	fake_bus_fini();
	return 0;
}

struct answer {
	bool done;
	int rc;
	char users[2048];
};

static void answered(void *ctx, int rc, const char *users)
{
	struct answer *a = ctx;

	a->done = true;
	a->rc = rc;
	snprintf(a->users, sizeof(a->users), "%s", users);
}

static void test_ask_nobody(void **state)
{
	struct answer a = { 0 };

	assert_int_equal(inuse_ask(asks[1], "vd1", answered, &a), 0);
	assert_false(a.done);
	fake_pump();
	assert_true(a.done);
	assert_int_equal(a.rc, 0);
	assert_string_equal(a.users, "");
}

static void test_ask_names_the_users(void **state)
{
	struct answer a = { 0 };
	char want[256];
	uint64_t t2, t3;

	t2 = inuse_open(tables[2], "vd1", INUSE_NBD, getpid());
	t3 = inuse_open(tables[3], "vd1", INUSE_FILE, 0);
	inuse_open(tables[3], "other", INUSE_NBD, 0);
	assert_int_equal(inuse_ask(asks[1], "vd1", answered, &a), 0);
	fake_pump();
	assert_true(a.done);
	assert_int_equal(a.rc, 0);
	snprintf(want, sizeof(want), "n2: 1 NBD client (pid %d, test_inuse); n3: 1 open of the "
		 "device file (pid unknown)", (int)getpid());
	assert_string_equal(a.users, want);
	inuse_close(tables[2], t2);
	inuse_close(tables[3], t3);
}

/* A member that leaves before it answers does not hold the answer up. */
static void test_ask_member_leaves(void **state)
{
	static const uint32_t two[] = { 1, 2 };
	struct answer a = { 0 };

	assert_int_equal(inuse_ask(asks[1], "vd1", answered, &a), 0);
	fake_step(); /* the query delivered, not yet answered */
	fake_confchg(two, 2, true);
	fake_pump();
	assert_true(a.done);
	assert_int_equal(a.rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_describe),
		cmocka_unit_test_setup_teardown(test_ask_nobody, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ask_names_the_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ask_member_leaves, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Which path serves a disk, and why, from made-up views of the cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "disk_state.h"

/* n2 primary, n3 secondary, both running, nothing failed. */
static struct disk_state_in healthy(void)
{
	return (struct disk_state_in){
		.quorate = true,
		.lease = true,
		.path = { { .exists = true, .node = "n2", .member = true },
			  { .exists = true, .node = "n3", .member = true } },
	};
}

static struct disk_state judge(const struct disk_state_in *in)
{
	struct disk_state out;

	disk_state_judge(in, &out);
	return out;
}

static void test_primary_serves(void **state)
{
	struct disk_state_in in = healthy();
	struct disk_state s = judge(&in);

	assert_int_equal(s.serving, DISK_SERVED_PRIMARY);
	assert_int_equal(s.path, 0);
	assert_string_equal(s.why, "");
	assert_string_equal(disk_serving_name(s.serving), "primary");
}

static void test_primary_node_down(void **state)
{
	struct disk_state_in in = healthy();
	struct disk_state s;

	in.path[0].member = false;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_SECONDARY);
	assert_int_equal(s.path, 1);
	assert_string_equal(s.why, "n2 (primary) is not running vdiskd");
}

/* A mirror's secondary never serves for the writer: without the writer's
 * node, writes wait for a promotion, and the reason says so. */
static void test_mirror_writer_down(void **state)
{
	struct disk_state_in in = healthy();
	struct disk_state s;

	in.mirror = true;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_PRIMARY);
	in.path[0].member = false;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_HELD);
	assert_int_equal(s.path, -1);
	assert_string_equal(s.why, "n2 (primary) is not running vdiskd: writes wait for the writer, "
				   "or for an up-to-date replica's promotion (vdiskctl map promote)");
}

static void test_primary_path_failed(void **state)
{
	struct disk_state_in in = healthy();
	struct disk_state s;

	in.path[0].failed_ms = 2345;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_SECONDARY);
	assert_string_equal(s.why, "the primary path on n2 failed 2.3 s ago");

	/* Without another path, the failed one is tried again, and said so. */
	in.path[1].exists = false;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_PRIMARY);
	assert_string_equal(s.why,
			    "the primary path on n2 failed 2.3 s ago; there is no secondary path");
}

/* A fenced node holds the whole disk, even with the other path healthy. */
static void test_fence_holds(void **state)
{
	struct disk_state_in in = healthy();
	struct disk_state s;

	in.path[0].member = false;
	in.path[0].fence_ms = 1200;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_HELD);
	assert_int_equal(s.path, -1);
	assert_string_equal(s.why, "n2 (primary) left the membership: its paths wait 1200 ms "
				   "more for its lease to run out");
	in.path[0].fence_ms = DISK_STATE_FENCE_COMMAND;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_HELD);
	assert_string_equal(s.why, "n2 (primary) left the membership: its paths wait until the "
				   "fence command says it is off");
}

static void test_quorum_and_suspend_hold(void **state)
{
	struct disk_state_in in = healthy();
	struct disk_state s;

	in.suspended = true;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_HELD);
	assert_string_equal(s.why, "suspended: I/O waits for vdiskctl resume");
	in.lease = false;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_HELD);
	assert_string_equal(s.why, "no lease: this node holds the disk's I/O until a member "
				   "echoes its beats again (vdiskctl status)");
	in.quorate = false;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_HELD);
	assert_string_equal(s.why, "no quorum: this node holds the disk's I/O until it is part "
				   "of a quorate partition");
}

static void test_no_path(void **state)
{
	struct disk_state_in in = healthy();
	struct disk_state s;

	in.path[0].member = false;
	in.path[1].member = false;
	s = judge(&in);
	assert_int_equal(s.serving, DISK_SERVED_NONE);
	assert_int_equal(s.path, -1);
	assert_string_equal(s.why, "n2 (primary) is not running vdiskd; n3 (secondary) is not "
				   "running vdiskd");
	assert_string_equal(disk_serving_name(s.serving), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primary_serves),
		cmocka_unit_test(test_primary_node_down),
		cmocka_unit_test(test_primary_path_failed),
		cmocka_unit_test(test_mirror_writer_down),
		cmocka_unit_test(test_fence_holds),
		cmocka_unit_test(test_quorum_and_suspend_hold),
		cmocka_unit_test(test_no_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

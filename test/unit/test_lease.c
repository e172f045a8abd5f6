/*
 * The lease (lease.h) on three members in one process, corosync faked at the
 * membership.h boundary (fake_membership.h): renewal by echoed beats, the
 * fence of a node corosync lost (its lease's length, or, with a fence
 * command, until the command says it is fenced and never shorter than the
 * lease), and the fence dropped when the node comes back. The fence command
 * is a real program (a shell script in the test's directory) run through
 * hook.c on the shared loop.
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
#include "clock.h"
#include "config.h"
#include "hook.h"
#include "lease.h"
#include "vdmap.h"

#include "fake_membership.h"

#define NODES FAKE_NODES
/* Short, so fences end quickly (beats go every LEASE_MS / 8), yet long
 * enough that a loaded machine does not starve the members' loop of it. */
#define LEASE_MS 1000
#define MS 1000000ull
/* What a fence adds to the lease (lease.c: drift of the interval, margin). */
#define FENCE_EXTRA_MS (LEASE_MARGIN_MS + 1)

struct node {
	uint32_t id;
	struct cdb *cdb;
	struct lease *lease;
	unsigned changed; /* lease_changed_fn calls */
};

static struct node nodes[NODES + 1];
static const uint32_t all[] = { 1, 2, 3 };
static const uint32_t two[] = { 1, 2 };
static char fence_cmd[PATH_MAX]; /* "" for none */
static time_t t_joined; /* when the members met, seconds since the epoch */

static void changed(void *ctx)
{
	((struct node *)ctx)->changed++;
}

static void pump_for(unsigned int ms)
{
	uint64_t end = now_ns() + ms * MS;

	while (now_ns() < end)
		fake_step();
}

/* Steps until node id's changed count reaches n, for at most ms. */
static bool pump_until_changed(uint32_t id, unsigned n, unsigned int ms)
{
	uint64_t end = now_ns() + ms * MS;

	while (nodes[id].changed < n && now_ns() < end)
		fake_step();
	return nodes[id].changed >= n;
}

static void node_start(uint32_t id)
{
	struct node *n = &nodes[id];
	char dir[PATH_MAX], err[256];

	n->id = id;
	fake_state_dir(id, dir, sizeof(dir));
	fake.next_nodeid = id;
	if (cdb_start(&n->cdb, fake.loop, dir, err, sizeof(err)))
		fail_msg("cdb_start: %s", err);
	assert_int_equal(lease_create(&n->lease, fake.loop, LEASE_MS, fence_cmd, changed, n), 0);
	assert_int_equal(lease_attach(n->lease, n->cdb), 0);
}

static int start(const char *script)
{
	uint32_t id;
	FILE *f;

	memset(nodes, 0, sizeof(nodes));
	fake_bus_init("test_lease");
	fence_cmd[0] = '\0';
	if (script) {
		/* The fence command: logs "NODE SINCE NODEID", then says what
		 * SCRIPT says. */
		snprintf(fence_cmd, sizeof(fence_cmd), "%s/fence", fake.dir);
		f = fopen(fence_cmd, "w");
		assert_non_null(f);
		fprintf(f, "#!/bin/sh\necho \"$*\" >>%s/fence.log\n%s\n", fake.dir, script);
		fclose(f);
		assert_int_equal(chmod(fence_cmd, 0755), 0);
	}
	for (id = 1; id <= NODES; id++)
		node_start(id);
	t_joined = time(NULL);
	fake_confchg(all, NODES, true);
	pump_for(LEASE_MS / 2);
	return 0;
}

static int setup(void **state)
{
	return start(NULL);
}

/* Exits 0 once the test created fenced.NODE beside it. */
static int setup_cmd(void **state)
{
	return start("test -e \"$(dirname \"$0\")/fenced.$1\"");
}

/* A command that says yes at once (a wrong one). */
static int setup_yes(void **state)
{
	return start("exit 0");
}

static int teardown(void **state)
{
	uint32_t id;

	for (id = 1; id <= NODES; id++)
		cdb_stop(nodes[id].cdb);
	for (id = 1; id <= NODES; id++)
		lease_destroy(nodes[id].lease);
	hook_forget_all(fake.loop);
	fake_bus_fini();
	return 0;
}

/* Node id's fence of node `of` running now, or NULL. */
static const struct vdmap_fence *fence_of(uint32_t id, uint32_t of)
{
	static struct vdmap_fence f[VDMAP_MAX_FENCES];
	size_t i, n = lease_fences(nodes[id].lease, now_ns(), f);

	for (i = 0; i < n; i++)
		if (f[i].nodeid == of)
			return &f[i];
	return NULL;
}

static unsigned fence_runs(const char *node)
{
	char path[PATH_MAX], line[128];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/fence.log", fake.dir);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += !strncmp(line, node, strlen(node)) && line[strlen(node)] == ' ';
	fclose(f);
	return n;
}

/* Node 3 lost by corosync: nodes 1 and 2 form a quorate view without it,
 * node 3 one of its own, not quorate. Returns when (now_ns). */
static uint64_t lose_3(void)
{
	static const uint32_t three[] = { 3 };
	uint64_t t = now_ns();

	fake_confchg(two, 2, true);
	fake_confchg(three, 1, false);
	return t;
}

/* Every member's beat comes back echoed: every lease runs. */
static void test_renewal(void **state)
{
	uint64_t now = now_ns();
	uint32_t id;

	for (id = 1; id <= NODES; id++) {
		assert_true(lease_until(nodes[id].lease) > now);
		assert_true(lease_until(nodes[id].lease) <= now + LEASE_MS * MS);
		assert_null(fence_of(id, 3));
	}
}

/* Without a fence command: node 3's disks wait its lease (and no longer),
 * and node 3, cut off without quorum, lets its own lease run out. */
static void test_fence_lease(void **state)
{
	uint64_t t = lose_3(), now;
	const struct vdmap_fence *f;

	for (uint32_t id = 1; id <= 2; id++) {
		f = fence_of(id, 3);
		assert_non_null(f);
		assert_true(f->until >= t + LEASE_MS * MS);
		assert_true(f->until <= now_ns() + (LEASE_MS + FENCE_EXTRA_MS) * MS);
	}
	assert_null(fence_of(3, 1));
	pump_for(LEASE_MS + FENCE_EXTRA_MS + 50);
	now = now_ns();
	assert_null(fence_of(1, 3));
	assert_null(fence_of(2, 3));
	assert_true(lease_until(nodes[3].lease) < now);
	assert_true(lease_until(nodes[1].lease) > now);
	assert_int_equal(nodes[1].changed, 0);
}

/* With a fence command that fails: the fence outlasts the lease, however
 * long; the command runs again every second, as "n3 SINCE 3" (SINCE: when
 * n3 joined); once it succeeds the fence ends and the snapshot is published
 * again. */
static void test_fence_command(void **state)
{
	uint64_t t = lose_3();
	char path[PATH_MAX], line[128], node[16];
	long long since;
	unsigned id3;
	FILE *f;

	pump_for(LEASE_MS + FENCE_EXTRA_MS + 1500);
	assert_non_null(fence_of(1, 3));
	assert_non_null(fence_of(2, 3));
	assert_int_equal(fence_of(1, 3)->until, UINT64_MAX);
	/* Two or three runs each on nodes 1 and 2 (at 0, 1 and 2 s), none on
	 * node 3. */
	assert_in_range(fence_runs("n3"), 4, 6);
	assert_int_equal(fence_runs("n1") + fence_runs("n2"), 0);
	snprintf(path, sizeof(path), "%s/fence.log", fake.dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(sscanf(line, "%15s %lld %u", node, &since, &id3), 3);
	assert_string_equal(node, "n3");
	assert_int_equal(id3, 3);
	assert_in_range(since, (long long)t_joined, (long long)t_joined + 1);

	snprintf(path, sizeof(path), "%s/fenced.n3", fake.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	/* The next runs, a second after the last ones, succeed. */
	assert_true(pump_until_changed(1, 1, 2500));
	assert_true(pump_until_changed(2, 1, 1500));
	assert_null(fence_of(1, 3));
	assert_null(fence_of(2, 3));
	assert_true(now_ns() > t + LEASE_MS * MS);
}

/* A command that says yes at once cannot end the fence before the lease. */
static void test_fence_command_early(void **state)
{
	uint64_t t = lose_3();

	assert_true(pump_until_changed(1, 1, LEASE_MS / 2));
	assert_non_null(fence_of(1, 3));
	assert_true(fence_of(1, 3)->until >= t + LEASE_MS * MS);
	assert_true(fence_of(1, 3)->until < UINT64_MAX);
	pump_for(LEASE_MS + FENCE_EXTRA_MS);
	assert_null(fence_of(1, 3));
}

/* Node 3 back before it was fenced: a member again, no fence, its command
 * stopped (it runs no more). */
static void test_fence_rejoin(void **state)
{
	unsigned runs;

	lose_3();
	pump_for(1200);
	assert_non_null(fence_of(1, 3));
	assert_int_equal(fence_of(1, 3)->until, UINT64_MAX);
	fake_confchg(all, NODES, true);
	assert_null(fence_of(1, 3));
	assert_null(fence_of(2, 3));
	runs = fence_runs("n3");
	pump_for(1500);
	assert_int_equal(fence_runs("n3"), runs);
	assert_null(fence_of(1, 3));
	assert_true(lease_until(nodes[3].lease) > now_ns());
	assert_int_equal(nodes[1].changed, 0);
}

/* Node 1's own corosync goes away (no view of who left): its fences last a
 * lease, as without a fence command, and it runs none. */
static void test_own_corosync_lost(void **state)
{
	struct membership *m = fake.nodes[1];

	m->ops->lost(m->ctx);
	assert_non_null(fence_of(1, 2));
	assert_true(fence_of(1, 2)->until < UINT64_MAX);
	pump_for(LEASE_MS + FENCE_EXTRA_MS + 100);
	assert_null(fence_of(1, 2));
	assert_null(fence_of(1, 3));
	assert_int_equal(fence_runs("n2") + fence_runs("n3"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_renewal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fence_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fence_command, setup_cmd, teardown),
		cmocka_unit_test_setup_teardown(test_fence_command_early, setup_yes, teardown),
		cmocka_unit_test_setup_teardown(test_fence_rejoin, setup_cmd, teardown),
		cmocka_unit_test_setup_teardown(test_own_corosync_lost, setup_cmd, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

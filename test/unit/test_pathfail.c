/*
 * The router's table of failed paths (pathfail.h): holds until a deadline,
 * renewal, reuse of expired entries, a full table, and forgetting the paths
 * of a node that is back in the membership.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pathfail.h"

#define S 1000000000ull

static void test_hold_and_expire(void **state)
{
	struct pathfails pf = { 0 };
	const struct path_fail *f;

	(void)state;
	pathfails_add(&pf, 7, 0, 10 * S, 20 * S);
	f = pathfails_find(&pf, 7, 0, 15 * S);
	assert_non_null(f);
	assert_int_equal(f->since, 10 * S);
	assert_null(pathfails_find(&pf, 7, 1, 15 * S)); /* the other path */
	assert_null(pathfails_find(&pf, 8, 0, 15 * S)); /* another disk */
	assert_null(pathfails_find(&pf, 7, 0, 20 * S)); /* over at until */
	/* Failing again renews the same entry. */
	pathfails_add(&pf, 7, 0, 18 * S, 28 * S);
	assert_int_equal(pf.n, 1);
	assert_int_equal(pathfails_find(&pf, 7, 0, 25 * S)->since, 18 * S);
	/* An expired entry is reused, not appended. */
	pathfails_add(&pf, 9, 1, 30 * S, 40 * S);
	assert_int_equal(pf.n, 1);
	assert_non_null(pathfails_find(&pf, 9, 1, 31 * S));
}

static void test_full(void **state)
{
	struct pathfails pf = { 0 };
	uint32_t i;

	(void)state;
	for (i = 0; i < PATHFAIL_MAX; i++)
		pathfails_add(&pf, i + 1, 0, S, 100 * S);
	pathfails_add(&pf, 9999, 0, 2 * S, 100 * S);
	assert_int_equal(pf.n, PATHFAIL_MAX);
	assert_null(pathfails_find(&pf, 9999, 0, 3 * S));
	assert_non_null(pathfails_find(&pf, 1, 0, 3 * S));
}

static struct vdmap *map_new(const uint32_t *members, size_t n)
{
	struct vdmap *m = calloc(1, sizeof(*m) + sizeof(m->disks[0]));

	assert_non_null(m);
	m->nmembers = n;
	memcpy(m->members, members, n * sizeof(*members));
	m->ndisks = 1;
	strcpy(m->disks[0].name, "vd1");
	m->disks[0].id = 7;
	m->disks[0].paths[0].nodeid = 2;
	m->disks[0].paths[1].nodeid = 3;
	return m;
}

static void test_forget_returned(void **state)
{
	static const uint32_t without2[] = { 1, 3 }, all[] = { 1, 2, 3 };
	struct vdmap *old = map_new(without2, 2), *now = map_new(all, 3);
	struct pathfails pf = { 0 };

	(void)state;
	pathfails_add(&pf, 7, 0, S, 100 * S); /* n2's path */
	pathfails_add(&pf, 7, 1, S, 100 * S); /* n3's path */
	pathfails_forget_returned(&pf, now, NULL); /* the first map: nothing */
	assert_non_null(pathfails_find(&pf, 7, 0, 2 * S));
	pathfails_forget_returned(&pf, now, old); /* n2 is back */
	assert_null(pathfails_find(&pf, 7, 0, 2 * S));
	assert_non_null(pathfails_find(&pf, 7, 1, 2 * S)); /* n3 never left */
	free(old);
	free(now);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold_and_expire),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_forget_returned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

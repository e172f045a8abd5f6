/*
 * The data loop's deferred jobs: a job deleted by an earlier job of the same
 * batch never runs (the NBD server closes a connection from one job while
 * another job naming it is queued behind).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dloop.h"

struct run {
	struct dloop *loop;
	int order[8];
	int n;
	int del_rc;
};

static void job_note(struct run *r, int id)
{
	if (r->n < 8)
		r->order[r->n++] = id;
}

static void job_b(void *data)
{
	job_note(data, 2);
}

static void job_stop(void *data)
{
	struct run *r = data;

	job_note(r, 3);
	dloop_stop(r->loop);
}

static void job_a_del_b(void *data)
{
	struct run *r = data;

	job_note(r, 1);
	r->del_rc = dloop_job_del(r->loop, r, job_b);
}

/* Queues fns (NULL-terminated) on a new loop and runs it once. */
static void run_jobs(struct run *r, const dloop_fn *fns)
{
	r->loop = dloop_create();
	r->del_rc = 1;
	assert_non_null(r->loop);
	for (; *fns; fns++)
		assert_int_equal(dloop_job_add(r->loop, r, *fns), 0);
	dloop_run(r->loop);
}

/* The first job ran, the deleted one did not, the stop did. */
static void assert_ran_a_then_stop(const struct run *r)
{
	assert_int_equal(r->n, 2);
	assert_int_equal(r->order[0], 1);
	assert_int_equal(r->order[1], 3);
}

static void test_del_in_batch(void **state)
{
	static const dloop_fn fns[] = {job_a_del_b, job_b, job_stop, NULL};
	struct run r = {0};

	(void)state;
	run_jobs(&r, fns);
	assert_int_equal(r.del_rc, 0);
	assert_ran_a_then_stop(&r);
	/* Nothing of the batch is left behind. */
	assert_int_equal(dloop_job_del(r.loop, &r, job_b), -ENOENT);
	dloop_destroy(r.loop);
}

/* A job queued by a job of the running batch waits for the next turn; it
 * can be deleted before then. */
static void job_a_add_del_b(void *data)
{
	struct run *r = data;

	job_note(r, 1);
	assert_int_equal(dloop_job_add(r->loop, r, job_b), 0);
	r->del_rc = dloop_job_del(r->loop, r, job_b);
	assert_int_equal(dloop_job_add(r->loop, r, job_stop), 0);
}

static void test_del_queued_next_turn(void **state)
{
	static const dloop_fn fns[] = {job_a_add_del_b, NULL};
	struct run r = {0};

	(void)state;
	run_jobs(&r, fns);
	assert_int_equal(r.del_rc, 0);
	assert_ran_a_then_stop(&r);
	dloop_destroy(r.loop);
}

/* A stop half way through a batch keeps the rest, in order, for the next
 * run. */
static void test_stop_keeps_rest(void **state)
{
	static const dloop_fn fns[] = {job_stop, job_b, job_stop, NULL};
	struct run r = {0};

	(void)state;
	run_jobs(&r, fns);
	assert_int_equal(r.n, 1);
	dloop_run(r.loop);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.order[1], 2);
	assert_int_equal(r.order[2], 3);
	assert_int_equal(dloop_job_del(r.loop, &r, job_b), -ENOENT);
	dloop_destroy(r.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_del_in_batch),
		cmocka_unit_test(test_del_queued_next_turn),
		cmocka_unit_test(test_stop_keeps_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

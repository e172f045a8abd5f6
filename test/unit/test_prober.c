/*
 * Device prober: results come back on the loop, cancelled jobs stay
 * silent, and stopping answers what is still due with -ECANCELED.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include <vdisk/ctl.h>

#include "linkaddr.h"
#include "prober.h"

struct outcome {
	qb_loop_t *loop;
	int calls;
	int error;
	uint64_t size;
	char path[PATH_MAX];
	size_t ndevices;
	int stop_after; /* stop the loop after this many calls to any outcome */
	int *total;
};

static void outcome_record(void *ctx, struct prober_result *res)
{
	struct outcome *o = ctx;

	o->calls++;
	o->error = res->error;
	o->size = res->size;
	snprintf(o->path, sizeof(o->path), "%s", res->path);
	o->ndevices = res->ndevices;
	if (o->total && ++*o->total == o->stop_after)
		qb_loop_stop(o->loop);
}

struct again {
	struct prober *p;
	int calls;
	int rc;
};

static void ask_again(void *ctx, struct prober_result *res)
{
	struct again *a = ctx;
	uint64_t t;

	a->calls++;
	a->rc = prober_probe(a->p, "/", ask_again, a, &t);
}

static char file[] = "/tmp/vdisk-test-prober-XXXXXX";

static int setup(void **state)
{
	int fd = mkstemp(file);

	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(file);
	return 0;
}

static void test_probe_and_scan(void **state)
{
	qb_loop_t *loop = qb_loop_create();
	struct prober *p;
	struct outcome ok = { 0 }, missing = { 0 }, scan = { 0 };
	int total = 0;
	uint64_t t1, t2, t3;

	assert_non_null(loop);
	assert_int_equal(prober_start(&p, loop), 0);
	ok = missing = scan = (struct outcome){ .loop = loop, .stop_after = 3, .total = &total };
	assert_int_equal(prober_probe(p, file, outcome_record, &ok, &t1), 0);
	assert_int_equal(prober_probe(p, "/nonexistent/vdisk", outcome_record, &missing, &t2), 0);
	assert_int_equal(prober_scan(p, outcome_record, &scan, &t3), 0);
	assert_true(t1 != t2 && t2 != t3);
	/* Nothing runs before the loop does. */
	assert_int_equal(ok.calls + missing.calls + scan.calls, 0);
	qb_loop_run(loop);

	assert_int_equal(ok.calls, 1);
	assert_int_equal(ok.error, 0);
	assert_int_equal(ok.size, 1 << 20);
	assert_string_equal(ok.path, file);
	assert_int_equal(missing.calls, 1);
	assert_int_equal(missing.error, -ENOENT);
	assert_int_equal(scan.calls, 1);
	assert_int_equal(scan.error, 0);
	prober_stop(p);
	qb_loop_destroy(loop);
}

static void test_cancel_and_stop(void **state)
{
	qb_loop_t *loop = qb_loop_create();
	struct prober *p;
	struct outcome gone = { 0 }, last = { 0 }, pending[8];
	struct again again;
	int total = 0, i;
	uint64_t t, tgone;
	char longspec[VDISK_DEVICE_MAX + 2];

	assert_non_null(loop);
	assert_int_equal(prober_start(&p, loop), 0);
	gone = (struct outcome){ .loop = loop };
	last = (struct outcome){ .loop = loop, .stop_after = 1, .total = &total };
	assert_int_equal(prober_probe(p, file, outcome_record, &gone, &tgone), 0);
	prober_cancel(p, tgone);
	assert_int_equal(prober_probe(p, file, outcome_record, &last, &t), 0);
	qb_loop_run(loop);
	assert_int_equal(gone.calls, 0);
	assert_int_equal(last.calls, 1);

	/* Due at stop: each answered once, with -ECANCELED or its result. */
	for (i = 0; i < 8; i++) {
		pending[i] = (struct outcome){ .loop = loop };
		assert_int_equal(prober_probe(p, file, outcome_record, &pending[i], &t), 0);
	}
	prober_stop(p);
	for (i = 0; i < 8; i++) {
		assert_int_equal(pending[i].calls, 1);
		assert_true(pending[i].error == -ECANCELED || pending[i].error == 0);
	}
	assert_int_equal(gone.calls, 0);

	/* A hung device holds the worker: what waits behind it is bounded. */
	assert_int_equal(prober_start(&p, loop), 0);
	for (i = 0; i < 64; i++)
		assert_int_equal(prober_probe(p, file, outcome_record, &gone, &t), 0);
	assert_int_equal(prober_probe(p, file, outcome_record, &gone, &t), -EBUSY);
	for (i = 1; i <= 64; i++)
		prober_cancel(p, t - 64 + (uint64_t)i);
	prober_stop(p);
	assert_int_equal(gone.calls, 0);

	/* A callback run by prober_stop() cannot queue anything more. */
	assert_int_equal(prober_start(&p, loop), 0);
	again = (struct again){ .p = p };
	assert_int_equal(prober_probe(p, file, ask_again, &again, &t), 0);
	prober_stop(p);
	assert_int_equal(again.calls, 1);
	assert_int_equal(again.rc, -ESHUTDOWN);

	assert_int_equal(prober_start(&p, loop), 0);
	memset(longspec, 'a', sizeof(longspec));
	longspec[0] = '/';
	longspec[sizeof(longspec) - 1] = '\0';
	assert_int_equal(prober_probe(p, longspec, outcome_record, &gone, &t), -ENAMETOOLONG);
	prober_stop(p);
	assert_int_equal(gone.calls, 0);
	qb_loop_destroy(loop);
}

static void names_changed(void *ctx)
{
	qb_loop_stop(ctx);
}

/* Numeric addresses at once; a host name once the prober looked it up. */
static void test_linkaddr(void **state)
{
	qb_loop_t *loop = qb_loop_create();
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct linkaddr *la;
	struct prober *p;

	assert_non_null(loop);
	assert_int_equal(prober_start(&p, loop), 0);
	assert_int_equal(linkaddr_create(&la, loop, p, names_changed, loop), 0);
	linkaddr_get(la, "10.1.2.3", 5420, &ss);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 5420);
	assert_int_equal(ntohl(in->sin_addr.s_addr), 0x0a010203);
	linkaddr_get(la, "fd00::1", 5421, &ss);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 5421);
	linkaddr_get(la, "", 5420, &ss);
	assert_int_equal(ss.ss_family, AF_UNSPEC);

	linkaddr_get(la, "localhost", 5420, &ss);
	assert_int_equal(ss.ss_family, AF_UNSPEC);
	qb_loop_run(loop);
	linkaddr_get(la, "localhost", 5422, &ss);
	assert_true(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	if (ss.ss_family == AF_INET)
		assert_int_equal(ntohs(in->sin_port), 5422);
	else
		assert_int_equal(ntohs(in6->sin6_port), 5422);

	prober_stop(p);
	linkaddr_destroy(la);
	qb_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_and_scan),
		cmocka_unit_test(test_cancel_and_stop),
		cmocka_unit_test(test_linkaddr),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The activity log (actlog.h): which writes need a transaction first, LRU
 * eviction of extents with nothing in flight, the transaction block and its
 * checksum, and finding the newest transaction of a ring after a crash.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "actlog.h"

static void test_begin_end(void **state)
{
	struct actlog al;
	struct actlog_change c;

	(void)state;
	assert_int_equal(actlog_init(&al, 0), -EINVAL);
	assert_int_equal(actlog_init(&al, ACTLOG_MAX_SLOTS + 1), -EINVAL);
	assert_int_equal(actlog_init(&al, 2), 0);
	/* New extents need a transaction; a free slot evicts nothing. */
	assert_int_equal(actlog_begin(&al, 10, &c), 0);
	assert_true(c.changed);
	assert_int_equal(c.added, 10);
	assert_true(c.evicted == ACTLOG_NONE);
	assert_int_equal(c.tr_number, 1);
	/* An active extent costs nothing. */
	assert_int_equal(actlog_begin(&al, 10, &c), 0);
	assert_false(c.changed);
	assert_int_equal(actlog_begin(&al, 11, &c), 0);
	assert_true(c.changed);
	assert_int_equal(c.tr_number, 2);
	/* Both slots have writes in flight: the third extent waits. */
	assert_int_equal(actlog_begin(&al, 12, &c), -EBUSY);
	assert_false(c.changed);
	actlog_end(&al, 10);
	assert_int_equal(actlog_begin(&al, 12, &c), -EBUSY); /* 10 has one more */
	actlog_end(&al, 10);
	assert_int_equal(actlog_begin(&al, 12, &c), 0);
	assert_true(c.changed);
	assert_int_equal(c.evicted, 10);
	assert_false(actlog_active(&al, 10));
	assert_true(actlog_active(&al, 11));
	assert_true(actlog_active(&al, 12));
}

static void test_lru(void **state)
{
	struct actlog al;
	struct actlog_change c;
	uint64_t e;

	(void)state;
	assert_int_equal(actlog_init(&al, 3), 0);
	for (e = 1; e <= 3; e++) {
		assert_int_equal(actlog_begin(&al, e, &c), 0);
		actlog_end(&al, e);
	}
	/* 1 used again: 2 is now the least recently used. */
	assert_int_equal(actlog_begin(&al, 1, &c), 0);
	actlog_end(&al, 1);
	assert_int_equal(actlog_begin(&al, 4, &c), 0);
	assert_int_equal(c.evicted, 2);
}

static void test_block(void **state)
{
	static uint8_t block[ACTLOG_BLOCK];
	uint64_t ext[ACTLOG_MAX_SLOTS];
	struct actlog al;
	struct actlog_change c;
	uint32_t tr;
	char err[128];
	int n;

	(void)state;
	assert_int_equal(actlog_init(&al, 4), 0);
	assert_int_equal(actlog_begin(&al, 7, &c), 0);
	assert_int_equal(actlog_begin(&al, 1ull << 40, &c), 0);
	actlog_encode(&al, block);
	n = actlog_decode(block, sizeof(block), &tr, ext, ACTLOG_MAX_SLOTS, err, sizeof(err));
	assert_int_equal(n, 2);
	assert_int_equal(tr, 2);
	assert_true((ext[0] == 7 && ext[1] == 1ull << 40) || (ext[1] == 7 && ext[0] == 1ull << 40));
	/* A torn write. */
	block[100] ^= 1;
	assert_int_equal(actlog_decode(block, sizeof(block), &tr, ext, ACTLOG_MAX_SLOTS, err,
				       sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "checksum"));
	/* Never written. */
	memset(block, 0, sizeof(block));
	assert_int_equal(actlog_decode(block, sizeof(block), &tr, ext, ACTLOG_MAX_SLOTS, err,
				       sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "magic"));
	assert_int_equal(actlog_decode(block, 512, &tr, ext, ACTLOG_MAX_SLOTS, err, sizeof(err)),
			 -EINVAL);
}

/* A ring of 4 blocks written in turn, the newest torn: recovery takes the
 * one before, which names every extent a write could have been issued in
 * (the torn one's write waited for it and was never issued). */
static void test_newest(void **state)
{
	static uint8_t ring[4 * ACTLOG_BLOCK];
	uint64_t ext[ACTLOG_MAX_SLOTS];
	struct actlog al;
	struct actlog_change c;
	uint32_t tr;
	char err[128];
	uint64_t e;

	(void)state;
	assert_int_equal(actlog_newest(ring, 4), -ENOENT);
	assert_int_equal(actlog_init(&al, 8), 0);
	for (e = 0; e < 6; e++) {
		assert_int_equal(actlog_begin(&al, e, &c), 0);
		actlog_encode(&al, ring + (c.tr_number % 4) * ACTLOG_BLOCK);
		actlog_end(&al, e);
	}
	/* Transactions 3, 4, 5, 6 in blocks 3, 0, 1, 2: the newest is 6. */
	assert_int_equal(actlog_newest(ring, 4), 2);
	ring[2 * ACTLOG_BLOCK + 200] ^= 0xff;
	assert_int_equal(actlog_newest(ring, 4), 1);
	assert_int_equal(actlog_decode(ring + ACTLOG_BLOCK, ACTLOG_BLOCK, &tr, ext,
				       ACTLOG_MAX_SLOTS, err, sizeof(err)),
			 5);
	assert_int_equal(tr, 5);
	/* Numbers wrap: 0x00000001 is newer than 0xffffffff. */
	al.tr_number = UINT32_MAX - 1;
	assert_int_equal(actlog_begin(&al, 100, &c), 0);
	actlog_encode(&al, ring);
	assert_int_equal(actlog_begin(&al, 101, &c), 0);
	assert_int_equal(actlog_begin(&al, 102, &c), 0);
	actlog_encode(&al, ring + ACTLOG_BLOCK);
	assert_int_equal(actlog_newest(ring, 2), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_begin_end),
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_block),
		cmocka_unit_test(test_newest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

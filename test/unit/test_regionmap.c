/*
 * The dirty bitmap of a mirrored disk (regionmap.h): marking and clearing
 * byte ranges, walking the dirty regions, the bytes they stand for with a
 * short last region, and the persisted blocks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "regionmap.h"

#define KIB 1024ull
#define MIB (1024 * KIB)

static void test_init(void **state)
{
	struct regionmap m;

	(void)state;
	assert_int_equal(regionmap_init(&m, 10 * MIB, 3), -EINVAL);
	assert_int_equal(regionmap_init(&m, 10 * MIB, 48), -EINVAL);
	assert_int_equal(regionmap_init(&m, 10 * MIB, 2048), -EINVAL);
	assert_int_equal(regionmap_init(&m, 1000, 64), -EINVAL);
	assert_int_equal(regionmap_init(&m, 10 * 1024 * MIB, 64), 0);
	assert_int_equal(m.nbits, 163840); /* docs/mirror.md: 10 GiB, 64 KiB */
	assert_int_equal(regionmap_blocks(&m), 5);
	regionmap_free(&m);
}

static void test_mark_next(void **state)
{
	struct regionmap m;

	(void)state;
	assert_int_equal(regionmap_init(&m, 100 * MIB + 512, 64), 0);
	/* A 4 KiB write inside region 2; one across regions 9 and 10. */
	regionmap_mark(&m, 2 * 64 * KIB + 4096, 4096, true);
	regionmap_mark(&m, 10 * 64 * KIB - 512, 1024, true);
	assert_int_equal(m.set, 3);
	assert_true(regionmap_test(&m, 2));
	assert_false(regionmap_test(&m, 3));
	assert_int_equal(regionmap_next(&m, 0), 2);
	assert_int_equal(regionmap_next(&m, 3), 9);
	assert_int_equal(regionmap_next(&m, 10), 10);
	assert_int_equal(regionmap_next(&m, 11), -1);
	/* Marking again counts nothing twice; clearing a copied region. */
	regionmap_mark(&m, 2 * 64 * KIB, 64 * KIB, true);
	assert_int_equal(m.set, 3);
	regionmap_mark(&m, 9 * 64 * KIB, 64 * KIB, false);
	assert_int_equal(m.set, 2);
	assert_int_equal(regionmap_dirty_bytes(&m), 2 * 64 * KIB);
	/* The last region holds 512 bytes only; past the end nothing. */
	regionmap_mark(&m, 100 * MIB, 512, true);
	regionmap_mark(&m, 200 * MIB, 4096, true);
	assert_int_equal(m.set, 3);
	assert_int_equal(regionmap_dirty_bytes(&m), 2 * 64 * KIB + 512);
	assert_int_equal(regionmap_next(&m, 11), (int64_t)m.nbits - 1);
	regionmap_free(&m);
}

/* What a replica missed is what it was not sent plus what it had not
 * flushed: or-ed, counted once; a clear starts over. */
static void test_or_clear(void **state)
{
	struct regionmap a, b, c;

	(void)state;
	assert_int_equal(regionmap_init(&a, 10 * MIB, 64), 0);
	assert_int_equal(regionmap_init(&b, 10 * MIB, 64), 0);
	assert_int_equal(regionmap_init(&c, 20 * MIB, 64), 0);
	regionmap_mark(&a, 0, 128 * KIB, true);
	regionmap_mark(&b, 64 * KIB, 128 * KIB, true);
	assert_int_equal(regionmap_or(&a, &b), 0);
	assert_int_equal(a.set, 3);
	assert_int_equal(regionmap_next(&a, 0), 0);
	assert_int_equal(regionmap_next(&a, 3), -1);
	assert_int_equal(regionmap_or(&a, &c), -EINVAL);
	regionmap_clear(&a);
	assert_int_equal(a.set, 0);
	assert_int_equal(regionmap_next(&a, 0), -1);
	regionmap_free(&a);
	regionmap_free(&b);
	regionmap_free(&c);
}

static void test_blocks(void **state)
{
	static uint8_t block[REGIONMAP_BLOCK];
	struct regionmap a, b;
	size_t first, last;

	(void)state;
	/* 3 blocks' worth of 4 KiB regions, the last block partly used. */
	assert_int_equal(regionmap_init(&a, (2 * REGIONMAP_BITS_PER_BLOCK + 100) * 4 * KIB, 4), 0);
	assert_int_equal(regionmap_init(&b, a.size, 4), 0);
	assert_int_equal(regionmap_blocks(&a), 3);
	regionmap_mark(&a, 0, 4096, true);
	regionmap_mark(&a, (REGIONMAP_BITS_PER_BLOCK + 5) * 4 * KIB, 8192, true);
	regionmap_mark(&a, a.size - 4096, 4096, true);
	for (size_t i = 0; i < 3; i++) {
		regionmap_block_get(&a, i, block);
		assert_int_equal(regionmap_block_put(&b, i, block), 0);
	}
	assert_int_equal(b.set, 4);
	assert_int_equal(memcmp(a.w, b.w, regionmap_blocks(&a) * REGIONMAP_BLOCK), 0);
	/* A block with bits past the end of the disk is refused whole. */
	regionmap_block_get(&a, 2, block);
	block[REGIONMAP_BLOCK - 1] = 0x80;
	assert_int_equal(regionmap_block_put(&b, 2, block), -EINVAL);
	assert_int_equal(b.set, 4);
	assert_int_equal(regionmap_block_put(&b, 3, block), -EINVAL);
	/* Which blocks a write's regions are in. */
	regionmap_block_range(&a, REGIONMAP_BITS_PER_BLOCK * 4 * KIB - 4096, 8192, &first, &last);
	assert_int_equal(first, 0);
	assert_int_equal(last, 1);
	regionmap_free(&a);
	regionmap_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_mark_next),
		cmocka_unit_test(test_or_clear),
		cmocka_unit_test(test_blocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

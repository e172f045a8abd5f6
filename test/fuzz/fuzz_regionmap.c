/*
 * libFuzzer target for the dirty bitmap's persisted blocks (regionmap.h),
 * as a replica's metadata file gives them: a block is taken whole or
 * refused whole, a taken one reads back the same, and the count of dirty
 * regions always matches the bits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "regionmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t block[REGIONMAP_BLOCK], back[REGIONMAP_BLOCK];
	struct regionmap m;
	uint64_t disk, count = 0;
	size_t i;
	int rc;

	if (size < 2)
		return 0;
	/* The first two bytes pick the disk's size, so the end falls anywhere
	 * in the first or second block. */
	disk = ((uint64_t)(data[0] | data[1] << 8) + 1) * 4096;
	memset(block, 0, sizeof(block));
	memcpy(block, data + 2, size - 2 < sizeof(block) ? size - 2 : sizeof(block));
	if (regionmap_init(&m, disk, 4))
		return 0;
	rc = regionmap_block_put(&m, 0, block);
	regionmap_block_get(&m, 0, back);
	if (rc == 0 && memcmp(block, back, sizeof(block)))
		abort();
	if (rc != 0 && m.set)
		abort();
	for (i = 0; i < m.nbits; i++)
		count += regionmap_test(&m, i);
	if (count != m.set || (regionmap_next(&m, 0) >= 0) != (count > 0))
		abort();
	regionmap_free(&m);
	return 0;
}

/*
 * libFuzzer target for the activity log's transaction blocks (actlog.h), as
 * a replica's metadata file gives them after any crash: decoding never
 * crashes, what it accepts fits the slots it names, and finding the newest
 * of a ring agrees with decoding each block.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "actlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t ring[4 * ACTLOG_BLOCK];
	uint64_t ext[ACTLOG_MAX_SLOTS];
	size_t n = size / ACTLOG_BLOCK, i;
	char err[128];
	uint32_t tr;
	int rc, newest;

	if (n > 4)
		n = 4;
	memset(ring, 0, sizeof(ring));
	memcpy(ring, data, size < sizeof(ring) ? size : sizeof(ring));
	for (i = 0; i < 4; i++) {
		err[0] = '\0';
		rc = actlog_decode(ring + i * ACTLOG_BLOCK, ACTLOG_BLOCK, &tr, ext,
				   ACTLOG_MAX_SLOTS, err, sizeof(err));
		if ((rc < 0 && !err[0]) || rc > ACTLOG_MAX_SLOTS)
			abort();
	}
	newest = actlog_newest(ring, n ? n : 1);
	if (newest >= 0 && actlog_decode(ring + (size_t)newest * ACTLOG_BLOCK, ACTLOG_BLOCK, &tr,
					 ext, ACTLOG_MAX_SLOTS, err, sizeof(err)) < 0)
		abort();
	return 0;
}

/*
 * libFuzzer target for the decoder of state_dir/stopped (stopped.h). Beyond
 * not crashing: what it accepts is ids of 1 or more with valid disk names,
 * and encoding them again as the daemon writes them gives the input back.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vdisk/syntax.h>

#include "stopped.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct stopped_entry e[8];
	char err[256], why[128], *again;
	size_t n, i, len = 0;

	err[0] = '\0';
	if (stopped_decode((const char *)data, size, e, 8, &n, err, sizeof(err))) {
		if (!err[0])
			abort();
		return 0;
	}
	again = malloc(size + 1);
	if (!again)
		return 0;
	for (i = 0; i < n; i++) {
		if (!e[i].id || vdisk_name_check(e[i].name, why, sizeof(why)))
			abort();
		len += (size_t)snprintf(again + len, size + 1 - len, "%" PRIu32 " %s\n", e[i].id,
					e[i].name);
		/* Never longer than what it was decoded from. */
		if (len > size)
			abort();
	}
	/* Leading zeros decode too; anything else must round-trip. */
	if (len > size || (len == size && memcmp(again, data, size)))
		abort();
	free(again);
	return 0;
}

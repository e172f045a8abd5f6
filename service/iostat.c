/*
 * I/O statistics.
 */
#include "iostat.h"

void iostat_add(struct iostat *s, uint64_t bytes, uint64_t lat_ns, bool error, unsigned int retries,
		unsigned int moves)
{
	uint64_t us = lat_ns / 1000;
	unsigned int b = 0;

	while (us && b < IOSTAT_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	s->requests++;
	s->bytes += bytes;
	s->errors += error;
	s->retried += retries > 0;
	s->reroutes += moves;
	s->lat[b]++;
}

uint64_t iostat_percentile_us(const struct iostat *s, unsigned int permille)
{
	uint64_t total = 0, want, seen = 0;
	unsigned int b;

	for (b = 0; b < IOSTAT_BUCKETS; b++)
		total += s->lat[b];
	if (!total)
		return 0;
	want = (total * permille + 999) / 1000;
	for (b = 0; b < IOSTAT_BUCKETS; b++) {
		seen += s->lat[b];
		if (seen >= want)
			return b ? 1ull << b : 1;
	}
	return 1ull << (IOSTAT_BUCKETS - 1);
}

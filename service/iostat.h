/*
 * I/O statistics: counters and a latency histogram (log2 of microseconds),
 * cheap enough to update on every request.
 */
#ifndef VDISK_IOSTAT_H
#define VDISK_IOSTAT_H

#include <stdbool.h>
#include <stdint.h>

/* Bucket i holds latencies in [2^(i-1), 2^i) microseconds; bucket 0 < 1 us. */
#define IOSTAT_BUCKETS 32

struct iostat {
	uint64_t requests;
	uint64_t bytes;
	uint64_t errors;
	uint64_t retried; /* requests that needed more than one try */
	uint64_t reroutes; /* tries beyond the first */
	uint64_t lat[IOSTAT_BUCKETS];
};

void iostat_add(struct iostat *s, uint64_t bytes, uint64_t lat_ns, bool error, unsigned int tries);
/* Upper bound of the bucket holding the permille-th latency; 0 if empty. */
uint64_t iostat_percentile_us(const struct iostat *s, unsigned int permille);

#endif

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

/*
 * A row is a disk, or a node that served requests. A request counts once,
 * when it completes, for its disk and for the node that gave the last
 * answer; errors of a node row also count every attempt that node failed
 * (a negative acknowledgement, no answer in time, a local I/O error), so the
 * node that failed shows it, not the one that served the request in the end.
 */
struct iostat {
	uint64_t requests;
	uint64_t bytes;
	uint64_t errors;
	uint64_t retried; /* requests that needed more than one attempt */
	uint64_t reroutes; /* attempts that went to another path than the one before */
	uint64_t lat[IOSTAT_BUCKETS];
};

/* A completed request: retries attempts beyond the first, moves of them to
 * another path. */
void iostat_add(struct iostat *s, uint64_t bytes, uint64_t lat_ns, bool error, unsigned int retries,
		unsigned int moves);
/* Upper bound of the bucket holding the permille-th latency; 0 if empty. */
uint64_t iostat_percentile_us(const struct iostat *s, unsigned int permille);

#endif

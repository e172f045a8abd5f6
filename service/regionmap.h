/*
 * The dirty bitmap of a mirrored disk (docs/mirror.md): one bit per region
 * (4 KiB to 1 MiB) of the disk, set for "this region may differ on that
 * replica". The writer sets the regions of every write a replica misses;
 * resync walks the set bits and clears each once copied. Persisted in 4 KiB
 * blocks: the blocks that cover an extent leaving the activity log are
 * written before its transaction (actlog.h).
 *
 * Pure, no I/O. Threads: one (the writer's data thread).
 */
#ifndef VDISK_REGIONMAP_H
#define VDISK_REGIONMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REGIONMAP_BLOCK 4096
#define REGIONMAP_BITS_PER_BLOCK (REGIONMAP_BLOCK * 8)

struct regionmap {
	uint64_t size; /* bytes of the disk */
	uint32_t region_shift; /* region = 1 << region_shift bytes */
	uint64_t nbits;
	uint64_t set; /* bits set */
	uint64_t *w;
};

/* region_kib a power of two, 4..1024; size a multiple of 512. 0 or -errno. */
int regionmap_init(struct regionmap *m, uint64_t size, uint32_t region_kib);
void regionmap_free(struct regionmap *m);

/* Sets (dirty true) or clears the regions [offset, offset + len) touches. */
void regionmap_mark(struct regionmap *m, uint64_t offset, uint64_t len, bool dirty);
bool regionmap_test(const struct regionmap *m, uint64_t region);
/* Every bit clear. */
void regionmap_clear(struct regionmap *m);
/* dst |= src, both of one disk and region size (else -EINVAL). */
int regionmap_or(struct regionmap *dst, const struct regionmap *src);
/* The first set region at or after from, or -1 when there is none. */
int64_t regionmap_next(const struct regionmap *m, uint64_t from);
/* Set bits, and the bytes they stand for (the last region may be short). */
uint64_t regionmap_dirty_bytes(const struct regionmap *m);

/* The persisted blocks: block i holds bits [i * BITS_PER_BLOCK, ...). */
size_t regionmap_blocks(const struct regionmap *m);
void regionmap_block_get(const struct regionmap *m, size_t i, uint8_t *block);
/* Loads block i (what regionmap_block_get wrote); bits past the end of the
 * disk must be 0: -EINVAL otherwise, and nothing changes. */
int regionmap_block_put(struct regionmap *m, size_t i, const uint8_t *block);
/* The blocks covering bytes [offset, offset + len): [*first, *last]. */
void regionmap_block_range(const struct regionmap *m, uint64_t offset, uint64_t len,
			   size_t *first, size_t *last);

#endif

/*
 * The activity log of a mirrored disk's writer (docs/mirror.md): the set of
 * hot extents whose regions may differ between replicas after a crash, kept
 * so that the dirty bitmap needs no metadata write per request. A write to
 * an extent already active costs nothing; one to a new extent first makes
 * the caller persist a transaction (the whole active set, one 4 KiB block)
 * and, for the extent it evicts, that extent's bitmap blocks. After a crash
 * the newest valid transaction names every extent a write may have been in
 * flight in.
 *
 * Pure: no I/O, no clock. The caller persists what actlog_begin() asks
 * for before it issues the write, and calls actlog_end() when the write is
 * done on every replica. Threads: one (the writer's data thread).
 */
#ifndef VDISK_ACTLOG_H
#define VDISK_ACTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACTLOG_EXTENT_SHIFT 22 /* 4 MiB */
#define ACTLOG_BLOCK 4096
/* A transaction holds the whole set in one block. */
#define ACTLOG_MAX_SLOTS 500
#define ACTLOG_MAGIC 0x7664616cu /* "vdal" */
#define ACTLOG_NONE UINT64_MAX

struct actlog_slot {
	uint64_t extent; /* ACTLOG_NONE: free */
	uint32_t refs; /* writes in flight in it: not evictable */
	uint64_t used; /* last use, for the LRU */
};

struct actlog {
	uint32_t nslots;
	uint32_t tr_number; /* of the last transaction made */
	uint64_t clock;
	struct actlog_slot slot[ACTLOG_MAX_SLOTS];
};

/* What a write needs persisted before it is issued (changed false: nothing). */
struct actlog_change {
	bool changed;
	uint64_t added; /* the extent that became active */
	uint64_t evicted; /* the one that left, ACTLOG_NONE if a slot was free */
	uint32_t tr_number; /* of the transaction to write (actlog_encode) */
};

/* nslots 1..ACTLOG_MAX_SLOTS, else -EINVAL. */
int actlog_init(struct actlog *al, uint32_t nslots);

/*
 * A write to extent: 0 with chg->changed false when it is active already, 0
 * with chg filled when it just became active (persist the transaction, and
 * the evicted extent's bitmap first, before issuing the write), or -EBUSY
 * when every slot has writes in flight (wait for an actlog_end()). A write
 * spanning two extents calls this for each. Either way, a 0 takes a
 * reference that actlog_end() gives back.
 */
int actlog_begin(struct actlog *al, uint64_t extent, struct actlog_change *chg);
void actlog_end(struct actlog *al, uint64_t extent);
bool actlog_active(const struct actlog *al, uint64_t extent);

/* The transaction block of the current set (ACTLOG_BLOCK bytes): magic,
 * tr_number, crc32c over the block, nslots, then the active extents. */
void actlog_encode(const struct actlog *al, uint8_t *block);

/*
 * Pure: decodes one block into its transaction number and extents (at most
 * max). Returns the number of extents, or -EINVAL with the reason in err
 * (bad magic, checksum, counts).
 */
int actlog_decode(const uint8_t *block, size_t len, uint32_t *tr_number, uint64_t *extents,
		  size_t max, char *err, size_t errlen);

/* The newest valid transaction among blocks (a ring of n blocks, some torn
 * or never written): its index, or -ENOENT when none is valid. Transaction
 * numbers wrap: newer is the one whose difference is positive as int32. */
int actlog_newest(const uint8_t *blocks, size_t n);

#endif

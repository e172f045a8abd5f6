/*
 * The activity log of a mirrored disk's writer (actlog.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "actlog.h"

/* Block layout, little endian: magic u32, tr_number u32, crc32c u32 (over
 * the block with this field 0), nslots u32, count u32, pad u32, then count
 * extents u64. */
#define HDR 24

static uint32_t crc32c(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;
	size_t i;
	int k;

	/* Bitwise: a block per new extent, not per request; no table needed. */
	for (i = 0; i < len; i++) {
		crc ^= p[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

int actlog_init(struct actlog *al, uint32_t nslots)
{
	uint32_t i;

	if (!nslots || nslots > ACTLOG_MAX_SLOTS)
		return -EINVAL;
	memset(al, 0, sizeof(*al));
	al->nslots = nslots;
	for (i = 0; i < nslots; i++)
		al->slot[i].extent = ACTLOG_NONE;
	return 0;
}

static struct actlog_slot *slot_of(struct actlog *al, uint64_t extent)
{
	uint32_t i;

	for (i = 0; i < al->nslots; i++)
		if (al->slot[i].extent == extent)
			return &al->slot[i];
	return NULL;
}

bool actlog_active(const struct actlog *al, uint64_t extent)
{
	return slot_of((struct actlog *)al, extent) != NULL;
}

int actlog_begin(struct actlog *al, uint64_t extent, struct actlog_change *chg)
{
	struct actlog_slot *s = slot_of(al, extent), *victim = NULL;
	uint32_t i;

	memset(chg, 0, sizeof(*chg));
	if (s) {
		s->refs++;
		s->used = ++al->clock;
		return 0;
	}
	/* A free slot, else the least recently used one with nothing in
	 * flight. */
	for (i = 0; i < al->nslots; i++) {
		s = &al->slot[i];
		if (s->extent == ACTLOG_NONE) {
			victim = s;
			break;
		}
		if (!s->refs && (!victim || s->used < victim->used))
			victim = s;
	}
	if (!victim)
		return -EBUSY;
	chg->changed = true;
	chg->added = extent;
	chg->evicted = victim->extent;
	chg->tr_number = ++al->tr_number;
	victim->extent = extent;
	victim->refs = 1;
	victim->used = ++al->clock;
	return 0;
}

void actlog_end(struct actlog *al, uint64_t extent)
{
	struct actlog_slot *s = slot_of(al, extent);

	if (s && s->refs)
		s->refs--;
}

void actlog_encode(const struct actlog *al, uint8_t *block)
{
	uint32_t i, count = 0;

	memset(block, 0, ACTLOG_BLOCK);
	for (i = 0; i < al->nslots; i++)
		if (al->slot[i].extent != ACTLOG_NONE)
			put64(block + HDR + 8 * count++, al->slot[i].extent);
	put32(block, ACTLOG_MAGIC);
	put32(block + 4, al->tr_number);
	put32(block + 12, al->nslots);
	put32(block + 16, count);
	put32(block + 8, crc32c(block, ACTLOG_BLOCK));
}

int actlog_decode(const uint8_t *block, size_t len, uint32_t *tr_number, uint64_t *extents,
		  size_t max, char *err, size_t errlen)
{
	uint8_t copy[ACTLOG_BLOCK];
	uint32_t nslots, count, i;

	if (len != ACTLOG_BLOCK) {
		snprintf(err, errlen, "a transaction is %d bytes, not %zu", ACTLOG_BLOCK, len);
		return -EINVAL;
	}
	if (get32(block) != ACTLOG_MAGIC) {
		snprintf(err, errlen, "no transaction (magic %08x)", get32(block));
		return -EINVAL;
	}
	memcpy(copy, block, ACTLOG_BLOCK);
	put32(copy + 8, 0);
	if (crc32c(copy, ACTLOG_BLOCK) != get32(block + 8)) {
		snprintf(err, errlen, "checksum mismatch (a torn write)");
		return -EINVAL;
	}
	nslots = get32(block + 12);
	count = get32(block + 16);
	if (!nslots || nslots > ACTLOG_MAX_SLOTS || count > nslots || count > max) {
		snprintf(err, errlen, "%u extents in %u slots (at most %d, %zu here)", count, nslots,
			 ACTLOG_MAX_SLOTS, max);
		return -EINVAL;
	}
	*tr_number = get32(block + 4);
	for (i = 0; i < count; i++)
		extents[i] = get64(block + HDR + 8 * i);
	return (int)count;
}

int actlog_newest(const uint8_t *blocks, size_t n)
{
	uint64_t extents[ACTLOG_MAX_SLOTS];
	uint32_t tr, best_tr = 0;
	char err[128];
	int best = -ENOENT;
	size_t i;

	for (i = 0; i < n; i++) {
		if (actlog_decode(blocks + i * ACTLOG_BLOCK, ACTLOG_BLOCK, &tr, extents,
				  ACTLOG_MAX_SLOTS, err, sizeof(err)) < 0)
			continue;
		if (best < 0 || (int32_t)(tr - best_tr) > 0) {
			best = (int)i;
			best_tr = tr;
		}
	}
	return best;
}

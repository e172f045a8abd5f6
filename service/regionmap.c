/*
 * The dirty bitmap of a mirrored disk (regionmap.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "regionmap.h"

int regionmap_init(struct regionmap *m, uint64_t size, uint32_t region_kib)
{
	uint32_t shift = 0;

	memset(m, 0, sizeof(*m));
	if (region_kib < 4 || region_kib > 1024 || (region_kib & (region_kib - 1)) || !size ||
	    size % 512)
		return -EINVAL;
	while ((1u << shift) < region_kib * 1024u)
		shift++;
	m->size = size;
	m->region_shift = shift;
	m->nbits = (size + (1ull << shift) - 1) >> shift;
	/* Whole blocks, so a block's bytes are always there to copy. */
	m->w = calloc(regionmap_blocks(m), REGIONMAP_BLOCK);
	return m->w ? 0 : -ENOMEM;
}

void regionmap_free(struct regionmap *m)
{
	free(m->w);
	m->w = NULL;
}

static bool bit_get(const struct regionmap *m, uint64_t b)
{
	return (m->w[b / 64] >> (b % 64)) & 1;
}

void regionmap_mark(struct regionmap *m, uint64_t offset, uint64_t len, bool dirty)
{
	uint64_t b, first, last;

	if (!len || offset >= m->size)
		return;
	if (len > m->size - offset)
		len = m->size - offset;
	first = offset >> m->region_shift;
	last = (offset + len - 1) >> m->region_shift;
	for (b = first; b <= last; b++) {
		if (bit_get(m, b) == dirty)
			continue;
		m->w[b / 64] ^= 1ull << (b % 64);
		if (dirty)
			m->set++;
		else
			m->set--;
	}
}

void regionmap_clear(struct regionmap *m)
{
	memset(m->w, 0, (m->nbits + 63) / 64 * sizeof(*m->w));
	m->set = 0;
}

int regionmap_or(struct regionmap *dst, const struct regionmap *src)
{
	uint64_t i, n = (dst->nbits + 63) / 64;

	if (dst->nbits != src->nbits || dst->region_shift != src->region_shift)
		return -EINVAL;
	dst->set = 0;
	for (i = 0; i < n; i++) {
		dst->w[i] |= src->w[i];
		dst->set += (uint64_t)__builtin_popcountll(dst->w[i]);
	}
	return 0;
}

bool regionmap_test(const struct regionmap *m, uint64_t region)
{
	return region < m->nbits && bit_get(m, region);
}

int64_t regionmap_next(const struct regionmap *m, uint64_t from)
{
	uint64_t word, b;

	/* Bits past nbits are never set (regionmap_mark, _block_put). */
	for (b = from; b < m->nbits; b = (b / 64 + 1) * 64) {
		word = m->w[b / 64] >> (b % 64);
		if (word)
			return (int64_t)(b + (uint64_t)__builtin_ctzll(word));
	}
	return -1;
}

uint64_t regionmap_dirty_bytes(const struct regionmap *m)
{
	uint64_t bytes = m->set << m->region_shift, tail = m->size & ((1ull << m->region_shift) - 1);

	/* The last region is short when the size is not a multiple of it. */
	if (tail && bit_get(m, m->nbits - 1))
		bytes -= (1ull << m->region_shift) - tail;
	return bytes;
}

size_t regionmap_blocks(const struct regionmap *m)
{
	return (size_t)((m->nbits + REGIONMAP_BITS_PER_BLOCK - 1) / REGIONMAP_BITS_PER_BLOCK);
}

void regionmap_block_get(const struct regionmap *m, size_t i, uint8_t *block)
{
	const uint64_t *w = m->w + i * (REGIONMAP_BLOCK / 8);
	size_t k;
	int j;

	/* Little endian on disk, whatever the host. */
	for (k = 0; k < REGIONMAP_BLOCK / 8; k++)
		for (j = 0; j < 8; j++)
			block[k * 8 + (size_t)j] = (uint8_t)(w[k] >> (8 * j));
}

int regionmap_block_put(struct regionmap *m, size_t i, const uint8_t *block)
{
	uint64_t w[REGIONMAP_BLOCK / 8] = { 0 }, first = (uint64_t)i * REGIONMAP_BITS_PER_BLOCK, b;
	uint64_t *dst = m->w + i * (REGIONMAP_BLOCK / 8);
	size_t k;
	int j;

	if (i >= regionmap_blocks(m))
		return -EINVAL;
	for (k = 0; k < REGIONMAP_BLOCK / 8; k++)
		for (j = 0; j < 8; j++)
			w[k] |= (uint64_t)block[k * 8 + (size_t)j] << (8 * j);
	for (b = m->nbits > first ? m->nbits - first : 0; b < REGIONMAP_BITS_PER_BLOCK; b++)
		if ((w[b / 64] >> (b % 64)) & 1)
			return -EINVAL;
	for (k = 0; k < REGIONMAP_BLOCK / 8; k++) {
		m->set -= (uint64_t)__builtin_popcountll(dst[k]);
		dst[k] = w[k];
		m->set += (uint64_t)__builtin_popcountll(w[k]);
	}
	return 0;
}

void regionmap_block_range(const struct regionmap *m, uint64_t offset, uint64_t len,
			   size_t *first, size_t *last)
{
	uint64_t end = len ? offset + len - 1 : offset;

	if (end >= m->size)
		end = m->size - 1;
	*first = (size_t)((offset >> m->region_shift) / REGIONMAP_BITS_PER_BLOCK);
	*last = (size_t)((end >> m->region_shift) / REGIONMAP_BITS_PER_BLOCK);
}

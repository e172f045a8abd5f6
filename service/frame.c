/*
 * Transport wire formats.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "frame.h"

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* The first eight bytes are laid out alike in all three formats. */
static void preamble_put(uint8_t *p, uint32_t magic, uint8_t type, uint16_t flags)
{
	put32(p, magic);
	p[4] = FRAME_VERSION;
	p[5] = type;
	put16(p + 6, flags);
}

static int preamble_check(const uint8_t *p, size_t len, size_t want, uint32_t magic)
{
	if (len < want || get32(p) != magic || p[4] != FRAME_VERSION)
		return -EPROTO;
	return 0;
}

void frame_hdr_encode(const struct frame_hdr *h, uint8_t out[FRAME_HDR_SIZE])
{
	preamble_put(out, FRAME_MAGIC, h->type, h->flags);
	put16(out + 8, h->client);
	put16(out + 10, h->op);
	put32(out + 12, h->src_node);
	put64(out + 16, h->seq);
	put64(out + 24, h->ack);
	put64(out + 32, h->reqid);
	put64(out + 40, h->config);
	put32(out + 48, h->disk);
	put32(out + 52, (uint32_t)h->status);
	put64(out + 56, h->offset);
	put32(out + 64, h->length);
	put32(out + 68, h->payload_len);
	put32(out + 72, h->frag_offset);
	put32(out + 76, h->msg_len);
	put64(out + 80, h->msg_seq);
	put64(out + 88, h->deadline);
	put64(out + 96, h->low);
}

int frame_hdr_decode(const uint8_t *buf, size_t len, struct frame_hdr *h)
{
	int rc = preamble_check(buf, len, FRAME_HDR_SIZE, FRAME_MAGIC);

	if (rc)
		return rc;
	h->type = buf[5];
	h->flags = get16(buf + 6);
	h->client = get16(buf + 8);
	h->op = get16(buf + 10);
	h->src_node = get32(buf + 12);
	h->seq = get64(buf + 16);
	h->ack = get64(buf + 24);
	h->reqid = get64(buf + 32);
	h->config = get64(buf + 40);
	h->disk = get32(buf + 48);
	h->status = (int32_t)get32(buf + 52);
	h->offset = get64(buf + 56);
	h->length = get32(buf + 64);
	h->payload_len = get32(buf + 68);
	h->frag_offset = get32(buf + 72);
	h->msg_len = get32(buf + 76);
	h->msg_seq = get64(buf + 80);
	h->deadline = get64(buf + 88);
	h->low = get64(buf + 96);

	if (h->flags & ~FRAME_F_KNOWN)
		return -EINVAL;
	if (h->payload_len > FRAME_PAYLOAD_MAX || h->msg_len > FRAME_MSG_MAX)
		return -EMSGSIZE;
	switch (h->type) {
	case FRAME_ACK:
		/* An ACK carries nothing but its ack field. */
		if (h->payload_len || h->seq || h->flags || h->msg_len || h->op)
			return -EINVAL;
		return 0;
	case FRAME_DATA:
		if (h->seq == 0 || h->client == 0 || h->client >= TCLIENT_MAX)
			return -EINVAL;
		if (!(h->flags & FRAME_F_FRAG))
			return (h->frag_offset || h->msg_len != h->payload_len || h->msg_seq) ?
				       -EINVAL :
				       0;
		if (h->payload_len == 0 || h->msg_seq == 0 || h->msg_seq > h->seq ||
		    (uint64_t)h->frag_offset + h->payload_len > h->msg_len)
			return -EINVAL;
		return 0;
	default:
		return -EPROTO;
	}
}

void hs_encode(const struct hs_msg *m, uint8_t out[HS_SIZE])
{
	preamble_put(out, HS_MAGIC, m->type, 0);
	put32(out + 8, m->nodeid);
	put32(out + 12, m->link);
	put64(out + 16, m->incarnation);
	memcpy(out + 24, m->nonce, HS_NONCE);
	memcpy(out + HS_MAC_OFFSET, m->mac, HS_MAC);
}

int hs_decode(const uint8_t *buf, size_t len, struct hs_msg *m)
{
	int rc = preamble_check(buf, len, HS_SIZE, HS_MAGIC);

	if (rc)
		return rc;
	m->type = buf[5];
	if (m->type < HS_HELLO || m->type > HS_AUTH || get16(buf + 6))
		return -EINVAL;
	m->nodeid = get32(buf + 8);
	m->link = get32(buf + 12);
	m->incarnation = get64(buf + 16);
	memcpy(m->nonce, buf + 24, HS_NONCE);
	memcpy(m->mac, buf + HS_MAC_OFFSET, HS_MAC);
	if (m->nodeid == 0 || m->incarnation == 0)
		return -EINVAL;
	return 0;
}

void hb_encode(const struct hb_msg *m, uint8_t out[HB_SIZE])
{
	preamble_put(out, HB_MAGIC, m->type, 0);
	put32(out + 8, m->nodeid);
	put32(out + 12, m->link);
	put64(out + 16, m->incarnation);
	put64(out + 24, m->seq);
	put64(out + 32, m->stamp);
	put64(out + 40, m->peer_stamp);
	memcpy(out + HB_MAC_OFFSET, m->mac, HB_MAC);
}

int hb_decode(const uint8_t *buf, size_t len, struct hb_msg *m)
{
	int rc = preamble_check(buf, len, HB_SIZE, HB_MAGIC);

	if (rc)
		return rc;
	if (len != HB_SIZE)
		return -EINVAL;
	m->type = buf[5];
	if ((m->type != HB_PING && m->type != HB_PONG) || get16(buf + 6))
		return -EINVAL;
	m->nodeid = get32(buf + 8);
	m->link = get32(buf + 12);
	m->incarnation = get64(buf + 16);
	m->seq = get64(buf + 24);
	m->stamp = get64(buf + 32);
	m->peer_stamp = get64(buf + 40);
	memcpy(m->mac, buf + HB_MAC_OFFSET, HB_MAC);
	if (m->nodeid == 0 || m->incarnation == 0)
		return -EINVAL;
	return 0;
}

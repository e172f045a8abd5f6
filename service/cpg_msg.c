/*
 * CPG message framing.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpg_msg.h"

/* Deep nesting buys nothing in our payloads and costs stack in the parser. */
#define CPG_MSG_JSON_DEPTH 16

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

int cpg_msg_encode(enum cpg_msg_type type, uint32_t target, uint64_t reqid,
		   struct json_object *body, void **buf, size_t *len)
{
	size_t plen;
	const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	uint8_t *p;

	if (!text)
		return -ENOMEM;
	plen = strlen(text);
	if (plen > CPG_MSG_MAX - CPG_MSG_HDR_SIZE)
		return -EMSGSIZE;
	p = calloc(1, CPG_MSG_HDR_SIZE + plen);
	if (!p)
		return -ENOMEM;
	put32(p, CPG_MSG_MAGIC);
	put16(p + 4, CPG_MSG_VERSION);
	put16(p + 6, (uint16_t)type);
	put32(p + 8, target);
	put64(p + 16, reqid);
	put32(p + 24, (uint32_t)plen);
	memcpy(p + CPG_MSG_HDR_SIZE, text, plen);
	*buf = p;
	*len = CPG_MSG_HDR_SIZE + plen;
	return 0;
}

int cpg_msg_decode(const void *buf, size_t len, struct cpg_msg *msg, char *err, size_t errlen)
{
	const uint8_t *p = buf;
	struct json_tokener *tok;
	uint32_t plen;
	uint16_t version, type;
	int rc = 0;

	memset(msg, 0, sizeof(*msg));
	if (len < CPG_MSG_HDR_SIZE || len > CPG_MSG_MAX) {
		snprintf(err, errlen, "message of %zu bytes: outside %d..%u", len,
			 CPG_MSG_HDR_SIZE, CPG_MSG_MAX);
		return -EINVAL;
	}
	if (get32(p) != CPG_MSG_MAGIC) {
		snprintf(err, errlen, "bad magic 0x%08x", get32(p));
		return -EPROTO;
	}
	version = get16(p + 4);
	type = get16(p + 6);
	plen = get32(p + 24);
	if (version != CPG_MSG_VERSION) {
		snprintf(err, errlen, "unsupported version %u (this node speaks %u)", version,
			 CPG_MSG_VERSION);
		return -EPROTO;
	}
	if (type == 0 || type >= CPG_MSG_TYPE_MAX) {
		snprintf(err, errlen, "unknown message type %u", type);
		return -EPROTO;
	}
	if (plen != len - CPG_MSG_HDR_SIZE) {
		snprintf(err, errlen, "payload length %u does not match the %zu bytes received",
			 plen, len - CPG_MSG_HDR_SIZE);
		return -EINVAL;
	}
	tok = json_tokener_new_ex(CPG_MSG_JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	msg->body = json_tokener_parse_ex(tok, (const char *)p + CPG_MSG_HDR_SIZE, (int)plen);
	if (!msg->body || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != plen ||
	    !json_object_is_type(msg->body, json_type_object)) {
		snprintf(err, errlen, "payload is not one JSON object");
		cpg_msg_release(msg);
		rc = -EINVAL;
		goto out_free_tok;
	}
	msg->type = type;
	msg->target = get32(p + 8);
	msg->reqid = get64(p + 16);

out_free_tok:
	json_tokener_free(tok);
	return rc;
}

void cpg_msg_release(struct cpg_msg *msg)
{
	json_object_put(msg->body);
	msg->body = NULL;
}

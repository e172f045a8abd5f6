/*
 * CPG messages from other members: the framing, and each body decoder on
 * good and malformed bodies.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../cpg_body.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define MAP_CHANGE                                                                       \
	"{\"op\":\"map\",\"flags\":0,\"disk\":{\"name\":\"vd1\",\"id\":0,\"size\":0,"    \
	"\"primary\":{\"node\":2,\"device\":\"/dev/sdb\"},\"secondary\":null,\"uid\":0," \
	"\"gid\":0,\"mode\":0,\"mtime\":0,\"suspended\":false}}"

static struct json_object *body(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

/* Decodes text as the body of a message of type, the way its consumer
 * does, and frees what it got. */
static int decode_as(enum cpg_msg_type type, const char *text, char *err, size_t errlen)
{
	struct json_object *o = body(text);
	int rc;

	err[0] = '\0';
	rc = cpg_body_decode(type, o, err, errlen);
	if (rc == -ENOSYS)
		fail_msg("no body decoder for type %d", type);
	json_object_put(o);
	return rc;
}

static void test_framing(void **state)
{
	struct json_object *o = body("{\"a\":1}");
	struct cpg_msg msg;
	char err[256];
	uint8_t *p;
	void *buf;
	size_t len;

	assert_int_equal(cpg_msg_encode(CPG_MSG_PROBE, 3, 42, o, &buf, &len), 0);
	json_object_put(o);
	assert_int_equal(cpg_msg_decode(buf, len, &msg, err, sizeof(err)), 0);
	assert_int_equal(msg.type, CPG_MSG_PROBE);
	assert_int_equal(msg.target, 3);
	assert_int_equal(msg.reqid, 42);
	cpg_msg_release(&msg);

	p = buf;
	assert_int_equal(cpg_msg_decode(buf, CPG_MSG_HDR_SIZE - 1, &msg, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(cpg_msg_decode(buf, len - 1, &msg, err, sizeof(err)), -EINVAL);
	p[6] = CPG_MSG_TYPE_MAX;
	assert_int_equal(cpg_msg_decode(buf, len, &msg, err, sizeof(err)), -EPROTO);
	p[6] = CPG_MSG_PROBE;
	p[4] = CPG_MSG_VERSION + 1;
	assert_int_equal(cpg_msg_decode(buf, len, &msg, err, sizeof(err)), -EPROTO);
	p[4] = CPG_MSG_VERSION;
	p[0] ^= 1;
	assert_int_equal(cpg_msg_decode(buf, len, &msg, err, sizeof(err)), -EPROTO);
	free(buf);

	o = json_object_new_array();
	assert_int_equal(cpg_msg_encode(CPG_MSG_COMMIT, 0, 1, o, &buf, &len), 0);
	json_object_put(o);
	assert_int_equal(cpg_msg_decode(buf, len, &msg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "payload is not one JSON object");
	free(buf);
}

/* Every body type, malformed: missing fields, wrong types, values out of
 * range. err NULL: the decoder gives no reason, or any reason will do. */
static void test_malformed(void **state)
{
	static const struct {
		enum cpg_msg_type type;
		const char *text;
		int rc;
		const char *err;
	} bad[] = {
		{ CPG_MSG_SYNC_OFFER, "{}", -EBADMSG, NULL },
		{ CPG_MSG_SYNC_OFFER, "{\"generation\":3}", -EBADMSG, NULL },
		{ CPG_MSG_SYNC_OFFER, "{\"config\":2}", -EBADMSG, NULL },
		{ CPG_MSG_SYNC_OFFER, "{\"generation\":\"3\",\"config\":2}", -EBADMSG, NULL },
		{ CPG_MSG_SYNC_OFFER, "{\"generation\":3,\"config\":null}", -EBADMSG, NULL },
		{ CPG_MSG_SYNC_OFFER, "{\"generation\":3.5,\"config\":2}", -EBADMSG, NULL },

		{ CPG_MSG_SYNC_STATE, "{\"config\":3}", -EBADMSG, "no database" },
		{ CPG_MSG_SYNC_STATE, "{\"config\":3,\"db\":{\"generation\":\"x\"}}", -EINVAL,
		  NULL },
		{ CPG_MSG_SYNC_STATE, "{\"config\":3,\"db\":7}", -EINVAL, NULL },

		{ CPG_MSG_PROBE, "{}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE, "{\"device\":\"/srv/a\"}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE, "{\"slot\":0}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE, "{\"device\":7,\"slot\":0}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE, "{\"device\":\"/srv/a\",\"slot\":\"0\"}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE, "{\"device\":null,\"slot\":0}", -EBADMSG, NULL },

		{ CPG_MSG_PROBE_REPLY, "{}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE_REPLY, "{\"error\":0,\"size\":1}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE_REPLY, "{\"slot\":0,\"size\":1}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE_REPLY, "{\"slot\":0,\"error\":0}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE_REPLY, "{\"slot\":2,\"error\":0,\"size\":1}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE_REPLY, "{\"slot\":-1,\"error\":0,\"size\":1}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE_REPLY, "{\"slot\":\"0\",\"error\":0,\"size\":1}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE_REPLY, "{\"slot\":0,\"error\":\"EIO\",\"size\":1}", -EBADMSG, NULL },
		{ CPG_MSG_PROBE_REPLY, "{\"slot\":0,\"error\":0,\"size\":1.5}", -EBADMSG, NULL },

		{ CPG_MSG_PREPARE, "{}", -EINVAL, "PREPARE without a change" },
		{ CPG_MSG_PREPARE, "{\"change\":{\"op\":\"delete\",\"flags\":0,\"disk\":{"
				   "\"name\":\"vd1\"}}}",
		  -EINVAL, "PREPARE of a change that is not a mapping change" },
		/* Parsed, so allocated, then refused: nothing may leak. */
		{ CPG_MSG_PREPARE, "{\"change\":{\"op\":\"inventory\",\"flags\":0,\"inventory\":{"
				   "\"node\":1,\"devices\":[{\"path\":\"/dev/vda\",\"size\":1,"
				   "\"uuid\":\"\",\"label\":\"\",\"partuuid\":\"\",\"type\":\"\"}]}}}",
		  -EINVAL, "PREPARE of a change that is not a mapping change" },
		{ CPG_MSG_PREPARE, "{\"change\":{\"op\":\"map\",\"flags\":0}}", -EINVAL, NULL },
		{ CPG_MSG_PREPARE, "{\"change\":7}", -EINVAL, NULL },

		{ CPG_MSG_ACK, "{}", -EBADMSG, NULL },
		{ CPG_MSG_ACK, "{\"error\":\"\"}", -EBADMSG, NULL },
		{ CPG_MSG_ACK, "{\"drain_us\":5}", -EBADMSG, NULL },
		{ CPG_MSG_ACK, "{\"error\":0,\"drain_us\":5}", -EBADMSG, NULL },
		{ CPG_MSG_ACK, "{\"error\":null,\"drain_us\":5}", -EBADMSG, NULL },
		{ CPG_MSG_ACK, "{\"error\":\"\",\"drain_us\":\"5\"}", -EBADMSG, NULL },

		{ CPG_MSG_CANCEL, "{}", -EBADMSG, NULL },
		{ CPG_MSG_CANCEL, "{\"reason\":null}", -EBADMSG, NULL },
		{ CPG_MSG_CANCEL, "{\"reason\":7}", -EBADMSG, NULL },
		{ CPG_MSG_CANCEL, "{\"why\":\"timeout\"}", -EBADMSG, NULL },
		{ CPG_MSG_BEAT, "{}", -EBADMSG, NULL },
		{ CPG_MSG_BEAT, "{\"view\":\"3\",\"seen\":[]}", -EBADMSG, NULL },
		{ CPG_MSG_BEAT, "{\"view\":3}", -EBADMSG, NULL },
		{ CPG_MSG_BEAT, "{\"view\":3,\"seen\":[[1]]}", -EBADMSG, NULL },
		{ CPG_MSG_BEAT, "{\"view\":3,\"seen\":[[1,\"2\"]]}", -EBADMSG, NULL },
		{ CPG_MSG_BEAT, "{\"view\":3,\"seen\":{}}", -EBADMSG, NULL },
	};
	char err[512];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int rc = decode_as(bad[i].type, bad[i].text, err, sizeof(err));

		if (rc != bad[i].rc)
			fail_msg("type %d, %s: %d, not %d", bad[i].type, bad[i].text, rc,
				 bad[i].rc);
		if (bad[i].err)
			assert_string_equal(err, bad[i].err);
		else if (bad[i].rc == -EINVAL)
			assert_true(err[0]);
	}
}

static void test_offer_state(void **state)
{
	struct json_object *o = body("{\"generation\":3,\"config\":2}");
	struct cdb_msg_offer offer;
	struct db db;
	char err[256];

	assert_int_equal(cdb_msg_offer_decode(o, &offer), 0);
	assert_int_equal(offer.generation, 3);
	assert_int_equal(offer.config, 2);
	json_object_put(o);

	o = body("{\"config\":3,\"db\":{\"generation\":4,\"next_id\":1,\"disks\":[],"
		 "\"inventory\":[]}}");
	assert_int_equal(cdb_msg_state_decode(o, &db, err, sizeof(err)), 0);
	assert_int_equal(db.generation, 4);
	db_free(&db);
	json_object_put(o);
}

static void test_probe(void **state)
{
	struct json_object *o = body("{\"device\":\"/srv/a\",\"slot\":1}");
	struct cdb_msg_probe probe;

	assert_int_equal(cdb_msg_probe_decode(o, &probe), 0);
	assert_string_equal(probe.device, "/srv/a");
	assert_int_equal(probe.slot, 1);
	json_object_put(o);
	/* The asker checks the slot it gets back, so any is echoed. */
	o = body("{\"device\":\"/srv/a\",\"slot\":-9}");
	assert_int_equal(cdb_msg_probe_decode(o, &probe), 0);
	assert_int_equal(probe.slot, -9);
	json_object_put(o);
}

static void test_probe_reply(void **state)
{
	static const struct {
		const char *text;
		unsigned int slot;
		int error;
		uint64_t size;
	} good[] = {
		{ "{\"slot\":0,\"error\":0,\"size\":4096}", 0, 0, 4096 },
		{ "{\"slot\":1,\"error\":5,\"size\":0}", 1, -EIO, 0 },
		{ "{\"slot\":0,\"error\":-5,\"size\":0}", 0, -EPROTO, 0 },
		{ "{\"slot\":0,\"error\":4096,\"size\":0}", 0, -EPROTO, 0 },
		{ "{\"slot\":0,\"error\":0,\"size\":-1}", 0, 0, 0 },
	};
	struct cdb_msg_probe_reply reply;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		struct json_object *o = body(good[i].text);

		assert_int_equal(cdb_msg_probe_reply_decode(o, &reply), 0);
		assert_int_equal(reply.slot, good[i].slot);
		assert_int_equal(reply.error, good[i].error);
		assert_int_equal(reply.size, good[i].size);
		json_object_put(o);
	}
}

static void test_prepare(void **state)
{
	struct json_object *o = body("{\"change\":" MAP_CHANGE "}");
	struct db_update u;
	char err[512];

	assert_int_equal(reconfig_msg_prepare_decode(o, &u, err, sizeof(err)), 0);
	assert_int_equal(u.op, DB_OP_MAP);
	assert_string_equal(u.disk.name, "vd1");
	assert_int_equal(u.disk.primary.nodeid, 2);
	db_update_free(&u);
	json_object_put(o);
}

static void test_ack_cancel(void **state)
{
	struct reconfig_msg_ack ack;
	struct json_object *o;
	const char *reason;

	o = body("{\"error\":\"\",\"drain_us\":1500}");
	assert_int_equal(reconfig_msg_ack_decode(o, &ack), 0);
	assert_null(ack.refusal);
	assert_int_equal(ack.drain_us, 1500);
	json_object_put(o);

	o = body("{\"error\":\"pre_hook failed\",\"drain_us\":0}");
	assert_int_equal(reconfig_msg_ack_decode(o, &ack), 0);
	assert_string_equal(ack.refusal, "pre_hook failed");
	json_object_put(o);

	/* A reason that starts with NUL is still a refusal. */
	o = body("{\"error\":\"\\u0000x\",\"drain_us\":0}");
	assert_int_equal(reconfig_msg_ack_decode(o, &ack), 0);
	assert_non_null(ack.refusal);
	json_object_put(o);

	o = body("{\"reason\":\"node 2 left\"}");
	assert_int_equal(reconfig_msg_cancel_decode(o, &reason), 0);
	assert_string_equal(reason, "node 2 left");
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_malformed),
		/* Cluster database */
		cmocka_unit_test(test_offer_state),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_probe_reply),
		/* Reconfiguration cycle */
		cmocka_unit_test(test_prepare),
		cmocka_unit_test(test_ack_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

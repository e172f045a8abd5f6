/*
 * Cluster database: validation, apply, serialize and restore.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <vdisk/syntax.h>

#include "db.h"
#include "db_json.h"
#include "dbfile.h"

static char err[512];

static struct db_update create_update(const char *name, uint32_t node, const char *dev,
				      uint64_t size)
{
	struct db_update u = { .op = DB_OP_CREATE };

	snprintf(u.disk.name, sizeof(u.disk.name), "%s", name);
	u.disk.size = size;
	u.disk.primary.nodeid = node;
	snprintf(u.disk.primary.device, sizeof(u.disk.primary.device), "%s", dev);
	u.disk.mode = 0660;
	u.disk.gid = 6;
	u.disk.mtime = 1700000000;
	return u;
}

static void apply_ok(struct db *db, const struct db_update *u)
{
	int rc = db_apply(db, u, err, sizeof(err));

	if (rc)
		fail_msg("db_apply: %s", err);
}

static void test_name_check(void **state)
{
	const char *good[] = { "vd1", "A", "disk_2-b", "0abc" };
	const char *bad[] = { "", "-vd", "_vd", "a.b", "a b", "a/b", "vd:1", "é" };
	char longname[VDISK_NAME_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(vdisk_name_check(good[i], err, sizeof(err)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vdisk_name_check(bad[i], err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "invalid disk name"));
	}
	memset(longname, 'a', sizeof(longname));
	longname[VDISK_NAME_MAX] = '\0';
	assert_int_equal(vdisk_name_check(longname, err, sizeof(err)), 0);
	longname[VDISK_NAME_MAX] = 'a';
	longname[VDISK_NAME_MAX + 1] = '\0';
	assert_int_equal(vdisk_name_check(longname, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than 63"));
}

static void test_mode_check(void **state)
{
	assert_int_equal(db_mode_check(0, err, sizeof(err)), 0);
	assert_int_equal(db_mode_check(0660, err, sizeof(err)), 0);
	assert_int_equal(db_mode_check(0777, err, sizeof(err)), 0);
	assert_int_equal(db_mode_check(04755, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid mode 4755: only permission bits (0 to 0777); setuid"));
	assert_int_equal(db_mode_check(01000, err, sizeof(err)), -EINVAL);
	assert_int_equal(db_mode_check(010000, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid mode 10000"));
}

static void test_create_sorted_and_ids(void **state)
{
	struct db db;
	struct db_update u;

	db_init(&db);
	u = create_update("vd2", 2, "/srv/b", 4096);
	apply_ok(&db, &u);
	u = create_update("vd1", 1, "/srv/a", 1 << 20);
	apply_ok(&db, &u);
	u = create_update("vd3", 3, "/srv/c", 512);
	apply_ok(&db, &u);
	assert_int_equal(db.generation, 3);
	assert_int_equal(db.ndisks, 3);
	assert_string_equal(db.disks[0].name, "vd1");
	assert_string_equal(db.disks[1].name, "vd2");
	assert_string_equal(db.disks[2].name, "vd3");
	assert_int_equal(db_disk_find(&db, "vd2")->id, 1);
	assert_int_equal(db_disk_find(&db, "vd1")->id, 2);
	assert_null(db_disk_find(&db, "vd4"));
	db_free(&db);
}

static void test_create_refusals_leave_db_unchanged(void **state)
{
	struct {
		struct db_update u;
		int rc;
		const char *msg;
	} cases[] = {
		{ create_update("vd1", 1, "/srv/a", 4096), -EEXIST, "already exists" },
		{ create_update("bad.name", 1, "/srv/a", 4096), -EINVAL, "invalid disk name" },
		{ create_update("vd9", 1, "/srv/a", 1000), -EINVAL, "multiple of 512" },
		{ create_update("vd9", 1, "/srv/a", 0), -EINVAL, "multiple of 512" },
		{ create_update("vd9", 0, "/srv/a", 4096), -EINVAL, "primary path is required" },
		{ create_update("vd9", 1, "", 4096), -EINVAL, "primary path" },
	};
	struct db db;
	struct db_update u;
	size_t i;

	db_init(&db);
	u = create_update("vd1", 1, "/srv/a", 4096);
	apply_ok(&db, &u);
	cases[0].u.disk.mode = 0600;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(db_apply(&db, &cases[i].u, err, sizeof(err)), cases[i].rc);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
		assert_int_equal(db.generation, 1);
		assert_int_equal(db.ndisks, 1);
		assert_int_equal(db.disks[0].mode, 0660);
	}
	u = create_update("vd9", 1, "/srv/a", 4096);
	u.disk.secondary = u.disk.primary;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "secondary path is the primary path"));
	u.disk.mode = 010000;
	u.disk.secondary.nodeid = 0;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(db.generation, 1);
	db_free(&db);
}

static void test_delete_and_perm(void **state)
{
	struct db db;
	struct db_update u;

	db_init(&db);
	u = create_update("vd1", 1, "/srv/a", 4096);
	apply_ok(&db, &u);

	u = (struct db_update){ .op = DB_OP_PERM, .flags = DB_PERM_MODE | DB_PERM_UID };
	strcpy(u.disk.name, "vd1");
	u.disk.mode = 0640;
	u.disk.uid = 1000;
	u.disk.gid = 99; /* not flagged: must not change */
	u.disk.mtime = 1800000000;
	apply_ok(&db, &u);
	assert_int_equal(db.disks[0].mode, 0640);
	assert_int_equal(db.disks[0].uid, 1000);
	assert_int_equal(db.disks[0].gid, 6);
	assert_int_equal(db.disks[0].mtime, 1800000000);

	u.flags = 0;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EINVAL);
	u.flags = DB_PERM_MODE;
	u.disk.mode = 017777;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(db.disks[0].mode, 0640);
	strcpy(u.disk.name, "nope");
	u.disk.mode = 0600;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "no such disk 'nope' (vdiskctl disk list shows the disks)");

	u = (struct db_update){ .op = DB_OP_DELETE };
	strcpy(u.disk.name, "vd1");
	apply_ok(&db, &u);
	assert_int_equal(db.ndisks, 0);
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -ENOENT);
	assert_int_equal(db.generation, 3);

	/* Ids are never reused. */
	u = create_update("vd1", 1, "/srv/a", 4096);
	apply_ok(&db, &u);
	assert_int_equal(db.disks[0].id, 2);
	db_free(&db);
}

static struct db_update inventory_update(uint32_t node, size_t n)
{
	struct db_update u = { .op = DB_OP_INVENTORY };
	size_t i;

	u.inv.nodeid = node;
	u.inv.count = n;
	u.inv.devices = calloc(n ? n : 1, sizeof(*u.inv.devices));
	for (i = 0; i < n; i++) {
		snprintf(u.inv.devices[i].path, sizeof(u.inv.devices[i].path), "/dev/sd%c",
			 (char)('a' + i));
		u.inv.devices[i].size = (i + 1) << 30;
		snprintf(u.inv.devices[i].uuid, sizeof(u.inv.devices[i].uuid), "uuid-%zu", i);
	}
	return u;
}

static void test_inventory(void **state)
{
	struct db db;
	struct db_update a = inventory_update(3, 2), b = inventory_update(1, 1),
			 c = inventory_update(3, 1);

	db_init(&db);
	apply_ok(&db, &a);
	apply_ok(&db, &b);
	assert_int_equal(db.ninv, 2);
	assert_int_equal(db.inv[0].nodeid, 1);
	assert_int_equal(db.inv[1].nodeid, 3);
	assert_true(db_inventory_equal(db_inventory_find(&db, 3), &a.inv));
	apply_ok(&db, &c);
	assert_int_equal(db.ninv, 2);
	assert_int_equal(db_inventory_find(&db, 3)->count, 1);
	assert_false(db_inventory_equal(db_inventory_find(&db, 3), &a.inv));
	db_update_free(&a);
	db_update_free(&b);
	db_update_free(&c);
	db_free(&db);
}

static struct db sample_db(void)
{
	struct db db;
	struct db_update u;

	db_init(&db);
	u = create_update("vd1", 1, "/srv/a", 4096);
	u.disk.secondary.nodeid = 2;
	strcpy(u.disk.secondary.device, "UUID=1234");
	apply_ok(&db, &u);
	u = create_update("vd0", 2, "LABEL=data", 1 << 30);
	apply_ok(&db, &u);
	u = inventory_update(2, 3);
	apply_ok(&db, &u);
	db_update_free(&u);
	return db;
}

static const char *db_text(const struct db *db, struct json_object **holder)
{
	*holder = db_to_json(db);
	return json_object_to_json_string_ext(*holder, JSON_C_TO_STRING_PLAIN);
}

static void test_serialize_round_trip(void **state)
{
	struct db db = sample_db(), back;
	struct json_object *a, *b, *parsed;

	parsed = json_tokener_parse(db_text(&db, &a));
	assert_int_equal(db_from_json(parsed, &back, err, sizeof(err)), 0);
	assert_int_equal(back.generation, db.generation);
	assert_int_equal(back.next_id, db.next_id);
	assert_int_equal(back.ndisks, 2);
	assert_string_equal(back.disks[1].secondary.device, "UUID=1234");
	assert_string_equal(db_text(&back, &b), json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	json_object_put(b);
	json_object_put(parsed);
	db_free(&back);
	db_free(&db);
}

/* Each mutation of a valid state must be refused with nothing left allocated
 * (ASan checks the latter). */
static void test_restore_refuses_corruption(void **state)
{
	static const char *const bad[] = {
		"{}",
		"[]",
		"{\"generation\":-1,\"next_id\":1,\"disks\":[],\"inventory\":[]}",
		"{\"generation\":1,\"next_id\":0,\"disks\":[],\"inventory\":[]}",
		"{\"generation\":1,\"next_id\":5,\"disks\":{},\"inventory\":[]}",
		"{\"generation\":1,\"next_id\":5,\"disks\":[{\"name\":\"vd1\"}],\"inventory\":[]}",
		/* id beyond next_id */
		("{\"generation\":1,\"next_id\":2,\"disks\":[{\"name\":\"a\",\"id\":7,\"size\":512,"
		"\"primary\":{\"node\":1,\"device\":\"/x\"},\"secondary\":null,\"uid\":0,\"gid\":0,"
		"\"mode\":420,\"mtime\":1}],\"inventory\":[]}"),
		/* out of order */
		("{\"generation\":1,\"next_id\":9,\"disks\":[{\"name\":\"b\",\"id\":1,\"size\":512,"
		"\"primary\":{\"node\":1,\"device\":\"/x\"},\"secondary\":null,\"uid\":0,\"gid\":0,"
		"\"mode\":420,\"mtime\":1},{\"name\":\"a\",\"id\":2,\"size\":512,"
		"\"primary\":{\"node\":1,\"device\":\"/x\"},\"secondary\":null,\"uid\":0,\"gid\":0,"
		"\"mode\":420,\"mtime\":1}],\"inventory\":[]}"),
		/* bad mode */
		("{\"generation\":1,\"next_id\":9,\"disks\":[{\"name\":\"b\",\"id\":1,\"size\":512,"
		"\"primary\":{\"node\":1,\"device\":\"/x\"},\"secondary\":null,\"uid\":0,\"gid\":0,"
		"\"mode\":99999,\"mtime\":1}],\"inventory\":[]}"),
		/* inventory listed twice */
		("{\"generation\":1,\"next_id\":1,\"disks\":[],\"inventory\":["
		"{\"node\":1,\"devices\":[]},{\"node\":1,\"devices\":[]}]}"),
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *o = json_tokener_parse(bad[i]);
		struct db db;

		assert_non_null(o);
		if (db_from_json(o, &db, err, sizeof(err)) != -EINVAL)
			fail_msg("case %zu accepted", i);
		assert_int_equal(db.ndisks, 0);
		json_object_put(o);
	}
}

/* The mapping changes a reconfiguration cycle commits. */
static void test_map_and_suspend(void **state)
{
	struct db_update c = create_update("vd1", 2, "/dev/sdb", 4096), u = { .op = DB_OP_MAP };
	struct json_object *j, *parsed;
	struct db db, back;
	uint64_t gen;

	db_init(&db);
	c.disk.secondary.nodeid = 3;
	strcpy(c.disk.secondary.device, "/dev/sdc");
	apply_ok(&db, &c);
	strcpy(u.disk.name, "vd1");
	u.disk.primary = c.disk.secondary;
	u.disk.secondary = c.disk.primary;
	u.disk.mtime = 1800000000;
	apply_ok(&db, &u);
	assert_int_equal(db.disks[0].primary.nodeid, 3);
	assert_string_equal(db.disks[0].secondary.device, "/dev/sdb");
	assert_int_equal(db.disks[0].mtime, 1800000000);

	/* refused: the same path twice, no primary, an unknown disk */
	gen = db.generation;
	u.disk.secondary = u.disk.primary;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the secondary path is the primary path"));
	memset(&u.disk.primary, 0, sizeof(u.disk.primary));
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EINVAL);
	strcpy(u.disk.name, "vd9");
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -ENOENT);
	assert_int_equal(db.generation, gen);
	assert_int_equal(db.disks[0].primary.nodeid, 3);

	u = (struct db_update){ .op = DB_OP_SUSPEND };
	strcpy(u.disk.name, "vd1");
	u.disk.suspended = true;
	apply_ok(&db, &u);
	assert_true(db.disks[0].suspended);

	/* suspended survives a save; a state saved before the field existed
	 * loads as not suspended */
	parsed = json_tokener_parse(db_text(&db, &j));
	assert_int_equal(db_from_json(parsed, &back, err, sizeof(err)), 0);
	assert_true(back.disks[0].suspended);
	db_free(&back);
	json_object_object_del(json_object_array_get_idx(json_object_object_get(parsed, "disks"), 0),
			       "suspended");
	assert_int_equal(db_from_json(parsed, &back, err, sizeof(err)), 0);
	assert_false(back.disks[0].suspended);
	db_free(&back);
	json_object_put(parsed);
	json_object_put(j);
	db_free(&db);
}

/* A mirror: two replicas on two nodes, states that travel with a
 * promotion, a writer only ever up to date, replica updates that apply only
 * to the data generation they saw, and all of it through JSON. */
static void test_mirror(void **state)
{
	struct db_update c = create_update("vm", 2, "/dev/sdb", 4096), u = { .op = DB_OP_MAP };
	struct json_object *j, *parsed;
	struct db db, back;
	uint64_t gen;

	db_init(&db);
	c.disk.mirror = true;
	c.disk.datagen = 0x8000000000000001ull;
	c.disk.state[1] = DB_REPLICA_OUTDATED;
	/* refused: one replica, both on one node, no generation */
	assert_int_equal(db_apply(&db, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "two replicas on two different nodes"));
	c.disk.secondary.nodeid = 2;
	strcpy(c.disk.secondary.device, "/dev/sdc");
	assert_int_equal(db_apply(&db, &c, err, sizeof(err)), -EINVAL);
	c.disk.secondary.nodeid = 3;
	c.disk.datagen = 0;
	assert_int_equal(db_apply(&db, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "data generation"));
	c.disk.datagen = 0x8000000000000001ull;
	apply_ok(&db, &c);
	gen = db.generation;

	/* the outdated replica cannot become the writer */
	strcpy(u.disk.name, "vm");
	u.disk.primary = c.disk.secondary;
	u.disk.secondary = c.disk.primary;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "the replica on node 3 is outdated"));
	assert_non_null(strstr(err, "8000000000000001"));
	/* nor be replaced */
	u.disk.primary.nodeid = 4;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EOPNOTSUPP);
	assert_int_equal(db.generation, gen);

	/* a replica update for another generation changes nothing */
	u = (struct db_update){ .op = DB_OP_REPLICA, .expect = 1 };
	strcpy(u.disk.name, "vm");
	u.disk.datagen = 0x1234;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -ESTALE);
	u.expect = 0x8000000000000001ull;
	u.disk.state[0] = DB_REPLICA_OUTDATED;
	u.disk.state[1] = DB_REPLICA_FAILED;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no replica would be up to date"));
	/* outdated to up to date skips the copy */
	u.disk.state[0] = DB_REPLICA_UPTODATE;
	u.disk.state[1] = DB_REPLICA_UPTODATE;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cannot go from outdated to uptodate"));
	u.disk.state[1] = DB_REPLICA_SYNCING;
	apply_ok(&db, &u);
	assert_int_equal(db.disks[0].datagen, 0x1234);
	u.expect = 0x1234;
	u.disk.datagen = 0x1235;
	u.disk.state[1] = DB_REPLICA_UPTODATE;
	apply_ok(&db, &u);

	/* now it can, and its state goes with it */
	u = (struct db_update){ .op = DB_OP_MAP };
	strcpy(u.disk.name, "vm");
	u.disk.primary = c.disk.secondary;
	u.disk.secondary = c.disk.primary;
	apply_ok(&db, &u);
	assert_int_equal(db.disks[0].primary.nodeid, 3);
	assert_true(db.disks[0].mirror);

	/* back to node 2 as a failover does: the writer that left (3) is
	 * outdated in the same change, and the states must be legal */
	u = (struct db_update){ .op = DB_OP_MAP };
	strcpy(u.disk.name, "vm");
	u.disk.primary = c.disk.primary;
	u.disk.secondary = c.disk.secondary;
	u.disk.mirror = true;
	u.disk.state[0] = DB_REPLICA_SYNCING;
	u.disk.state[1] = DB_REPLICA_OUTDATED;
	u.disk.datagen = 0x99;
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(db.disks[0].primary.nodeid, 3);
	u.disk.state[0] = DB_REPLICA_UPTODATE;
	apply_ok(&db, &u);
	assert_int_equal(db.disks[0].primary.nodeid, 2);
	assert_int_equal(db.disks[0].state[1], DB_REPLICA_OUTDATED);
	assert_true(db.disks[0].datagen == 0x99);

	/* a replica update on a disk that is no mirror */
	c = create_update("vs", 2, "/dev/sdd", 4096);
	apply_ok(&db, &c);
	u = (struct db_update){ .op = DB_OP_REPLICA, .expect = 0 };
	strcpy(u.disk.name, "vs");
	assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -EINVAL);

	/* saved and loaded: the states and the 64-bit generation survive;
	 * an unknown state is refused */
	db.disks[0].state[1] = DB_REPLICA_SYNCING;
	db.disks[0].datagen = 0xfedcba9876543210ull;
	parsed = json_tokener_parse(db_text(&db, &j));
	assert_int_equal(db_from_json(parsed, &back, err, sizeof(err)), 0);
	assert_true(back.disks[0].mirror);
	assert_false(back.disks[1].mirror);
	assert_int_equal(back.disks[0].state[1], DB_REPLICA_SYNCING);
	assert_true(back.disks[0].datagen == 0xfedcba9876543210ull);
	db_free(&back);
	json_object_array_put_idx(
		json_object_object_get(
			json_object_object_get(
				json_object_array_get_idx(json_object_object_get(parsed, "disks"),
							  0),
				"mirror"),
			"states"),
		1, json_object_new_string("fine"));
	assert_int_equal(db_from_json(parsed, &back, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no known state"));
	json_object_put(parsed);
	json_object_put(j);
	db_free(&db);
}

static void test_update_round_trip(void **state)
{
	struct db_update in[6], out;
	size_t i;

	in[0] = create_update("vd1", 2, "/dev/sdb", 4096);
	in[1] = (struct db_update){ .op = DB_OP_DELETE };
	strcpy(in[1].disk.name, "vd1");
	in[2] = inventory_update(4, 2);
	in[3] = create_update("vd2", 3, "/dev/sdc", 0);
	in[3].op = DB_OP_MAP;
	in[4] = (struct db_update){ .op = DB_OP_SUSPEND, .disk.suspended = true };
	strcpy(in[4].disk.name, "vd2");
	in[5] = (struct db_update){ .op = DB_OP_REPLICA, .expect = UINT64_MAX,
				    .disk.mirror = true, .disk.datagen = 7,
				    .disk.state = { DB_REPLICA_UPTODATE, DB_REPLICA_OUTDATED } };
	strcpy(in[5].disk.name, "vd2");
	for (i = 0; i < 6; i++) {
		struct json_object *o = db_update_to_json(&in[i]);
		struct json_object *p = json_tokener_parse(json_object_to_json_string(o));

		assert_int_equal(db_update_from_json(p, &out, err, sizeof(err)), 0);
		assert_int_equal(out.op, in[i].op);
		assert_string_equal(out.disk.name, in[i].disk.name);
		assert_int_equal(out.disk.size, in[i].disk.size);
		assert_int_equal(out.inv.count, in[i].inv.count);
		assert_int_equal(out.disk.primary.nodeid, in[i].disk.primary.nodeid);
		assert_int_equal(out.disk.suspended, in[i].disk.suspended);
		assert_true(out.expect == in[i].expect);
		assert_int_equal(out.disk.state[1], in[i].disk.state[1]);
		assert_true(out.disk.datagen == in[i].disk.datagen);
		db_update_free(&out);
		json_object_put(o);
		json_object_put(p);
	}
	db_update_free(&in[2]);
}

/* The limit is reached with the longest names and paths, and the whole
 * database still fits a control reply with room for what the views add. */
static void test_disk_limit(void **state)
{
	struct db db;
	struct db_update u;
	struct json_object *o;
	char name[VDISK_NAME_MAX + 1], dev[VDISK_DEVICE_MAX + 1];
	unsigned int i;

	db_init(&db);
	memset(dev, 'd', sizeof(dev));
	dev[0] = '/';
	dev[VDISK_DEVICE_MAX] = '\0';
	for (i = 0; i <= DB_MAX_DISKS; i++) {
		memset(name, 'n', sizeof(name));
		snprintf(name, 8, "%07u", i);
		name[7] = 'n';
		name[VDISK_NAME_MAX] = '\0';
		u = create_update(name, 1, dev, 4096);
		u.disk.secondary.nodeid = 2;
		memcpy(u.disk.secondary.device, dev, sizeof(dev));
		if (i < DB_MAX_DISKS) {
			apply_ok(&db, &u);
			continue;
		}
		assert_int_equal(db_apply(&db, &u, err, sizeof(err)), -ENOSPC);
		assert_non_null(strstr(err, "the most it can hold"));
	}
	assert_int_equal(db.ndisks, DB_MAX_DISKS);
	assert_int_equal(db.generation, DB_MAX_DISKS);
	o = db_to_json(&db);
	assert_true(strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) <
		    VDISK_CTL_MAX_MSG / 2);
	json_object_put(o);
	db_free(&db);
}

/* The state file: what is saved loads back equal; no file is an empty
 * database; a damaged one is refused with its name. */
static void test_dbfile(void **state)
{
	char dir[] = "/tmp/vdisk-test-dbfile-XXXXXX", path[64];
	struct db db, back;
	struct db_update u;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	db_init(&db);
	db_init(&back);
	assert_int_equal(dbfile_load(dir, &back, err, sizeof(err)), 0);
	assert_int_equal(back.ndisks, 0);
	u = create_update("vd1", 1, "/srv/a", 4096);
	apply_ok(&db, &u);
	assert_int_equal(dbfile_save(dir, &db), 0);
	assert_int_equal(dbfile_load(dir, &back, err, sizeof(err)), 0);
	assert_int_equal(back.generation, db.generation);
	assert_int_equal(back.ndisks, 1);
	assert_string_equal(back.disks[0].name, "vd1");
	db_free(&back);

	snprintf(path, sizeof(path), "%s/%s", dir, DBFILE_NAME);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"generation\": ", f);
	fclose(f);
	db_init(&back);
	assert_int_equal(dbfile_load(dir, &back, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_int_equal(back.ndisks, 0);
	unlink(path);
	rmdir(dir);
	db_free(&db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_check),
		cmocka_unit_test(test_mode_check),
		cmocka_unit_test(test_create_sorted_and_ids),
		cmocka_unit_test(test_create_refusals_leave_db_unchanged),
		cmocka_unit_test(test_disk_limit),
		cmocka_unit_test(test_dbfile),
		cmocka_unit_test(test_delete_and_perm),
		cmocka_unit_test(test_inventory),
		cmocka_unit_test(test_serialize_round_trip),
		cmocka_unit_test(test_restore_refuses_corruption),
		cmocka_unit_test(test_map_and_suspend),
		cmocka_unit_test(test_mirror),
		cmocka_unit_test(test_update_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

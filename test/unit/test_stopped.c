/*
 * The disks a node does not serve to its own clients (stopped.h): the set,
 * its file across a restart, pruning of deleted disks, and the decoder's
 * refusals.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "persist.h"
#include "stopped.h"

struct fixture {
	char dir[PATH_MAX];
	int changes;
	struct db db;
};

static void changed(void *ctx)
{
	((struct fixture *)ctx)->changes++;
}

static void disk_add(struct db *db, const char *name, uint32_t id)
{
	struct db_disk *d;

	db->disks = realloc(db->disks, (db->ndisks + 1) * sizeof(*db->disks));
	assert_non_null(db->disks);
	d = &db->disks[db->ndisks++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->id = id;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/test_stopped.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	disk_add(&f->db, "vd1", 3);
	disk_add(&f->db, "vd2", 7);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", f->dir, STOPPED_FILE);
	unlink(path);
	rmdir(f->dir);
	free(f->db.disks);
	free(f);
	return 0;
}

static struct stopped *open_set(struct fixture *f)
{
	struct stopped *s = NULL;
	char err[256] = "";

	assert_int_equal(stopped_create(&s, f->dir, changed, f, err, sizeof(err)), 0);
	assert_non_null(s);
	return s;
}

static void file_is(struct fixture *f, const char *want)
{
	char *buf = NULL;
	size_t len;

	assert_int_equal(persist_read(f->dir, STOPPED_FILE, &buf, &len), 0);
	assert_string_equal(buf, want);
	free(buf);
}

/* Only vd2 (id 7) is stopped, in memory and in the file; ends s. */
static void only_vd2_stopped(struct fixture *f, struct stopped *s)
{
	assert_false(stopped_has(s, 3));
	assert_true(stopped_has(s, 7));
	file_is(f, "7 vd2\n");
	stopped_destroy(s);
}

static void test_stop_start_persist(void **state)
{
	struct fixture *f = *state;
	struct stopped *s = open_set(f);

	assert_false(stopped_has(s, 3));
	assert_int_equal(stopped_set(s, &f->db.disks[0], true), 0);
	assert_true(stopped_has(s, 3));
	assert_false(stopped_has(s, 7));
	assert_int_equal(f->changes, 1);
	/* Again: nothing to do, nothing published. */
	assert_int_equal(stopped_set(s, &f->db.disks[0], true), 0);
	assert_int_equal(f->changes, 1);
	assert_int_equal(stopped_set(s, &f->db.disks[1], true), 0);
	file_is(f, "3 vd1\n7 vd2\n");
	stopped_destroy(s);

	/* A restarted vdiskd keeps them stopped. */
	s = open_set(f);
	assert_true(stopped_has(s, 3));
	assert_true(stopped_has(s, 7));
	assert_int_equal(stopped_set(s, &f->db.disks[0], false), 0);
	only_vd2_stopped(f, s);
}

static void test_prune(void **state)
{
	struct fixture *f = *state;
	struct stopped *s = open_set(f);

	assert_int_equal(stopped_set(s, &f->db.disks[0], true), 0);
	assert_int_equal(stopped_set(s, &f->db.disks[1], true), 0);
	/* vd1 deleted (a new vd1 would have another id). */
	f->db.disks[0] = f->db.disks[1];
	f->db.ndisks = 1;
	stopped_prune(s, &f->db);
	only_vd2_stopped(f, s);
}

static void test_write_fails(void **state)
{
	struct fixture *f = *state;
	struct stopped *s = open_set(f);
	FILE *file;

	/* The state directory replaced by a file: the write cannot happen
	 * (even as root), and nothing changes. */
	assert_int_equal(rmdir(f->dir), 0);
	file = fopen(f->dir, "w");
	assert_non_null(file);
	fclose(file);
	assert_true(stopped_set(s, &f->db.disks[0], true) < 0);
	assert_false(stopped_has(s, 3));
	assert_int_equal(f->changes, 0);
	assert_int_equal(unlink(f->dir), 0);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	stopped_destroy(s);
}

static void test_bad_file(void **state)
{
	struct fixture *f = *state;
	struct stopped *s = NULL;
	char err[256] = "";
	static const char bad[] = "3 vd1\n0 vd2\n";

	assert_int_equal(persist_write(f->dir, STOPPED_FILE, bad, sizeof(bad) - 1), 0);
	assert_int_equal(stopped_create(&s, f->dir, changed, f, err, sizeof(err)), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "line 2: want \"ID NAME\""));
	assert_non_null(strstr(err, "remove the file to serve every disk here"));
}

static void expect_refused(const char *text, const char *why)
{
	struct stopped_entry e[2];
	char err[256] = "";
	size_t n;

	assert_int_equal(stopped_decode(text, strlen(text), e, 2, &n, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why))
		fail_msg("'%s': '%s' lacks '%s'", text, err, why);
}

static void test_decode(void **state)
{
	static const char good[] = "3 vd1\n4294967295 x\n";
	struct stopped_entry e[2];
	char err[256];
	size_t n;

	(void)state;
	assert_int_equal(stopped_decode(good, sizeof(good) - 1, e, 2, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(e[1].id, 4294967295u);
	assert_string_equal(e[1].name, "x");
	assert_int_equal(stopped_decode("", 0, e, 2, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	expect_refused("3 vd1", "line 1: no newline at the end");
	expect_refused("4294967296 vd1\n", "line 1: want \"ID NAME\"");
	expect_refused("vd1\n", "line 1: want \"ID NAME\"");
	expect_refused("3\n", "line 1: want \"ID NAME\"");
	expect_refused("3 -bad\n", "line 1: ");
	expect_refused("3 a\n4 b\n5 c\n", "line 3: more than 2 disks");
	expect_refused("3 a\n3 b\n", "line 2: disk id 3 again");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stop_start_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_file, setup, teardown),
		cmocka_unit_test(test_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

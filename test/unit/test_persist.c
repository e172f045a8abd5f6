/*
 * Atomic state files, in a private temporary directory per test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "persist.h"

struct fixture {
	char dir[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/test_persist.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int entry_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	/* Restore write permission a test may have taken away. */
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	chmod(f->dir, 0700);
	nftw(f->dir, entry_remove, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void content_assert(const char *dir, const char *name, const char *expect)
{
	size_t len = 0;
	char *buf = NULL;

	assert_int_equal(persist_read(dir, name, &buf, &len), 0);
	assert_int_equal(len, strlen(expect));
	assert_memory_equal(buf, expect, len);
	assert_int_equal(buf[len], '\0');
	free(buf);
}

/* Asserts dir holds exactly the one entry name: no temporary file left. */
static void only_entry_assert(const char *dir, const char *name)
{
	struct dirent *d;
	int count = 0;
	DIR *dp;

	dp = opendir(dir);
	assert_non_null(dp);
	while ((d = readdir(dp))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		assert_string_equal(d->d_name, name);
		count++;
	}
	closedir(dp);
	assert_int_equal(count, 1);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char path[PATH_MAX + 8];

	assert_int_equal(persist_write(f->dir, "db", "hello\n", 6), 0);
	content_assert(f->dir, "db", "hello\n");
	only_entry_assert(f->dir, "db");
	snprintf(path, sizeof(path), "%s/db", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_empty(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(persist_write(f->dir, "db", "", 0), 0);
	content_assert(f->dir, "db", "");
}

static void test_overwrite(void **state)
{
	struct fixture *f = *state;
	char big[100000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(persist_write(f->dir, "db", big, strlen(big)), 0);
	content_assert(f->dir, "db", big);
	assert_int_equal(persist_write(f->dir, "db", "short", 5), 0);
	content_assert(f->dir, "db", "short");
	only_entry_assert(f->dir, "db");
}

static void test_creates_dir(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX + 16];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/a/b/c", f->dir);
	assert_int_equal(persist_write(dir, "db", "x", 1), 0);
	content_assert(dir, "db", "x");
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void test_missing(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX + 16];
	size_t len;
	char *buf;

	assert_int_equal(persist_read(f->dir, "absent", &buf, &len), -ENOENT);
	snprintf(dir, sizeof(dir), "%s/nodir", f->dir);
	assert_int_equal(persist_read(dir, "absent", &buf, &len), -ENOENT);
}

static void test_bad_name(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {"", "a/b", ".", "..", "/db"};
	size_t len;
	char *buf;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(persist_write(f->dir, names[i], "x", 1), -EINVAL);
		assert_int_equal(persist_read(f->dir, names[i], &buf, &len), -EINVAL);
	}
	assert_int_equal(persist_write("", "db", "x", 1), -EINVAL);
}

static void test_unwritable_dir(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX + 16];

	/* A regular file in the way of the directory: fails for root too. */
	assert_int_equal(persist_write(f->dir, "file", "x", 1), 0);
	snprintf(dir, sizeof(dir), "%s/file", f->dir);
	assert_int_equal(persist_write(dir, "db", "x", 1), -ENOTDIR);
	snprintf(dir, sizeof(dir), "%s/file/sub", f->dir);
	assert_int_equal(persist_write(dir, "db", "x", 1), -ENOTDIR);

	assert_int_equal(persist_write(f->dir, "db", "old", 3), 0);
	if (geteuid() == 0)
		return; /* root writes through any mode */
	assert_int_equal(chmod(f->dir, 0500), 0);
	assert_int_equal(persist_write(f->dir, "db", "new", 3), -EACCES);
	assert_int_equal(chmod(f->dir, 0700), 0);
	content_assert(f->dir, "db", "old");
}

/* A write that fails halfway (file size limit) keeps the old content and
 * leaves no temporary file. */
static void test_failed_write_keeps_old(void **state)
{
	struct fixture *f = *state;
	static char big[65536];
	struct rlimit old;
	struct rlimit lim;
	void (*old_handler)(int);

	assert_int_equal(persist_write(f->dir, "db", "old", 3), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	memset(big, 'n', sizeof(big));
	assert_int_equal(persist_write(f->dir, "db", big, sizeof(big)), -EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	content_assert(f->dir, "db", "old");
	only_entry_assert(f->dir, "db");
}

/* Something in the temporary file's place (here a directory) fails the
 * write and leaves the old content alone. */
static void test_tmp_blocked(void **state)
{
	struct fixture *f = *state;
	char tmp[PATH_MAX + 16];

	assert_int_equal(persist_write(f->dir, "db", "old", 3), 0);
	snprintf(tmp, sizeof(tmp), "%s/.db.tmp", f->dir);
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(persist_write(f->dir, "db", "new", 3), -EISDIR);
	content_assert(f->dir, "db", "old");
}

static void test_read_file(void **state)
{
	struct fixture *f = *state;
	size_t len;
	char *buf;

	assert_int_equal(persist_read_file(f->dir, &buf, &len), -EISDIR);
	/* procfs reports size 0: the reader must not trust st_size. */
	assert_int_equal(persist_read_file("/proc/self/maps", &buf, &len), 0);
	assert_true(len > 0);
	assert_int_equal(strlen(buf), len);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_creates_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of vdiskctl's pure helpers (cli/format.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format.h"

static void test_format_mode(void **state)
{
	static const struct {
		uint32_t mode;
		const char *text;
	} cases[] = {
		{ 0, "----------" },	 { 0660, "-rw-rw----" }, { 0755, "-rwxr-xr-x" },
		{ 0777, "-rwxrwxrwx" },	 { 04755, "-rwsr-xr-x" }, { 04644, "-rwSr--r--" },
		{ 02750, "-rwxr-s---" }, { 02640, "-rw-r-S---" }, { 01777, "-rwxrwxrwt" },
		{ 01666, "-rw-rw-rwT" }, { 07777, "-rwsrwsrwt" }, { 07000, "---S--S--T" },
	};
	char buf[FORMAT_MODE_LEN];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		format_mode(cases[i].mode, buf);
		assert_string_equal(buf, cases[i].text);
	}
}

static int utc_setup(void **state)
{
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

/* Each expectation is what GNU ls -l (coreutils 9.1, LC_ALL=C, TZ=UTC)
 * prints for a file with that mtime at that moment: the time within the
 * six months before now, else the year. */
static void test_format_mtime(void **state)
{
	/* 2025-01-10 12:00:00 UTC */
	const time_t now = 1736510400;
	/* ls's six months: 31556952 / 2 seconds */
	const time_t half_year = 15778476;
	static const struct {
		const char *what;
		time_t mtime;
		const char *text;
	} cases[] = {
		{ "5 months ago, the year before", 1723291200, "Aug 10 12:00" },
		{ "7 months ago", 1718020800, "Jun 10  2024" },
		{ "next month, the same year", 1739188800, "Feb 10  2025" },
		{ "last December, in January", 1734683400, "Dec 20 08:30" },
		{ "now", now, "Jan 10 12:00" },
		{ "a second in the future", now + 1, "Jan 10  2025" },
		{ "a second inside six months", now - half_year + 1, "Jul 11 21:05" },
		{ "exactly six months ago", now - half_year, "Jul 11  2024" },
	};
	char buf[32];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(format_mtime(cases[i].mtime, now, buf, sizeof(buf)), 0);
		if (strcmp(buf, cases[i].text))
			fail_msg("%s: got '%s', want '%s'", cases[i].what, buf, cases[i].text);
	}
	/* 2024-03-05 09:07:00 at 2024-12-31 23:59:59: the same year, but
	 * older than six months */
	assert_int_equal(format_mtime(1709629620, 1735689599, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Mar  5  2024");
	assert_int_equal(format_mtime(now, now, buf, 5), -ERANGE);
}

static void test_format_time(void **state)
{
	char buf[64];

	assert_int_equal(format_time_full(1709629620, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2024-03-05 09:07:00 +0000");
	assert_int_equal(format_time_full(1709629620, buf, 10), -ERANGE);
	assert_int_equal(format_clock(1709629620, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "09:07:00");
	assert_int_equal(format_clock(1709629620, buf, 8), -ERANGE);
}

static void test_format_size_human(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{ 0, "0B" },
		{ 1, "1B" },
		{ 1023, "1023B" },
		{ 1024, "1.0K" },
		{ 1536, "1.5K" },
		{ 10 * 1024 - 52, "9.9K" },
		{ 10 * 1024 - 51, "10K" }, /* 9.95K rounds up to ten */
		{ 1048575, "1.0M" },	   /* 1023.999K */
		{ 512ull << 20, "512M" },
		{ (1ull << 30) - 1, "1.0G" },
		{ 1ull << 30, "1.0G" },
		{ 20ull << 30, "20G" },
		{ 3ull << 40, "3.0T" },
		{ 1ull << 50, "1.0P" },
		{ 1ull << 60, "1.0E" },
		{ UINT64_MAX, "16E" },
	};
	char buf[16];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(format_size_human(cases[i].bytes, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].text);
	}
	assert_int_equal(format_size_human(1023, buf, 5), -ERANGE);
	assert_int_equal(format_size_human(1023, buf, 6), 0);
}

/* parse_uint takes what parse_size takes without a suffix, and fails alike. */
static void test_parse_size_uint(void **state)
{
	static const struct {
		const char *text;
		int ret;
		uint64_t bytes;
	} cases[] = {
		{ "0", 0, 0 },
		{ "1023", 0, 1023 },
		{ "1024", 0, 1024 },
		{ "512B", 0, 512 },
		{ "1K", 0, 1024 },
		{ "4k", 0, 4096 },
		{ "1KiB", 0, 1024 },
		{ "512M", 0, 512ull << 20 },
		{ "2MiB", 0, 2ull << 20 },
		{ "10G", 0, 10ull << 30 },
		{ "1GiB", 0, 1ull << 30 },
		{ "3T", 0, 3ull << 40 },
		{ "3TiB", 0, 3ull << 40 },
		{ "1P", 0, 1ull << 50 },
		{ "1PiB", 0, 1ull << 50 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "16383P", 0, 16383ull << 50 },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999999K", -ERANGE, 0 },
		{ "16384P", -ERANGE, 0 },
		{ "17179869184G", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "G", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1.5G", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "1g", -EINVAL, 0 },
		{ "1KB", -EINVAL, 0 },
		{ "1Gi", -EINVAL, 0 },
		{ "1E", -EINVAL, 0 },
	};
	uint64_t bytes;
	bool plain;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		bytes = 42;
		assert_int_equal(parse_size(cases[i].text, &bytes), cases[i].ret);
		assert_int_equal(bytes, cases[i].ret ? 42 : cases[i].bytes);
		plain = !cases[i].text[strspn(cases[i].text, "0123456789")];
		bytes = 42;
		assert_int_equal(parse_uint(cases[i].text, &bytes), plain ? cases[i].ret : -EINVAL);
		assert_int_equal(bytes, plain && !cases[i].ret ? cases[i].bytes : 42);
	}
}

static void test_parse_mode(void **state)
{
	static const struct {
		const char *text;
		int ret;
		uint32_t mode;
	} cases[] = {
		{ "0", 0, 0 },	       { "00", 0, 0 },	       { "7", 0, 07 },
		{ "660", 0, 0660 },    { "0660", 0, 0660 },    { "4755", -EPERM, 0 },
		{ "0777", 0, 0777 },   { "0000", 0, 0 },       { "8", -EINVAL, 0 },
		{ "07777", -EPERM, 0 }, { "2640", -EPERM, 0 },  { "1000", -EPERM, 0 },
		{ "10000", -EINVAL, 0 }, { "007777", -EINVAL, 0 }, { "", -EINVAL, 0 },
		{ "0x1ff", -EINVAL, 0 }, { "-660", -EINVAL, 0 },   { " 660", -EINVAL, 0 },
		{ "660 ", -EINVAL, 0 },  { "rw", -EINVAL, 0 },	   { "0668", -EINVAL, 0 },
	};
	uint32_t mode;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		mode = 42;
		assert_int_equal(parse_mode(cases[i].text, &mode), cases[i].ret);
		assert_int_equal(mode, cases[i].ret ? 42 : cases[i].mode);
	}
}

static void test_parse_path_arg(void **state)
{
	char node[4], dev[12];

	assert_int_equal(parse_path_arg("n2:/dev/sdb", node, sizeof(node), dev, sizeof(dev)), 0);
	assert_string_equal(node, "n2");
	assert_string_equal(dev, "/dev/sdb");
	/* the first colon splits; the device keeps the rest */
	assert_int_equal(parse_path_arg("3:/a:b", node, sizeof(node), dev, sizeof(dev)), 0);
	assert_string_equal(node, "3");
	assert_string_equal(dev, "/a:b");
	assert_int_equal(parse_path_arg("n1:UUID=ab-c", node, sizeof(node), dev, sizeof(dev)), 0);
	assert_string_equal(dev, "UUID=ab-c");
	/* exactly full: three characters and the terminator */
	assert_int_equal(parse_path_arg("abc:12345678901", node, sizeof(node), dev, sizeof(dev)),
			 0);

	assert_int_equal(parse_path_arg("n2:", node, sizeof(node), dev, sizeof(dev)), -EINVAL);
	assert_int_equal(parse_path_arg(":/dev/sdb", node, sizeof(node), dev, sizeof(dev)),
			 -EINVAL);
	assert_int_equal(parse_path_arg("/dev/sdb", node, sizeof(node), dev, sizeof(dev)), -EINVAL);
	assert_int_equal(parse_path_arg("", node, sizeof(node), dev, sizeof(dev)), -EINVAL);
	assert_int_equal(parse_path_arg(":", node, sizeof(node), dev, sizeof(dev)), -EINVAL);
	assert_int_equal(parse_path_arg("abcd:/x", node, sizeof(node), dev, sizeof(dev)),
			 -ENAMETOOLONG);
	assert_int_equal(parse_path_arg("n:123456789012", node, sizeof(node), dev, sizeof(dev)),
			 -ENAMETOOLONG);
}

/* Prints t into a string the test owns. */
static char *table_text(const struct table *t)
{
	char *text = NULL;
	size_t len;
	FILE *out;

	out = open_memstream(&text, &len);
	assert_non_null(out);
	table_print(t, out);
	assert_int_equal(fclose(out), 0);
	return text;
}

static void test_table_headed(void **state)
{
	static const struct table_column columns[] = {
		{ "NAME", false }, { "SIZE", true }, { "OWNER", false },
	};
	struct table t;
	char *text;

	assert_int_equal(table_init(&t, columns, ARRAY_SIZE(columns)), 0);
	text = table_text(&t);
	assert_string_equal(text, "NAME  SIZE  OWNER\n");
	free(text);

	assert_int_equal(table_add(&t, "vd1", "1.0G", "root", NULL), 0);
	assert_int_equal(table_add(&t, "longer-name", "512M", "é", NULL), 0);
	assert_int_equal(table_add(&t, "x", "12345678", "o", NULL), 0);
	text = table_text(&t);
	/* widths come from every row; the last column gets no padding, and
	 * a two-byte UTF-8 character counts as one column */
	assert_string_equal(text, "NAME             SIZE  OWNER\n"
				  "vd1              1.0G  root\n"
				  "longer-name      512M  é\n"
				  "x            12345678  o\n");
	free(text);
	table_free(&t);
}

static void test_table_headless(void **state)
{
	static const struct table_column columns[] = {
		{ NULL, false }, { NULL, true }, { NULL, false },
	};
	const char *row[] = { "-rw-rw----", "1073741824", "vd1" };
	struct table t;
	char *text;

	assert_int_equal(table_init(&t, columns, ARRAY_SIZE(columns)), 0);
	assert_int_equal(table_add_row(&t, row), 0);
	assert_int_equal(table_add(&t, "-rw-------", "0", "bad\033[2Jname\n", NULL), 0);
	text = table_text(&t);
	/* control characters from the daemon are neutralised */
	assert_string_equal(text, "-rw-rw---- 1073741824 vd1\n"
				  "-rw-------          0 bad?[2Jname?\n");
	free(text);
	table_free(&t);
}

static void test_table_errors(void **state)
{
	static const struct table_column columns[] = { { "A", false }, { "B", false } };
	struct table t;
	int i;

	assert_int_equal(table_init(&t, columns, 0), -EINVAL);
	table_free(&t);
	assert_int_equal(table_init(&t, columns, TABLE_COLUMNS_MAX + 1), -EINVAL);
	table_free(&t);

	assert_int_equal(table_init(&t, columns, ARRAY_SIZE(columns)), 0);
	assert_int_equal(table_add(&t, "a", NULL), -EINVAL);
	assert_int_equal(table_add(&t, "a", "b", "c", NULL), -EINVAL);
	/* more cells than any table has columns */
	assert_int_equal(table_add(&t, "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",
				   NULL),
			 -EINVAL);
	assert_int_equal(t.nrows, 0);
	/* enough rows to grow the cell array several times */
	for (i = 0; i < 100; i++)
		assert_int_equal(table_add(&t, "a", "b", NULL), 0);
	assert_int_equal(t.nrows, 100);
	table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_mode),
		cmocka_unit_test_setup(test_format_mtime, utc_setup),
		cmocka_unit_test_setup(test_format_time, utc_setup),
		cmocka_unit_test(test_format_size_human),
		cmocka_unit_test(test_parse_size_uint),
		cmocka_unit_test(test_parse_mode),
		cmocka_unit_test(test_parse_path_arg),
		cmocka_unit_test(test_table_headed),
		cmocka_unit_test(test_table_headless),
		cmocka_unit_test(test_table_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

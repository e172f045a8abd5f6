/*
 * Device specs, probing and the inventory. Tag resolution against a real
 * device runs on an ext4 loop device when the test may create one (root,
 * losetup and mkfs.ext4 present) and is skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
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

#include <vdisk/syntax.h>

#include "device.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define LOOP_SIZE (16 * 1024 * 1024)

static void test_spec_check(void **state)
{
	static const char *const good[] = {
		"/dev/sdb",	 "/srv/disk.img",    "UUID=0b5e7c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b",
		"LABEL=my disk", "PARTUUID=5a1d-01", "/"};
	static const char *const bad[] = {
		"",	 "dev/sdb", "disk.img",	   "UUID=",	 "uuid=abc",  "FOO=bar",
		"LABEL", "=x",	    "PARTLABEL=x", "/dev/sd\nb", "LABEL=a\tb"};
	char spec[300];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++)
		assert_int_equal(vdisk_device_spec_check(good[i]), 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(vdisk_device_spec_check(bad[i]), -EINVAL);

	/* VDISK_DEVICE_MAX (255) bytes and no more. */
	memset(spec, 'a', sizeof(spec));
	spec[0] = '/';
	spec[255] = '\0';
	assert_int_equal(vdisk_device_spec_check(spec), 0);
	spec[255] = 'a';
	spec[256] = '\0';
	assert_int_equal(vdisk_device_spec_check(spec), -EINVAL);
}

static void test_resolve(void **state)
{
	char path[PATH_MAX];

	/* A path is returned as is, existing or not: probing checks it. */
	assert_int_equal(device_resolve("/srv/missing", path, sizeof(path)), 0);
	assert_string_equal(path, "/srv/missing");
	assert_int_equal(device_resolve("/srv/missing", path, 12), -ENAMETOOLONG);
	assert_int_equal(device_resolve("/srv/missing", path, 13), 0);

	assert_int_equal(device_resolve("srv/missing", path, sizeof(path)), -EINVAL);
	assert_int_equal(device_resolve("UUID=", path, sizeof(path)), -EINVAL);
	assert_int_equal(device_resolve("SERIAL=x", path, sizeof(path)), -EINVAL);

	assert_int_equal(
		device_resolve("UUID=00000000-dead-beef-0000-000000000000", path, sizeof(path)),
		-ENOENT);
	assert_int_equal(device_resolve("LABEL=vdisk-no-such-label", path, sizeof(path)), -ENOENT);
	assert_int_equal(
		device_resolve("PARTUUID=00000000-dead-beef-0000-000000000000", path, sizeof(path)),
		-ENOENT);
}

static void test_probe_file(void **state)
{
	char dir[] = "/tmp/test_device.XXXXXX";
	char file[PATH_MAX];
	char path[PATH_MAX];
	uint64_t size = 0;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/disk.img", dir);
	fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1048576 + 123), 0);
	close(fd);

	assert_int_equal(device_probe(file, path, sizeof(path), &size), 0);
	assert_string_equal(path, file);
	assert_int_equal(size, 1048576 + 123);

	/* Read-only for its owner: refused unless root, who opens anyway. */
	assert_int_equal(chmod(file, 0400), 0);
	assert_int_equal(device_probe(file, path, sizeof(path), &size),
			 geteuid() == 0 ? 0 : -EACCES);

	unlink(file);
	assert_int_equal(device_probe(file, path, sizeof(path), &size), -ENOENT);
	assert_int_equal(device_probe(dir, path, sizeof(path), &size), -EISDIR);
	assert_int_equal(mkfifo(file, 0600), 0);
	assert_int_equal(device_probe(file, path, sizeof(path), &size), -ENOTBLK);
	assert_int_equal(device_probe("/dev/null", path, sizeof(path), &size), -ENOTBLK);
	assert_int_equal(device_probe("disk.img", path, sizeof(path), &size), -EINVAL);
	unlink(file);
	rmdir(dir);
}

static void test_scan(void **state)
{
	struct device_info *list = NULL;
	size_t count = 0;
	size_t i;

	assert_int_equal(device_scan(&list, &count), 0);
	for (i = 0; i < count; i++) {
		assert_true(list[i].path[0] == '/');
		assert_true(list[i].size > 0);
	}
	free(list);
}

/* An ext4 filesystem on a loop device, with a label and UUID of our own. */
struct loop {
	char image[PATH_MAX];
	char dev[PATH_MAX];
	char label[17];
	char uuid[40];
};

static int command_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int command_run(const char *fmt, ...)
{
	char cmd[PATH_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int loop_setup(void **state)
{
	struct loop *l = calloc(1, sizeof(*l));
	char cmd[PATH_MAX + 64];
	FILE *f;
	int fd;

	if (!l)
		return -1;
	*state = l;
	if (geteuid() != 0)
		return 0;
	strcpy(l->image, "/tmp/test_device_loop.XXXXXX");
	fd = mkstemp(l->image);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, LOOP_SIZE) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	/* Unique per process: the suites of several builds may run at once. */
	snprintf(l->label, sizeof(l->label), "vdt%d", (int)getpid());
	f = fopen("/proc/sys/kernel/random/uuid", "r");
	if (!f)
		return 0;
	if (!fgets(l->uuid, sizeof(l->uuid), f))
		l->uuid[0] = '\0';
	fclose(f);
	l->uuid[strcspn(l->uuid, "\n")] = '\0';
	if (!l->uuid[0] || command_run("mkfs.ext4 -q -F -L %s -U %s %s >/dev/null 2>&1", l->label,
				       l->uuid, l->image) != 0)
		return 0;
	/* mkstemp() names need no shell quoting. */
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>/dev/null", l->image);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	if (!fgets(l->dev, sizeof(l->dev), f))
		l->dev[0] = '\0';
	l->dev[strcspn(l->dev, "\n")] = '\0';
	if (pclose(f) != 0 && l->dev[0]) {
		command_run("losetup -d %s", l->dev);
		l->dev[0] = '\0';
	}
	return 0;
}

static int loop_teardown(void **state)
{
	struct loop *l = *state;

	if (l->dev[0])
		command_run("losetup -d %s", l->dev);
	if (l->image[0])
		unlink(l->image);
	free(l);
	return 0;
}

static void test_loop(void **state)
{
	struct loop *l = *state;
	struct device_info *list = NULL;
	char path[PATH_MAX];
	char spec[64];
	uint64_t size = 0;
	size_t count = 0;
	size_t i;

	/* The suite runs as root with loop devices (README): without one the
	 * check would pass without checking, so it fails and says why. */
	if (!l->dev[0])
		fail_msg("no loop device: mkfs.ext4 or losetup -f on %s failed (needs root)",
			 l->image);

	snprintf(spec, sizeof(spec), "LABEL=%s", l->label);
	assert_int_equal(device_resolve(spec, path, sizeof(path)), 0);
	assert_string_equal(path, l->dev);
	snprintf(spec, sizeof(spec), "UUID=%s", l->uuid);
	assert_int_equal(device_probe(spec, path, sizeof(path), &size), 0);
	assert_string_equal(path, l->dev);
	assert_int_equal(size, LOOP_SIZE);

	/* Loop devices are resolved by tag but never scanned: one may be
	 * backed by an ndfs file of this daemon, and probing it would hang. */
	assert_int_equal(device_scan(&list, &count), 0);
	for (i = 0; i < count; i++)
		assert_string_not_equal(list[i].path, l->dev);
	free(list);

	/* Relabelled after blkid cached it: found by its new label, not by
	 * the old one. */
	snprintf(spec, sizeof(spec), "LABEL=%s", l->label);
	l->label[0] = 'w';
	if (command_run("e2label %s %s", l->dev, l->label) != 0)
		fail_msg("e2label %s %s failed", l->dev, l->label);
	assert_int_equal(device_resolve(spec, path, sizeof(path)), -ENOENT);
	snprintf(spec, sizeof(spec), "LABEL=%s", l->label);
	assert_int_equal(device_resolve(spec, path, sizeof(path)), 0);
	assert_string_equal(path, l->dev);
}

/* One storage by any name: the image, a symlink to it, the loop device over
 * it and the loop device's UUID= all overlap; another file does not. */
static void test_identify(void **state)
{
	struct loop *l = *state;
	struct device_id img, link_id, dev, tag, other;
	char link[PATH_MAX], spec[64], tmp[] = "/tmp/test_device_other.XXXXXX";
	int fd;

	assert_int_equal(device_identify(l->image, &img), 0);
	assert_false(img.blk);
	snprintf(link, sizeof(link), "%s.link", l->image);
	assert_int_equal(symlink(l->image, link), 0);
	assert_int_equal(device_identify(link, &link_id), 0);
	unlink(link);
	assert_true(device_id_overlap(&img, &link_id));
	fd = mkstemp(tmp);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(device_identify(tmp, &other), 0);
	unlink(tmp);
	assert_false(device_id_overlap(&img, &other));
	assert_int_equal(device_identify("/nonexistent/x", &other), -ENOENT);

	/* The suite runs as root with loop devices (README): without one the
	 * check would pass without checking, so it fails and says why. */
	if (!l->dev[0])
		fail_msg("no loop device: mkfs.ext4 or losetup -f on %s failed (needs root)",
			 l->image);
	assert_int_equal(device_identify(l->dev, &dev), 0);
	assert_true(dev.blk);
	snprintf(spec, sizeof(spec), "UUID=%s", l->uuid);
	assert_int_equal(device_identify(spec, &tag), 0);
	assert_true(device_id_overlap(&dev, &tag));
	assert_true(device_id_overlap(&dev, &img));
	assert_true(device_id_overlap(&img, &dev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_check),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_probe_file),
		cmocka_unit_test(test_scan),
		cmocka_unit_test_setup_teardown(test_loop, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_identify, loop_setup, loop_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

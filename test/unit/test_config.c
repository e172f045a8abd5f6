/*
 * vdisk.conf parser: defaults, every key, every error with its file:line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "persist.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int text_parse(struct vdisk_config *cfg, const char *text, char *err, size_t errlen)
{
	config_init(cfg);
	return config_parse(cfg, text, strlen(text), "test.conf", err, errlen);
}

static void parse_ok(struct vdisk_config *cfg, const char *text)
{
	char err[256] = "";

	assert_int_equal(text_parse(cfg, text, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void test_defaults(void **state)
{
	struct vdisk_config cfg;

	config_init(&cfg);
	assert_string_equal(cfg.state_dir, "/var/lib/vdisk");
	assert_string_equal(cfg.run_dir, "/run/vdisk");
	assert_string_equal(cfg.ipc_name, "vdisk");
	assert_int_equal(cfg.port, 5420);
	assert_int_equal(cfg.heartbeat_interval_ms, 200);
	assert_int_equal(cfg.heartbeat_timeout_ms, 1000);
	assert_int_equal(cfg.policy, VDISK_POLICY_PASSIVE);
	assert_string_equal(cfg.authkey, "/etc/corosync/authkey");
	assert_string_equal(cfg.nbd_socket, "/run/vdisk/nbd.sock");
	assert_string_equal(cfg.nbd_listen, "");
	assert_string_equal(cfg.ndfs_mount, "/run/vdisk/dev");
	assert_int_equal(cfg.io_timeout_ms, 30000);
	assert_int_equal(cfg.ack_timeout_ms, 5000);

	/* An empty file changes nothing. */
	parse_ok(&cfg, "");
	assert_string_equal(cfg.nbd_socket, "/run/vdisk/nbd.sock");
	assert_int_equal(cfg.port, 5420);
}

static void test_every_key(void **state)
{
	struct vdisk_config cfg;

	parse_ok(&cfg, "# vdisk.conf\n"
		       "; another comment\n"
		       "\n"
		       "[daemon]\n"
		       "state_dir = /srv/n1/state\n"
		       "run_dir=/srv/n1/run\n"
		       "\tipc_name =  vdisk-n1  \n"
		       "[transport]\n"
		       "port = 6000\n"
		       "heartbeat_interval_ms = 100\n"
		       "heartbeat_timeout_ms = 3600000\n"
		       "policy = stripe\n"
		       "authkey = none\n"
		       "[ nbd ]\n"
		       "socket = /srv/n1/nbd\n"
		       "listen = [::1]:10809\n"
		       "[ndfs]\n"
		       "mount = /srv/n1/dev\n"
		       "[io]\n"
		       "timeout_ms = 1\n"
		       "lease_ms = 100\n"
		       "fence_command = /usr/sbin/vdisk-fence-pacemaker\n"
		       "[reconfig]\n"
		       "ack_timeout_ms = 250\n"
		       "[mirror]\n"
		       "resync_rate = 16\n");
	assert_string_equal(cfg.state_dir, "/srv/n1/state");
	assert_string_equal(cfg.run_dir, "/srv/n1/run");
	assert_string_equal(cfg.ipc_name, "vdisk-n1");
	assert_int_equal(cfg.port, 6000);
	assert_int_equal(cfg.heartbeat_interval_ms, 100);
	assert_int_equal(cfg.heartbeat_timeout_ms, 3600000);
	assert_int_equal(cfg.policy, VDISK_POLICY_STRIPE);
	assert_string_equal(cfg.authkey, "none");
	assert_string_equal(cfg.nbd_socket, "/srv/n1/nbd");
	assert_string_equal(cfg.nbd_listen, "[::1]:10809");
	assert_string_equal(cfg.ndfs_mount, "/srv/n1/dev");
	assert_int_equal(cfg.io_timeout_ms, 1);
	assert_int_equal(cfg.lease_ms, 100);
	assert_string_equal(cfg.fence_command, "/usr/sbin/vdisk-fence-pacemaker");
	assert_int_equal(cfg.ack_timeout_ms, 250);
	assert_int_equal(cfg.resync_rate, 16);

	parse_ok(&cfg, "[transport]\npolicy = passive\nauthkey = /etc/vdisk/key\nport = 65535\n"
		       "[nbd]\nlisten = 10809\n");
	assert_int_equal(cfg.policy, VDISK_POLICY_PASSIVE);
	assert_string_equal(cfg.authkey, "/etc/vdisk/key");
	assert_int_equal(cfg.port, 65535);
	assert_string_equal(cfg.nbd_listen, "10809");
}

static void test_syntax(void **state)
{
	static const char text[] = "[transport]\r\n"
				   "  port   =   7000  \r\n"
				   "   # indented comment\n"
				   "\t\n"
				   "[io]\n"
				   "[transport]\n"
				   "policy = stripe";
	struct vdisk_config cfg;
	char err[256] = "";

	/* CRLF, a section opened twice, no final newline. */
	parse_ok(&cfg, text);
	assert_int_equal(cfg.port, 7000);
	assert_int_equal(cfg.policy, VDISK_POLICY_STRIPE);

	/* The text need not be NUL-terminated: only len bytes count. */
	config_init(&cfg);
	assert_int_equal(
		config_parse(&cfg, "[io]\ntimeout_ms = 12garbage", 20, "t", err, sizeof(err)), 0);
	assert_int_equal(cfg.io_timeout_ms, 12);
}

static void test_links(void **state)
{
	struct vdisk_config cfg;
	const struct config_links *l;

	parse_ok(&cfg, "[links]\nn1 = 10.0.0.1, 10.1.0.1\n2 = fd00::2\n"
		       "n3 = ::ffff:10.0.0.3,2001:db8:0:0:0:0:0:3\n");
	assert_int_equal(cfg.nlinks, 3);
	l = config_links_find(&cfg, "n1", 1);
	assert_non_null(l);
	assert_int_equal(l->naddrs, 2);
	assert_string_equal(l->addr[0], "10.0.0.1");
	assert_string_equal(l->addr[1], "10.1.0.1");
	/* A node may be named by its nodeid. */
	l = config_links_find(&cfg, "n2", 2);
	assert_non_null(l);
	assert_string_equal(l->addr[0], "fd00::2");
	l = config_links_find(&cfg, "n3", 3);
	assert_non_null(l);
	assert_int_equal(l->naddrs, 2);
	assert_string_equal(l->addr[1], "2001:db8:0:0:0:0:0:3");
	assert_null(config_links_find(&cfg, "n4", 4));
}

static void test_derived_paths(void **state)
{
	struct vdisk_config cfg;
	char err[256];
	char text[256];
	char *long_text;
	char *p;

	parse_ok(&cfg, "[daemon]\nrun_dir = /srv/n2/run\n");
	assert_string_equal(cfg.nbd_socket, "/srv/n2/run/nbd.sock");
	assert_string_equal(cfg.ndfs_mount, "/srv/n2/run/dev");

	/* An explicit path wins, wherever it appears. */
	parse_ok(&cfg, "[nbd]\nsocket = /tmp/s\n[ndfs]\nmount = /mnt/d\n"
		       "[daemon]\nrun_dir = /srv/n2/run\n");
	assert_string_equal(cfg.nbd_socket, "/tmp/s");
	assert_string_equal(cfg.ndfs_mount, "/mnt/d");

	/* A run_dir too long for a unix socket path under it. */
	snprintf(text, sizeof(text), "[daemon]\n\nrun_dir = /%0100d\n", 0);
	assert_int_equal(text_parse(&cfg, text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "test.conf:3: run_dir too long for the NBD socket <run_dir>/nbd.sock "
			    "(longest is 107 bytes); set [nbd] socket");

	/* A run_dir with room for nothing under it. */
	long_text = malloc(PATH_MAX + 64);
	assert_non_null(long_text);
	p = long_text + sprintf(long_text, "[nbd]\nsocket = /s\n[daemon]\nrun_dir = /");
	memset(p, 'r', PATH_MAX - 2);
	strcpy(p + PATH_MAX - 2, "\n");
	assert_int_equal(text_parse(&cfg, long_text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "test.conf:4: run_dir too long for the mount point <run_dir>/dev; "
				 "set [ndfs] mount");
	free(long_text);
}

struct error_case {
	const char *text;
	const char *err;
};

static const struct error_case error_cases[] = {
	{"[daemon]\nstate_dir\n", "test.conf:2: expected '[section]' or 'key = value'"},
	{"\n[daemon\n", "test.conf:2: unterminated section header, missing ']'"},
	{"[daemon] x\n", "test.conf:1: unexpected text after ']'"},
	{"[daemons]\n", "test.conf:1: unknown section [daemons]"},
	{"[]\n", "test.conf:1: unknown section []"},
	{"[transport]\nprot = 1\n", "test.conf:2: unknown key 'prot' in section [transport]"},
	{"[daemon]\nport = 1\n", "test.conf:2: unknown key 'port' in section [daemon]"},
	{"port = 1\n[transport]\n", "test.conf:1: key 'port' outside any section"},
	{"[transport]\n = 1\n", "test.conf:2: missing key before '='"},
	{"[transport]\nport =\n", "test.conf:2: missing value for 'port'"},
	{"[transport]\nport = \t \n", "test.conf:2: missing value for 'port'"},
	{"[transport]\nport = 1\n\nport = 2\n",
	 "test.conf:4: duplicate key 'port' in section [transport] (first set on line 2)"},
	{"[transport]\nport = 1\n[io]\n[transport]\nport = 2\n",
	 "test.conf:5: duplicate key 'port' in section [transport] (first set on line 2)"},
	{"[transport]\nport = 12ab\n", "test.conf:2: invalid number '12ab' for 'port'"},
	{"[transport]\nport = -1\n", "test.conf:2: invalid number '-1' for 'port'"},
	{"[transport]\nport = +1\n", "test.conf:2: invalid number '+1' for 'port'"},
	{"[transport]\nport = 0x10\n", "test.conf:2: invalid number '0x10' for 'port'"},
	{"[transport]\nport = 1 2\n", "test.conf:2: invalid number '1 2' for 'port'"},
	{"[transport]\nport = 0\n", "test.conf:2: 'port' must be between 1 and 65535, not 0"},
	{"[transport]\nport = 65536\n",
	 "test.conf:2: 'port' must be between 1 and 65535, not 65536"},
	{"[transport]\nport = 99999999999999999999999\n",
	 "test.conf:2: 'port' must be between 1 and 65535, not 99999999999999999999999"},
	{"[io]\ntimeout_ms = 0\n",
	 "test.conf:2: 'timeout_ms' must be between 1 and 3600000, not 0"},
	{"[io]\ntimeout_ms = 500\nlease_ms = 99\n",
	 "test.conf:3: lease_ms (99) must be 0 (automatic) or at least 100"},
	{"[io]\nfence_command = vdisk-fence-pacemaker\n",
	 "test.conf:2: 'fence_command' must be an absolute path, not 'vdisk-fence-pacemaker'"},
	{"[reconfig]\nack_timeout_ms = 3600001\n",
	 "test.conf:2: 'ack_timeout_ms' must be between 1 and 3600000, not 3600001"},
	{"[transport]\nheartbeat_interval_ms = 4294967296\n",
	 "test.conf:2: 'heartbeat_interval_ms' must be between 1 and 3600000, not 4294967296"},
	{"[transport]\nheartbeat_timeout_ms = 200\n",
	 "test.conf:2: heartbeat_timeout_ms (200) must be greater than heartbeat_interval_ms "
	 "(200)"},
	{"[transport]\nheartbeat_timeout_ms = 500\n\nheartbeat_interval_ms = 600\n",
	 "test.conf:4: heartbeat_timeout_ms (500) must be greater than heartbeat_interval_ms "
	 "(600)"},
	{"[transport]\npolicy = active\n",
	 "test.conf:2: invalid policy 'active', expected passive or stripe"},
	{"[transport]\npolicy = Stripe\n",
	 "test.conf:2: invalid policy 'Stripe', expected passive or stripe"},
	{"[daemon]\nstate_dir = var/lib/vdisk\n",
	 "test.conf:2: 'state_dir' must be an absolute path, not 'var/lib/vdisk'"},
	{"[daemon]\nrun_dir = ./run\n",
	 "test.conf:2: 'run_dir' must be an absolute path, not './run'"},
	{"[nbd]\nsocket = nbd.sock\n",
	 "test.conf:2: 'socket' must be an absolute path, not 'nbd.sock'"},
	{"[ndfs]\nmount = dev\n", "test.conf:2: 'mount' must be an absolute path, not 'dev'"},
	{"[transport]\nauthkey = authkey\n",
	 "test.conf:2: 'authkey' must be an absolute path or none, not 'authkey'"},
	{"[daemon]\nipc_name = vd/isk\n",
	 "test.conf:2: 'ipc_name' may contain only letters, digits, '.', '_' and '-'"},
	{"[nbd]\nlisten = host:\n",
	 "test.conf:2: invalid listen address 'host:', expected PORT, HOST:PORT or "
	 "[IPV6]:PORT with PORT 1-65535"},
	{"[nbd]\nlisten = ::1:10809\n",
	 "test.conf:2: invalid listen address '::1:10809', expected PORT, HOST:PORT or "
	 "[IPV6]:PORT with PORT 1-65535"},
	{"[nbd]\nlisten = 0\n",
	 "test.conf:2: invalid listen address '0', expected PORT, HOST:PORT or "
	 "[IPV6]:PORT with PORT 1-65535"},
	{"[links]\nn1 = 10.0.0.1\nn1 = 10.0.0.2\n", "test.conf:3: links of 'n1' given twice"},
	{"[nbd]\nallow = 10.0.0.0/33\n",
	 "test.conf:2: invalid network '10.0.0.0/33' in 'allow', expected a numeric IPv4 or IPv6 "
	 "ADDR or ADDR/PREFIX"},
	{"[nbd]\nallow = 10.0.0.1, , ::1\n",
	 "test.conf:2: invalid network '' in 'allow', expected a numeric IPv4 or IPv6 ADDR or "
	 "ADDR/PREFIX"},
	{"[nbd]\nallow = node1/24\n",
	 "test.conf:2: invalid network 'node1/24' in 'allow', expected a numeric IPv4 or IPv6 "
	 "ADDR or ADDR/PREFIX"},
	{"[nbd]\nallow = 10.0.0.1/\n",
	 "test.conf:2: invalid network '10.0.0.1/' in 'allow', expected a numeric IPv4 or IPv6 "
	 "ADDR or ADDR/PREFIX"},
	{"[links]\nn1 = 10.0.0.1,\n", "test.conf:2: links of 'n1': empty address"},
	{"[links]\nn1 = ,10.0.0.1\n", "test.conf:2: links of 'n1': empty address"},
	{"[links]\nn1 = a b\n",
	 "test.conf:2: links of 'n1': 'a b' is not a numeric IPv4 or IPv6 address (host names "
	 "are not looked up)"},
	{"[links]\nn1 = 10.0.0.1\n\nn2 = not-an-address!!, 999.1.1.1\n",
	 "test.conf:4: links of 'n2': 'not-an-address!!' is not a numeric IPv4 or IPv6 address "
	 "(host names are not looked up)"},
	{"[links]\nn2 = 10.0.0.2, 999.1.1.1\n",
	 "test.conf:2: links of 'n2': '999.1.1.1' is not a numeric IPv4 or IPv6 address (host "
	 "names are not looked up)"},
	{"[links]\nn1 = node1.example.com\n",
	 "test.conf:2: links of 'n1': 'node1.example.com' is not a numeric IPv4 or IPv6 address "
	 "(host names are not looked up)"},
	{"[links]\nn1 = [fd00::1]\n",
	 "test.conf:2: links of 'n1': '[fd00::1]' is not a numeric IPv4 or IPv6 address (host "
	 "names are not looked up)"},
	{"[links]\nn1 = 10.0.0.1:5420\n",
	 "test.conf:2: links of 'n1': '10.0.0.1:5420' is not a numeric IPv4 or IPv6 address "
	 "(host names are not looked up)"},
	{"[links]\nn1 = 1,2,3,4,5\n",
	 "test.conf:2: links of 'n1': '1' is not a numeric IPv4 or IPv6 address (host names are "
	 "not looked up)"},
	{"[links]\nn1 = 10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6,10.0.0.7,10.0.0.8,"
	 "10.0.0.9\n",
	 "test.conf:2: links of 'n1': more than 8 addresses"},
	{"[nbd]\nlisten = off\n",
	 "test.conf:2: invalid listen address 'off', expected PORT, HOST:PORT or "
	 "[IPV6]:PORT with PORT 1-65535"},
};

static void test_errors(void **state)
{
	struct vdisk_config cfg;
	char err[256];
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(error_cases); i++) {
		err[0] = '\0';
		ret = text_parse(&cfg, error_cases[i].text, err, sizeof(err));
		/* The message first: it tells which case failed. */
		assert_string_equal(err, error_cases[i].err);
		assert_int_equal(ret, -EINVAL);
	}
}

static void test_nul_byte(void **state)
{
	static const char text[] = "[io]\n\ntimeout_ms = 1\0 2\n";
	struct vdisk_config cfg;
	char err[256];

	config_init(&cfg);
	assert_int_equal(config_parse(&cfg, text, sizeof(text) - 1, "/etc/vdisk/vdisk.conf", err,
				      sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "/etc/vdisk/vdisk.conf:3: NUL byte in line");
}

static void test_too_long(void **state)
{
	struct vdisk_config cfg;
	char *text;
	char err[512];
	char *p;

	text = malloc(PATH_MAX + 64);
	assert_non_null(text);

	/* state_dir holds PATH_MAX - 1 bytes and no more. */
	p = text + sprintf(text, "[daemon]\nstate_dir = /");
	memset(p, 'a', PATH_MAX - 2);
	strcpy(p + PATH_MAX - 2, "\n");
	parse_ok(&cfg, text);
	assert_int_equal(strlen(cfg.state_dir), PATH_MAX - 1);
	strcpy(p + PATH_MAX - 2, "a\n");
	assert_int_equal(text_parse(&cfg, text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "test.conf:2: value of 'state_dir' too long (longest is 4095 bytes)");

	/* A socket path is bounded by sun_path. */
	p = text + sprintf(text, "[nbd]\nsocket = /");
	memset(p, 's', 107);
	strcpy(p + 107, "\n");
	assert_int_equal(text_parse(&cfg, text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "test.conf:2: value of 'socket' too long (longest is 107 bytes)");
	strcpy(p + 106, "\n");
	parse_ok(&cfg, text);

	p = text + sprintf(text, "[daemon]\nipc_name = ");
	memset(p, 'i', 64);
	strcpy(p + 64, "\n");
	assert_int_equal(text_parse(&cfg, text, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "test.conf:2: value of 'ipc_name' too long (longest is 63 bytes)");

	/* A long unknown key is quoted cut short. */
	p = text + sprintf(text, "[io]\n");
	memset(p, 'k', 200);
	strcpy(p + 200, " = 1\n");
	assert_int_equal(text_parse(&cfg, text, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), strlen("test.conf:2: unknown key '' in section [io]") + 64);
	free(text);
}

static void test_small_err(void **state)
{
	struct vdisk_config cfg;
	char err[8];

	memset(err, 'x', sizeof(err));
	assert_int_equal(text_parse(&cfg, "[x]\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "test.co");
	/* No room for a message at all is fine too. */
	assert_int_equal(text_parse(&cfg, "[x]\n", NULL, 0), -EINVAL);
}

static void test_load(void **state)
{
	static const char text[] = "[transport]\nport = 5999\n[io]\ntimeout = 5\n";
	char path[] = "/tmp/test_config.XXXXXX";
	struct vdisk_config cfg;
	char expect[256];
	char err[256];
	int fd;

	config_init(&cfg);
	assert_int_equal(config_load(&cfg, "/nonexistent/vdisk.conf", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/vdisk.conf: No such file or directory");
	assert_int_equal(config_load(&cfg, "/tmp", err, sizeof(err)), -EISDIR);
	assert_string_equal(err, "/tmp: Is a directory");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	snprintf(expect, sizeof(expect), "%s:4: unknown key 'timeout' in section [io]", path);
	assert_string_equal(err, expect);
	assert_int_equal(cfg.port, 5999);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, 24), 24);
	close(fd);
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 5999);
	unlink(path);
}

/* etc/vdisk.conf shows every key with its default, commented out:
 * uncommented, it must parse to exactly the defaults (and the listen, allow
 * and links examples). */
static void test_example(void **state)
{
	struct vdisk_config defaults;
	struct vdisk_config cfg;
	char path[PATH_MAX];
	char err[256];
	size_t len;
	char *text;
	char *line;
	size_t n;
	int keys = 0;

	snprintf(path, sizeof(path), "%.*s/../../etc/vdisk.conf",
		 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
	assert_int_equal(persist_read_file(path, &text, &len), 0);
	for (line = text; line < text + len; line += n + 1) {
		n = strcspn(line, "\n");
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
		    strstr(line, " = ") - line < (ptrdiff_t)n) {
			line[0] = ' ';
			keys++;
		}
	}
	assert_int_equal(keys, 18);
	config_init(&defaults);
	config_init(&cfg);
	assert_int_equal(config_parse(&cfg, text, len, path, err, sizeof(err)), 0);
	assert_string_equal(cfg.nbd_listen, "10809");
	memset(cfg.nbd_listen, 0, sizeof(cfg.nbd_listen));
	assert_int_equal(cfg.nnbd_allow, 2);
	assert_int_equal(cfg.nbd_allow[1].family, AF_INET6);
	assert_int_equal(cfg.nbd_allow[1].prefix, 64);
	cfg.nnbd_allow = 0;
	memset(cfg.nbd_allow, 0, sizeof(cfg.nbd_allow));
	assert_int_equal(cfg.nlinks, 2);
	assert_string_equal(config_links_find(&cfg, "n2", 2)->addr[1], "192.168.11.2");
	cfg.nlinks = 0;
	memset(cfg.links, 0, sizeof(cfg.links));
	assert_memory_equal(&cfg, &defaults, sizeof(cfg));
	free(text);
}

static struct sockaddr_storage sa_of(const char *text)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
	}
	return ss;
}

/* [nbd] allow: networks by prefix, single addresses, IPv4 seen through a
 * dual-stack listener as ::ffff:a.b.c.d. */
static void test_nbd_allow(void **state)
{
	static const char text[] = "[nbd]\nallow = 192.168.10.0/24, 10.1.2.3 ,2001:db8::/33, "
				   "::ffff:172.16.0.0/108\n";
	static const char *const in[] = {
		"192.168.10.1", "192.168.10.255",   "10.1.2.3",	   "2001:db8::1",
		"2001:db8:7fff::9", "::ffff:192.168.10.7", "172.31.255.255", "172.16.0.0",
	};
	static const char *const out[] = {
		"192.168.11.1", "10.1.2.4",	  "2001:db8:8000::1", "::1",
		"::ffff:10.1.2.4", "172.32.0.0", "2001:db9::1",	      "::192.168.10.1",
	};
	struct vdisk_config cfg;
	struct sockaddr_storage ss;
	char err[256];
	size_t i;

	config_init(&cfg);
	assert_int_equal(cfg.nnbd_allow, 0);
	assert_int_equal(config_parse(&cfg, text, strlen(text), "test.conf", err, sizeof(err)), 0);
	assert_int_equal(cfg.nnbd_allow, 4);
	/* An IPv4-mapped network is kept as the IPv4 one it maps. */
	assert_int_equal(cfg.nbd_allow[3].family, AF_INET);
	assert_int_equal(cfg.nbd_allow[3].prefix, 12);
	for (i = 0; i < ARRAY_SIZE(in); i++) {
		ss = sa_of(in[i]);
		if (!config_nets_allow(cfg.nbd_allow, cfg.nnbd_allow, (struct sockaddr *)&ss))
			fail_msg("%s should be allowed", in[i]);
	}
	for (i = 0; i < ARRAY_SIZE(out); i++) {
		ss = sa_of(out[i]);
		if (config_nets_allow(cfg.nbd_allow, cfg.nnbd_allow, (struct sockaddr *)&ss))
			fail_msg("%s should be refused", out[i]);
	}
	ss = sa_of("10.1.2.3");
	assert_false(config_nets_allow(cfg.nbd_allow, 0, (struct sockaddr *)&ss));
}

static void test_listen_split(void **state)
{
	static const struct {
		const char *listen;
		const char *host;
		uint16_t port;
	} good[] = {
		{"10809", "", 10809},
		{"0.0.0.0:1", "0.0.0.0", 1},
		{"node1.example.com:65535", "node1.example.com", 65535},
		{"[::]:10809", "::", 10809},
		{"[fe80::1%eth0]:10809", "fe80::1%eth0", 10809},
	};
	static const char *const bad[] = {
		"",	":10809", "host:",     "host:0",  "host:65536", "[::1]", "[::1]10809",
		"[]:1", "[::1:1", "::1:10809", "ho st:1", "host:1x",	"a/b:1", "[::1]:",
	};
	uint16_t port;
	char host[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(config_listen_split(good[i].listen, host, sizeof(host), &port), 0);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(config_listen_split(bad[i], host, sizeof(host), &port), -EINVAL);
	}
	/* The host must fit the caller's buffer. */
	assert_int_equal(config_listen_split("abcdefgh:1", host, 8, &port), -EINVAL);
	assert_int_equal(config_listen_split("abcdefg:1", host, 8, &port), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),     cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_syntax),	     cmocka_unit_test(test_derived_paths),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_errors),	     cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_too_long),     cmocka_unit_test(test_small_err),
		cmocka_unit_test(test_load),	     cmocka_unit_test(test_example),
		cmocka_unit_test(test_listen_split), cmocka_unit_test(test_nbd_allow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

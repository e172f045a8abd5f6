/*
 * vdisk.conf parser. Every key is one row of config_keys: its section, its
 * type, where it lives in struct vdisk_config and its bounds; the parser
 * knows nothing about individual keys beyond the final cross-checks.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <vdisk/ctl.h>

#include "config.h"
#include "persist.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Longest name or value quoted back in an error message. */
#define QUOTE_MAX 64

#define MS_MAX 3600000
#define LEASE_MIN_MS 100

/* Room for a unix socket path, with its NUL. */
#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

enum key_type {
	TYPE_PATH, /* an absolute path */
	TYPE_AUTHKEY, /* an absolute path or "none" */
	TYPE_NAME, /* letters, digits, '.', '_', '-' */
	TYPE_NUMBER, /* decimal, stored in a uint16_t or uint32_t by size */
	TYPE_POLICY, /* enum vdisk_policy by policy_names */
	TYPE_LISTEN, /* see config_listen_split() */
	TYPE_NETS, /* ADDR[/PREFIX][, ...] into nbd_allow */
};

/* One key of vdisk.conf: where it may appear, what it holds, where it goes. */
struct config_key {
	const char *section;
	const char *name;
	enum key_type type;
	/* Of the field in struct vdisk_config. */
	size_t offset;
	/* Strings: the longest accepted value is size - 1 bytes, which may
	 * be less than the field (a unix socket path). Numbers: the size of
	 * the field. */
	size_t size;
	/* Bounds of a number, inclusive. */
	uint32_t min;
	uint32_t max;
};

#define FIELD_SIZE(f) sizeof(((struct vdisk_config *)0)->f)
#define KEY(sec, key, t, f)                                                       \
	{                                                                         \
		.section = sec, .name = key, .type = t,                           \
		.offset = offsetof(struct vdisk_config, f), .size = FIELD_SIZE(f) \
	}
#define NUMBER_KEY(sec, key, f, lo, hi)                                                       \
	{                                                                                     \
		.section = sec, .name = key, .type = TYPE_NUMBER,                             \
		.offset = offsetof(struct vdisk_config, f), .size = FIELD_SIZE(f), .min = lo, \
		.max = hi                                                                     \
	}

/* Indexes config_keys, so the cross-checks can name the keys they involve. */
enum key_id {
	KEY_STATE_DIR,
	KEY_RUN_DIR,
	KEY_IPC_NAME,
	KEY_PORT,
	KEY_HEARTBEAT_INTERVAL,
	KEY_HEARTBEAT_TIMEOUT,
	KEY_POLICY,
	KEY_AUTHKEY,
	KEY_NBD_SOCKET,
	KEY_NBD_LISTEN,
	KEY_NBD_ALLOW,
	KEY_NDFS_MOUNT,
	KEY_IO_TIMEOUT,
	KEY_LEASE,
	KEY_FENCE_COMMAND,
	KEY_ACK_TIMEOUT,
	KEY_RESYNC_RATE,
	KEY_PRE_HOOK,
	KEY_POST_HOOK,
	KEY_COUNT,
};

static const struct config_key config_keys[KEY_COUNT] = {
	[KEY_STATE_DIR] = KEY("daemon", "state_dir", TYPE_PATH, state_dir),
	[KEY_RUN_DIR] = KEY("daemon", "run_dir", TYPE_PATH, run_dir),
	[KEY_IPC_NAME] = KEY("daemon", "ipc_name", TYPE_NAME, ipc_name),
	[KEY_PORT] = NUMBER_KEY("transport", "port", port, 1, UINT16_MAX),
	[KEY_HEARTBEAT_INTERVAL] =
		NUMBER_KEY("transport", "heartbeat_interval_ms", heartbeat_interval_ms, 1, MS_MAX),
	[KEY_HEARTBEAT_TIMEOUT] =
		NUMBER_KEY("transport", "heartbeat_timeout_ms", heartbeat_timeout_ms, 1, MS_MAX),
	[KEY_POLICY] = KEY("transport", "policy", TYPE_POLICY, policy),
	[KEY_AUTHKEY] = KEY("transport", "authkey", TYPE_AUTHKEY, authkey),
	/* Bounded by the kernel's limit on a socket path, not by the field. */
	[KEY_NBD_SOCKET] = {.section = "nbd",
			    .name = "socket",
			    .type = TYPE_PATH,
			    .offset = offsetof(struct vdisk_config, nbd_socket),
			    .size = SUN_PATH_SIZE},
	[KEY_NBD_LISTEN] = KEY("nbd", "listen", TYPE_LISTEN, nbd_listen),
	[KEY_NBD_ALLOW] = KEY("nbd", "allow", TYPE_NETS, nbd_allow),
	[KEY_NDFS_MOUNT] = KEY("ndfs", "mount", TYPE_PATH, ndfs_mount),
	[KEY_IO_TIMEOUT] = NUMBER_KEY("io", "timeout_ms", io_timeout_ms, 1, MS_MAX),
	[KEY_LEASE] = NUMBER_KEY("io", "lease_ms", lease_ms, 0, MS_MAX),
	[KEY_FENCE_COMMAND] = KEY("io", "fence_command", TYPE_PATH, fence_command),
	[KEY_ACK_TIMEOUT] = NUMBER_KEY("reconfig", "ack_timeout_ms", ack_timeout_ms, 1, MS_MAX),
	[KEY_RESYNC_RATE] = NUMBER_KEY("mirror", "resync_rate", resync_rate, 0, 1u << 20),
	[KEY_PRE_HOOK] = KEY("reconfig", "pre_hook", TYPE_PATH, pre_hook),
	[KEY_POST_HOOK] = KEY("reconfig", "post_hook", TYPE_PATH, post_hook),
};

static const char *const policy_names[] = {
	[VDISK_POLICY_PASSIVE] = "passive",
	[VDISK_POLICY_STRIPE] = "stripe",
};

/* The section of per-node link addresses, outside config_keys. */
static const char LINKS_SECTION[] = "links";

/* A piece of the input text: not NUL-terminated. */
struct slice {
	const char *s;
	size_t len;
};

struct parser {
	struct vdisk_config *cfg;
	const char *file;
	unsigned int line;
	/* The current section as spelled in config_keys, NULL before the first. */
	const char *section;
	/* The line that set each key of config_keys, 0 if none did. */
	unsigned int set_line[KEY_COUNT];
	char *err;
	size_t errlen;
};

/* The default NBD socket lives in run_dir. -ENAMETOOLONG if that path does
 * not fit a sockaddr_un. */
static int nbd_socket_derive(struct vdisk_config *cfg)
{
	int n;

	n = snprintf(cfg->nbd_socket, sizeof(cfg->nbd_socket), "%s/nbd.sock", cfg->run_dir);
	return n < 0 || (size_t)n >= SUN_PATH_SIZE ? -ENAMETOOLONG : 0;
}

/* The default mount point of the device filesystem lives in run_dir too. */
static int ndfs_mount_derive(struct vdisk_config *cfg)
{
	int n;

	n = snprintf(cfg->ndfs_mount, sizeof(cfg->ndfs_mount), "%s/dev", cfg->run_dir);
	return n < 0 || (size_t)n >= sizeof(cfg->ndfs_mount) ? -ENAMETOOLONG : 0;
}

void config_init(struct vdisk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->state_dir, "/var/lib/vdisk");
	strcpy(cfg->run_dir, "/run/vdisk");
	strcpy(cfg->ipc_name, VDISK_IPC_NAME_DEFAULT);
	cfg->port = 5420;
	cfg->heartbeat_interval_ms = 200;
	cfg->heartbeat_timeout_ms = 1000;
	cfg->policy = VDISK_POLICY_PASSIVE;
	strcpy(cfg->authkey, "/etc/corosync/authkey");
	nbd_socket_derive(cfg);
	ndfs_mount_derive(cfg);
	cfg->io_timeout_ms = 30000;
	cfg->ack_timeout_ms = 5000;
}

static __attribute__((format(printf, 2, 3))) int parser_error(struct parser *p, const char *fmt,
							      ...)
{
	va_list ap;
	int n;

	if (!p->errlen)
		return -EINVAL;
	n = snprintf(p->err, p->errlen, "%s:%u: ", p->file, p->line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool slice_eq(struct slice a, const char *s)
{
	return a.len == strlen(s) && !memcmp(a.s, s, a.len);
}

/* Length to print of a slice quoted in an error message. */
static int quote_len(struct slice a)
{
	return a.len > QUOTE_MAX ? QUOTE_MAX : (int)a.len;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static struct slice slice_trim(struct slice a)
{
	while (a.len && is_blank(a.s[0])) {
		a.s++;
		a.len--;
	}
	while (a.len && is_blank(a.s[a.len - 1]))
		a.len--;
	return a;
}

/* Decimal digits only: no sign, no blanks. -EINVAL if not a number, -ERANGE
 * if above max. */
static int number_parse(struct slice a, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!a.len)
		return -EINVAL;
	for (i = 0; i < a.len; i++) {
		if (a.s[i] < '0' || a.s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(a.s[i] - '0');
		/* Saturate so a long run of digits cannot wrap around. */
		if (v > max)
			v = (uint64_t)max + 1;
	}
	if (v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

static bool host_char_ok(char c)
{
	return c > ' ' && c < 0x7f && c != '[' && c != ']' && c != '/';
}

static int listen_parse(struct slice a, char *host, size_t hostlen, uint16_t *port)
{
	struct slice h = {a.s, 0};
	struct slice ps = a;
	const char *colon;
	uint32_t v;
	size_t i;

	if (a.len && a.s[0] == '[') {
		colon = memchr(a.s, ']', a.len);
		if (!colon || colon == a.s + 1 || colon + 1 == a.s + a.len || colon[1] != ':')
			return -EINVAL;
		h = (struct slice){a.s + 1, (size_t)(colon - a.s - 1)};
		ps = (struct slice){colon + 2, a.len - h.len - 3};
	} else if ((colon = memrchr(a.s, ':', a.len))) {
		h = (struct slice){a.s, (size_t)(colon - a.s)};
		ps = (struct slice){colon + 1, a.len - h.len - 1};
		/* An unbracketed IPv6 address would make the port ambiguous. */
		if (!h.len || memchr(h.s, ':', h.len))
			return -EINVAL;
	}
	for (i = 0; i < h.len; i++)
		if (!host_char_ok(h.s[i]))
			return -EINVAL;
	if (h.len >= hostlen)
		return -EINVAL;
	if (number_parse(ps, UINT16_MAX, &v) < 0 || v == 0)
		return -EINVAL;
	memcpy(host, h.s, h.len);
	host[h.len] = '\0';
	*port = (uint16_t)v;
	return 0;
}

int config_listen_split(const char *listen, char *host, size_t hostlen, uint16_t *port)
{
	return listen_parse((struct slice){listen, strlen(listen)}, host, hostlen, port);
}

/* Takes the next item of a comma-separated list off *rest, trimmed (empty
 * for ",," or a trailing ','); false once the list is used up. */
static bool list_next(struct slice *rest, struct slice *item)
{
	const char *comma;
	size_t n;

	if (!rest->s)
		return false;
	comma = memchr(rest->s, ',', rest->len);
	n = comma ? (size_t)(comma - rest->s) : rest->len;
	*item = slice_trim((struct slice){ rest->s, n });
	*rest = comma ? (struct slice){ comma + 1, rest->len - n - 1 } : (struct slice){ NULL, 0 };
	return true;
}

/* One network of [nbd] allow: ADDR or ADDR/PREFIX, numeric. */
static int net_parse(struct slice s, struct config_net *net)
{
	char text[INET6_ADDRSTRLEN + 5], *slash, *end;
	unsigned long prefix;
	unsigned int max;

	if (!s.len || s.len >= sizeof(text))
		return -EINVAL;
	memcpy(text, s.s, s.len);
	text[s.len] = '\0';
	slash = strchr(text, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, text, net->addr) == 1) {
		net->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, text, net->addr) == 1) {
		net->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	net->prefix = max;
	if (!slash)
		return 0;
	if (slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	prefix = strtoul(slash + 1, &end, 10);
	if (*end || prefix > max)
		return -EINVAL;
	net->prefix = (unsigned int)prefix;
	/* Clients come as IPv4 when mapped (config_nets_allow()): so must
	 * the networks, or ::ffff:a.b.c.d/120 would match nobody. */
	if (net->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)net->addr) &&
	    net->prefix >= 96) {
		memmove(net->addr, net->addr + 12, 4);
		net->family = AF_INET;
		net->prefix -= 96;
	}
	return 0;
}

static bool prefix_match(const uint8_t *net, const uint8_t *addr, unsigned int bits)
{
	unsigned int full = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(net, addr, full))
		return false;
	if (!rest)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (net[full] & mask) == (addr[full] & mask);
}

bool config_nets_allow(const struct config_net *nets, size_t n, const struct sockaddr *sa)
{
	const struct in6_addr *a6;
	uint8_t addr[16];
	int family;
	size_t i;

	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
		a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		family = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
		memcpy(addr, family == AF_INET ? a6->s6_addr + 12 : a6->s6_addr,
		       family == AF_INET ? 4 : 16);
	} else {
		return false;
	}
	for (i = 0; i < n; i++)
		if (nets[i].family == family && prefix_match(nets[i].addr, addr, nets[i].prefix))
			return true;
	return false;
}

/* [nbd] allow = NET[, NET ...] */
static int nets_parse(struct parser *p, const struct config_key *k, struct slice v)
{
	struct vdisk_config *cfg = p->cfg;
	struct slice net;

	cfg->nnbd_allow = 0;
	while (list_next(&v, &net)) {
		if (cfg->nnbd_allow == CONFIG_ALLOW_MAX)
			return parser_error(p, "more than %d networks in '%s'", CONFIG_ALLOW_MAX,
					    k->name);
		if (net_parse(net, &cfg->nbd_allow[cfg->nnbd_allow]))
			return parser_error(p,
					    "invalid network '%.*s' in '%s', expected a numeric "
					    "IPv4 or IPv6 ADDR or ADDR/PREFIX",
					    quote_len(net), net.s, k->name);
		cfg->nnbd_allow++;
	}
	return 0;
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Checks a value against its key's type and stores it. */
static int key_set(struct parser *p, const struct config_key *k, struct slice v)
{
	char *field = (char *)p->cfg + k->offset;
	char host[VDISK_LISTEN_MAX + 1];
	uint16_t port;
	uint32_t n;
	size_t i;
	int ret;

	switch (k->type) {
	case TYPE_NUMBER:
		ret = number_parse(v, k->max, &n);
		if (ret == -EINVAL)
			return parser_error(p, "invalid number '%.*s' for '%s'", quote_len(v), v.s,
					    k->name);
		if (ret < 0 || n < k->min)
			return parser_error(p, "'%s' must be between %u and %u, not %.*s", k->name,
					    k->min, k->max, quote_len(v), v.s);
		if (k->size == sizeof(uint16_t))
			*(uint16_t *)field = (uint16_t)n;
		else
			*(uint32_t *)field = n;
		return 0;
	case TYPE_POLICY:
		for (i = 0; i < ARRAY_SIZE(policy_names); i++) {
			if (slice_eq(v, policy_names[i])) {
				*(enum vdisk_policy *)field = (enum vdisk_policy)i;
				return 0;
			}
		}
		return parser_error(p, "invalid policy '%.*s', expected passive or stripe",
				    quote_len(v), v.s);
	case TYPE_PATH:
		if (v.s[0] != '/')
			return parser_error(p, "'%s' must be an absolute path, not '%.*s'", k->name,
					    quote_len(v), v.s);
		break;
	case TYPE_AUTHKEY:
		if (v.s[0] != '/' && !slice_eq(v, "none"))
			return parser_error(p, "'%s' must be an absolute path or none, not '%.*s'",
					    k->name, quote_len(v), v.s);
		break;
	case TYPE_NAME:
		for (i = 0; i < v.len; i++)
			if (!name_char_ok(v.s[i]))
				return parser_error(
					p,
					"'%s' may contain only letters, digits, '.', '_' and '-'",
					k->name);
		break;
	case TYPE_LISTEN:
		if (listen_parse(v, host, sizeof(host), &port) < 0)
			return parser_error(p,
					    "invalid listen address '%.*s', expected PORT, "
					    "HOST:PORT or [IPV6]:PORT with PORT 1-65535",
					    quote_len(v), v.s);
		break;
	case TYPE_NETS:
		return nets_parse(p, k, v);
	}
	if (v.len >= k->size)
		return parser_error(p, "value of '%s' too long (longest is %zu bytes)", k->name,
				    k->size - 1);
	memcpy(field, v.s, v.len);
	field[v.len] = '\0';
	return 0;
}

static int section_parse(struct parser *p, struct slice line)
{
	const char *close = memchr(line.s, ']', line.len);
	struct slice name;
	size_t i;

	if (!close)
		return parser_error(p, "unterminated section header, missing ']'");
	if (close != line.s + line.len - 1)
		return parser_error(p, "unexpected text after ']'");
	name = slice_trim((struct slice){line.s + 1, (size_t)(close - line.s - 1)});
	if (slice_eq(name, LINKS_SECTION)) {
		p->section = LINKS_SECTION;
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(config_keys); i++) {
		if (slice_eq(name, config_keys[i].section)) {
			p->section = config_keys[i].section;
			return 0;
		}
	}
	return parser_error(p, "unknown section [%.*s]", quote_len(name), name.s);
}

/* An IPv4 or IPv6 address in numeric form: the transport resolves link
 * addresses on the control loop, which must never wait for DNS. */
static bool addr_numeric(struct slice a)
{
	unsigned char bin[sizeof(struct in6_addr)];
	char text[INET6_ADDRSTRLEN];

	if (a.len >= sizeof(text))
		return false;
	memcpy(text, a.s, a.len);
	text[a.len] = '\0';
	return inet_pton(AF_INET, text, bin) == 1 || inet_pton(AF_INET6, text, bin) == 1;
}

/* [links] NODE = ADDR[, ADDR ...]: names chosen by the administrator, so
 * a table of fixed keys cannot hold them. */
static int links_parse(struct parser *p, struct slice key, struct slice value)
{
	struct vdisk_config *cfg = p->cfg;
	struct config_links *l;
	struct slice addr;
	size_t i;

	if (key.len > CONFIG_NODE_MAX)
		return parser_error(p, "node name '%.*s' too long", quote_len(key), key.s);
	for (i = 0; i < cfg->nlinks; i++)
		if (slice_eq(key, cfg->links[i].node))
			return parser_error(p, "links of '%s' given twice", cfg->links[i].node);
	if (cfg->nlinks == CONFIG_LINK_NODES_MAX)
		return parser_error(p, "more than %d nodes in [links]", CONFIG_LINK_NODES_MAX);
	l = &cfg->links[cfg->nlinks];
	memset(l, 0, sizeof(*l));
	memcpy(l->node, key.s, key.len);
	while (list_next(&value, &addr)) {
		if (!addr.len)
			return parser_error(p, "links of '%s': empty address", l->node);
		if (!addr_numeric(addr))
			return parser_error(p,
					    "links of '%s': '%.*s' is not a numeric IPv4 or IPv6 "
					    "address (host names are not looked up)",
					    l->node, quote_len(addr), addr.s);
		if (l->naddrs == CONFIG_LINKS_MAX)
			return parser_error(p, "links of '%s': more than %d addresses", l->node,
					    CONFIG_LINKS_MAX);
		memcpy(l->addr[l->naddrs++], addr.s, addr.len);
	}
	cfg->nlinks++;
	return 0;
}

const struct config_links *config_links_find(const struct vdisk_config *cfg, const char *name,
					     uint32_t nodeid)
{
	char id[16];
	size_t i;

	snprintf(id, sizeof(id), "%u", nodeid);
	for (i = 0; i < cfg->nlinks; i++)
		if (!strcmp(cfg->links[i].node, name) || !strcmp(cfg->links[i].node, id))
			return &cfg->links[i];
	return NULL;
}

static int pair_parse(struct parser *p, struct slice line)
{
	const char *eq = memchr(line.s, '=', line.len);
	const struct config_key *k;
	struct slice key;
	struct slice value;
	size_t i;

	if (!eq)
		return parser_error(p, "expected '[section]' or 'key = value'");
	key = slice_trim((struct slice){line.s, (size_t)(eq - line.s)});
	value = slice_trim((struct slice){eq + 1, (size_t)(line.s + line.len - eq - 1)});
	if (!key.len)
		return parser_error(p, "missing key before '='");
	if (!p->section)
		return parser_error(p, "key '%.*s' outside any section", quote_len(key), key.s);
	if (!value.len)
		return parser_error(p, "missing value for '%.*s'", quote_len(key), key.s);
	if (p->section == LINKS_SECTION)
		return links_parse(p, key, value);
	for (i = 0; i < ARRAY_SIZE(config_keys); i++) {
		k = &config_keys[i];
		if (!strcmp(k->section, p->section) && slice_eq(key, k->name))
			break;
	}
	if (i == ARRAY_SIZE(config_keys))
		return parser_error(p, "unknown key '%.*s' in section [%s]", quote_len(key), key.s,
				    p->section);
	if (p->set_line[i])
		return parser_error(p, "duplicate key '%s' in section [%s] (first set on line %u)",
				    k->name, k->section, p->set_line[i]);
	p->set_line[i] = p->line;
	return key_set(p, k, value);
}

static int line_parse(struct parser *p, struct slice line)
{
	if (memchr(line.s, '\0', line.len))
		return parser_error(p, "NUL byte in line");
	line = slice_trim(line);
	if (!line.len || line.s[0] == '#' || line.s[0] == ';')
		return 0;
	if (line.s[0] == '[')
		return section_parse(p, line);
	return pair_parse(p, line);
}

/* Checks between keys, and values derived from others, once all are known. */
static int parser_finish(struct parser *p)
{
	struct vdisk_config *cfg = p->cfg;
	unsigned int interval_line = p->set_line[KEY_HEARTBEAT_INTERVAL];
	unsigned int timeout_line = p->set_line[KEY_HEARTBEAT_TIMEOUT];

	if (cfg->heartbeat_timeout_ms <= cfg->heartbeat_interval_ms) {
		/* Blame whichever of the two came last: it broke the pair. */
		p->line = interval_line > timeout_line ? interval_line : timeout_line;
		return parser_error(p,
				    "heartbeat_timeout_ms (%u) must be greater than "
				    "heartbeat_interval_ms (%u)",
				    cfg->heartbeat_timeout_ms, cfg->heartbeat_interval_ms);
	}
	/* Beats go every lease / 8 over CPG: a few ms would flood it. */
	if (cfg->lease_ms && cfg->lease_ms < LEASE_MIN_MS) {
		p->line = p->set_line[KEY_LEASE];
		return parser_error(p, "lease_ms (%u) must be 0 (automatic) or at least %u",
				    cfg->lease_ms, LEASE_MIN_MS);
	}
	if (!p->set_line[KEY_NBD_SOCKET] && nbd_socket_derive(cfg) < 0) {
		p->line = p->set_line[KEY_RUN_DIR];
		return parser_error(p,
				    "run_dir too long for the NBD socket <run_dir>/nbd.sock "
				    "(longest is %zu bytes); set [nbd] socket",
				    SUN_PATH_SIZE - 1);
	}
	if (!p->set_line[KEY_NDFS_MOUNT] && ndfs_mount_derive(cfg) < 0) {
		p->line = p->set_line[KEY_RUN_DIR];
		return parser_error(p, "run_dir too long for the mount point <run_dir>/dev; "
				       "set [ndfs] mount");
	}
	return 0;
}

int config_parse(struct vdisk_config *cfg, const char *text, size_t len, const char *file,
		 char *err, size_t errlen)
{
	struct parser p = {
		.cfg = cfg,
		.file = file,
		.err = err,
		.errlen = errlen,
	};
	const char *end = text + len;
	const char *nl;
	int ret;

	while (text < end) {
		p.line++;
		nl = memchr(text, '\n', (size_t)(end - text));
		if (!nl)
			nl = end;
		ret = line_parse(&p, (struct slice){text, (size_t)(nl - text)});
		if (ret < 0)
			return ret;
		if (nl == end)
			break;
		text = nl + 1;
	}
	return parser_finish(&p);
}

int config_load(struct vdisk_config *cfg, const char *file, char *err, size_t errlen)
{
	size_t len;
	char *text;
	int ret;

	ret = persist_read_file(file, &text, &len);
	if (ret < 0) {
		if (errlen)
			snprintf(err, errlen, "%s: %s", file, strerror(-ret));
		return ret;
	}
	ret = config_parse(cfg, text, len, file, err, errlen);
	free(text);
	return ret;
}

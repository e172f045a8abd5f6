/*
 * vdwriter — a verifying NBD writer and checker for the data-safety tests.
 *
 *   vdwriter run   --socket SOCK --export NAME --writer ID --first BLOCK
 *                  --blocks N --log FILE [--bs 4096] [--qd 8] [--flush-every K]
 *                  [--fua-every K] [--seconds S] [--seed X] [--reconnect-ms MS]
 *                  [--drain-ms MS] [--rate WRITES_PER_S]
 *   vdwriter check --socket SOCK --export NAME --log FILE [--log FILE...]
 *                  [--bs 4096] [--json]
 *   vdwriter forge --socket SOCK --export NAME --block B --writer ID --gen G
 *                  [--bs 4096] [--flip BYTE]          (tests only)
 *   vdwriter flush --socket SOCK --export NAME         (one FLUSH; tests only)
 *
 * It speaks NBD fixed newstyle itself (NBD_OPT_GO, falling back to
 * NBD_OPT_EXPORT_NAME; simple replies) over a unix socket, so that it sees
 * every reply as the server sent it: no client library retries, merges or
 * hides an error.
 *
 * Every block it writes says what it is: bytes 0..7 "VDWBLK01", 8..15 the
 * disk offset, 16..19 the writer id, 20..23 zero, 24..31 the generation
 * (all little endian), then a fill derived from (offset, generation), and
 * the last 8 bytes an FNV-1a hash of everything before. A block never
 * written reads as zeros: generation 0.
 *
 * Generations of one writer id only grow, across restarts too: a run starts
 * at CLOCK_REALTIME in microseconds and adds one per write. At most one write
 * per block is in flight, so a block's writes reach the server in the
 * writer's order, and the log (one line per event, each one write(2) to an
 * O_APPEND descriptor, so a SIGKILL loses at most the line being written)
 * says which generations were sent, acknowledged or refused:
 *
 *   C ms start writer=ID bs=BS first=B blocks=N pid=P   (any C: connection and
 *   C ms what...                                         life-cycle events)
 *   S blk gen ms          write sent
 *   A blk gen ms          write acknowledged
 *   E blk gen errno ms    write answered with an error
 *   FS n ms               flush n sent
 *   FA n ms               flush n acknowledged
 *   FE n errno ms         flush n answered with an error
 *
 * `check` reads every block the logs name and judges it (see judge_block()).
 * Exit status: 0 clean, 1 a violation (check) or a failure, 2 usage or
 * connection errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ NBD */

#define NBDMAGIC 0x4e42444d41474943ull
#define IHAVEOPT 0x49484156454f5054ull
#define REPLY_MAGIC 0x3e889045565a9ull
#define REQ_MAGIC 0x25609513u
#define SIMPLE_MAGIC 0x67446698u

#define FLAG_FIXED_NEWSTYLE 1u
#define FLAG_NO_ZEROES 2u
#define OPT_EXPORT_NAME 1u
#define OPT_GO 7u
#define REP_ACK 1u
#define REP_INFO 3u
#define REP_ERR_UNSUP 0x80000001u
#define INFO_EXPORT 0u

#define TFLAG_READ_ONLY 2u
#define TFLAG_SEND_FLUSH 4u
#define TFLAG_SEND_FUA 8u

#define CMD_READ 0u
#define CMD_WRITE 1u
#define CMD_DISC 2u
#define CMD_FLUSH 3u
#define CMD_FLAG_FUA 1u

#define NBD_ESHUTDOWN 108u

#define REQ_SIZE 28
#define REPLY_SIZE 16

/* How long a blocking handshake or a check's read may take. */
#define IO_TIMEOUT_S 30
/* A check's reads in flight at once. */
#define CHECK_BATCH 64

/* ------------------------------------------------------------ blocks */

#define BLOCK_MAGIC "VDWBLK01"
#define HDR_SIZE 32
#define MIN_BS 64

static void put_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* NBD is big endian. */
static void put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The fill of (offset, gen): one splitmix64 stream, so two generations of
 * one block, or one generation at two offsets, never share their bytes. */
static void fill(uint8_t *p, size_t n, uint64_t offset, uint64_t gen)
{
	uint64_t s = offset * 0xd1b54a32d192ed03ull ^ gen, v;
	size_t i;

	for (i = 0; i < n; i += 8) {
		v = splitmix64(&s);
		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

static void block_encode(uint8_t *b, size_t bs, uint64_t offset, uint32_t writer, uint64_t gen)
{
	memcpy(b, BLOCK_MAGIC, 8);
	put_le64(b + 8, offset);
	put_le32(b + 16, writer);
	put_le32(b + 20, 0);
	put_le64(b + 24, gen);
	fill(b + HDR_SIZE, bs - HDR_SIZE - 8, offset, gen);
	put_le64(b + bs - 8, fnv1a(b, bs - 8));
}

/* What a block holds. 0: a valid block (or zeros: gen 0, writer 0), else
 * -EBADMSG with why. */
static int block_decode(const uint8_t *b, size_t bs, uint64_t offset, uint32_t *writer,
			uint64_t *gen, char *why, size_t whylen)
{
	uint8_t *want;
	size_t i;
	int rc = 0;

	for (i = 0; i < bs && !b[i]; i++)
		;
	if (i == bs) {
		*writer = 0;
		*gen = 0;
		return 0;
	}
	if (memcmp(b, BLOCK_MAGIC, 8)) {
		snprintf(why, whylen, "bad magic");
		return -EBADMSG;
	}
	*writer = get_le32(b + 16);
	*gen = get_le64(b + 24);
	if (get_le64(b + bs - 8) != fnv1a(b, bs - 8)) {
		snprintf(why, whylen, "bad checksum (writer %" PRIu32 " gen %" PRIu64 " in the header)",
			 *writer, *gen);
		return -EBADMSG;
	}
	if (get_le64(b + 8) != offset) {
		/* A whole block of another offset: a misdirected write. */
		snprintf(why, whylen, "holds the block of offset %" PRIu64, get_le64(b + 8));
		return -EBADMSG;
	}
	if (get_le32(b + 20) != 0) {
		snprintf(why, whylen, "bad reserved field");
		return -EBADMSG;
	}
	want = malloc(bs);
	if (!want)
		return -ENOMEM;
	block_encode(want, bs, offset, *writer, *gen);
	if (memcmp(want, b, bs)) {
		snprintf(why, whylen, "fill does not match its generation");
		rc = -EBADMSG;
	}
	free(want);
	return rc;
}

/* ------------------------------------------------------------ time, log */

static uint64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t now_ms(void)
{
	return realtime_us() / 1000;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int log_fd = -1;

/* One line, one write(2): with O_APPEND a line is never torn by another
 * writer, and a kill loses at most the line being written. */
static void logf_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_line(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(log_fd, line, (size_t)n) != n)
		fprintf(stderr, "vdwriter: log write: %s\n", strerror(errno));
}

/* ------------------------------------------------------------ connection */

struct nbd {
	int fd;
	uint64_t size;
	uint16_t tflags;
};

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	ssize_t w;

	while (n) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	ssize_t r;

	while (n) {
		r = recv(fd, p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int skip_bytes(int fd, size_t n)
{
	uint8_t junk[256];
	size_t k;
	int rc;

	while (n) {
		k = n < sizeof(junk) ? n : sizeof(junk);
		rc = read_all(fd, junk, k);
		if (rc)
			return rc;
		n -= k;
	}
	return 0;
}

static int opt_send(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[16];
	int rc;

	put_be64(h, IHAVEOPT);
	put_be32(h + 8, opt);
	put_be32(h + 12, len);
	rc = write_all(fd, h, sizeof(h));
	if (!rc && len)
		rc = write_all(fd, data, len);
	return rc;
}

/* The old way in: no reply to refuse with, the server just hangs up. */
static int export_name(struct nbd *c, const char *name, bool no_zeroes, char *err, size_t errlen)
{
	uint8_t r[10];
	int rc;

	rc = opt_send(c->fd, OPT_EXPORT_NAME, name, (uint32_t)strlen(name));
	if (!rc)
		rc = read_all(c->fd, r, sizeof(r));
	if (!rc && !no_zeroes)
		rc = skip_bytes(c->fd, 124);
	if (rc) {
		snprintf(err, errlen, "NBD_OPT_EXPORT_NAME '%s': %s", name, strerror(-rc));
		return rc;
	}
	c->size = get_be64(r);
	c->tflags = get_be16(r + 8);
	return 0;
}

static int handshake(struct nbd *c, const char *name, char *err, size_t errlen)
{
	size_t nlen = strlen(name);
	uint8_t g[18], rh[20], *req, info[12];
	uint32_t type, len, cflags;
	bool got_info = false;
	int rc;

	rc = read_all(c->fd, g, sizeof(g));
	if (rc) {
		snprintf(err, errlen, "reading the greeting: %s", strerror(-rc));
		return rc;
	}
	if (get_be64(g) != NBDMAGIC || get_be64(g + 8) != IHAVEOPT ||
	    !(get_be16(g + 16) & FLAG_FIXED_NEWSTYLE)) {
		snprintf(err, errlen, "not a fixed newstyle NBD server");
		return -EPROTO;
	}
	cflags = FLAG_FIXED_NEWSTYLE | (get_be16(g + 16) & FLAG_NO_ZEROES);
	put_be32(g, cflags);
	rc = write_all(c->fd, g, 4);
	if (rc)
		goto io_err;

	req = malloc(nlen + 8);
	if (!req)
		return -ENOMEM;
	put_be32(req, (uint32_t)nlen);
	memcpy(req + 4, name, nlen);
	put_be16(req + 4 + nlen, 1);
	put_be16(req + 6 + nlen, INFO_EXPORT);
	rc = opt_send(c->fd, OPT_GO, req, (uint32_t)nlen + 8);
	free(req);
	if (rc)
		goto io_err;
	for (;;) {
		rc = read_all(c->fd, rh, sizeof(rh));
		if (rc)
			goto io_err;
		type = get_be32(rh + 12);
		len = get_be32(rh + 16);
		if (get_be64(rh) != REPLY_MAGIC || get_be32(rh + 8) != OPT_GO) {
			snprintf(err, errlen, "bad option reply");
			return -EPROTO;
		}
		if (type == REP_ERR_UNSUP) {
			rc = skip_bytes(c->fd, len);
			if (rc)
				goto io_err;
			return export_name(c, name, cflags & FLAG_NO_ZEROES, err, errlen);
		}
		if (type & 0x80000000u) {
			char msg[200] = "";
			size_t k = len < sizeof(msg) - 1 ? len : sizeof(msg) - 1;

			rc = read_all(c->fd, msg, k);
			if (!rc)
				rc = skip_bytes(c->fd, len - k);
			snprintf(err, errlen, "export '%s' refused (error 0x%" PRIx32 "%s%s)", name,
				 type, msg[0] ? ": " : "", msg);
			return -ENOENT;
		}
		if (type == REP_INFO && len >= 12) {
			rc = read_all(c->fd, info, sizeof(info));
			if (!rc)
				rc = skip_bytes(c->fd, len - sizeof(info));
			if (rc)
				goto io_err;
			if (get_be16(info) == INFO_EXPORT) {
				c->size = get_be64(info + 2);
				c->tflags = get_be16(info + 10);
				got_info = true;
			}
			continue;
		}
		rc = skip_bytes(c->fd, len);
		if (rc)
			goto io_err;
		if (type == REP_ACK)
			break;
	}
	if (!got_info) {
		snprintf(err, errlen, "NBD_OPT_GO answered without NBD_INFO_EXPORT");
		return -EPROTO;
	}
	return 0;
io_err:
	snprintf(err, errlen, "handshake: %s", strerror(-rc));
	return rc;
}

/* Connects and negotiates; the socket is left blocking with timeouts. */
static int nbd_open(struct nbd *c, const char *path, const char *name, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int rc;

	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(-rc));
		return rc;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rc = -errno;
		snprintf(err, errlen, "connect %s: %s", path, strerror(-rc));
		goto fail;
	}
	rc = handshake(c, name, err, errlen);
	if (rc)
		goto fail;
	return 0;
fail:
	close(c->fd);
	c->fd = -1;
	return rc;
}

static void req_encode(uint8_t *h, uint16_t flags, uint16_t type, uint64_t handle, uint64_t off,
		       uint32_t len)
{
	put_be32(h, REQ_MAGIC);
	put_be16(h + 4, flags);
	put_be16(h + 6, type);
	put_be64(h + 8, handle);
	put_be64(h + 16, off);
	put_be32(h + 24, len);
}

/* One request, waited for (check, forge, flush): 0 or the NBD error as a
 * positive errno, or -errno for a transport failure. */
static int nbd_sync(struct nbd *c, uint16_t type, uint16_t flags, uint64_t off, uint32_t len,
		    void *buf)
{
	uint8_t h[REQ_SIZE], r[REPLY_SIZE];
	static uint64_t handle;
	uint32_t e;
	int rc;

	req_encode(h, flags, type, ++handle, off, len);
	rc = write_all(c->fd, h, sizeof(h));
	if (!rc && type == CMD_WRITE)
		rc = write_all(c->fd, buf, len);
	if (!rc)
		rc = read_all(c->fd, r, sizeof(r));
	if (rc)
		return rc;
	if (get_be32(r) != SIMPLE_MAGIC || get_be64(r + 8) != handle)
		return -EPROTO;
	e = get_be32(r + 4);
	if (e)
		return (int)e;
	if (type == CMD_READ)
		return read_all(c->fd, buf, len);
	return 0;
}

/* N reads of LEN bytes at OFFS[i] into BUFS + i * LEN, all sent before the
 * first answer is read (a check reads a disk at the speed of its slowest path
 * otherwise): 0, the NBD error of read *BAD as a positive errno, or -errno
 * for a transport failure. */
static int nbd_read_batch(struct nbd *c, const uint64_t *offs, size_t n, uint32_t len,
			  uint8_t *bufs, size_t *bad)
{
	uint8_t h[REQ_SIZE * CHECK_BATCH], r[REPLY_SIZE];
	size_t i, got;
	uint64_t idx;
	uint32_t e;
	int rc;

	if (n > CHECK_BATCH)
		return -EINVAL;
	for (i = 0; i < n; i++)
		req_encode(h + i * REQ_SIZE, 0, CMD_READ, i, offs[i], len);
	rc = write_all(c->fd, h, n * REQ_SIZE);
	/* Answers come in any order; the handle is the read's index. */
	for (got = 0; !rc && got < n; got++) {
		rc = read_all(c->fd, r, sizeof(r));
		if (rc)
			break;
		idx = get_be64(r + 8);
		if (get_be32(r) != SIMPLE_MAGIC || idx >= n)
			return -EPROTO;
		e = get_be32(r + 4);
		if (e) {
			*bad = idx;
			return (int)e;
		}
		rc = read_all(c->fd, bufs + idx * len, len);
	}
	return rc;
}

static void nbd_close(struct nbd *c)
{
	uint8_t h[REQ_SIZE];

	if (c->fd < 0)
		return;
	req_encode(h, 0, CMD_DISC, 0, 0, 0);
	(void)!write_all(c->fd, h, sizeof(h));
	close(c->fd);
	c->fd = -1;
}

/* ------------------------------------------------------------ options */

struct opts {
	const char *socket;
	const char *export;
	const char *logs[64];
	int nlogs;
	uint32_t writer;
	uint64_t first;
	uint64_t blocks;
	uint32_t bs;
	uint32_t qd;
	uint64_t flush_every;
	uint64_t fua_every;
	double seconds;
	uint64_t seed;
	bool seed_set;
	uint32_t reconnect_ms;
	uint32_t drain_ms;
	uint64_t rate;
	bool json;
	uint64_t block;
	uint64_t gen;
	long flip;
	bool have_writer, have_first, have_blocks, have_block, have_gen;
};

static int usage(void)
{
	fprintf(stderr,
		"usage: vdwriter run --socket SOCK --export NAME --writer ID --first BLOCK --blocks N\n"
		"                    --log FILE [--bs 4096] [--qd 8] [--flush-every K] [--fua-every K]\n"
		"                    [--seconds S] [--seed X] [--reconnect-ms 200] [--drain-ms 5000]\n"
		"                    [--rate WRITES_PER_S]\n"
		"       vdwriter check --socket SOCK --export NAME --log FILE [--log FILE...]\n"
		"                    [--bs 4096] [--json]\n"
		"       vdwriter forge --socket SOCK --export NAME --block B --writer ID --gen G\n"
		"                    [--bs 4096] [--flip BYTE]\n"
		"       vdwriter flush --socket SOCK --export NAME\n");
	return 2;
}

static int num(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || *out > max) {
		fprintf(stderr, "vdwriter: bad value for %s: '%s'\n", opt, s);
		return -EINVAL;
	}
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	uint64_t v;
	char *end;
	int i;

	*o = (struct opts){ .bs = 4096, .qd = 8, .reconnect_ms = 200, .drain_ms = 5000, .flip = -1 };
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--json")) {
			o->json = true;
			continue;
		}
		if (!val || strncmp(a, "--", 2)) {
			fprintf(stderr, "vdwriter: unexpected argument '%s'\n", a);
			return -EINVAL;
		}
		i++;
		if (!strcmp(a, "--socket")) {
			o->socket = val;
		} else if (!strcmp(a, "--export")) {
			o->export = val;
		} else if (!strcmp(a, "--log")) {
			if (o->nlogs == (int)(sizeof(o->logs) / sizeof(o->logs[0]))) {
				fprintf(stderr, "vdwriter: too many --log\n");
				return -EINVAL;
			}
			o->logs[o->nlogs++] = val;
		} else if (!strcmp(a, "--seconds")) {
			o->seconds = strtod(val, &end);
			if (*end || end == val || o->seconds < 0) {
				fprintf(stderr, "vdwriter: bad value for --seconds: '%s'\n", val);
				return -EINVAL;
			}
		} else {
			if (num(a, val, UINT64_MAX, &v))
				return -EINVAL;
			if (!strcmp(a, "--writer") && v > 0 && v <= UINT32_MAX) {
				o->writer = (uint32_t)v;
				o->have_writer = true;
			} else if (!strcmp(a, "--first")) {
				o->first = v;
				o->have_first = true;
			} else if (!strcmp(a, "--blocks") && v > 0) {
				o->blocks = v;
				o->have_blocks = true;
			} else if (!strcmp(a, "--bs") && v >= MIN_BS && v <= (1u << 20) && !(v % 8)) {
				o->bs = (uint32_t)v;
			} else if (!strcmp(a, "--qd") && v > 0 && v <= 1024) {
				o->qd = (uint32_t)v;
			} else if (!strcmp(a, "--flush-every")) {
				o->flush_every = v;
			} else if (!strcmp(a, "--fua-every")) {
				o->fua_every = v;
			} else if (!strcmp(a, "--seed")) {
				o->seed = v;
				o->seed_set = true;
			} else if (!strcmp(a, "--reconnect-ms") && v > 0 && v <= 60000) {
				o->reconnect_ms = (uint32_t)v;
			} else if (!strcmp(a, "--rate")) {
				o->rate = v;
			} else if (!strcmp(a, "--drain-ms") && v <= 600000) {
				o->drain_ms = (uint32_t)v;
			} else if (!strcmp(a, "--block")) {
				o->block = v;
				o->have_block = true;
			} else if (!strcmp(a, "--gen")) {
				o->gen = v;
				o->have_gen = true;
			} else if (!strcmp(a, "--flip") && v < (1u << 20)) {
				o->flip = (long)v;
			} else {
				fprintf(stderr, "vdwriter: unknown option or bad value: %s %s\n", a, val);
				return -EINVAL;
			}
		}
	}
	if (!o->socket || !o->export) {
		fprintf(stderr, "vdwriter: --socket and --export are needed\n");
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------ run */

enum slot_type { SLOT_FREE, SLOT_WRITE, SLOT_FLUSH };

struct slot {
	enum slot_type type;
	uint64_t blk;
	uint64_t gen; /* write: generation; flush: its number */
};

struct stats {
	uint64_t sent, acked, errors, unknown;
	uint64_t flushes_sent, flushes_ok, flushes_failed, flushes_unknown;
	uint64_t connects, conn_failures;
	uint64_t stall_ms, stall_start_ms;
};

struct run {
	const struct opts *o;
	struct nbd c;
	bool up;
	uint32_t epoch; /* connection number: replies carry it in their handle */
	struct slot *slots;
	uint32_t nslots; /* qd writes + one flush */
	uint32_t inflight;
	uint8_t *busy; /* per block: a write is in flight */
	uint8_t *out; /* bytes not yet sent */
	size_t outlen, outcap;
	uint8_t in[REPLY_SIZE];
	size_t inlen;
	uint64_t next_gen;
	uint64_t since_flush;
	uint64_t flush_no;
	uint64_t rng;
	uint64_t last_answer_ms; /* realtime ms: the last answer, or the first send */
	struct stats st;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int out_reserve(struct run *r, size_t more)
{
	uint8_t *p;
	size_t cap;

	if (r->outlen + more <= r->outcap)
		return 0;
	cap = (r->outlen + more) * 2;
	p = realloc(r->out, cap);
	if (!p)
		return -ENOMEM;
	r->out = p;
	r->outcap = cap;
	return 0;
}

static int slot_free(struct run *r, enum slot_type type)
{
	uint32_t i, lo = type == SLOT_FLUSH ? r->nslots - 1 : 0;
	uint32_t hi = type == SLOT_FLUSH ? r->nslots : r->nslots - 1;

	for (i = lo; i < hi; i++)
		if (r->slots[i].type == SLOT_FREE)
			return (int)i;
	return -1;
}

/* A block with no write in flight, at random. */
static int pick_block(struct run *r, uint64_t *blk)
{
	uint64_t i, b;
	int tries;

	for (tries = 0; tries < 64; tries++) {
		b = splitmix64(&r->rng) % r->o->blocks;
		if (!r->busy[b]) {
			*blk = b;
			return 0;
		}
	}
	b = splitmix64(&r->rng) % r->o->blocks;
	for (i = 0; i < r->o->blocks; i++, b = (b + 1) % r->o->blocks)
		if (!r->busy[b]) {
			*blk = b;
			return 0;
		}
	return -EBUSY;
}

static uint64_t handle_of(const struct run *r, int slot)
{
	return (uint64_t)r->epoch << 32 | (uint32_t)slot;
}

static void first_send(struct run *r)
{
	if (!r->last_answer_ms)
		r->last_answer_ms = now_ms();
}

static int send_write(struct run *r)
{
	const struct opts *o = r->o;
	uint64_t blk, off;
	uint16_t flags = 0;
	uint8_t *p;
	int s, rc;

	s = slot_free(r, SLOT_WRITE);
	if (s < 0 || pick_block(r, &blk))
		return -EBUSY;
	rc = out_reserve(r, REQ_SIZE + o->bs);
	if (rc)
		return rc;
	blk += o->first;
	off = blk * o->bs;
	if (o->fua_every && (r->st.sent + 1) % o->fua_every == 0 && (r->c.tflags & TFLAG_SEND_FUA))
		flags |= CMD_FLAG_FUA;
	r->slots[s] = (struct slot){ SLOT_WRITE, blk, r->next_gen++ };
	r->busy[blk - o->first] = 1;
	r->inflight++;
	p = r->out + r->outlen;
	req_encode(p, flags, CMD_WRITE, handle_of(r, s), off, o->bs);
	block_encode(p + REQ_SIZE, o->bs, off, o->writer, r->slots[s].gen);
	r->outlen += REQ_SIZE + o->bs;
	/* Logged before it can reach the server: every generation on disk
	 * has its S line. */
	logf_line("S %" PRIu64 " %" PRIu64 " %" PRIu64, blk, r->slots[s].gen, now_ms());
	r->st.sent++;
	r->since_flush++;
	first_send(r);
	return 0;
}

static int send_flush(struct run *r)
{
	int s = slot_free(r, SLOT_FLUSH);
	int rc;

	if (s < 0)
		return -EBUSY;
	rc = out_reserve(r, REQ_SIZE);
	if (rc)
		return rc;
	r->slots[s] = (struct slot){ SLOT_FLUSH, 0, ++r->flush_no };
	r->inflight++;
	req_encode(r->out + r->outlen, 0, CMD_FLUSH, handle_of(r, s), 0, 0);
	r->outlen += REQ_SIZE;
	logf_line("FS %" PRIu64 " %" PRIu64, r->flush_no, now_ms());
	r->st.flushes_sent++;
	r->since_flush = 0;
	first_send(r);
	return 0;
}

static void stall_note(struct run *r, uint64_t now)
{
	if (r->last_answer_ms && now - r->last_answer_ms > r->st.stall_ms) {
		r->st.stall_ms = now - r->last_answer_ms;
		r->st.stall_start_ms = r->last_answer_ms;
	}
}

/* The connection is gone: what was in flight was sent and never answered. */
static void conn_lost(struct run *r, const char *why)
{
	uint64_t lost = 0;
	uint32_t i;

	for (i = 0; i < r->nslots; i++) {
		if (r->slots[i].type == SLOT_WRITE) {
			r->busy[r->slots[i].blk - r->o->first] = 0;
			r->st.unknown++;
			lost++;
		} else if (r->slots[i].type == SLOT_FLUSH) {
			r->st.flushes_unknown++;
			lost++;
		}
		r->slots[i].type = SLOT_FREE;
	}
	r->inflight = 0;
	r->outlen = 0;
	r->inlen = 0;
	if (r->c.fd >= 0)
		close(r->c.fd);
	r->c.fd = -1;
	r->up = false;
	r->st.conn_failures++;
	logf_line("C %" PRIu64 " connection lost: %s; %" PRIu64 " requests unanswered", now_ms(),
		  why, lost);
}

/* 0, or -ECONNRESET when the answer ends the connection (ESHUTDOWN). */
static int answer(struct run *r, const uint8_t *h)
{
	uint64_t handle = get_be64(h + 8), now = now_ms();
	uint32_t e = get_be32(h + 4), s = (uint32_t)handle;
	struct slot *sl;

	if (get_be32(h) != SIMPLE_MAGIC || handle >> 32 != r->epoch || s >= r->nslots ||
	    r->slots[s].type == SLOT_FREE) {
		conn_lost(r, "protocol error: an unexpected reply");
		return -EPROTO;
	}
	sl = &r->slots[s];
	stall_note(r, now);
	r->last_answer_ms = now;
	if (sl->type == SLOT_WRITE) {
		r->busy[sl->blk - r->o->first] = 0;
		if (e) {
			logf_line("E %" PRIu64 " %" PRIu64 " %" PRIu32 " %" PRIu64, sl->blk, sl->gen, e,
				  now);
			r->st.errors++;
		} else {
			logf_line("A %" PRIu64 " %" PRIu64 " %" PRIu64, sl->blk, sl->gen, now);
			r->st.acked++;
		}
	} else {
		if (e) {
			logf_line("FE %" PRIu64 " %" PRIu32 " %" PRIu64, sl->gen, e, now);
			r->st.flushes_failed++;
		} else {
			logf_line("FA %" PRIu64 " %" PRIu64, sl->gen, now);
			r->st.flushes_ok++;
		}
	}
	sl->type = SLOT_FREE;
	r->inflight--;
	if (e == NBD_ESHUTDOWN) {
		conn_lost(r, "the server is shutting down (ESHUTDOWN)");
		return -ECONNRESET;
	}
	return 0;
}

static int conn_up(struct run *r, char *err, size_t errlen)
{
	int rc, fl;

	rc = nbd_open(&r->c, r->o->socket, r->o->export, err, errlen);
	if (rc)
		return rc;
	if (r->c.tflags & TFLAG_READ_ONLY) {
		snprintf(err, errlen, "export '%s' is read-only", r->o->export);
		close(r->c.fd);
		r->c.fd = -1;
		return -EROFS;
	}
	if (r->c.size < (r->o->first + r->o->blocks) * r->o->bs) {
		snprintf(err, errlen, "export '%s' has %" PRIu64 " bytes, blocks up to %" PRIu64
			 " need %" PRIu64, r->o->export, r->c.size, r->o->first + r->o->blocks,
			 (r->o->first + r->o->blocks) * r->o->bs);
		close(r->c.fd);
		r->c.fd = -1;
		return -ENOSPC;
	}
	fl = fcntl(r->c.fd, F_GETFL);
	fcntl(r->c.fd, F_SETFL, fl | O_NONBLOCK);
	r->up = true;
	r->epoch++;
	r->st.connects++;
	return 0;
}

/* Sends what is queued, reads what came; -errno once the connection is
 * lost (already handled). */
static int pump(struct run *r, int timeout_ms)
{
	struct pollfd pfd = { .fd = r->c.fd, .events = POLLIN };
	char why[128];
	ssize_t n;
	int rc;

	if (r->outlen)
		pfd.events |= POLLOUT;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc <= 0)
		return 0;
	if (pfd.revents & POLLOUT) {
		n = send(r->c.fd, r->out, r->outlen, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			conn_lost(r, why);
			return -ECONNRESET;
		}
		if (n > 0) {
			memmove(r->out, r->out + n, r->outlen - (size_t)n);
			r->outlen -= (size_t)n;
		}
	}
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
		for (;;) {
			n = recv(r->c.fd, r->in + r->inlen, REPLY_SIZE - r->inlen, 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n <= 0) {
				snprintf(why, sizeof(why), "%s",
					 n ? strerror(errno) : "end of file from the server");
				conn_lost(r, why);
				return -ECONNRESET;
			}
			r->inlen += (size_t)n;
			if (r->inlen < REPLY_SIZE)
				continue;
			r->inlen = 0;
			rc = answer(r, r->in);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int cmd_run(const struct opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t t0 = mono_ms(), end_at = 0, drain_until = 0, fails = 0;
	struct run r = { .o = o };
	char err[256];
	int rc = 0;

	if (!o->have_writer || !o->have_first || !o->have_blocks || o->nlogs != 1)
		return usage();
	r.nslots = (o->qd < o->blocks ? o->qd : (uint32_t)o->blocks) + 1;
	r.slots = calloc(r.nslots, sizeof(*r.slots));
	r.busy = calloc(o->blocks, 1);
	if (!r.slots || !r.busy) {
		rc = -ENOMEM;
		goto out;
	}
	log_fd = open(o->logs[0], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		fprintf(stderr, "vdwriter: %s: %s\n", o->logs[0], strerror(errno));
		rc = -errno;
		goto out;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	r.c.fd = -1;
	r.next_gen = realtime_us();
	r.rng = o->seed_set ? o->seed : r.next_gen ^ ((uint64_t)getpid() << 32);
	if (o->seconds > 0)
		end_at = t0 + (uint64_t)(o->seconds * 1000);
	logf_line("C %" PRIu64 " start writer=%" PRIu32 " bs=%" PRIu32 " first=%" PRIu64
		  " blocks=%" PRIu64 " qd=%" PRIu32 " gen=%" PRIu64 " pid=%d",
		  now_ms(), o->writer, o->bs, o->first, o->blocks, o->qd, r.next_gen, (int)getpid());

	for (;;) {
		uint64_t now = mono_ms();

		if (!drain_until && (stop_signal || (end_at && now >= end_at))) {
			drain_until = now + o->drain_ms;
			logf_line("C %" PRIu64 " stopping (%s); %" PRIu32 " in flight", now_ms(),
				  stop_signal ? "signal" : "time is up", r.inflight);
		}
		if (drain_until && (!r.up || !r.inflight || now >= drain_until))
			break;
		if (!r.up) {
			rc = conn_up(&r, err, sizeof(err));
			if (rc) {
				/* A refused export is no reason to wait: it
				 * will not change. */
				if (rc == -EROFS || rc == -ENOSPC) {
					fprintf(stderr, "vdwriter: %s\n", err);
					logf_line("C %" PRIu64 " giving up: %s", now_ms(), err);
					goto out;
				}
				if (!fails++)
					logf_line("C %" PRIu64 " connect failed: %s; retrying every %"
						  PRIu32 " ms", now_ms(), err, o->reconnect_ms);
				sleep_ms(o->reconnect_ms);
				continue;
			}
			logf_line("C %" PRIu64 " connected (size %" PRIu64 ", flags 0x%x%s)", now_ms(),
				  r.c.size, r.c.tflags,
				  fails ? ", after failed attempts" : "");
			fails = 0;
			rc = 0;
		}
		while (!drain_until) {
			/* A rate keeps the log short and lets a scenario's
			 * faults meet the same blocks again and again. */
			if (o->rate && r.st.sent >= (now - t0) * o->rate / 1000 + 1)
				break;
			if (o->flush_every && r.since_flush >= o->flush_every &&
			    (r.c.tflags & TFLAG_SEND_FLUSH)) {
				if (send_flush(&r))
					break;
				continue;
			}
			if (send_write(&r))
				break;
		}
		if (pump(&r, 20) && !drain_until)
			sleep_ms(o->reconnect_ms);
	}
	/* Still unanswered at the end: that wait counts as a stall too. */
	if (r.inflight)
		stall_note(&r, now_ms());
	{
		uint32_t i;
		uint64_t w = 0, f = 0;

		for (i = 0; i < r.nslots; i++) {
			w += r.slots[i].type == SLOT_WRITE;
			f += r.slots[i].type == SLOT_FLUSH;
		}
		r.st.unknown += w;
		r.st.flushes_unknown += f;
		logf_line("C %" PRIu64 " exit: sent %" PRIu64 " acked %" PRIu64 " errors %" PRIu64
			  " unknown %" PRIu64, now_ms(), r.st.sent, r.st.acked, r.st.errors,
			  r.st.unknown);
	}
	if (r.up) {
		int fl = fcntl(r.c.fd, F_GETFL);

		fcntl(r.c.fd, F_SETFL, fl & ~O_NONBLOCK);
		nbd_close(&r.c);
	}
	printf("{\"writer\":%" PRIu32 ",\"sent\":%" PRIu64 ",\"acked\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"unknown\":%" PRIu64 ",\"flushes_sent\":%" PRIu64
	       ",\"flushes_ok\":%" PRIu64 ",\"flushes_failed\":%" PRIu64
	       ",\"flushes_unknown\":%" PRIu64 ",\"connects\":%" PRIu64
	       ",\"connection_failures\":%" PRIu64 ",\"longest_stall_ms\":%" PRIu64
	       ",\"longest_stall_start_ms\":%" PRIu64 ",\"seconds\":%.3f}\n",
	       o->writer, r.st.sent, r.st.acked, r.st.errors, r.st.unknown, r.st.flushes_sent,
	       r.st.flushes_ok, r.st.flushes_failed, r.st.flushes_unknown, r.st.connects,
	       r.st.conn_failures, r.st.stall_ms, r.st.stall_start_ms,
	       (double)(mono_ms() - t0) / 1000);
	fflush(stdout);
	rc = 0;
out:
	if (log_fd >= 0)
		close(log_fd);
	free(r.out);
	free(r.slots);
	free(r.busy);
	return rc ? 1 : 0;
}

/* ------------------------------------------------------------ check */

enum { EV_S, EV_A, EV_E };

/* One event of the logs about a block. */
struct ev {
	uint64_t blk;
	uint64_t gen;
	uint32_t writer;
	uint8_t kind;
	uint32_t err;
	uint64_t ms;
	bool flushed; /* an acknowledged flush was sent after this ack */
	uint32_t log;
	uint64_t line;
};

struct logstate {
	uint64_t *fs_line; /* per flush number of the current run: its FS line */
	size_t nfs;
	uint64_t covered; /* acks on lines before this are flushed */
};

struct check {
	struct ev *ev;
	size_t nev, cap;
	uint32_t writers[256];
	size_t nwriters;
	uint64_t flushes_ok, flushes_failed, flushes_sent;
	uint64_t covered[64]; /* per log */
};

static int ev_add(struct check *k, const struct ev *e)
{
	struct ev *p;

	if (k->nev == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 4096;
		p = realloc(k->ev, k->cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		k->ev = p;
	}
	k->ev[k->nev++] = *e;
	return 0;
}

static void writer_note(struct check *k, uint32_t w)
{
	size_t i;

	for (i = 0; i < k->nwriters; i++)
		if (k->writers[i] == w)
			return;
	if (k->nwriters < sizeof(k->writers) / sizeof(k->writers[0]))
		k->writers[k->nwriters++] = w;
}

static bool writer_known(const struct check *k, uint32_t w)
{
	size_t i;

	for (i = 0; i < k->nwriters; i++)
		if (k->writers[i] == w)
			return true;
	return false;
}

static int log_read(struct check *k, const char *path, uint32_t logno, uint32_t *bs)
{
	struct logstate ls = { 0 };
	uint64_t a, b, c, d, line = 0;
	uint32_t writer = 0, lbs;
	char buf[600];
	struct ev e;
	FILE *f;
	int rc = 0;

	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		fprintf(stderr, "vdwriter: %s: %s\n", path, strerror(-rc));
		return rc;
	}
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		/* A line cut by a kill has no newline: it never happened. */
		if (!strchr(buf, '\n'))
			continue;
		if (buf[0] == 'C') {
			const char *w = strstr(buf, " start writer=");
			const char *s = strstr(buf, " bs=");

			if (!w)
				continue;
			writer = (uint32_t)strtoul(w + 14, NULL, 10);
			writer_note(k, writer);
			if (s) {
				lbs = (uint32_t)strtoul(s + 4, NULL, 10);
				if (*bs && lbs != *bs) {
					fprintf(stderr, "vdwriter: %s: block size %" PRIu32
						", not %" PRIu32 "\n", path, lbs, *bs);
					rc = -EINVAL;
					goto out;
				}
				*bs = lbs;
			}
			/* Flush numbers start again with each run. */
			free(ls.fs_line);
			ls.fs_line = NULL;
			ls.nfs = 0;
			continue;
		}
		e = (struct ev){ .writer = writer, .log = logno, .line = line };
		if (sscanf(buf, "S %" SCNu64 " %" SCNu64 " %" SCNu64, &a, &b, &c) == 3) {
			e.kind = EV_S;
			e.blk = a, e.gen = b, e.ms = c;
		} else if (sscanf(buf, "A %" SCNu64 " %" SCNu64 " %" SCNu64, &a, &b, &c) == 3) {
			e.kind = EV_A;
			e.blk = a, e.gen = b, e.ms = c;
		} else if (sscanf(buf, "E %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &a, &b, &c,
				  &d) == 4) {
			e.kind = EV_E;
			e.blk = a, e.gen = b, e.err = (uint32_t)c, e.ms = d;
		} else if (sscanf(buf, "FS %" SCNu64 " %" SCNu64, &a, &b) == 2) {
			uint64_t *p;

			k->flushes_sent++;
			if (a >= ls.nfs) {
				p = realloc(ls.fs_line, (a + 1) * 2 * sizeof(*p));
				if (!p) {
					rc = -ENOMEM;
					goto out;
				}
				memset(p + ls.nfs, 0, ((a + 1) * 2 - ls.nfs) * sizeof(*p));
				ls.fs_line = p;
				ls.nfs = (a + 1) * 2;
			}
			ls.fs_line[a] = line;
			continue;
		} else if (sscanf(buf, "FA %" SCNu64 " %" SCNu64, &a, &b) == 2) {
			k->flushes_ok++;
			if (a < ls.nfs && ls.fs_line[a] > ls.covered)
				ls.covered = ls.fs_line[a];
			continue;
		} else if (sscanf(buf, "FE %" SCNu64 " %" SCNu64 " %" SCNu64, &a, &b, &c) == 3) {
			k->flushes_failed++;
			continue;
		} else {
			continue;
		}
		if (!writer) {
			fprintf(stderr, "vdwriter: %s:%" PRIu64 ": an event before the start line\n",
				path, line);
			rc = -EINVAL;
			goto out;
		}
		rc = ev_add(k, &e);
		if (rc)
			goto out;
	}
	if (ferror(f))
		rc = -EIO;
	k->covered[logno] = ls.covered;
out:
	free(ls.fs_line);
	fclose(f);
	return rc;
}

static int ev_cmp(const void *pa, const void *pb)
{
	const struct ev *a = pa, *b = pb;

	if (a->blk != b->blk)
		return a->blk < b->blk ? -1 : 1;
	if (a->gen != b->gen)
		return a->gen < b->gen ? -1 : 1;
	if (a->writer != b->writer)
		return a->writer < b->writer ? -1 : 1;
	return (int)a->kind - (int)b->kind;
}

/* What the logs say of one (block, writer, generation). */
struct rec {
	uint64_t gen;
	uint32_t writer;
	bool sent, acked, errored, flushed;
	uint32_t err;
	uint64_t sent_ms, done_ms;
};

enum { V_I1, V_I2, V_I3, V_CORRUPT, V_ERRLANDED, V_KINDS };
static const char *const vnames[V_KINDS] = { "I1", "I2", "I3", "corrupt", "errored_landed" };

struct example {
	int kind;
	uint64_t blk;
	char expected[96];
	char found[96];
	char what[320];
};

struct verdict {
	uint64_t checked, verified;
	uint64_t count[V_KINDS];
	struct example ex[10];
	size_t nex;
};

static void rec_str(char *s, size_t n, const struct rec *r)
{
	if (!r) {
		snprintf(s, n, "zeros");
		return;
	}
	snprintf(s, n, "writer %" PRIu32 " gen %" PRIu64, r->writer, r->gen);
}

static void violation(struct verdict *v, int kind, uint64_t blk, const struct rec *want,
		      const char *found, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void violation(struct verdict *v, int kind, uint64_t blk, const struct rec *want,
		      const char *found, const char *fmt, ...)
{
	struct example *x;
	va_list ap;

	v->count[kind]++;
	if (v->nex == sizeof(v->ex) / sizeof(v->ex[0]))
		return;
	x = &v->ex[v->nex++];
	x->kind = kind;
	x->blk = blk;
	if (want)
		snprintf(x->expected, sizeof(x->expected), "gen >= %" PRIu64 " (writer %" PRIu32
			 ", acknowledged at %" PRIu64 ")", want->gen, want->writer, want->done_ms);
	else
		snprintf(x->expected, sizeof(x->expected), "any sent generation, or zeros");
	snprintf(x->found, sizeof(x->found), "%s", found);
	va_start(ap, fmt);
	vsnprintf(x->what, sizeof(x->what), fmt, ap);
	va_end(ap);
}

/*
 * Judges one block against its records (sorted by generation):
 *  - g_ack, the newest acknowledged generation, or any newer one that was
 *    sent, is fine (newer ones errored are counted as errored_landed: a
 *    write answered with an error leaves its blocks unknown, and one that
 *    landed before its error came is fine; landing after, over a newer
 *    acknowledged write, shows as I2 like any stale write. So it is
 *    reported apart, not as a violation);
 *  - an older generation that was acknowledged, or zeros where something
 *    was acknowledged: I1, an acknowledged write lost (and I3 too when an
 *    acknowledged flush covered it: the flush said it was durable);
 *  - an older generation never acknowledged: I2, a stale attempt landed
 *    after a newer write was acknowledged;
 *  - anything else (bad magic, offset, checksum, fill, unknown writer or a
 *    generation no log sent): corrupt.
 */
static void judge_block(struct verdict *v, const struct check *k, uint64_t blk, const struct rec *rs,
			size_t n, const uint8_t *data, uint32_t bs)
{
	const struct rec *ack = NULL, *got = NULL;
	char why[160], found[96];
	uint32_t writer;
	uint64_t gen;
	size_t i;

	v->checked++;
	for (i = 0; i < n; i++)
		if (rs[i].acked)
			ack = &rs[i];
	if (block_decode(data, bs, blk * bs, &writer, &gen, why, sizeof(why))) {
		violation(v, V_CORRUPT, blk, ack, "garbage", "%s", why);
		return;
	}
	if (gen && !writer_known(k, writer)) {
		snprintf(found, sizeof(found), "writer %" PRIu32 " gen %" PRIu64, writer, gen);
		violation(v, V_CORRUPT, blk, ack, found, "a writer no log names");
		return;
	}
	for (i = 0; i < n && gen; i++)
		if (rs[i].gen == gen && rs[i].writer == writer && rs[i].sent)
			got = &rs[i];
	rec_str(found, sizeof(found), got);
	if (gen && !got) {
		snprintf(found, sizeof(found), "writer %" PRIu32 " gen %" PRIu64, writer, gen);
		violation(v, V_CORRUPT, blk, ack, found, "a generation no log sent");
		return;
	}
	if (!ack || (got && got->gen >= ack->gen)) {
		if (got && got->errored && (!ack || got->gen > ack->gen)) {
			violation(v, V_ERRLANDED, blk, ack, found,
				  "a write answered with error %" PRIu32 " at %" PRIu64
				  " is on disk", got->err, got->done_ms);
			return;
		}
		v->verified++;
		return;
	}
	if (!got || got->acked) {
		if (ack->flushed)
			v->count[V_I3]++;
		/* From the data alone the two cannot be told apart: the newer
		 * write never landed, or an abandoned attempt of the older one
		 * landed after it (I2). How long the older one took to be
		 * answered hints which: a re-issued attempt waited out a
		 * timeout. */
		if (got)
			violation(v, V_I1, blk, ack, found,
				  "acknowledged write lost%s: the block holds gen %" PRIu64
				  " (sent at %" PRIu64 ", acknowledged %" PRIu64
				  " ms later): the newer write never landed, or a stale"
				  " attempt of the older one landed after it (I2)",
				  ack->flushed ? " (a flush covered it: I3)" : "", got->gen,
				  got->sent_ms, got->done_ms - got->sent_ms);
		else
			violation(v, V_I1, blk, ack, found, "acknowledged write lost%s: zeros",
				  ack->flushed ? " (a flush covered it: I3)" : "");
		return;
	}
	violation(v, V_I2, blk, ack, found,
		  "stale write landed: gen %" PRIu64 " sent at %" PRIu64 " (%s) is older than the"
		  " acknowledged gen %" PRIu64, got->gen, got->sent_ms,
		  got->errored ? "answered with an error" : "never answered", ack->gen);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void verdict_print(const struct verdict *v, const struct check *k, bool json)
{
	size_t i;
	int j;

	if (json) {
		printf("{\"blocks_checked\":%" PRIu64 ",\"blocks_verified\":%" PRIu64
		       ",\"violations\":{", v->checked, v->verified);
		for (j = 0; j < V_ERRLANDED; j++)
			printf("%s\"%s\":%" PRIu64, j ? "," : "", vnames[j], v->count[j]);
		printf("},\"errored_landed\":%" PRIu64, v->count[V_ERRLANDED]);
		printf(",\"flushes_sent\":%" PRIu64 ",\"flushes_ok\":%" PRIu64
		       ",\"flushes_failed\":%" PRIu64 ",\"examples\":[",
		       k->flushes_sent, k->flushes_ok, k->flushes_failed);
		for (i = 0; i < v->nex; i++) {
			printf("%s{\"kind\":\"%s\",\"block\":%" PRIu64 ",\"expected\":", i ? "," : "",
			       vnames[v->ex[i].kind], v->ex[i].blk);
			json_str(v->ex[i].expected);
			printf(",\"found\":");
			json_str(v->ex[i].found);
			printf(",\"what\":");
			json_str(v->ex[i].what);
			putchar('}');
		}
		printf("]}\n");
		return;
	}
	printf("vdwriter check: %" PRIu64 " blocks checked, %" PRIu64 " verified; violations:",
	       v->checked, v->verified);
	for (j = 0; j < V_ERRLANDED; j++)
		printf(" %s %" PRIu64, vnames[j], v->count[j]);
	printf("; errored writes on disk %" PRIu64, v->count[V_ERRLANDED]);
	printf("; flushes ok %" PRIu64 ", failed %" PRIu64 "\n", k->flushes_ok, k->flushes_failed);
	for (i = 0; i < v->nex; i++)
		printf("%s block %" PRIu64 ": expected %s, found %s: %s\n", vnames[v->ex[i].kind],
		       v->ex[i].blk, v->ex[i].expected, v->ex[i].found, v->ex[i].what);
}

/* The records of one block (events FROM..TO of the sorted list), merged per
 * (writer, generation): how many. */
static size_t block_recs(const struct check *k, size_t from, size_t to, struct rec *recs)
{
	size_t j, nrec = 0;

	for (j = from; j < to; j++) {
		const struct ev *e = &k->ev[j];
		struct rec *r = nrec ? &recs[nrec - 1] : NULL;

		if (!r || r->gen != e->gen || r->writer != e->writer) {
			r = &recs[nrec++];
			*r = (struct rec){ .gen = e->gen, .writer = e->writer };
		}
		if (e->kind == EV_S) {
			r->sent = true;
			r->sent_ms = e->ms;
		} else if (e->kind == EV_A) {
			r->acked = true;
			r->flushed = e->flushed;
			r->done_ms = e->ms;
		} else {
			r->errored = true;
			r->err = e->err;
			r->done_ms = e->ms;
		}
	}
	return nrec;
}

static int cmd_check(const struct opts *o)
{
	struct check k = { 0 };
	struct verdict v = { 0 };
	struct rec *recs = NULL;
	struct nbd c = { .fd = -1 };
	uint8_t *data = NULL;
	uint32_t bs = 0;
	uint64_t offs[CHECK_BATCH];
	size_t starts[CHECK_BATCH + 1], i, j, b, nb = 0, nrec, bad = 0;
	char err[256];
	int rc = 0, ret = 2, j2;

	if (!o->nlogs || o->nlogs > 64)
		return usage();
	for (j2 = 0; j2 < o->nlogs; j2++)
		if (log_read(&k, o->logs[j2], (uint32_t)j2, &bs))
			goto out;
	if (!bs)
		bs = o->bs;
	/* Acks before the FS line of an acknowledged flush are covered by it. */
	for (i = 0; i < k.nev; i++)
		k.ev[i].flushed = k.ev[i].kind == EV_A && k.ev[i].line < k.covered[k.ev[i].log];
	qsort(k.ev, k.nev, sizeof(*k.ev), ev_cmp);
	recs = calloc(k.nev ? k.nev : 1, sizeof(*recs));
	data = malloc((size_t)bs * CHECK_BATCH);
	if (!recs || !data) {
		fprintf(stderr, "vdwriter: out of memory\n");
		goto out;
	}
	rc = nbd_open(&c, o->socket, o->export, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vdwriter: %s\n", err);
		goto out;
	}
	for (i = 0; i < k.nev; i = starts[nb]) {
		/* The next CHECK_BATCH blocks: where their events start, and a
		 * read of each. */
		for (nb = 0, j = i; j < k.nev && nb < CHECK_BATCH; nb++) {
			uint64_t blk = k.ev[j].blk;

			if ((blk + 1) * bs > c.size) {
				fprintf(stderr, "vdwriter: block %" PRIu64 " is past the export's end\n", blk);
				goto out;
			}
			starts[nb] = j;
			offs[nb] = blk * bs;
			while (j < k.nev && k.ev[j].blk == blk)
				j++;
		}
		starts[nb] = j;
		rc = nbd_read_batch(&c, offs, nb, bs, data, &bad);
		if (rc) {
			fprintf(stderr, "vdwriter: read of block %" PRIu64 ": %s\n",
				rc > 0 ? offs[bad] / bs : offs[0] / bs, strerror(rc < 0 ? -rc : rc));
			goto out;
		}
		for (b = 0; b < nb; b++) {
			nrec = block_recs(&k, starts[b], starts[b + 1], recs);
			judge_block(&v, &k, k.ev[starts[b]].blk, recs, nrec, data + b * bs, bs);
		}
	}
	verdict_print(&v, &k, o->json);
	ret = 0;
	for (j2 = 0; j2 < V_ERRLANDED; j2++)
		if (v.count[j2])
			ret = 1;
out:
	nbd_close(&c);
	free(k.ev);
	free(recs);
	free(data);
	return ret;
}

/* ------------------------------------------------------------ forge, flush */

static int cmd_forge(const struct opts *o)
{
	struct nbd c = { .fd = -1 };
	uint8_t *b = NULL;
	char err[256];
	int rc, ret = 2;

	if (!o->have_block || !o->have_writer || !o->have_gen)
		return usage();
	if (o->flip >= (long)o->bs) {
		fprintf(stderr, "vdwriter: --flip past the block\n");
		return 2;
	}
	b = malloc(o->bs);
	if (!b)
		return 1;
	block_encode(b, o->bs, o->block * o->bs, o->writer, o->gen);
	if (o->flip >= 0)
		b[o->flip] ^= 0xff;
	rc = nbd_open(&c, o->socket, o->export, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vdwriter: %s\n", err);
		goto out;
	}
	rc = nbd_sync(&c, CMD_WRITE, 0, o->block * o->bs, o->bs, b);
	if (!rc && (c.tflags & TFLAG_SEND_FLUSH))
		rc = nbd_sync(&c, CMD_FLUSH, 0, 0, 0, NULL);
	if (rc) {
		fprintf(stderr, "vdwriter: forge: %s\n", strerror(rc < 0 ? -rc : rc));
		ret = 1;
		goto out;
	}
	ret = 0;
out:
	nbd_close(&c);
	free(b);
	return ret;
}

static int cmd_flush(const struct opts *o)
{
	struct nbd c = { .fd = -1 };
	char err[256];
	int rc, ret = 2;

	rc = nbd_open(&c, o->socket, o->export, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vdwriter: %s\n", err);
		goto out;
	}
	rc = nbd_sync(&c, CMD_FLUSH, 0, 0, 0, NULL);
	if (rc) {
		fprintf(stderr, "vdwriter: flush: %s\n", strerror(rc < 0 ? -rc : rc));
		ret = 1;
		goto out;
	}
	ret = 0;
out:
	nbd_close(&c);
	return ret;
}

int main(int argc, char **argv)
{
	struct opts o;

	if (argc < 2)
		return usage();
	if (parse(argc, argv, &o))
		return usage();
	if (!strcmp(argv[1], "run"))
		return cmd_run(&o);
	if (!strcmp(argv[1], "check"))
		return cmd_check(&o);
	if (!strcmp(argv[1], "forge"))
		return cmd_forge(&o);
	if (!strcmp(argv[1], "flush"))
		return cmd_flush(&o);
	return usage();
}

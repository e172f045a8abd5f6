/*
 * The NBD protocol as vdiskd speaks it (reference/nbd-protocol.md): fixed
 * newstyle negotiation only, no TLS. Wire constants, encoders for what the
 * server sends, decoders for what a client sends, and who may use an export.
 * Everything here is a pure function of its arguments (fuzzed by
 * test/fuzz/fuzz_nbd.c): no I/O, no allocation; a decoder checks the length
 * of its input before it reads and returns 0 or -errno. All integers are
 * big-endian on the wire.
 *
 * Handshake:
 *   S: greeting, NBD_GREETING_SIZE bytes
 *        0 u64 NBD_MAGIC ("NBDMAGIC")   8 u64 NBD_OPTS_MAGIC ("IHAVEOPT")
 *       16 u16 handshake flags (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)
 *   C: u32 client flags (NBD_FLAG_C_*)
 *   C: option, NBD_OPT_HDR_SIZE bytes, then length bytes of data
 *        0 u64 NBD_OPTS_MAGIC   8 u32 option (NBD_OPT_*)   12 u32 length
 *   S: option reply, NBD_OPT_REPLY_HDR_SIZE bytes, then length bytes of data
 *        0 u64 NBD_REP_MAGIC   8 u32 option   12 u32 type (NBD_REP_*)
 *       16 u32 length
 *   ... until the server answers NBD_OPT_GO with NBD_REP_ACK, or
 *   NBD_OPT_EXPORT_NAME with the export reply (no option reply header):
 *        0 u64 export size   8 u16 transmission flags (NBD_FLAG_*)
 *       10 124 zero bytes, unless the client set NBD_FLAG_C_NO_ZEROES
 *
 *   Option data:
 *     EXPORT_NAME        the export name (all of the data)
 *     INFO, GO           u32 name length, name, u16 n, n x u16 NBD_INFO_*
 *     LIST, STRUCTURED_REPLY  none        ABORT  ignored
 *   Option reply data:
 *     SERVER             u32 name length, name
 *     INFO               u16 NBD_INFO_*, then for EXPORT: u64 size, u16
 *                        transmission flags; NAME, DESCRIPTION: the string;
 *                        BLOCK_SIZE: u32 minimum, u32 preferred, u32 maximum
 *                        payload
 *     ACK                none         ERR_*  an optional message for humans
 *
 * Transmission:
 *   C: request, NBD_REQUEST_SIZE bytes (a WRITE's length bytes of data follow)
 *        0 u32 NBD_REQUEST_MAGIC   4 u16 flags (NBD_CMD_FLAG_*)
 *        6 u16 type (NBD_CMD_*)    8 u64 cookie   16 u64 offset   24 u32 length
 *   S: simple reply, NBD_SIMPLE_REPLY_SIZE bytes (a good READ's data follows)
 *        0 u32 NBD_SIMPLE_REPLY_MAGIC   4 u32 error (NBD_E*)   8 u64 cookie
 *   S: structured reply chunk, NBD_CHUNK_HDR_SIZE bytes, then length bytes
 *        0 u32 NBD_STRUCTURED_REPLY_MAGIC   4 u16 flags (NBD_REPLY_FLAG_DONE)
 *        6 u16 type (NBD_REPLY_TYPE_*)      8 u64 cookie   16 u32 length
 *      NONE: nothing; OFFSET_DATA: u64 offset, data; ERROR: u32 error (NBD_E*),
 *      u16 message length, message
 */
#ifndef VDISK_NBD_PROTO_H
#define VDISK_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NBD_MAGIC 0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC 0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC 0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu

#define NBD_GREETING_SIZE 18
#define NBD_CLIENT_FLAGS_SIZE 4
#define NBD_OPT_HDR_SIZE 16
#define NBD_OPT_REPLY_HDR_SIZE 20
#define NBD_EXPORT_REPLY_SIZE 134 /* 10 without the zeroes */
#define NBD_REQUEST_SIZE 28
#define NBD_SIMPLE_REPLY_SIZE 16
#define NBD_CHUNK_HDR_SIZE 20
#define NBD_CHUNK_DATA_HDR_SIZE (NBD_CHUNK_HDR_SIZE + 8)

/* The block sizes the protocol suggests as defaults: any alignment works,
 * 4 KiB is efficient. */
#define NBD_BLOCK_MIN 1
#define NBD_BLOCK_PREFERRED 4096
/* Strings (export names, messages) may not be longer, says the protocol. */
#define NBD_STRING_MAX 4096
/* Longest option data read: a GO names at most NBD_STRING_MAX bytes and
 * asks for a few info types; anything longer is a client to hang up on. */
#define NBD_OPT_DATA_MAX (NBD_STRING_MAX + 4096)
/* Longest option reply nbd_rep_encode() writes (longer data is cut). */
#define NBD_OPT_REPLY_MAX (NBD_OPT_REPLY_HDR_SIZE + 4 + NBD_STRING_MAX)
/* Longest message in an error chunk (longer ones are cut). */
#define NBD_ERROR_MSG_MAX 256
#define NBD_CHUNK_ERROR_MAX (NBD_CHUNK_HDR_SIZE + 6 + NBD_ERROR_MSG_MAX)
/* Longest answer to a request before its data (nbd_reply_encode()). */
#define NBD_REPLY_HDR_MAX NBD_CHUNK_ERROR_MAX

/* Handshake flags (server). */
#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES (1u << 1)
/* Client flags. */
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES (1u << 1)
#define NBD_FLAG_C_KNOWN (NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_ROTATIONAL (1u << 4)
#define NBD_FLAG_SEND_TRIM (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)

enum nbd_opt_type {
	NBD_OPT_EXPORT_NAME = 1,
	NBD_OPT_ABORT = 2,
	NBD_OPT_LIST = 3,
	NBD_OPT_STARTTLS = 5,
	NBD_OPT_INFO = 6,
	NBD_OPT_GO = 7,
	NBD_OPT_STRUCTURED_REPLY = 8,
	NBD_OPT_LIST_META_CONTEXT = 9,
	NBD_OPT_SET_META_CONTEXT = 10,
};

/* Option reply types; errors have bit 31 set (too big for an enum). */
#define NBD_REP_ACK 1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO 3u
#define NBD_REP_ERR(n) ((1u << 31) + (n))
#define NBD_REP_ERR_UNSUP NBD_REP_ERR(1)
#define NBD_REP_ERR_POLICY NBD_REP_ERR(2)
#define NBD_REP_ERR_INVALID NBD_REP_ERR(3)
#define NBD_REP_ERR_PLATFORM NBD_REP_ERR(4)
#define NBD_REP_ERR_TLS_REQD NBD_REP_ERR(5)
#define NBD_REP_ERR_UNKNOWN NBD_REP_ERR(6)
#define NBD_REP_ERR_SHUTDOWN NBD_REP_ERR(7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD NBD_REP_ERR(8)
#define NBD_REP_ERR_TOO_BIG NBD_REP_ERR(9)

enum nbd_info_type {
	NBD_INFO_EXPORT = 0,
	NBD_INFO_NAME = 1,
	NBD_INFO_DESCRIPTION = 2,
	NBD_INFO_BLOCK_SIZE = 3,
};

enum nbd_cmd_type {
	NBD_CMD_READ = 0,
	NBD_CMD_WRITE = 1,
	NBD_CMD_DISC = 2,
	NBD_CMD_FLUSH = 3,
	NBD_CMD_TRIM = 4,
	NBD_CMD_CACHE = 5,
	NBD_CMD_WRITE_ZEROES = 6,
	NBD_CMD_BLOCK_STATUS = 7,
};

#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAG_DF (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

#define NBD_REPLY_FLAG_DONE (1u << 0)

enum nbd_reply_type {
	NBD_REPLY_TYPE_NONE = 0,
	NBD_REPLY_TYPE_OFFSET_DATA = 1,
	NBD_REPLY_TYPE_ERROR = (1u << 15) + 1,
};

/* Error values of replies: the protocol's own, not the host's errno. */
enum nbd_error {
	NBD_EPERM = 1,
	NBD_EIO = 5,
	NBD_ENOMEM = 12,
	NBD_EINVAL = 22,
	NBD_ENOSPC = 28,
	NBD_EOVERFLOW = 75,
	NBD_ENOTSUP = 95,
	NBD_ESHUTDOWN = 108,
};

struct nbd_opt_hdr {
	uint32_t option;
	uint32_t length;
};

/* One decoded option. */
struct nbd_opt {
	uint32_t option;
	/* EXPORT_NAME, INFO, GO: the export name, NUL-terminated. */
	char name[NBD_STRING_MAX + 1];
	/* INFO, GO: the known info types asked for, bit (1 << NBD_INFO_*). */
	uint32_t info;
};

struct nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
};

/* Decoders. -EAGAIN: len is shorter than the fixed size (read more). */

/* -EPROTO for a flag the server did not offer: the client must be dropped. */
int nbd_client_flags_decode(const uint8_t *buf, size_t len, uint32_t *flags);
/* -EPROTO for a bad magic, -EMSGSIZE for data over NBD_OPT_DATA_MAX. */
int nbd_opt_hdr_decode(const uint8_t *buf, size_t len, struct nbd_opt_hdr *h);
/*
 * Decodes the len bytes of data of an option (len as the header said).
 * -EOPNOTSUPP for an option this server does not implement (answer
 * NBD_REP_ERR_UNSUP), -EINVAL for malformed data (NBD_REP_ERR_INVALID).
 */
int nbd_opt_decode(uint32_t option, const uint8_t *data, size_t len, struct nbd_opt *o);
/* -EPROTO for a bad magic. */
int nbd_request_decode(const uint8_t *buf, size_t len, struct nbd_request *r);
/*
 * Whether the server may carry out r on an export of size bytes with the
 * transmission flags tflags and max_payload as the largest READ or WRITE:
 * 0, or the -errno to answer with: -EINVAL (unknown type or flag, a feature
 * tflags did not offer, too long, a READ or TRIM past the end), -ENOSPC (a
 * WRITE or WRITE_ZEROES past the end), -EPERM (a change to a read-only
 * export).
 */
int nbd_request_check(const struct nbd_request *r, uint64_t size, uint16_t tflags,
		      uint32_t max_payload);

/* Encoders: each writes into out and returns the number of bytes. */

size_t nbd_greeting_encode(uint8_t out[NBD_GREETING_SIZE]);
/* The answer to NBD_OPT_EXPORT_NAME; zeroes: the client did not set
 * NBD_FLAG_C_NO_ZEROES. */
size_t nbd_export_reply_encode(uint8_t out[NBD_EXPORT_REPLY_SIZE], uint64_t size, uint16_t tflags,
			       bool zeroes);
/* Any option reply: type and len bytes of data (cut to fit
 * NBD_OPT_REPLY_MAX), such as NBD_REP_ACK or an error with its message. */
size_t nbd_rep_encode(uint8_t out[NBD_OPT_REPLY_MAX], uint32_t option, uint32_t type,
		      const void *data, size_t len);
size_t nbd_rep_server_encode(uint8_t out[NBD_OPT_REPLY_MAX], uint32_t option, const char *name);
size_t nbd_rep_info_export_encode(uint8_t out[NBD_OPT_REPLY_MAX], uint32_t option, uint64_t size,
				  uint16_t tflags);
/* NBD_INFO_NAME or NBD_INFO_DESCRIPTION. */
size_t nbd_rep_info_string_encode(uint8_t out[NBD_OPT_REPLY_MAX], uint32_t option, uint16_t info,
				  const char *s);
size_t nbd_rep_info_block_size_encode(uint8_t out[NBD_OPT_REPLY_MAX], uint32_t option,
				      uint32_t minimum, uint32_t preferred, uint32_t maximum);

size_t nbd_simple_reply_encode(uint8_t out[NBD_SIMPLE_REPLY_SIZE], uint32_t error,
			       uint64_t cookie);
/* A chunk header announcing length bytes of payload (NONE: length 0). */
size_t nbd_chunk_encode(uint8_t out[NBD_CHUNK_HDR_SIZE], uint16_t flags, uint16_t type,
			uint64_t cookie, uint32_t length);
/* An OFFSET_DATA chunk up to its data, which the caller sends next. */
size_t nbd_chunk_data_encode(uint8_t out[NBD_CHUNK_DATA_HDR_SIZE], uint16_t flags,
			     uint64_t cookie, uint64_t offset, uint32_t datalen);
/* An ERROR chunk, msg cut to NBD_ERROR_MSG_MAX bytes. */
size_t nbd_chunk_error_encode(uint8_t out[NBD_CHUNK_ERROR_MAX], uint16_t flags, uint64_t cookie,
			      uint32_t error, const char *msg);

/*
 * The answer to request r up to its data, err 0 or -errno: with structured
 * replies an ERROR chunk (with msg) for a failure, an OFFSET_DATA chunk for
 * a good READ (NONE for an empty one); a simple reply otherwise. A good
 * READ's r->length bytes of data follow it.
 */
size_t nbd_reply_encode(uint8_t out[NBD_REPLY_HDR_MAX], const struct nbd_request *r,
			bool structured, int err, const char *msg);

/* The NBD_E* value for an errno (either sign); NBD_EIO if it has none. */
uint32_t nbd_error_from_errno(int err);

/* Access policy: who may use an export. */

/* Who is on the other end of a connection. */
struct nbd_cred {
	bool local; /* unix socket: pid, uid, gid and groups are the peer's */
	pid_t pid; /* 0 over TCP */
	uid_t uid;
	gid_t gid;
	size_t ngroups;
	gid_t *groups; /* supplementary groups */
};

/* Access bits, the values of the "r" and "w" permission bits. */
#define NBD_ACCESS_READ 04u
#define NBD_ACCESS_WRITE 02u

/*
 * What cred may do with a disk of owner uid, group gid and permission bits
 * mode, as NBD_ACCESS_* bits: judged like a file's permissions (the owner's
 * bits for the owner, else the group's for a member, else the others'); root
 * on the unix socket may do anything, a TCP peer is always "other".
 */
unsigned int nbd_access(const struct nbd_cred *cred, uint32_t uid, uint32_t gid, uint32_t mode);

#endif

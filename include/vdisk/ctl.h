/*
 * Control IPC between vdiskctl (and the OCF agents) and vdiskd.
 *
 * Transport: a libqb IPC service, named by `[daemon] ipc_name` (default
 * "vdisk"). A request is one of the fixed-size structs below, starting with
 * libqb's request header whose id is an enum vdisk_ctl_type and whose size is
 * sizeof the struct. Strings are NUL-terminated inside their arrays; the
 * daemon rejects a request whose size does not match its type or whose string
 * lacks a terminator.
 *
 * A reply is a struct qb_ipc_response_header (id = request id, error = 0 or
 * -errno) followed by a NUL-terminated JSON document. On error the document is
 * {"error": "one-line reason"}; on success its shape is documented per type.
 */
#ifndef VDISK_CTL_H
#define VDISK_CTL_H

#include <stdint.h>
#include <qb/qbipc_common.h>

#define VDISK_IPC_NAME_DEFAULT "vdisk"

/* Largest request or reply; a reply carries the whole disk list as JSON. */
#define VDISK_CTL_MAX_MSG (1024 * 1024)

/* Disk names: [A-Za-z0-9][A-Za-z0-9_-]*, at most this long (no dots: names are
 * CMAP key components). */
#define VDISK_NAME_MAX 63
/* A node as typed by the user: a name or a decimal nodeid. */
#define VDISK_NODE_MAX 63
/* A device spec: an absolute path, UUID=, LABEL= or PARTUUID=. */
#define VDISK_DEVICE_MAX 255
/* A user or group as typed by the user: a name or a decimal id. */
#define VDISK_USER_MAX 63
/* A disk's size is a whole number of these. */
#define VDISK_SECTOR 512u

enum vdisk_ctl_type {
	/* struct vdisk_ctl_req. Reply: {"node": {"id", "name"}, "quorate",
	 * "config", "generation", "synced", "members": [{"id", "name"}],
	 * "disks": count, "io": {"serving", "lease_ms", "why"}} */
	VDISK_CTL_STATUS = 1,
	/* struct vdisk_ctl_req. Reply: {"nodes": [{"id", "name", "member",
	 * "local", "devices": inventory count}]} */
	VDISK_CTL_NODE_LIST,
	/* struct vdisk_ctl_disk_req (name empty; flags VDISK_CTL_F_USERS or
	 * 0). Reply: {"generation", "disks": [disk]} where
	 * disk is {"name", "id", "size", "primary": path, "secondary": path or
	 * null, "uid", "gid", "owner", "group", "mode", "mtime", "suspended",
	 * "serving": {"state", "path", "node", "why"}, and for a mirrored
	 * disk "mirror": {"states": [primary's, secondary's], "datagen"}}
	 * and path is
	 * {"node": nodeid, "node_name", "device"}; with VDISK_CTL_F_USERS each
	 * disk also has "users" (who uses it cluster-wide, as disk delete
	 * asks) or "users_error" */
	VDISK_CTL_DISK_LIST,
	/* struct vdisk_ctl_disk_req. Reply: {"disk": disk} */
	VDISK_CTL_DISK_SHOW,
	/* struct vdisk_ctl_create_req (needs root or haclient). Reply:
	 * {"generation", "disk": disk} */
	VDISK_CTL_DISK_CREATE,
	/* struct vdisk_ctl_disk_req (needs root or haclient). Reply:
	 * {"generation"} */
	VDISK_CTL_DISK_DELETE,
	/* struct vdisk_ctl_perm_req (needs root or haclient). Reply:
	 * {"generation", "disk": disk} */
	VDISK_CTL_PERM_SET,
	/* struct vdisk_ctl_req. Scans this node with libblkid and republishes
	 * its inventory. Reply: {"node": {"id", "name"}, "devices": [{"path",
	 * "size", "uuid", "label", "partuuid", "type"}]} (absent tags omitted) */
	VDISK_CTL_SCAN,
	/* struct vdisk_ctl_req. Reply: {"node": {"id", "name"}, "policy",
	 * "links": [{"node", "node_name", "member", "link", "state"
	 * ("down"|"connecting"|"up"), "local", "remote", "rtt_min_us",
	 * "rtt_avg_us", "rtt_max_us", "tx_bytes", "rx_bytes", "tx_frames",
	 * "rx_frames", "hb_tx", "hb_rx", "downs", "last_change" (unix seconds, 0 never)}]} */
	VDISK_CTL_LINK_STATUS,
	/* struct vdisk_ctl_ping_req (needs root or haclient): an echo through
	 * the transport. Reply: {"node": {"id", "name"}, "size", "count",
	 * "oneway", "sent", "received", "lost", "corrupt", "duplicates",
	 * "rtt_us": {"min", "avg", "p50", "p90", "p99", "max"}, "max_gap_us",
	 * "duration_us", "throughput_mib_s" (payload carried to the peer per
	 * second)} */
	VDISK_CTL_PING,
	/* struct vdisk_ctl_req. Reply: {"disks": [row], "nodes": [row]} where
	 * row is {"id", "name", "requests", "bytes", "errors", "retried",
	 * "reroutes", "latency_us": {"p50", "p90", "p99", "p999"}}; disks are
	 * the requests this node's clients made, nodes the node that served
	 * them. Latencies are bucket upper bounds (powers of two). */
	VDISK_CTL_STATS,
	/* struct vdisk_ctl_disk_req. Checks this node's path to the disk now
	 * (opens it, reads its size). Reply: {"disk": name, "node": {"id",
	 * "name"}, "role": "primary"|"secondary"|"none", "device", "path"
	 * (resolved), "size", "healthy" (null without a path), "error" ("" or
	 * reason), "suspended", "replica" (a mirror's replica here: its state,
	 * else null)} */
	VDISK_CTL_DISK_CHECK,
	/* The four below run a reconfiguration cycle (need root or haclient).
	 * Reply: {"generation", "disk": disk, "cycle": {"unchanged", "txid",
	 * "cycle_us", "held_us", "drain_us_max", "drain_node"}}. */
	/* struct vdisk_ctl_map_req: primary (required) and secondary (kept
	 * when empty, removed with VDISK_CTL_F_NO_SECONDARY). */
	VDISK_CTL_MAP_SET,
	/* struct vdisk_ctl_map_req: node's path becomes the primary. */
	VDISK_CTL_MAP_PROMOTE,
	/* struct vdisk_ctl_disk_req: I/O to the disk queues until resumed. */
	VDISK_CTL_SUSPEND,
	VDISK_CTL_RESUME,
	/* struct vdisk_ctl_disk_req (need root or haclient): this node stops
	 * serving the disk to its own clients (no NBD export, no device file,
	 * its clients here get ESHUTDOWN), or serves it again; the other
	 * nodes are not affected. Reply: {"disk": disk, "was_stopped",
	 * "clients": this node's users when it stopped ("" none)} */
	VDISK_CTL_DISK_STOP,
	VDISK_CTL_DISK_START,
	VDISK_CTL_TYPE_MAX,
};

struct vdisk_ctl_req {
	struct qb_ipc_request_header hdr;
};

struct vdisk_ctl_disk_req {
	struct qb_ipc_request_header hdr;
	char name[VDISK_NAME_MAX + 1];
	uint32_t flags; /* DISK_DELETE: VDISK_CTL_F_FORCE, DISK_LIST: _USERS, else 0 */
};

/* A path as typed: node (name or id) and device spec; empty node = none. */
struct vdisk_ctl_path {
	char node[VDISK_NODE_MAX + 1];
	char device[VDISK_DEVICE_MAX + 1];
};

#define VDISK_CTL_F_OWNER (1u << 0)
#define VDISK_CTL_F_GROUP (1u << 1)
#define VDISK_CTL_F_MODE (1u << 2)
#define VDISK_CTL_F_SIZE (1u << 3)
/* map set: remove the secondary path. Without it, an empty secondary
 * keeps the disk's current one: redundancy is never dropped by omission. */
#define VDISK_CTL_F_NO_SECONDARY (1u << 4)
/* disk create, map set: a device that is another disk's storage too is
 * accepted (create's reply has a "note" saying which; map set logs it).
 * disk delete: without asking the cluster whether the disk is in use. */
#define VDISK_CTL_F_FORCE (1u << 5)
/* disk list: ask every node who uses each disk (disk list -l). */
#define VDISK_CTL_F_USERS (1u << 6)
/* disk create: primary and secondary are the two replicas of a mirrored
 * disk, each on its own node's storage (docs/mirror.md). */
#define VDISK_CTL_F_MIRROR (1u << 7)
/* disk create --mirror: both replicas up to date from the start, without a
 * copy (the administrator knows they hold the same bytes). */
#define VDISK_CTL_F_CLEAN (1u << 8)

struct vdisk_ctl_create_req {
	struct qb_ipc_request_header hdr;
	char name[VDISK_NAME_MAX + 1];
	struct vdisk_ctl_path primary;
	struct vdisk_ctl_path secondary;
	char owner[VDISK_USER_MAX + 1];
	char group[VDISK_USER_MAX + 1];
	uint64_t size;	/* bytes, with VDISK_CTL_F_SIZE */
	uint32_t mode;	/* permission bits, with VDISK_CTL_F_MODE */
	uint32_t flags; /* VDISK_CTL_F_* */
};

#define VDISK_PING_SIZE_MAX (16u * 1024 * 1024)
#define VDISK_PING_COUNT_MAX 1000000u
#define VDISK_PING_INTERVAL_MAX 60000u
#define VDISK_PING_WINDOW_MAX 1024u

struct vdisk_ctl_ping_req {
	struct qb_ipc_request_header hdr;
	char node[VDISK_NODE_MAX + 1];
	uint32_t size; /* payload bytes, 0..VDISK_PING_SIZE_MAX */
	uint32_t count; /* 1..VDISK_PING_COUNT_MAX */
	uint32_t interval_ms; /* 0 (back to back) .. VDISK_PING_INTERVAL_MAX */
	uint32_t window; /* pings outstanding when interval is 0, 1..VDISK_PING_WINDOW_MAX */
	uint32_t flags; /* VDISK_PING_F_* */
};

/* The peer checks each payload and answers without one, so the payload
 * crosses the path once, as in a one-way stream (iperf3). */
#define VDISK_PING_F_ONEWAY (1u << 0)

struct vdisk_ctl_perm_req {
	struct qb_ipc_request_header hdr;
	char name[VDISK_NAME_MAX + 1];
	char owner[VDISK_USER_MAX + 1];
	char group[VDISK_USER_MAX + 1];
	uint32_t mode;
	uint32_t flags; /* VDISK_CTL_F_OWNER | _GROUP | _MODE */
};

struct vdisk_ctl_map_req {
	struct qb_ipc_request_header hdr;
	char name[VDISK_NAME_MAX + 1];
	char node[VDISK_NODE_MAX + 1]; /* MAP_PROMOTE */
	struct vdisk_ctl_path primary; /* MAP_SET */
	struct vdisk_ctl_path secondary; /* empty: keep the current one */
	uint32_t flags; /* MAP_SET: VDISK_CTL_F_NO_SECONDARY, VDISK_CTL_F_FORCE */
};

/* Any request, as the daemon decodes it and the CLI builds it. */
union vdisk_ctl_request {
	struct qb_ipc_request_header hdr;
	struct vdisk_ctl_req plain;
	struct vdisk_ctl_disk_req disk;
	struct vdisk_ctl_create_req create;
	struct vdisk_ctl_perm_req perm;
	struct vdisk_ctl_ping_req ping;
	struct vdisk_ctl_map_req map;
};

#endif

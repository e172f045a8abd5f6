/*
 * vdisk.conf: the node-local daemon configuration, an INI file.
 *
 *   [section]
 *   key = value
 *
 * Lines starting with '#' or ';' are comments; blank lines are ignored;
 * whitespace around sections, keys and values is trimmed. A value may not be
 * empty and runs to the end of the line (no trailing comments). Every error
 * names the file and the line.
 */
#ifndef VDISK_CONFIG_H
#define VDISK_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum vdisk_policy {
	/* One link carries all traffic to a peer; the next by priority takes
	 * over when it fails. */
	VDISK_POLICY_PASSIVE,
	/* Requests and the fragments of large ones spread over all live links. */
	VDISK_POLICY_STRIPE,
};

/* [links]: nodes named, links per node, and their sizes. */
#define CONFIG_LINK_NODES_MAX 64
#define CONFIG_LINKS_MAX 8
#define CONFIG_NODE_MAX 63
#define CONFIG_ADDR_MAX 255

/* Networks in [nbd] allow. */
#define CONFIG_ALLOW_MAX 32
/* Longest [nbd] listen value: a bracketed IPv6 address or a host name, and a port. */
#define VDISK_LISTEN_MAX 255

/*
 * The daemon configuration. config_init() fills in the defaults; each field
 * is named after its file key as "[section] key". Paths are absolute.
 */
struct vdisk_config {
	/* [daemon] state_dir: where the cluster database is persisted.
	 * Default /var/lib/vdisk. */
	char state_dir[PATH_MAX];
	/* [daemon] run_dir: runtime files (NBD socket, ndfs mount point).
	 * Default /run/vdisk. */
	char run_dir[PATH_MAX];
	/* [daemon] ipc_name: the libqb IPC service name of the control
	 * server. Default VDISK_IPC_NAME_DEFAULT ("vdisk"). */
	char ipc_name[64];
	/* [transport] port: TCP data and UDP heartbeat port on every link.
	 * 1-65535, default 5420. */
	uint16_t port;
	/* [transport] heartbeat_interval_ms: time between heartbeats on each
	 * link. Default 200. */
	uint32_t heartbeat_interval_ms;
	/* [transport] heartbeat_timeout_ms: a link without a heartbeat for
	 * this long is down. Greater than the interval; default 1000. */
	uint32_t heartbeat_timeout_ms;
	/* [transport] policy: how traffic uses the links to a peer. Default
	 * passive. */
	enum vdisk_policy policy;
	/* [transport] authkey: the shared cluster key for peer
	 * authentication, or "none" to disable it. Default
	 * /etc/corosync/authkey. */
	char authkey[PATH_MAX];
	/* [nbd] socket: the NBD server's unix socket. Default
	 * <run_dir>/nbd.sock, derived from run_dir unless set. At most
	 * sizeof(sun_path) - 1 bytes. */
	char nbd_socket[PATH_MAX];
	/* [nbd] listen: the NBD server's TCP address, "" (the default) for no
	 * TCP. HOST:PORT, [IPV6]:PORT or PORT (every address); see
	 * config_listen_split(). */
	char nbd_listen[VDISK_LISTEN_MAX + 1];
	/* [nbd] allow: the TCP clients the NBD server serves, by address
	 * (ADDR or ADDR/PREFIX, numeric, comma-separated); none listed (the
	 * default) serves every client that reaches the listener. A client
	 * refused here is disconnected before the handshake. */
	size_t nnbd_allow;
	struct config_net {
		int family; /* AF_INET or AF_INET6 */
		uint8_t addr[16];
		unsigned int prefix; /* bits that must match */
	} nbd_allow[CONFIG_ALLOW_MAX];
	/* [ndfs] mount: the device filesystem mount point. Default
	 * <run_dir>/dev, derived from run_dir unless set. */
	char ndfs_mount[PATH_MAX];
	/* [io] timeout_ms: how long a request waits for a path before the
	 * client gets EIO. Default 30000. */
	uint32_t io_timeout_ms;
	/* [io] lease_ms: how long this node goes on issuing I/O to its storage
	 * after its last beat that a quorate membership delivered, and how long
	 * the others wait before they take over the disks of a node that left
	 * (lease.h). Default 0: corosync's token + consensus timeouts + 1000,
	 * so a membership change completes within the lease of the nodes that
	 * stay. */
	uint32_t lease_ms;
	/* [io] fence_command: a program that exits 0 once a lost node has been
	 * fenced (lease.h); the node's disks wait for it instead of the lease.
	 * "" (the default) for none. */
	char fence_command[PATH_MAX];
	/* [mirror] resync_rate: the most a mirror's resync copies per second,
	 * in MiB; default 0, no limit (one run of at most 1 MiB is copied at a
	 * time, between the clients' requests, which go first). */
	uint32_t resync_rate;
	/* [reconfig] ack_timeout_ms: how long a reconfiguration coordinator
	 * waits for every member's ACK before it cancels. Default 5000. */
	uint32_t ack_timeout_ms;
	/* [reconfig] pre_hook, post_hook: programs run on every node in a
	 * reconfiguration cycle, before its ACK and after its outcome, as
	 * `HOOK DISK PHASE` (reconfig.h); "" (the default) for none. */
	char pre_hook[PATH_MAX];
	char post_hook[PATH_MAX];
	/* [links] NODE = ADDR0[, ADDR1 ...]: the transport's address of each
	 * link of NODE (a name or nodeid of corosync's nodelist), instead of
	 * its ringX_addr; nodes not named use the nodelist. Numeric IPv4 or
	 * IPv6 addresses only. */
	size_t nlinks;
	struct config_links {
		char node[CONFIG_NODE_MAX + 1];
		size_t naddrs;
		char addr[CONFIG_LINKS_MAX][CONFIG_ADDR_MAX + 1];
	} links[CONFIG_LINK_NODES_MAX];
};

/* The address override of a node (matched by name or decimal nodeid), or
 * NULL. */
const struct config_links *config_links_find(const struct vdisk_config *cfg, const char *name,
					     uint32_t nodeid);

/* Whether a TCP client at sa (IPv4, IPv6, or IPv4 mapped into IPv6) is in
 * one of the n networks. */
bool config_nets_allow(const struct config_net *nets, size_t n, const struct sockaddr *sa);

/* Fills cfg with the defaults. */
void config_init(struct vdisk_config *cfg);

/*
 * Parses len bytes of text (no terminating NUL needed) over cfg, which
 * config_init() prepared: keys the text sets replace what cfg holds. Returns
 * 0, or -EINVAL with "FILE:LINE: reason" in err (truncated to errlen), for
 * example "/etc/vdisk/vdisk.conf:3: unknown key 'prot' in section
 * [transport]". On error cfg may be partly updated.
 */
int config_parse(struct vdisk_config *cfg, const char *text, size_t len, const char *file,
		 char *err, size_t errlen);

/*
 * Reads file and parses it with config_parse(). If the file cannot be read,
 * returns its -errno with "FILE: reason" in err.
 */
int config_load(struct vdisk_config *cfg, const char *file, char *err, size_t errlen);

/*
 * Splits a validated [nbd] listen value into host ("" for every address, an
 * IPv6 address without its brackets) and port, for getaddrinfo(). Returns 0
 * or -EINVAL if listen is not HOST:PORT, [IPV6]:PORT or PORT, or the host
 * does not fit in hostlen.
 */
int config_listen_split(const char *listen, char *host, size_t hostlen, uint16_t *port);

#endif

/*
 * Who is on the other end of an NBD connection: on the unix socket the
 * kernel's credentials of the client (SO_PEERCRED, SO_PEERGROUPS), which the
 * disks' owner, group and mode are checked against; over TCP only an
 * address, which [nbd] allow may refuse before the handshake.
 */
#ifndef VDISK_NBD_PEER_H
#define VDISK_NBD_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "nbd_proto.h"

/* fd's client: tcp is its address for a TCP connection, NULL on the unix
 * socket. Fills cred (its groups are the caller's to free) and a name for
 * logs. 0 or -errno. */
int nbd_peer_identify(int fd, const struct sockaddr_storage *tcp, struct nbd_cred *cred,
		      char *name, size_t namelen);

/* [nbd] allow, and the TCP clients it refused since the last report: a
 * refusal is logged at most once a second, so a scan cannot flood the log. */
struct nbd_allow {
	size_t n;
	struct config_net nets[CONFIG_ALLOW_MAX];
	uint64_t refused, logged_ns;
};

/* Whether the TCP client at ss may connect; logs a refusal. */
bool nbd_allow_check(struct nbd_allow *a, const struct sockaddr_storage *ss);

#endif

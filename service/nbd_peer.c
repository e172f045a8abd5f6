#include "nbd_peer.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>

#include <qb/qblog.h>

#include "clock.h"

/* The groups as they were when the client connected, from the kernel (no
 * race with the pid being reused, as /proc/PID/status would have). They do
 * not change, so a first call can learn how many there are. */
static int peer_groups(int fd, struct nbd_cred *cred)
{
	socklen_t len = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) && errno != ERANGE)
		return -errno;
	cred->groups = malloc(len ? len : 1);
	if (!cred->groups)
		return -ENOMEM;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, cred->groups, &len))
		return -errno;
	cred->ngroups = len / sizeof(gid_t);
	return 0;
}

int nbd_peer_identify(int fd, const struct sockaddr_storage *tcp, struct nbd_cred *cred,
		      char *name, size_t namelen)
{
	char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
	socklen_t len = sizeof(struct ucred);
	struct ucred uc;

	if (tcp) {
		/* Numeric, so it does not fail for what accept() gave. */
		getnameinfo((const struct sockaddr *)tcp, sizeof(*tcp), host, sizeof(host), port,
			    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(name, namelen, tcp->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
			 port);
		return 0;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len))
		return -errno;
	cred->local = true;
	cred->pid = uc.pid;
	cred->uid = uc.uid;
	cred->gid = uc.gid;
	snprintf(name, namelen, "pid %d uid %u", (int)uc.pid, (unsigned int)uc.uid);
	return peer_groups(fd, cred);
}

bool nbd_allow_check(struct nbd_allow *a, const struct sockaddr_storage *ss)
{
	char host[NI_MAXHOST] = "?";
	uint64_t now;

	if (!a->n || config_nets_allow(a->nets, a->n, (const struct sockaddr *)ss))
		return true;
	a->refused++;
	now = now_ns();
	if (!a->logged_ns || now - a->logged_ns >= 1000000000ull) {
		getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host, sizeof(host), NULL, 0,
			    NI_NUMERICHOST);
		qb_log(LOG_NOTICE,
		       "nbd: TCP client %s is not in [nbd] allow: disconnected (%" PRIu64
		       " refused since the last report)",
		       host, a->refused);
		a->refused = 0;
		a->logged_ns = now;
	}
	return false;
}

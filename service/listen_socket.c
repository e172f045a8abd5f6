/*
 * Listening sockets of the NBD server: a unix socket that takes over the
 * file a dead daemon left behind (never a live one's), and a TCP listener.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "config.h"
#include "listen_socket.h"

#define LISTEN_BACKLOG 128

static int listen_open(int family, const struct sockaddr *sa, socklen_t len, int *out)
{
	int fd, one = 1, zero = 0, rc;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, sa, len) || listen(fd, LISTEN_BACKLOG)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

/* A socket file left by a daemon that died is removed; one somebody still
 * answers on, or anything that is not a socket, is not ours to take. */
static int stale_socket_remove(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc = 0;

	if (lstat(sa->sun_path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN)
		rc = -EADDRINUSE;
	else if (unlink(sa->sun_path) && errno != ENOENT)
		rc = -errno;
	close(fd);
	return rc;
}

int listen_unix(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	rc = stale_socket_remove(&sa);
	if (rc)
		return rc;
	rc = listen_open(AF_UNIX, (struct sockaddr *)&sa, sizeof(sa), out);
	if (rc)
		return rc;
	/* Everybody may connect; the server checks who it is. */
	if (chmod(path, 0666)) {
		rc = -errno;
		goto out_close;
	}
	return 0;

out_close:
	close(*out);
	unlink(path);
	return rc;
}

int listen_tcp(const char *listen, int *out)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	struct addrinfo *res, *ai;
	char host[VDISK_LISTEN_MAX + 1], service[8];
	uint16_t port;
	int pass, rc;

	rc = config_listen_split(listen, host, sizeof(host), &port);
	if (rc)
		return rc;
	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host[0] ? host : NULL, service, &hints, &res);
	if (rc) {
		qb_log(LOG_ERR, "listen address '%s': %s", listen, gai_strerror(rc));
		return -EADDRNOTAVAIL;
	}
	/* IPv6 first: "::" takes IPv4 clients too, "0.0.0.0" only those. */
	rc = -EADDRNOTAVAIL;
	for (pass = 0; pass < 2 && rc; pass++)
		for (ai = res; ai && rc; ai = ai->ai_next)
			if ((ai->ai_family == AF_INET6) == (pass == 0))
				rc = listen_open(ai->ai_family, ai->ai_addr, ai->ai_addrlen, out);
	freeaddrinfo(res);
	return rc;
}

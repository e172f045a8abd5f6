/*
 * Listening sockets (non-blocking, close-on-exec) for the NBD server. Each
 * returns 0 with the descriptor in *out, or -errno.
 */
#ifndef VDISK_LISTEN_SOCKET_H
#define VDISK_LISTEN_SOCKET_H

/* A unix socket at path, mode 0666. A socket file nobody answers on (left
 * by a daemon that died) is replaced; a live one, or anything that is not a
 * socket, is not: -EADDRINUSE or -EEXIST. */
int listen_unix(const char *path, int *out);

/* TCP on listen (HOST:PORT, [IPV6]:PORT or PORT; see config_listen_split()),
 * IPv6 first so "::" also takes IPv4 clients. */
int listen_tcp(const char *listen, int *out);

#endif

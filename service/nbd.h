/*
 * The NBD server: every virtual disk of the current mapping is an export of
 * the same name, on a unix socket and optionally on TCP. Fixed newstyle
 * negotiation (nbd_proto.h); in transmission, each request goes to the
 * router, many at a time per connection, answered in completion order.
 *
 * Access: a client may use an export it may read (nbd_access()), with the
 * peer's credentials as the kernel gives them on the unix socket
 * (SO_PEERCRED, SO_PEERGROUPS); TCP peers are "other". Without write
 * permission the export is read-only.
 *
 * Limits: at most 1024 connections open at once (more are accepted and
 * closed at once, logged); a client that has not chosen an export 10 s after
 * connecting is disconnected (logged). Out of file descriptors, the server
 * stops accepting for 200 ms at a time instead of spinning on accept().
 *
 * Threads: nbd_start() and nbd_destroy() run on the control thread; the
 * server itself lives on the data-plane thread (transport_loop()).
 */
#ifndef VDISK_NBD_H
#define VDISK_NBD_H

#include "config.h"
#include "inuse.h"
#include "router.h"
#include "transport.h"

struct nbd;

/*
 * Control thread: creates the server, listens on cfg->nbd_socket (mode 0666,
 * a stale socket from an earlier run removed first) and, if set, on
 * cfg->nbd_listen, and hands the listeners to the data thread through
 * transport_post(). 0, or -errno with the reason logged.
 */
int nbd_start(struct nbd **out, struct transport *t, struct router *r, struct inuse *inuse,
	      const struct vdisk_config *cfg);

/*
 * Control thread, after transport_halt() and router_destroy() (which drops
 * requests without their done() once its io_uring is torn down, so their
 * buffers are ours again): closes the listeners and every connection and
 * frees the server with the requests that were still in flight.
 */
void nbd_destroy(struct nbd *n);

#endif

/*
 * Device probes (and host name lookups) off the control loop. Resolving a spec with libblkid,
 * opening a device and asking its size can wait on a dead disk for as long
 * as the kernel's I/O timeouts, and the control loop (CPG, quorum, the
 * control socket, reconfiguration cycles) must never wait. One worker
 * thread runs the probes in the order they were asked for; each result
 * comes back to the loop through an eventfd.
 *
 * Ownership: the prober owns its jobs. A job's callback runs on the loop
 * exactly once, unless the caller cancels the job first: after
 * prober_cancel() it never runs. prober_stop() runs every callback still
 * due with -ECANCELED. A probe stuck in the kernel keeps the worker, which
 * is then detached, and the state it shares with the loop until it returns.
 */
#ifndef VDISK_PROBER_H
#define VDISK_PROBER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <qb/qbloop.h>

#include <vdisk/ctl.h>

#include "device.h"

struct prober;

struct prober_result {
	/* 0, or the -errno of device_probe() or device_scan(); a resolve
	 * gives -ENOENT for an unknown name, -EAGAIN for a temporary failure,
	 * -EIO otherwise */
	int error;
	uint64_t size; /* a probe's device size in bytes */
	char path[PATH_MAX]; /* a probe's resolved path */
	/* prober_probe_claims(): the index in others of the first spec that
	 * names the same storage as spec (device_id_overlap()), or -1. */
	int claim;
	/* A resolve's first address, port 0. */
	struct sockaddr_storage addr;
	/* A scan's devices: malloc'd, the callback takes them over. */
	struct device_info *devices;
	size_t ndevices;
};

/* Runs on the loop. res is valid for the call only (but see devices). */
typedef void (*prober_done_fn)(void *ctx, struct prober_result *res);

int prober_start(struct prober **out, qb_loop_t *loop);
void prober_stop(struct prober *p);

/*
 * Asks for device_probe(spec) (prober_probe), device_scan() (prober_scan)
 * or a host name's address (prober_resolve: getaddrinfo, which may wait on
 * DNS). Returns 0 with *ticket set, or -errno and the callback never runs.
 */
int prober_probe(struct prober *p, const char *spec, prober_done_fn done, void *ctx,
		 uint64_t *ticket);
/* A probe that also compares spec with the nothers specs of others (which
 * it copies): the storage of other disks on this node. A spec of others that
 * cannot be identified (its device is gone) is skipped. */
int prober_probe_claims(struct prober *p, const char *spec,
			const char (*others)[VDISK_DEVICE_MAX + 1], size_t nothers,
			prober_done_fn done, void *ctx, uint64_t *ticket);
int prober_scan(struct prober *p, prober_done_fn done, void *ctx, uint64_t *ticket);
int prober_resolve(struct prober *p, const char *host, prober_done_fn done, void *ctx,
		   uint64_t *ticket);

/* The callback of ticket will not run; a no-op for a ticket already done. */
void prober_cancel(struct prober *p, uint64_t ticket);

#endif

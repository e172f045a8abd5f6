/*
 * Link addresses for the transport: vdisk.conf's [links] are numeric, but
 * corosync's nodelist may name a link by host name, as `pcs cluster setup`
 * does when no addr= is given. A name is looked up on the prober (DNS may
 * take seconds and the control loop never waits) and kept: the first ask
 * finds nothing, and `changed` runs once the answer is in.
 *
 * Owned by the control loop. Give it a prober of its own, so a device probe
 * stuck on a dead disk never holds up a lookup; destroy it after that
 * prober has stopped: a lookup still out then ends without `changed`.
 */
#ifndef VDISK_LINKADDR_H
#define VDISK_LINKADDR_H

#include <stdint.h>
#include <sys/socket.h>

#include <qb/qbloop.h>

struct linkaddr;
struct prober;

int linkaddr_create(struct linkaddr **out, qb_loop_t *loop, struct prober *p,
		    void (*changed)(void *ctx), void *ctx);
void linkaddr_destroy(struct linkaddr *la);

/*
 * host:port into out: at once for a numeric address or a name already
 * resolved; otherwise out is cleared (the link waits) and the lookup starts.
 * A name that did not resolve is asked again after 30 s (`changed` runs
 * then, for the caller to ask). An empty host clears out.
 */
void linkaddr_get(struct linkaddr *la, const char *host, uint16_t port,
		  struct sockaddr_storage *out);

#endif

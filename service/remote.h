/*
 * Serving other nodes' requests (transport client TCLIENT_BACKEND): checks
 * that the request was routed with this node's mapping and names one of its
 * paths, runs it on the backend, and answers TCLIENT_ROUTER with the status
 * and, for reads, the data. A request seen before (same sender, same id
 * without the attempt number, same path) is not executed twice: one still
 * running answers once, as the latest attempt; one already done is answered
 * from the recent-completions table. When the transport reports that a
 * sender restarted, its entries are dropped and what still runs for it is
 * answered to nobody: the new life's requests never meet the old one's.
 *
 * Threads: data thread only; owned by the router.
 */
#ifndef VDISK_REMOTE_H
#define VDISK_REMOTE_H

#include "backend.h"
#include "transport.h"

struct router;
struct remote;

int remote_start(struct remote **out, struct transport *t, struct backend *b, struct router *r);
void remote_destroy(struct remote *rs);

#endif

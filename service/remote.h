/*
 * Serving other nodes' requests (transport client TCLIENT_BACKEND): checks
 * that the request was routed with this node's mapping and names one of its
 * paths, runs it on the backend, and answers TCLIENT_ROUTER with the status
 * and, for reads, the data. A request id seen before is not executed twice:
 * one still running is left to answer once, one already done is answered
 * from the recent-completions table.
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

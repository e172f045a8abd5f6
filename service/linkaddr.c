/*
 * Link addresses: numeric at once, host names through the prober.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "linkaddr.h"
#include "prober.h"

/* A name that did not resolve is asked again this long after. */
#define LINKADDR_RETRY_NS (30ull * 1000000000)

struct name {
	struct linkaddr *la;
	char host[256];
	enum { NAME_PENDING, NAME_OK, NAME_FAILED } state;
	int error;
	qb_loop_timer_handle retry;
	bool retry_armed; /* failed: asked again when it fires */
	struct sockaddr_storage addr; /* port 0 */
};

struct linkaddr {
	qb_loop_t *loop;
	struct prober *prober;
	void (*changed)(void *ctx);
	void *ctx;
	size_t nnames;
	struct name **names;
};

int linkaddr_create(struct linkaddr **out, qb_loop_t *loop, struct prober *p,
		    void (*changed)(void *ctx), void *ctx)
{
	struct linkaddr *la = calloc(1, sizeof(*la));

	if (!la)
		return -ENOMEM;
	la->loop = loop;
	la->prober = p;
	la->changed = changed;
	la->ctx = ctx;
	*out = la;
	return 0;
}

void linkaddr_destroy(struct linkaddr *la)
{
	size_t i;

	if (!la)
		return;
	for (i = 0; i < la->nnames; i++) {
		if (la->names[i]->retry_armed)
			qb_loop_timer_del(la->loop, la->names[i]->retry);
		free(la->names[i]);
	}
	free(la->names);
	free(la);
}

static void port_set(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static bool numeric(const char *host, struct sockaddr_storage *out)
{
	struct sockaddr_in *in = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return true;
	}
	memset(out, 0, sizeof(*out));
	return false;
}

/* The asker tries again: a lookup that failed at boot (no network, DNS not
 * up yet) must not leave the link unused for good. */
static void name_retry(void *data)
{
	struct name *nm = data;

	nm->retry_armed = false;
	nm->la->changed(nm->la->ctx);
}

static void name_resolved(void *ctx, struct prober_result *res)
{
	struct name *nm = ctx;

	/* Only when vdiskd stops: nobody to tell. */
	if (res->error == -ECANCELED) {
		nm->state = NAME_FAILED;
		return;
	}
	if (res->error) {
		if (nm->state != NAME_FAILED || nm->error != res->error)
			qb_log(LOG_WARNING, "link address '%s' does not resolve: %s; its link "
			       "stays unused (numeric addresses in vdisk.conf's [links] need no "
			       "lookup)", nm->host, strerror(-res->error));
		nm->state = NAME_FAILED;
		nm->error = res->error;
		/* A lookup is asked only while no retry is armed. */
		nm->retry_armed = !qb_loop_timer_add(nm->la->loop, QB_LOOP_LOW, LINKADDR_RETRY_NS,
						     nm, name_retry, &nm->retry);
		return;
	}
	nm->addr = res->addr;
	nm->state = NAME_OK;
	qb_log(LOG_INFO, "link address '%s' resolved", nm->host);
	nm->la->changed(nm->la->ctx);
}

static struct name *name_find(struct linkaddr *la, const char *host)
{
	struct name **grown, *nm;
	size_t i;

	for (i = 0; i < la->nnames; i++)
		if (!strcmp(la->names[i]->host, host))
			return la->names[i];
	/* corosync would not take it either; a cut one would never match. */
	if (strlen(host) >= sizeof(nm->host)) {
		qb_log(LOG_WARNING, "link address '%.64s...' is too long for a host name", host);
		return NULL;
	}
	nm = calloc(1, sizeof(*nm));
	grown = realloc(la->names, (la->nnames + 1) * sizeof(*grown));
	if (!nm || !grown) {
		free(nm);
		if (grown)
			la->names = grown;
		return NULL;
	}
	la->names = grown;
	nm->la = la;
	nm->state = NAME_FAILED;
	snprintf(nm->host, sizeof(nm->host), "%s", host);
	la->names[la->nnames++] = nm;
	return nm;
}

void linkaddr_get(struct linkaddr *la, const char *host, uint16_t port,
		  struct sockaddr_storage *out)
{
	struct name *nm;
	uint64_t ticket;

	if (numeric(host, out)) {
		port_set(out, port);
		return;
	}
	if (!host[0])
		return;
	nm = name_find(la, host);
	if (!nm)
		return;
	if (nm->state == NAME_OK) {
		*out = nm->addr;
		port_set(out, port);
		return;
	}
	if (nm->state == NAME_PENDING || nm->retry_armed)
		return;
	if (prober_resolve(la->prober, host, name_resolved, nm, &ticket) == 0)
		nm->state = NAME_PENDING;
}

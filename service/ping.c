/*
 * The echo service and ping sessions: `vdiskctl ping` sends numbered payloads
 * to a peer's TCLIENT_ECHO, which returns them to our TCLIENT_PING. A session
 * measures round trips, checks every returned byte, counts what never came
 * back and the longest stretch without an answer (what a client would see as
 * a stall during a failover), and answers that come twice (the transport
 * must deliver every message once).
 *
 * A one-way session (op PING_OP_ONEWAY) has the echo check the payload
 * instead and answer with none, status 0 or -EBADMSG: the payload crosses
 * the path once, as a one-way stream's does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "transport_internal.h"

/* How long a session waits for answers after its last send. */
#define PING_GRACE_MS 5000

/* Request op: the echo checks the payload and answers without it. */
#define PING_OP_ONEWAY 1

struct ping_session {
	struct qb_list_head list;
	struct transport *t;
	uint32_t id;
	struct ping_args a;
	ping_done_fn done;
	void *ctx;
	uint64_t *sent_at; /* per ping, monotonic ns; 0 not sent */
	uint64_t *rtt; /* per ping, ns; 0 no answer */
	uint32_t next, outstanding, received, corrupt, duplicates;
	uint64_t start, last_event, max_gap, last_send;
	uint8_t *pattern; /* what every payload holds beyond its index */
	dloop_timer_t timer;
	uint8_t *payload;
};

struct ping_report {
	ping_done_fn done;
	void *ctx;
	struct ping_result r;
};

static void ping_report_deliver(void *arg)
{
	struct ping_report *rep = arg;

	rep->done(rep->ctx, &rep->r);
	free(rep);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t percentile_us(const uint64_t *sorted, size_t n, unsigned int pct)
{
	size_t idx;

	if (!n)
		return 0;
	idx = (n * pct + 99) / 100;
	return sorted[idx ? idx - 1 : 0] / 1000;
}

static void session_finish(struct ping_session *s, int error)
{
	struct ping_report *rep = calloc(1, sizeof(*rep));
	uint64_t now = now_ns(), sum = 0, *sorted = NULL;
	size_t i, n = 0;

	dloop_timer_del(s->t->loop, s->timer);
	qb_list_del(&s->list);
	if (rep) {
		struct ping_result *r = &rep->r;

		rep->done = s->done;
		rep->ctx = s->ctx;
		sorted = malloc((s->a.count ? s->a.count : 1) * sizeof(*sorted));
		for (i = 0; sorted && i < s->a.count; i++)
			if (s->rtt[i])
				sorted[n++] = s->rtt[i];
		if (sorted)
			qsort(sorted, n, sizeof(*sorted), cmp_u64);
		for (i = 0; i < n; i++)
			sum += sorted[i];
		r->error = error;
		r->sent = s->next;
		r->received = s->received;
		r->corrupt = s->corrupt;
		r->duplicates = s->duplicates;
		if (n) {
			r->rtt_min_us = sorted[0] / 1000;
			r->rtt_max_us = sorted[n - 1] / 1000;
			r->rtt_avg_us = sum / n / 1000;
			r->rtt_p50_us = percentile_us(sorted, n, 50);
			r->rtt_p90_us = percentile_us(sorted, n, 90);
			r->rtt_p99_us = percentile_us(sorted, n, 99);
		}
		/* Answers still missing at the end count as a gap too. */
		if (s->outstanding && now - s->last_event > s->max_gap)
			s->max_gap = now - s->last_event;
		r->max_gap_us = s->max_gap / 1000;
		r->duration_us = (now - s->start) / 1000;
		free(sorted);
		if (mailbox_post(s->t->to_ctl, ping_report_deliver, rep))
			free(rep);
	}
	free(s->sent_at);
	free(s->rtt);
	free(s->payload);
	free(s->pattern);
	free(s);
}

/* The payload is a fixed pattern with the ping's index in its first bytes:
 * every byte is still checked, but with memcmp against a copy of the
 * pattern, so the tool does not slow down what it measures. */
static void pattern_fill(uint8_t *pattern, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++)
		pattern[i] = (uint8_t)(i * 7 + 1);
}

static void payload_fill(struct ping_session *s, uint32_t index)
{
	if (s->a.size >= sizeof(index))
		memcpy(s->payload, &index, sizeof(index));
}

/* buf is ping index's payload of size bytes; pattern has at least size. */
static bool payload_valid(const uint8_t *pattern, const uint8_t *buf, size_t len, size_t size,
			  uint32_t index)
{
	size_t head = size >= sizeof(index) ? sizeof(index) : 0;

	if (len != size || (head && memcmp(buf, &index, head)))
		return false;
	/* An empty payload may come with no buffer, and the echo with no
	 * pattern yet. */
	return size == head || memcmp(buf + head, pattern + head, size - head) == 0;
}

/* Sends what the pacing allows; false if the peer is gone. */
static bool session_send(struct ping_session *s)
{
	while (s->next < s->a.count && (s->a.interval_ms || s->outstanding < s->a.window)) {
		struct frame_hdr h = {
			.client = TCLIENT_ECHO,
			.op = s->a.oneway ? PING_OP_ONEWAY : 0,
			.reqid = ((uint64_t)s->id << 32) | s->next,
			.length = s->a.size,
		};
		int rc;

		payload_fill(s, s->next);
		/* Stamp before sending: on a veth pair the answer can be back
		 * before transport_send() returns. */
		s->sent_at[s->next] = now_ns();
		rc = transport_send(s->t, s->a.nodeid, &h, s->payload, s->a.size);
		if (rc == -ENOBUFS)
			break; /* window full: answers will make room */
		if (rc)
			return false;
		s->last_send = s->sent_at[s->next];
		s->next++;
		s->outstanding++;
		if (s->a.interval_ms)
			break;
	}
	return true;
}

static void session_tick(void *data)
{
	struct ping_session *s = data;
	uint64_t period = s->a.interval_ms ? s->a.interval_ms : 100;

	if (!session_send(s)) {
		session_finish(s, -EHOSTUNREACH);
		return;
	}
	/* Done when all are back, or when nothing came back for the grace
	 * period after the last send (a full window waits for answers too). */
	if ((s->next == s->a.count && !s->outstanding) ||
	    (s->outstanding && now_ns() - s->last_event > (uint64_t)PING_GRACE_MS * 1000000 &&
	     now_ns() - s->last_send > (uint64_t)PING_GRACE_MS * 1000000)) {
		session_finish(s, 0);
		return;
	}
	dloop_timer_add(s->t->loop, period * 1000000, s, session_tick, &s->timer);
}

static void ping_reply(void *ctx, const struct frame_hdr *h, const void *payload, size_t len)
{
	struct transport *t = ctx;
	struct ping_session *s;
	uint32_t id = (uint32_t)(h->reqid >> 32), idx = (uint32_t)h->reqid;
	uint64_t now;

	qb_list_for_each_entry(s, &t->pings, list)
		if (s->id == id)
			goto found;
	return;
found:
	if (idx >= s->next)
		return;
	if (s->rtt[idx]) {
		s->duplicates++;
		return;
	}
	now = now_ns();
	s->rtt[idx] = now - s->sent_at[idx] ? now - s->sent_at[idx] : 1;
	s->received++;
	s->outstanding--;
	if (s->a.oneway ? h->status || len :
			  !payload_valid(s->pattern, payload, len, s->a.size, idx))
		s->corrupt++;
	if (now - s->last_event > s->max_gap)
		s->max_gap = now - s->last_event;
	s->last_event = now;
	if (s->received == s->a.count) {
		session_finish(s, 0);
		return;
	}
	if (!s->a.interval_ms && !session_send(s))
		session_finish(s, -EHOSTUNREACH);
}

/* The echo's copy of the pattern covers len bytes; false without memory. */
static bool echo_pattern_cover(struct transport *t, size_t len)
{
	uint8_t *p;

	if (len <= t->echo_pattern_len)
		return true;
	p = realloc(t->echo_pattern, len);
	if (!p)
		return false;
	pattern_fill(p, len);
	t->echo_pattern = p;
	t->echo_pattern_len = len;
	return true;
}

static void echo_request(void *ctx, const struct frame_hdr *h, const void *payload, size_t len)
{
	struct transport *t = ctx;
	struct frame_hdr r = {
		.client = TCLIENT_PING,
		.flags = FRAME_F_REPLY,
		.reqid = h->reqid,
	};
	int rc;

	if (h->op == PING_OP_ONEWAY) {
		/* The peer's length is only believed for what it sent. */
		if (len != h->length)
			r.status = -EBADMSG;
		else if (!echo_pattern_cover(t, h->length))
			r.status = -ENOMEM;
		else if (!payload_valid(t->echo_pattern, payload, len, h->length,
					(uint32_t)h->reqid))
			r.status = -EBADMSG;
		len = 0;
	}
	rc = transport_send(t, h->src_node, &r, payload, len);

	if (rc)
		qb_log(LOG_DEBUG, "echo to node %u: %s", h->src_node, strerror(-rc));
}

void ping_init(struct transport *t)
{
	qb_list_init(&t->pings);
	transport_client_register(t, TCLIENT_ECHO, echo_request, NULL, t);
	transport_client_register(t, TCLIENT_PING, ping_reply, NULL, t);
}

void ping_start_on_data(struct transport *t, const struct ping_args *args, ping_done_fn done,
			void *ctx)
{
	struct ping_session *s = calloc(1, sizeof(*s));
	uint32_t n = args->count ? args->count : 1;

	if (!s)
		goto out_fail;
	s->sent_at = calloc(n, sizeof(*s->sent_at));
	s->rtt = calloc(n, sizeof(*s->rtt));
	s->payload = malloc(args->size ? args->size : 1);
	s->pattern = malloc(args->size ? args->size : 1);
	if (!s->sent_at || !s->rtt || !s->payload || !s->pattern)
		goto out_free;
	pattern_fill(s->pattern, args->size);
	memcpy(s->payload, s->pattern, args->size);
	s->t = t;
	s->a = *args;
	s->a.window = args->window ? args->window : 1;
	s->id = ++t->next_ping_id;
	s->done = done;
	s->ctx = ctx;
	s->start = s->last_event = now_ns();
	qb_list_add_tail(&s->list, &t->pings);
	/* The timer handle must exist before anything can finish the session. */
	dloop_timer_add(t->loop, 0, s, session_tick, &s->timer);
	return;

out_free:
	free(s->pattern);
	free(s->sent_at);
	free(s->rtt);
	free(s->payload);
	free(s);
out_fail:
	{
		struct ping_report *rep = calloc(1, sizeof(*rep));

		if (!rep)
			return;
		rep->done = done;
		rep->ctx = ctx;
		rep->r.error = -ENOMEM;
		if (mailbox_post(t->to_ctl, ping_report_deliver, rep))
			free(rep);
	}
}

void ping_shutdown(struct transport *t)
{
	struct ping_session *s, *tmp;

	qb_list_for_each_entry_safe(s, tmp, &t->pings, list)
		session_finish(s, -ECANCELED);
	free(t->echo_pattern);
	t->echo_pattern = NULL;
	t->echo_pattern_len = 0;
}

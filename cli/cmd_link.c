#include "cmd_link.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "args.h"
#include "ipc.h"
#include "reply.h"

/* ping(8)'s size and count, at a pace a busy link does not notice. */
#define PING_SIZE_DEFAULT 64
#define PING_COUNT_DEFAULT 10
#define PING_INTERVAL_DEFAULT_MS 200
#define PING_WINDOW_DEFAULT 1

/* Longer than anyone waits for a ping on purpose, yet finite. */
#define PING_TIMEOUT_MAX_MS (24 * 60 * 60 * 1000)

static int link_row(struct json_object *item, struct table *table)
{
	char peer_text[CELL_LEN], link_text[24], rtt_text[72], tx_text[48], rx_text[48];
	char hb_text[48];
	char tx_size[16], rx_size[16], downs_text[24], changed_text[16] = "-";
	const char *name, *state, *local, *remote;
	uint64_t node, link, rtt_min, rtt_avg, rtt_max, tx, rx, tx_frames, rx_frames, downs,
		changed, hb_tx, hb_rx;
	const struct field fields[] = {
		{ "node", FIELD_UINT, &node },
		{ "node_name", FIELD_STRING, &name },
		{ "link", FIELD_UINT, &link },
		{ "state", FIELD_STRING, &state },
		{ "local", FIELD_STRING, &local },
		{ "remote", FIELD_STRING, &remote },
		{ "rtt_min_us", FIELD_UINT, &rtt_min },
		{ "rtt_avg_us", FIELD_UINT, &rtt_avg },
		{ "rtt_max_us", FIELD_UINT, &rtt_max },
		{ "tx_bytes", FIELD_UINT, &tx },
		{ "rx_bytes", FIELD_UINT, &rx },
		{ "tx_frames", FIELD_UINT, &tx_frames },
		{ "rx_frames", FIELD_UINT, &rx_frames },
		{ "downs", FIELD_UINT, &downs },
		{ "last_change", FIELD_UINT, &changed },
	};
	/* Absent from a vdiskd that predates them: "-". */
	const struct field hb_fields[] = {
		{ "hb_tx", FIELD_UINT, &hb_tx },
		{ "hb_rx", FIELD_UINT, &hb_rx },
	};
	int ret;

	ret = fields_get(item, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	if (changed > INT64_MAX ||
	    (changed && format_clock((time_t)changed, changed_text, sizeof(changed_text)))) {
		complain("malformed reply from vdiskd: last_change %llu",
			 (unsigned long long)changed);
		return -EBADMSG;
	}
	ret = format_size_human(tx, tx_size, sizeof(tx_size));
	if (!ret)
		ret = format_size_human(rx, rx_size, sizeof(rx_size));
	if (ret)
		return ret;
	snprintf(tx_text, sizeof(tx_text), "%s/%llu", tx_size, (unsigned long long)tx_frames);
	snprintf(rx_text, sizeof(rx_text), "%s/%llu", rx_size, (unsigned long long)rx_frames);
	name_id_format(name, node, peer_text, sizeof(peer_text));
	snprintf(link_text, sizeof(link_text), "%llu", (unsigned long long)link);
	/* the daemon sends zeros until a heartbeat has come back */
	if (rtt_max)
		snprintf(rtt_text, sizeof(rtt_text), "%.2f/%.2f/%.2f", rtt_min / 1000.0,
			 rtt_avg / 1000.0, rtt_max / 1000.0);
	else
		snprintf(rtt_text, sizeof(rtt_text), "-");
	snprintf(downs_text, sizeof(downs_text), "%llu", (unsigned long long)downs);
	if (!json_object_object_get_ex(item, "hb_tx", NULL))
		snprintf(hb_text, sizeof(hb_text), "-");
	else if ((ret = fields_get(item, hb_fields, ARRAY_SIZE(hb_fields))))
		return ret;
	else
		snprintf(hb_text, sizeof(hb_text), "%llu/%llu", (unsigned long long)hb_tx,
			 (unsigned long long)hb_rx);
	return table_add(table, peer_text, link_text, state, local, remote, rtt_text, tx_text,
			 rx_text, hb_text, downs_text, changed_text, NULL);
}

int links_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req)
{
	static const struct table_column columns[] = {
		{ "PEER", false }, { "LINK", true }, { "STATE", false }, { "LOCAL", false },
		{ "REMOTE", false },	      { "RTT MS MIN/AVG/MAX", true },
		{ "TX BYTES/FRAMES", true }, { "RX BYTES/FRAMES", true },
		{ "HEARTBEATS TX/RX", true }, { "DOWNS", true },	      { "CHANGED", false },
	};
	char node_text[CELL_LEN];
	struct json_object *node, *links;
	const char *policy;
	const struct field fields[] = {
		{ "node", FIELD_OBJECT, &node },
		{ "policy", FIELD_STRING, &policy },
		{ "links", FIELD_ARRAY, &links },
	};
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	if (!ret)
		ret = node_format(node, node_text, sizeof(node_text));
	if (ret)
		return ret;
	printf("Node %s, policy %s\n", node_text, policy);
	if (!json_object_array_length(links)) {
		puts("No links.");
		return 0;
	}
	return list_print(links, columns, ARRAY_SIZE(columns), link_row);
}

int ping_fill(union vdisk_ctl_request *req, const struct cli *cli)
{
	struct vdisk_ctl_ping_req *p = &req->ping;
	uint64_t size = PING_SIZE_DEFAULT;
	int ret;

	p->count = PING_COUNT_DEFAULT;
	p->interval_ms = PING_INTERVAL_DEFAULT_MS;
	p->window = PING_WINDOW_DEFAULT;
	ret = arg_copy(p->node, sizeof(p->node), cli->name, "node");
	if (!ret)
		ret = opt_size_get(cli, VDISK_PING_SIZE_MAX, &size);
	if (!ret)
		ret = opt_uint_get(cli, CO_COUNT, 1, VDISK_PING_COUNT_MAX, &p->count);
	if (!ret)
		ret = opt_uint_get(cli, CO_INTERVAL, 0, VDISK_PING_INTERVAL_MAX, &p->interval_ms);
	if (!ret)
		ret = opt_uint_get(cli, CO_WINDOW, 1, VDISK_PING_WINDOW_MAX, &p->window);
	p->size = (uint32_t)size;
	if (cli->given & CO_BIT(CO_ONEWAY))
		p->flags |= VDISK_PING_F_ONEWAY;
	return ret;
}

int ping_timeout_ms(const union vdisk_ctl_request *req)
{
	/* The daemon answers only when the whole session is over: allow for
	 * the pacing, and for back-to-back pings a slow 5 MB/s and 1 ms each. */
	uint64_t ms = (uint64_t)req->ping.count * req->ping.interval_ms + IPC_REPLY_TIMEOUT_MS;

	if (!req->ping.interval_ms)
		ms += (uint64_t)req->ping.count * (req->ping.size / 5000 + 1);

	return ms < PING_TIMEOUT_MAX_MS ? (int)ms : PING_TIMEOUT_MAX_MS;
}

struct ping_view {
	char node[CELL_LEN]; /* "n2 (2)" */
	const char *peer;    /* "n2", for messages */
	char peer_id[24];    /* peer's storage when it has no name */
	uint64_t size, count, sent, received, lost, corrupt, duplicates;
	const char *error; /* the session was cut short: why; else NULL */
	uint64_t rtt_us[6]; /* min, avg, p50, p90, p99, max */
	uint64_t max_gap_us, duration_us;
	double throughput;
	bool oneway;
};

static int ping_decode(struct json_object *reply, struct ping_view *v)
{
	struct json_object *node, *rtt;
	const char *name;
	uint64_t id;
	const struct field fields[] = {
		{ "node", FIELD_OBJECT, &node },
		{ "size", FIELD_UINT, &v->size },
		{ "count", FIELD_UINT, &v->count },
		{ "oneway", FIELD_BOOL, &v->oneway },
		{ "sent", FIELD_UINT, &v->sent },
		{ "received", FIELD_UINT, &v->received },
		{ "lost", FIELD_UINT, &v->lost },
		{ "corrupt", FIELD_UINT, &v->corrupt },
		{ "duplicates", FIELD_UINT, &v->duplicates },
		{ "error", FIELD_STRING_OPT, &v->error },
		{ "rtt_us", FIELD_OBJECT, &rtt },
		{ "max_gap_us", FIELD_UINT, &v->max_gap_us },
		{ "duration_us", FIELD_UINT, &v->duration_us },
		{ "throughput_mib_s", FIELD_NUMBER, &v->throughput },
	};
	const struct field rtt_fields[ARRAY_SIZE(v->rtt_us)] = {
		{ "min", FIELD_UINT, &v->rtt_us[0] }, { "avg", FIELD_UINT, &v->rtt_us[1] },
		{ "p50", FIELD_UINT, &v->rtt_us[2] }, { "p90", FIELD_UINT, &v->rtt_us[3] },
		{ "p99", FIELD_UINT, &v->rtt_us[4] }, { "max", FIELD_UINT, &v->rtt_us[5] },
	};
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	if (!ret)
		ret = fields_get(rtt, rtt_fields, ARRAY_SIZE(rtt_fields));
	if (!ret)
		ret = node_get(node, &id, &name);
	if (ret)
		return ret;
	name_id_format(name, id, v->node, sizeof(v->node));
	v->peer = name_or_id(name, id, v->peer_id, sizeof(v->peer_id));
	return 0;
}

int ping_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req)
{
	struct ping_view v;
	size_t i;
	int ret;

	ret = ping_decode(reply, &v);
	if (ret)
		return ret;
	printf("PING %s: %llu x %llu bytes%s, ", v.node, (unsigned long long)v.count,
	       (unsigned long long)v.size, v.oneway ? " one way (checked there)" : "");
	if (req->ping.interval_ms)
		printf("interval %u ms\n", req->ping.interval_ms);
	else
		printf("back to back, window %u\n", req->ping.window);
	printf("%llu sent, %llu received, %llu lost (%.1f%%), %llu corrupt, %llu duplicates, "
	       "%.2f s\n",
	       (unsigned long long)v.sent, (unsigned long long)v.received,
	       (unsigned long long)v.lost, v.sent ? 100.0 * v.lost / v.sent : 0.0,
	       (unsigned long long)v.corrupt, (unsigned long long)v.duplicates,
	       v.duration_us / 1e6);
	/* as ping(8): without a reply there is no round trip to tell */
	if (v.received) {
		fputs("rtt min/avg/p50/p90/p99/max = ", stdout);
		for (i = 0; i < ARRAY_SIZE(v.rtt_us); i++)
			printf("%s%.3f", i ? "/" : "", v.rtt_us[i] / 1000.0);
		puts(" ms");
	}
	printf("longest gap without a reply: %.1f ms\n", v.max_gap_us / 1000.0);
	if (v.throughput >= 1.0)
		printf("throughput: %.1f MiB/s%s\n", v.throughput, v.oneway ? "" : " each way");
	else
		printf("throughput: %.1f KiB/s%s\n", v.throughput * 1024, v.oneway ? "" : " each way");
	return 0;
}

int ping_check(struct json_object *reply)
{
	struct ping_view v;
	unsigned long long sent, lost, corrupt, dups;
	int ret;

	ret = ping_decode(reply, &v);
	if (ret)
		return ret;
	sent = v.sent;
	lost = v.lost;
	corrupt = v.corrupt;
	dups = v.duplicates;
	if (v.error)
		complain("%s, after %llu sent", v.error, sent);
	if (lost || corrupt || dups)
		complain("ping %s: %llu of %llu lost, %llu corrupt, %llu answered twice", v.peer, lost,
			 sent, corrupt, dups);
	return v.error || lost || corrupt || dups ? -EIO : 0;
}

/*
 * vdiskctl stats: what this node's clients asked of each disk, and which
 * node served it.
 */
#include "cmd_stats.h"

#include <errno.h>
#include <stdio.h>

#include "reply.h"

/* Latencies are histogram bucket bounds: print them as "<= 256us". */
static void latency_format(uint64_t us, char *buf, size_t len)
{
	if (!us)
		snprintf(buf, len, "-");
	else if (us < 10000)
		snprintf(buf, len, "%lluus", (unsigned long long)us);
	else
		snprintf(buf, len, "%.0fms", us / 1000.0);
}

static int stat_row(struct json_object *item, struct table *table)
{
	char name_text[CELL_LEN], nums[5][24], bytes_text[16], lat_text[4][16];
	const char *name;
	uint64_t id, requests, bytes, errors, retried, reroutes, lat[4];
	struct json_object *latency;
	const struct field fields[] = {
		{ "id", FIELD_UINT, &id },
		{ "name", FIELD_STRING, &name },
		{ "requests", FIELD_UINT, &requests },
		{ "bytes", FIELD_UINT, &bytes },
		{ "errors", FIELD_UINT, &errors },
		{ "retried", FIELD_UINT, &retried },
		{ "reroutes", FIELD_UINT, &reroutes },
		{ "latency_us", FIELD_OBJECT, &latency },
	};
	const struct field lat_fields[] = {
		{ "p50", FIELD_UINT, &lat[0] },
		{ "p90", FIELD_UINT, &lat[1] },
		{ "p99", FIELD_UINT, &lat[2] },
		{ "p999", FIELD_UINT, &lat[3] },
	};
	size_t i;
	int ret;

	ret = fields_get(item, fields, ARRAY_SIZE(fields));
	if (!ret)
		ret = fields_get(latency, lat_fields, ARRAY_SIZE(lat_fields));
	if (!ret)
		ret = format_size_human(bytes, bytes_text, sizeof(bytes_text));
	if (ret)
		return ret;
	name_id_format(name, id, name_text, sizeof(name_text));
	snprintf(nums[0], sizeof(nums[0]), "%llu", (unsigned long long)requests);
	snprintf(nums[1], sizeof(nums[1]), "%llu", (unsigned long long)errors);
	snprintf(nums[2], sizeof(nums[2]), "%llu", (unsigned long long)retried);
	snprintf(nums[3], sizeof(nums[3]), "%llu", (unsigned long long)reroutes);
	for (i = 0; i < 4; i++)
		latency_format(lat[i], lat_text[i], sizeof(lat_text[i]));
	return table_add(table, name_text, nums[0], bytes_text, nums[1], nums[2], nums[3],
			 lat_text[0], lat_text[1], lat_text[2], lat_text[3], NULL);
}

int stats_print(struct json_object *reply, const struct cli *cli,
		const union vdisk_ctl_request *req)
{
	static const struct table_column disk_columns[] = {
		{ "DISK", false }, { "REQUESTS", true }, { "BYTES", true }, { "ERRORS", true },
		{ "RETRIED", true }, { "REROUTES", true }, { "P50", true }, { "P90", true },
		{ "P99", true },  { "P99.9", true },
	};
	static const struct table_column node_columns[] = {
		{ "SERVED BY", false }, { "REQUESTS", true }, { "BYTES", true }, { "ERRORS", true },
		{ "RETRIED", true },	{ "REROUTES", true }, { "P50", true },	{ "P90", true },
		{ "P99", true },	{ "P99.9", true },
	};
	struct json_object *disks, *nodes;
	const struct field fields[] = {
		{ "disks", FIELD_ARRAY, &disks },
		{ "nodes", FIELD_ARRAY, &nodes },
	};
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	if (!json_object_array_length(disks)) {
		puts("No I/O yet.");
		return 0;
	}
	ret = list_print(disks, disk_columns, ARRAY_SIZE(disk_columns), stat_row);
	if (ret)
		return ret;
	putchar('\n');
	return list_print(nodes, node_columns, ARRAY_SIZE(node_columns), stat_row);
}

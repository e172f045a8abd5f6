#include "cmd_cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "reply.h"

/* "3 (n1, n2, n3)", allocated */
static int members_format(struct json_object *members, char **textp)
{
	char id_text[24], *text = NULL;
	const char *name;
	uint64_t id;
	size_t i, n = json_object_array_length(members), len;
	FILE *out;
	int ret = 0;

	out = open_memstream(&text, &len);
	if (!out)
		return -ENOMEM;
	fprintf(out, "%zu", n);
	for (i = 0; !ret && i < n; i++) {
		ret = node_get(json_object_array_get_idx(members, i), &id, &name);
		if (!ret)
			fprintf(out, "%s%s", i ? ", " : " (",
				name_or_id(name, id, id_text, sizeof(id_text)));
	}
	if (n)
		fputc(')', out);
	if (fclose(out) && !ret)
		ret = -ENOMEM;
	if (ret)
		free(text);
	else
		*textp = text;
	return ret;
}

int status_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req)
{
	char node_text[CELL_LEN], config_text[24], generation_text[48], disks_text[24];
	char io_text[256];
	struct json_object *node, *members, *io;
	uint64_t config, generation, disks;
	bool quorate, synced;
	const char *save_error;
	const struct field fields[] = {
		{ "node", FIELD_OBJECT, &node },
		{ "quorate", FIELD_BOOL, &quorate },
		{ "config", FIELD_UINT, &config },
		{ "generation", FIELD_UINT, &generation },
		{ "synced", FIELD_BOOL, &synced },
		{ "members", FIELD_ARRAY, &members },
		{ "disks", FIELD_UINT, &disks },
		{ "save_error", FIELD_STRING_OPT, &save_error },
	};
	bool serving;
	uint64_t lease_ms;
	const char *why;
	const struct field io_fields[] = {
		{ "serving", FIELD_BOOL, &serving },
		{ "lease_ms", FIELD_UINT, &lease_ms },
		{ "why", FIELD_STRING, &why },
	};
	char *members_text;
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	/* A daemon from before "io" (the package upgraded, vdiskd not yet
	 * restarted) does not say. */
	if (!json_object_object_get_ex(reply, "io", &io))
		snprintf(io_text, sizeof(io_text), "- (this vdiskd does not say: restart it)");
	else if ((ret = fields_get(io, io_fields, ARRAY_SIZE(io_fields))))
		return ret;
	else if (serving)
		snprintf(io_text, sizeof(io_text), "yes (lease %.1f s left)", lease_ms / 1000.0);
	else
		snprintf(io_text, sizeof(io_text), "no: %s", why);
	ret = node_format(node, node_text, sizeof(node_text));
	if (ret)
		return ret;
	ret = members_format(members, &members_text);
	if (ret)
		return ret;

	snprintf(config_text, sizeof(config_text), "%llu", (unsigned long long)config);
	snprintf(generation_text, sizeof(generation_text), "%llu (%s)",
		 (unsigned long long)generation, synced ? "synced" : "not synced");
	snprintf(disks_text, sizeof(disks_text), "%llu", (unsigned long long)disks);
	ret = details_print("Node:", node_text, "Quorate:", quorate ? "yes" : "no", "Members:",
			    members_text, "Configuration:", config_text, "Generation:",
			    generation_text, "Disks:", disks_text, "Shared I/O:", io_text,
			    save_error ? "Saved:" : NULL, save_error ? save_error : NULL, NULL);
	free(members_text);
	return ret;
}

static int node_row(struct json_object *item, struct table *table)
{
	char id_text[24], devices_text[24];
	const char *name;
	uint64_t id, devices;
	bool member, local;
	const struct field fields[] = {
		{ "id", FIELD_UINT, &id },
		{ "name", FIELD_STRING, &name },
		{ "member", FIELD_BOOL, &member },
		{ "local", FIELD_BOOL, &local },
		{ "devices", FIELD_UINT, &devices },
	};
	int ret;

	ret = fields_get(item, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	snprintf(id_text, sizeof(id_text), "%llu", (unsigned long long)id);
	snprintf(devices_text, sizeof(devices_text), "%llu", (unsigned long long)devices);
	return table_add(table, id_text, *name ? name : "-", member ? "member" : "absent",
			 local ? "*" : "", devices_text, NULL);
}

int nodes_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req)
{
	static const struct table_column columns[] = {
		{ "ID", true }, { "NAME", false }, { "STATE", false },
		{ "LOCAL", false }, { "DEVICES", true },
	};
	struct json_object *nodes;
	const struct field fields[] = { { "nodes", FIELD_ARRAY, &nodes } };
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	return ret ? ret : list_print(nodes, columns, ARRAY_SIZE(columns), node_row);
}

static int device_row(struct json_object *item, struct table *table)
{
	char size_text[16];
	const char *path, *type, *uuid, *label;
	uint64_t size;
	const struct field fields[] = {
		{ "path", FIELD_STRING, &path },
		{ "size", FIELD_UINT, &size },
		{ "type", FIELD_STRING_OPT, &type },
		{ "uuid", FIELD_STRING_OPT, &uuid },
		{ "label", FIELD_STRING_OPT, &label },
	};
	int ret;

	ret = fields_get(item, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	ret = format_size_human(size, size_text, sizeof(size_text));
	if (ret)
		return ret;
	return table_add(table, path, size_text, type ? type : "-", uuid ? uuid : "-",
			 label ? label : "-", NULL);
}

int scan_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req)
{
	static const struct table_column columns[] = {
		{ "PATH", false }, { "SIZE", true }, { "TYPE", false },
		{ "UUID", false }, { "LABEL", false },
	};
	char node_text[CELL_LEN];
	struct json_object *node, *devices;
	const struct field fields[] = {
		{ "node", FIELD_OBJECT, &node },
		{ "devices", FIELD_ARRAY, &devices },
	};
	size_t n;
	int ret;

	ret = fields_get(reply, fields, ARRAY_SIZE(fields));
	if (ret)
		return ret;
	ret = node_format(node, node_text, sizeof(node_text));
	if (ret)
		return ret;
	n = json_object_array_length(devices);
	printf("Node %s: %zu device%s\n", node_text, n, n == 1 ? "" : "s");
	return n ? list_print(devices, columns, ARRAY_SIZE(columns), device_row) : 0;
}

/*
 * Decoding the daemon's JSON replies and laying them out. The daemon is
 * another program, possibly another version: every field is looked up and
 * type-checked before use, so a reply of the wrong shape is reported rather
 * than dereferenced.
 */
#ifndef VDISK_CLI_REPLY_H
#define VDISK_CLI_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <vdisk/ctl.h>

#include "format.h"

/* Room for any one formatted cell: "node:device" is the longest. */
#define CELL_LEN (VDISK_NODE_MAX + VDISK_DEVICE_MAX + 2)

enum field_kind {
	FIELD_UINT,
	FIELD_NUMBER, /* integer or not: a double */
	FIELD_BOOL,
	FIELD_STRING,
	FIELD_STRING_OPT, /* absent or null: NULL */
	FIELD_OBJECT,
	FIELD_OBJECT_OR_NULL,
	FIELD_ARRAY,
};

struct field {
	const char *key;
	enum field_kind kind;
	void *out; /* uint64_t, double, bool, const char * or struct json_object * */
};

/* Fills every field's out from obj; a missing or mistyped one is reported
 * and fails the lot with -EBADMSG. */
int fields_get(struct json_object *obj, const struct field *fields, size_t n);

/* {"id", "name"} of a node */
int node_get(struct json_object *obj, uint64_t *id, const char **name);

/* Nodes and users are shown by name, by number when they have none. */
const char *name_or_id(const char *name, uint64_t id, char *buf, size_t len);

/* "n1 (1)", or just "1" without a name. */
void name_id_format(const char *name, uint64_t id, char *buf, size_t len);

/* A node object as name_id_format() writes it. */
int node_format(struct json_object *obj, char *buf, size_t len);

/* Adds the row of one element of a reply array. */
typedef int (*row_fn)(struct json_object *item, struct table *table);

/* Every listing is a table of items, one row each. */
int list_print(struct json_object *items, const struct table_column *columns, size_t ncolumns,
	       row_fn row);

/* "Key:", value, ..., NULL: aligned key-value lines. */
__attribute__((sentinel)) int details_print(const char *key, ...);

#endif

#include "reply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vdiskctl.h"

static const struct {
	enum json_type type;
	const char *what;
} field_kinds[] = {
	[FIELD_UINT] = { json_type_int, "a non-negative integer" },
	[FIELD_NUMBER] = { json_type_double, "a number" },
	[FIELD_BOOL] = { json_type_boolean, "a boolean" },
	[FIELD_STRING] = { json_type_string, "a string" },
	[FIELD_STRING_OPT] = { json_type_string, "a string or null" },
	[FIELD_OBJECT] = { json_type_object, "an object" },
	[FIELD_OBJECT_OR_NULL] = { json_type_object, "an object or null" },
	[FIELD_ARRAY] = { json_type_array, "an array" },
};

static bool field_valid(const struct field *f, struct json_object *val)
{
	if ((f->kind == FIELD_OBJECT_OR_NULL || f->kind == FIELD_STRING_OPT) &&
	    json_object_is_type(val, json_type_null))
		return true;
	/* JSON has one number type: a whole one may come without a fraction */
	if (f->kind == FIELD_NUMBER && json_object_is_type(val, json_type_int))
		return true;
	if (!json_object_is_type(val, field_kinds[f->kind].type))
		return false;
	/* json-c keeps integers above INT64_MAX as unsigned, which read back
	 * as INT64_MAX here: only a negative value fails */
	return f->kind != FIELD_UINT || json_object_get_int64(val) >= 0;
}

int fields_get(struct json_object *obj, const struct field *fields, size_t n)
{
	struct json_object *val;
	const struct field *f;
	size_t i;

	for (i = 0; i < n; i++) {
		f = &fields[i];
		if (!json_object_object_get_ex(obj, f->key, &val)) {
			if (f->kind == FIELD_STRING_OPT) {
				*(const char **)f->out = NULL;
				continue;
			}
			complain("malformed reply from vdiskd: no \"%s\"", f->key);
			return -EBADMSG;
		}
		if (!field_valid(f, val)) {
			complain("malformed reply from vdiskd: \"%s\" is not %s", f->key,
				 field_kinds[f->kind].what);
			return -EBADMSG;
		}
		switch (f->kind) {
		case FIELD_UINT:
			*(uint64_t *)f->out = json_object_get_uint64(val);
			break;
		case FIELD_NUMBER:
			*(double *)f->out = json_object_get_double(val);
			break;
		case FIELD_BOOL:
			*(bool *)f->out = json_object_get_boolean(val);
			break;
		case FIELD_STRING:
		case FIELD_STRING_OPT:
			*(const char **)f->out = json_object_get_string(val);
			break;
		case FIELD_OBJECT:
		case FIELD_OBJECT_OR_NULL:
		case FIELD_ARRAY:
			*(struct json_object **)f->out = val;
			break;
		}
	}
	return 0;
}

int node_get(struct json_object *obj, uint64_t *id, const char **name)
{
	const struct field fields[] = {
		{ "id", FIELD_UINT, id },
		{ "name", FIELD_STRING, name },
	};

	return fields_get(obj, fields, ARRAY_SIZE(fields));
}

const char *name_or_id(const char *name, uint64_t id, char *buf, size_t len)
{
	if (*name)
		return name;
	snprintf(buf, len, "%llu", (unsigned long long)id);
	return buf;
}

void name_id_format(const char *name, uint64_t id, char *buf, size_t len)
{
	if (*name)
		snprintf(buf, len, "%s (%llu)", name, (unsigned long long)id);
	else
		snprintf(buf, len, "%llu", (unsigned long long)id);
}

int node_format(struct json_object *obj, char *buf, size_t len)
{
	const char *name;
	uint64_t id;
	int ret;

	ret = node_get(obj, &id, &name);
	if (!ret)
		name_id_format(name, id, buf, len);
	return ret;
}

int list_print(struct json_object *items, const struct table_column *columns, size_t ncolumns,
	       row_fn row)
{
	struct table table;
	size_t i;
	int ret;

	ret = table_init(&table, columns, ncolumns);
	if (ret)
		complain("cannot lay out a table of %zu columns: %s", ncolumns, strerror(-ret));
	for (i = 0; !ret && i < json_object_array_length(items); i++)
		ret = row(json_object_array_get_idx(items, i), &table);
	if (!ret)
		table_print(&table, stdout);
	table_free(&table);
	return ret;
}

int details_print(const char *key, ...)
{
	static const struct table_column columns[] = { { NULL, false }, { NULL, false } };
	struct table table;
	va_list ap;
	int ret;

	ret = table_init(&table, columns, ARRAY_SIZE(columns));
	va_start(ap, key);
	for (; !ret && key; key = va_arg(ap, const char *))
		ret = table_add(&table, key, va_arg(ap, const char *), NULL);
	va_end(ap);
	if (!ret)
		table_print(&table, stdout);
	table_free(&table);
	return ret;
}

/*
 * The database's state file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "db_json.h"
#include "dbfile.h"
#include "persist.h"

int dbfile_save(const char *dir, const struct db *db)
{
	struct json_object *o = db_to_json(db);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	int rc = persist_write(dir, DBFILE_NAME, text, strlen(text));

	json_object_put(o);
	return rc;
}

int dbfile_load(const char *dir, struct db *db, char *err, size_t errlen)
{
	struct json_object *o;
	char *text, why[256];
	size_t len;
	int rc;

	rc = persist_read(dir, DBFILE_NAME, &text, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		snprintf(err, errlen, "%s/%s: %s", dir, DBFILE_NAME, strerror(-rc));
		return rc;
	}
	o = json_tokener_parse(text);
	free(text);
	if (!o) {
		snprintf(err, errlen, "%s/%s: not valid JSON", dir, DBFILE_NAME);
		return -EINVAL;
	}
	rc = db_from_json(o, db, why, sizeof(why));
	json_object_put(o);
	if (rc)
		snprintf(err, errlen, "%s/%s: %s", dir, DBFILE_NAME, why);
	return rc;
}

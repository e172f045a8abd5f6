/* The stats command: I/O counters per disk and per serving node. */
#ifndef VDISK_CLI_CMD_STATS_H
#define VDISK_CLI_CMD_STATS_H

#include <json-c/json.h>

#include "vdiskctl.h"

int stats_print(struct json_object *reply, const struct cli *cli,
		const union vdisk_ctl_request *req);

#endif

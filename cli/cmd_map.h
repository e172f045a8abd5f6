/* Commands about a disk's paths: map set/promote, suspend, resume (each a
 * reconfiguration cycle) and disk check. */
#ifndef VDISK_CLI_CMD_MAP_H
#define VDISK_CLI_CMD_MAP_H

#include <json-c/json.h>

#include "vdiskctl.h"

/* A cycle waits for its turn, every member's ACK and the hooks. */
#define CYCLE_REPLY_TIMEOUT_MS 60000

int map_set_fill(union vdisk_ctl_request *req, const struct cli *cli);
int map_promote_fill(union vdisk_ctl_request *req, const struct cli *cli);
int cycle_timeout_ms(const union vdisk_ctl_request *req);
int cycle_print(struct json_object *reply, const struct cli *cli,
		const union vdisk_ctl_request *req);

int disk_check_print(struct json_object *reply, const struct cli *cli,
		     const union vdisk_ctl_request *req);
/* Exit status 1 when this node's path to the disk fails. */
int disk_check_verdict(struct json_object *reply);

#endif

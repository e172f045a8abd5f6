/* Commands about vdiskd's own transport: link status, ping. */
#ifndef VDISK_CLI_CMD_LINK_H
#define VDISK_CLI_CMD_LINK_H

#include <json-c/json.h>

#include "vdiskctl.h"

int links_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req);

int ping_fill(union vdisk_ctl_request *req, const struct cli *cli);
int ping_timeout_ms(const union vdisk_ctl_request *req);
int ping_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req);
/* Like ping(8): -EIO, and the reason on stderr, if a ping was lost or came
 * back corrupt. */
int ping_check(struct json_object *reply);

#endif

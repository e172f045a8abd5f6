/* Commands about the cluster and this node: status, node list, scan. */
#ifndef VDISK_CLI_CMD_CLUSTER_H
#define VDISK_CLI_CMD_CLUSTER_H

#include <json-c/json.h>

#include "vdiskctl.h"

int status_print(struct json_object *reply, const struct cli *cli,
		 const union vdisk_ctl_request *req);
int nodes_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req);
int scan_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req);

#endif

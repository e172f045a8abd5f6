/* Commands about virtual disks: disk list/show/create/delete, perm set. */
#ifndef VDISK_CLI_CMD_DISK_H
#define VDISK_CLI_CMD_DISK_H

#include <json-c/json.h>

#include "vdiskctl.h"

/* The options create and perm set share. */
#define CO_PERM (CO_BIT(CO_OWNER) | CO_BIT(CO_GROUP) | CO_BIT(CO_MODE))

int disk_fill(union vdisk_ctl_request *req, const struct cli *cli);
int create_fill(union vdisk_ctl_request *req, const struct cli *cli);
int perm_set_fill(union vdisk_ctl_request *req, const struct cli *cli);

int disks_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req);
int disk_show_print(struct json_object *reply, const struct cli *cli,
		    const union vdisk_ctl_request *req);
int created_print(struct json_object *reply, const struct cli *cli,
		  const union vdisk_ctl_request *req);
int deleted_print(struct json_object *reply, const struct cli *cli,
		  const union vdisk_ctl_request *req);
int perm_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req);

#endif

/* Commands about virtual disks: disk list/show/create/delete, perm set. */
#ifndef VDISK_CLI_CMD_DISK_H
#define VDISK_CLI_CMD_DISK_H

#include <json-c/json.h>

#include "vdiskctl.h"

/* The options create and perm set share. */
#define CO_PERM (CO_BIT(CO_OWNER) | CO_BIT(CO_GROUP) | CO_BIT(CO_MODE))

/* A path object of a reply as NODE:DEVICE, a null one as "-". */
int disk_path_format(struct json_object *path, char *buf, size_t len);
/* NODE:DEVICE of option opt into path (a usage error if malformed). */
int path_fill(const struct cli *cli, enum cmd_opt opt, struct vdisk_ctl_path *path);

int disk_fill(union vdisk_ctl_request *req, const struct cli *cli);
int list_fill(union vdisk_ctl_request *req, const struct cli *cli);
int create_fill(union vdisk_ctl_request *req, const struct cli *cli);
int perm_set_fill(union vdisk_ctl_request *req, const struct cli *cli);

int disks_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req);
int disk_show_print(struct json_object *reply, const struct cli *cli,
		    const union vdisk_ctl_request *req);
int created_print(struct json_object *reply, const struct cli *cli,
		  const union vdisk_ctl_request *req);
int here_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req);
int deleted_print(struct json_object *reply, const struct cli *cli,
		  const union vdisk_ctl_request *req);
int perm_print(struct json_object *reply, const struct cli *cli, const union vdisk_ctl_request *req);

#endif

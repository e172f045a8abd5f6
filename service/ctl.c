/*
 * Control server over libqb IPC.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <qb/qbipcs.h>
#include <qb/qblog.h>

#include "account.h"
#include "ctl.h"
#include "ctl_msg.h"
#include "ctl_view.h"
#include "inuse_ask.h"
#include "db_json.h"
#include "prober.h"
#include "device.h"
#include "reconfig.h"
#include "inuse.h"
#include "stopped.h"

#define DEFAULT_MODE 0660
#define DEFAULT_GROUP "disk"

struct ctl {
	qb_loop_t *loop;
	qb_ipcs_service_t *service;
	struct ctl_parts p;
};

/* Who is on the other end, as the kernel reported it at connect time. */
struct ctl_client {
	struct ctl *ctl;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool privileged; /* root, or haclient among its groups at connect */
};

/* A node name or id that corosync's nodelist lacks. */
#define UNKNOWN_NODE "unknown node '%s' (not in corosync's nodelist: vdiskctl node list shows the nodes)"

/* libqb's poll handlers carry no context: one server per process. */
static struct ctl *the_ctl;

static void reply_send(qb_ipcs_connection_t *c, int32_t id, int error, struct json_object *body)
{
	struct qb_ipc_response_header hdr = { .id = id, .error = error };
	const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	struct iovec iov[2];
	ssize_t rc;

	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)text;
	iov[1].iov_len = strlen(text) + 1;
	hdr.size = (int32_t)(iov[0].iov_len + iov[1].iov_len);
	rc = qb_ipcs_response_sendv(c, iov, 2);
	if (rc < 0)
		qb_log(LOG_INFO, "cannot answer a control client: %s", strerror((int)-rc));
	json_object_put(body);
}

static void reply_error(qb_ipcs_connection_t *c, int32_t id, int error, const char *why)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(why));
	reply_send(c, id, error ? error : -EIO, o);
}

/* Credentials */

/* Supplementary groups count too; /proc has them for the client's pid. */
static bool pid_in_group(pid_t pid, gid_t gid)
{
	char path[64], line[4096];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *tok, *save;

		if (strncmp(line, "Groups:", 7))
			continue;
		for (tok = strtok_r(line + 7, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save))
			if (strtoul(tok, NULL, 10) == gid)
				found = true;
		break;
	}
	fclose(f);
	return found;
}

static bool client_privileged(const struct ctl_client *cl)
{
	uint32_t admin_gid;

	if (cl->uid == 0)
		return true;
	if (account_lookup(false, CTL_ADMIN_GROUP, &admin_gid, NULL, 0))
		return false;
	return cl->gid == admin_gid || pid_in_group(cl->pid, admin_gid);
}

/* Changes */

/* A request answered later: a change, a ping, or a look at a device (scan,
 * disk check), which the prober does off this loop. Holds a reference on
 * the connection until change_reply(). */
struct change {
	qb_ipcs_connection_t *conn;
	struct ctl *ctl;
	int32_t id;
	uint32_t nodeid; /* ping */
	struct ping_args ping;
	char disk[VDISK_NAME_MAX + 1]; /* disk check: the disk and the device probed */
	char device[VDISK_DEVICE_MAX + 1];
	struct json_object *reply; /* a cycle's, until its users are known */
};

static struct change *change_new(qb_ipcs_connection_t *c, int32_t id)
{
	struct change *ch = calloc(1, sizeof(*ch));

	if (!ch) {
		reply_error(c, id, -ENOMEM, "out of memory");
		return NULL;
	}
	ch->conn = c;
	ch->id = id;
	qb_ipcs_connection_ref(c);
	return ch;
}

/* Answers with o, or with the error when rc is not 0; ends ch. */
static void change_reply(struct change *ch, int rc, const char *err, struct json_object *o)
{
	if (rc)
		reply_error(ch->conn, ch->id, rc, err);
	else
		reply_send(ch->conn, ch->id, 0, o);
	qb_ipcs_connection_unref(ch->conn);
	free(ch);
}

static void change_done(void *ctx, int rc, const char *err, const struct db_disk *disk,
			uint64_t generation)
{
	struct change *ch = ctx;
	struct ctl_client *cl = qb_ipcs_context_get(ch->conn);
	struct json_object *o = NULL;

	if (!rc) {
		o = json_object_new_object();
		json_object_object_add(o, "generation", json_object_new_int64((int64_t)generation));
		if (disk)
			json_object_object_add(o, "disk", ctl_view_disk(&cl->ctl->p, disk));
		if (err)
			json_object_object_add(o, "note", json_object_new_string(err));
	}
	change_reply(ch, rc, err, o);
}

static void scan_done(void *ctx, int rc, const struct device_info *list, size_t n)
{
	struct change *ch = ctx;
	struct ctl_client *cl = qb_ipcs_context_get(ch->conn);
	struct membership *m = cdb_membership(cl->ctl->p.cdb);
	struct json_object *o, *arr;
	char err[128];
	size_t i;

	if (rc) {
		snprintf(err, sizeof(err), "device scan failed: %s", strerror(-rc));
		change_reply(ch, rc, err, NULL);
		return;
	}
	o = json_object_new_object();
	arr = json_object_new_array();
	json_object_object_add(o, "node", ctl_view_node(m, membership_local_nodeid(m)));
	for (i = 0; i < n; i++) {
		struct json_object *d = json_object_new_object();
		const struct { const char *key, *val; } tags[] = {
			{ "uuid", list[i].uuid },	  { "label", list[i].label },
			{ "partuuid", list[i].partuuid }, { "type", list[i].type },
		};
		size_t t;

		json_object_object_add(d, "path", json_object_new_string(list[i].path));
		json_object_object_add(d, "size", json_object_new_int64((int64_t)list[i].size));
		for (t = 0; t < sizeof(tags) / sizeof(tags[0]); t++)
			if (tags[t].val[0])
				json_object_object_add(d, tags[t].key,
						       json_object_new_string(tags[t].val));
		json_object_array_add(arr, d);
	}
	json_object_object_add(o, "devices", arr);
	change_reply(ch, 0, NULL, o);
}

static void scan_start(qb_ipcs_connection_t *c, struct ctl_client *cl, int32_t id)
{
	struct change *ch;
	char err[128];
	int rc;

	/* A scan publishes this node's inventory: a cluster-wide write. */
	if (!cl->privileged) {
		reply_error(c, id, -EPERM,
			    "permission denied: scan publishes this node's devices to the "
			    "cluster and needs root or membership of group " CTL_ADMIN_GROUP);
		return;
	}
	ch = change_new(c, id);
	if (!ch)
		return;
	rc = cdb_inventory_rescan(cl->ctl->p.cdb, scan_done, ch);
	if (rc) {
		snprintf(err, sizeof(err), "device scan failed: %s", strerror(-rc));
		change_reply(ch, rc, err, NULL);
	}
}

static void ping_done(void *ctx, const struct ping_result *r)
{
	struct change *ch = ctx;
	struct ctl_client *cl = qb_ipcs_context_get(ch->conn);
	struct membership *m = cdb_membership(cl->ctl->p.cdb);
	struct json_object *o, *rtt;
	char err[128];

	if (r->error)
		snprintf(err, sizeof(err), "ping %s: %s", membership_node_name(m, ch->nodeid),
			 strerror(-r->error));
	/* A session cut short still tells how far it got, with the error. */
	if (r->error && !r->sent) {
		reply_error(ch->conn, ch->id, r->error, err);
		goto out_unref;
	}
	o = json_object_new_object();
	rtt = json_object_new_object();
	json_object_object_add(o, "node", ctl_view_node(m, ch->nodeid));
	json_object_object_add(o, "size", json_object_new_int64(ch->ping.size));
	json_object_object_add(o, "count", json_object_new_int64(ch->ping.count));
	json_object_object_add(o, "oneway", json_object_new_boolean(ch->ping.oneway));
	json_object_object_add(o, "sent", json_object_new_int64(r->sent));
	json_object_object_add(o, "received", json_object_new_int64(r->received));
	json_object_object_add(o, "lost", json_object_new_int64((int64_t)r->sent - r->received));
	json_object_object_add(o, "corrupt", json_object_new_int64(r->corrupt));
	json_object_object_add(o, "duplicates", json_object_new_int64(r->duplicates));
	if (r->error)
		json_object_object_add(o, "error", json_object_new_string(err));
	json_object_object_add(rtt, "min", json_object_new_int64((int64_t)r->rtt_min_us));
	json_object_object_add(rtt, "avg", json_object_new_int64((int64_t)r->rtt_avg_us));
	json_object_object_add(rtt, "p50", json_object_new_int64((int64_t)r->rtt_p50_us));
	json_object_object_add(rtt, "p90", json_object_new_int64((int64_t)r->rtt_p90_us));
	json_object_object_add(rtt, "p99", json_object_new_int64((int64_t)r->rtt_p99_us));
	json_object_object_add(rtt, "max", json_object_new_int64((int64_t)r->rtt_max_us));
	json_object_object_add(o, "rtt_us", rtt);
	json_object_object_add(o, "max_gap_us", json_object_new_int64((int64_t)r->max_gap_us));
	json_object_object_add(o, "duration_us", json_object_new_int64((int64_t)r->duration_us));
	/* Payload carried to the peer, per second of the session (an echo
	 * carries as much back). */
	json_object_object_add(o, "throughput_mib_s",
			       json_object_new_double(r->duration_us ?
							      (double)r->received * ch->ping.size /
								      (1024.0 * 1024.0) /
								      ((double)r->duration_us / 1e6) :
							      0.0));
	reply_send(ch->conn, ch->id, 0, o);
out_unref:
	qb_ipcs_connection_unref(ch->conn);
	free(ch);
}

static int ping_start(struct ctl *ctl, const struct vdisk_ctl_ping_req *req, struct change *ch,
		      char *err, size_t errlen)
{
	struct membership *m = cdb_membership(ctl->p.cdb);
	struct ping_args a = {
		.size = req->size,
		.count = req->count,
		.interval_ms = req->interval_ms,
		.window = req->window,
		.oneway = req->flags & VDISK_PING_F_ONEWAY,
	};
	int rc;

	if (membership_node_lookup(m, req->node, &a.nodeid)) {
		snprintf(err, errlen, UNKNOWN_NODE, req->node);
		return -ENOENT;
	}
	if (a.nodeid == membership_local_nodeid(m)) {
		snprintf(err, errlen, "%s is this node; ping another one", req->node);
		return -EINVAL;
	}
	if (!membership_is_member(m, a.nodeid)) {
		snprintf(err, errlen, "%s: node is not running vdiskd (start it there first)",
			 req->node);
		return -EHOSTUNREACH;
	}
	ch->nodeid = a.nodeid;
	ch->ping = a;
	rc = transport_ping(ctl->p.transport, &a, ping_done, ch);
	if (rc)
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}

/* A name, or a number, of a user or group this node knows: the database
 * holds ids, and one nobody here has is a typo, as ndfs's chown says too. */
static int id_resolve(bool user, const char *text, uint32_t *id, char *err, size_t errlen)
{
	const char *what = user ? "user" : "group";
	unsigned long n;
	char *end;
	int rc;

	rc = account_lookup(user, text, id, NULL, 0);
	if (rc == -ENOENT) {
		errno = 0;
		n = strtoul(text, &end, 10);
		if (text[0] >= '0' && text[0] <= '9' && !*end && !errno && n < UINT32_MAX) {
			*id = (uint32_t)n;
			rc = account_lookup(user, NULL, id, NULL, 0);
		}
	}
	if (rc == -ENOENT) {
		snprintf(err, errlen, "unknown %s '%s' (no such %s on this node)", what, text, what);
		return -EINVAL;
	}
	if (rc)
		snprintf(err, errlen, "cannot look up %s '%s': %s", what, text, strerror(-rc));
	return rc;
}

static int path_resolve(struct ctl *ctl, const struct vdisk_ctl_path *in, struct db_path *out,
			char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!in->node[0])
		return 0;
	if (membership_node_lookup(cdb_membership(ctl->p.cdb), in->node, &out->nodeid)) {
		snprintf(err, errlen, UNKNOWN_NODE, in->node);
		return -ENOENT;
	}
	snprintf(out->device, sizeof(out->device), "%s", in->device);
	return 0;
}

static int create_start(struct ctl *ctl, const struct vdisk_ctl_create_req *req,
			struct change *ch, char *err, size_t errlen)
{
	struct db_disk d = { .mode = DEFAULT_MODE };
	uint32_t gid;
	int rc = 0;

	snprintf(d.name, sizeof(d.name), "%s", req->name);
	if (!req->primary.node[0]) {
		snprintf(err, errlen, "a primary path is required");
		return -EINVAL;
	}
	if ((rc = path_resolve(ctl, &req->primary, &d.primary, err, errlen)) ||
	    (rc = path_resolve(ctl, &req->secondary, &d.secondary, err, errlen)))
		return rc;
	if ((req->flags & VDISK_CTL_F_OWNER) && (rc = id_resolve(true, req->owner, &d.uid, err, errlen)))
		return rc;
	if (req->flags & VDISK_CTL_F_GROUP)
		rc = id_resolve(false, req->group, &d.gid, err, errlen);
	else if (id_resolve(false, DEFAULT_GROUP, &gid, err, errlen) == 0)
		d.gid = gid;
	if (rc)
		return rc;
	if (req->flags & VDISK_CTL_F_MODE)
		d.mode = req->mode;
	if (req->flags & VDISK_CTL_F_SIZE)
		d.size = req->size;
	d.mirror = req->flags & VDISK_CTL_F_MIRROR;
	return cdb_disk_create(ctl->p.cdb, &d,
			       ((req->flags & VDISK_CTL_F_SIZE) ? CDB_CREATE_SIZE : 0) |
				       ((req->flags & VDISK_CTL_F_FORCE) ? CDB_CREATE_FORCE : 0) |
				       ((req->flags & VDISK_CTL_F_CLEAN) ? CDB_CREATE_CLEAN : 0),
			       change_done, ch, err,
			       errlen);
}

static int perm_start(struct ctl *ctl, const struct vdisk_ctl_perm_req *req, struct change *ch,
		      char *err, size_t errlen)
{
	struct db_update u = { .op = DB_OP_PERM };
	int rc;

	snprintf(u.disk.name, sizeof(u.disk.name), "%s", req->name);
	if (req->flags & VDISK_CTL_F_OWNER) {
		rc = id_resolve(true, req->owner, &u.disk.uid, err, errlen);
		if (rc)
			return rc;
		u.flags |= DB_PERM_UID;
	}
	if (req->flags & VDISK_CTL_F_GROUP) {
		rc = id_resolve(false, req->group, &u.disk.gid, err, errlen);
		if (rc)
			return rc;
		u.flags |= DB_PERM_GID;
	}
	if (req->flags & VDISK_CTL_F_MODE) {
		u.disk.mode = req->mode;
		u.flags |= DB_PERM_MODE;
	}
	if (!u.flags) {
		snprintf(err, errlen, "nothing to change: give --owner, --group or --mode");
		return -EINVAL;
	}
	return cdb_update_submit(ctl->p.cdb, &u, change_done, ch, err, errlen);
}

/* Who uses the disk, cluster-wide, added to the reply prepared in
 * ch->reply: whoever suspends or remaps a disk sees whose I/O waits or
 * moved, disk show whom a delete would cut off. Not knowing is no failure
 * of the request, which has been done. */
static void reply_users(void *ctx, int rc, const char *users)
{
	struct change *ch = ctx;

	json_object_object_add(ch->reply, rc ? "users_error" : "users",
			       json_object_new_string(users));
	change_reply(ch, 0, NULL, ch->reply);
}

static void cycle_done(void *ctx, int rc, const char *err, const struct db_disk *disk,
		       const struct reconfig_result *res)
{
	struct change *ch = ctx;
	struct ctl_client *cl = qb_ipcs_context_get(ch->conn);
	struct ctl *ctl = cl->ctl;
	struct json_object *o, *cyc;

	if (rc) {
		change_reply(ch, rc, err, NULL);
		return;
	}
	o = ctl_view_generation(&ctl->p);
	cyc = json_object_new_object();
	json_object_object_add(cyc, "unchanged", json_object_new_boolean(res->unchanged));
	json_object_object_add(cyc, "txid", json_object_new_int64((int64_t)res->txid));
	json_object_object_add(cyc, "cycle_us", json_object_new_int64((int64_t)res->cycle_us));
	json_object_object_add(cyc, "held_us", json_object_new_int64((int64_t)res->held_us));
	json_object_object_add(cyc, "drain_us_max",
			       json_object_new_int64((int64_t)res->drain_us_max));
	json_object_object_add(cyc, "drain_node", json_object_new_int64(res->drain_node));
	if (disk)
		json_object_object_add(o, "disk", ctl_view_disk(&ctl->p, disk));
	json_object_object_add(o, "cycle", cyc);
	ch->reply = o;
	if (res->unchanged || !disk || !ctl->p.ask ||
	    inuse_ask(ctl->p.ask, disk->name, reply_users, ch))
		change_reply(ch, 0, NULL, o);
}

static int cycle_start(struct ctl *ctl, const union vdisk_ctl_request *req, struct change *ch,
		       char *err, size_t errlen)
{
	struct reconfig_req rr = { 0 };
	int rc;

	snprintf(rr.disk, sizeof(rr.disk), "%s", req->disk.name);
	switch (req->hdr.id) {
	case VDISK_CTL_MAP_SET:
		rr.kind = RECONFIG_MAP;
		if (!req->map.primary.node[0]) {
			snprintf(err, errlen, "a primary path is required");
			return -EINVAL;
		}
		if ((rc = path_resolve(ctl, &req->map.primary, &rr.paths[0], err, errlen)) ||
		    (rc = path_resolve(ctl, &req->map.secondary, &rr.paths[1], err, errlen)))
			return rc;
		rr.keep_secondary = !req->map.secondary.node[0] &&
				    !(req->map.flags & VDISK_CTL_F_NO_SECONDARY);
		rr.force = req->map.flags & VDISK_CTL_F_FORCE;
		break;
	case VDISK_CTL_MAP_PROMOTE:
		rr.kind = RECONFIG_PROMOTE;
		if (membership_node_lookup(cdb_membership(ctl->p.cdb), req->map.node, &rr.node)) {
			snprintf(err, errlen, UNKNOWN_NODE,
				 req->map.node);
			return -ENOENT;
		}
		break;
	case VDISK_CTL_SUSPEND:
		rr.kind = RECONFIG_SUSPEND;
		break;
	default:
		rr.kind = RECONFIG_RESUME;
		break;
	}
	return reconfig_request(ctl->p.reconfig, &rr, cycle_done, ch, err, errlen);
}

static const struct db_path *local_path(struct ctl *ctl, const struct db_disk *d)
{
	uint32_t self = membership_local_nodeid(cdb_membership(ctl->p.cdb));

	return d->primary.nodeid == self ? &d->primary :
	       d->secondary.nodeid == self ? &d->secondary : NULL;
}

/* This node's path to a disk as the prober found it just now (res is NULL
 * when this node has no path to d). */
static struct json_object *disk_check_view(struct ctl *ctl, const struct db_disk *d,
					   const struct prober_result *res)
{
	struct membership *m = cdb_membership(ctl->p.cdb);
	uint32_t self = membership_local_nodeid(m);
	const struct db_path *p = local_path(ctl, d);
	struct json_object *o = json_object_new_object();
	const char *path = res && !res->error ? res->path : "";
	uint64_t size = res && !res->error ? res->size : 0;
	char why[512] = "";

	if (p && res && res->error)
		snprintf(why, sizeof(why), "%s: %s", p->device, strerror(-res->error));
	else if (p && res && size < d->size)
		snprintf(why, sizeof(why), "%s: device holds %" PRIu64
			 " bytes, the disk needs %" PRIu64, p->device, size, d->size);
	json_object_object_add(o, "disk", json_object_new_string(d->name));
	json_object_object_add(o, "node", ctl_view_node(m, self));
	json_object_object_add(o, "role", json_object_new_string(
				       !p ? "none" : p == &d->primary ? "primary" : "secondary"));
	json_object_object_add(o, "device", json_object_new_string(p ? p->device : ""));
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(o, "healthy", p && res ? json_object_new_boolean(!why[0]) : NULL);
	json_object_object_add(o, "error", json_object_new_string(why));
	json_object_object_add(o, "suspended", json_object_new_boolean(d->suspended));
	/* A mirror's replica here: only an up-to-date one may be promoted. */
	json_object_object_add(o, "replica",
			       d->mirror && p ? json_object_new_string(db_replica_state_name(
							d->state[p == &d->primary ? 0 : 1])) :
						NULL);
	return o;
}

static void disk_check_done(void *ctx, struct prober_result *res)
{
	struct change *ch = ctx;
	struct ctl_client *cl = qb_ipcs_context_get(ch->conn);
	const struct db_disk *d = db_disk_find(cdb_db(cl->ctl->p.cdb), ch->disk);
	const struct db_path *p = d ? local_path(cl->ctl, d) : NULL;
	char err[VDISK_NAME_MAX + 64];

	if (res->error == -ECANCELED) {
		change_reply(ch, -ECANCELED, "vdiskd is shutting down", NULL);
		return;
	}
	/* The disk may have gone, or moved, while its path was checked. */
	if (!d) {
		snprintf(err, sizeof(err), DB_NO_SUCH_DISK, ch->disk);
		change_reply(ch, -ENOENT, err, NULL);
		return;
	}
	if (!p || strcmp(p->device, ch->device)) {
		snprintf(err, sizeof(err), "'%s' was remapped meanwhile: ask again", ch->disk);
		change_reply(ch, -EAGAIN, err, NULL);
		return;
	}
	change_reply(ch, 0, NULL, disk_check_view(cl->ctl, d, res));
}

static void disk_check_start(qb_ipcs_connection_t *c, struct ctl_client *cl,
			     const struct db_disk *d, int32_t id)
{
	const struct db_path *p = local_path(cl->ctl, d);
	struct change *ch;
	uint64_t ticket;
	int rc;

	if (!p) {
		reply_send(c, id, 0, disk_check_view(cl->ctl, d, NULL));
		return;
	}
	ch = change_new(c, id);
	if (!ch)
		return;
	snprintf(ch->disk, sizeof(ch->disk), "%s", d->name);
	snprintf(ch->device, sizeof(ch->device), "%s", p->device);
	rc = prober_probe(cdb_prober(cl->ctl->p.cdb), p->device, disk_check_done, ch, &ticket);
	if (rc)
		change_reply(ch, rc, strerror(-rc), NULL);
}

static int delete_submit(struct ctl *ctl, const char *disk, struct change *ch, char *err,
			 size_t errlen)
{
	struct db_update u = { .op = DB_OP_DELETE };

	snprintf(u.disk.name, sizeof(u.disk.name), "%s", disk);
	return cdb_update_submit(ctl->p.cdb, &u, change_done, ch, err, errlen);
}

/* The cluster said who uses the disk: nobody, and it goes. */
static void delete_asked(void *ctx, int rc, const char *users)
{
	struct change *ch = ctx;
	char err[2300];

	if (!rc && users[0]) {
		snprintf(err, sizeof(err), "'%s' is in use: %s; stop its users first, or delete "
			 "it with --force (their I/O then fails)", ch->disk, users);
		rc = -EBUSY;
	} else if (rc) {
		snprintf(err, sizeof(err), "%s; delete it with --force to go on regardless", users);
	}
	if (!rc)
		rc = delete_submit(ch->ctl, ch->disk, ch, err, sizeof(err));
	if (rc)
		change_reply(ch, rc, err, NULL);
}

static int delete_start(struct ctl *ctl, const struct vdisk_ctl_disk_req *req, struct change *ch,
			char *err, size_t errlen)
{
	int rc;

	if ((req->flags & VDISK_CTL_F_FORCE) || !ctl->p.ask)
		return delete_submit(ctl, req->name, ch, err, errlen);
	if (!db_disk_find(cdb_db(ctl->p.cdb), req->name)) {
		snprintf(err, errlen, DB_NO_SUCH_DISK, req->name);
		return -ENOENT;
	}
	ch->ctl = ctl;
	snprintf(ch->disk, sizeof(ch->disk), "%s", req->name);
	rc = inuse_ask(ctl->p.ask, req->name, delete_asked, ch);
	if (rc)
		snprintf(err, errlen, "cannot ask the cluster whether '%s' is in use: %s", req->name,
			 strerror(-rc));
	return rc;
}

/* vdiskctl disk stop/start: local, answered at once. The clients named
 * are the ones this stop cuts off (their next request fails). */
static int here_start(struct ctl *ctl, const struct vdisk_ctl_disk_req *req, bool stop,
		      struct change *ch, char *err, size_t errlen)
{
	const struct db_disk *d = db_disk_find(cdb_db(ctl->p.cdb), req->name);
	struct json_object *o;
	char users[1024] = "";
	bool was;
	int rc;

	if (!d) {
		snprintf(err, errlen, DB_NO_SUCH_DISK, req->name);
		return -ENOENT;
	}
	was = stopped_has(ctl->p.stopped, d->id);
	if (stop && !was)
		inuse_describe(ctl->p.inuse, d->name, users, sizeof(users));
	rc = stopped_set(ctl->p.stopped, d, stop);
	if (rc) {
		snprintf(err, errlen, "cannot record that '%s' is %s here: %s", d->name,
			 stop ? "stopped" : "served", strerror(-rc));
		return rc;
	}
	if (users[0])
		qb_log(LOG_NOTICE, "'%s' stopped here while in use: %s (their next request fails)",
		       d->name, users);
	o = json_object_new_object();
	json_object_object_add(o, "disk", ctl_view_disk(&ctl->p, d));
	json_object_object_add(o, "was_stopped", json_object_new_boolean(was));
	json_object_object_add(o, "clients", json_object_new_string(users));
	change_reply(ch, 0, NULL, o);
	return 0;
}

/* What each privileged request is called, and why it needs the privilege:
 * the refusal says both. */
static const struct {
	const char *name;
	const char *why;
} privileged_requests[VDISK_CTL_TYPE_MAX] = {
	[VDISK_CTL_DISK_CREATE] = { "disk create", "it changes the cluster database" },
	[VDISK_CTL_DISK_DELETE] = { "disk delete", "it changes the cluster database" },
	[VDISK_CTL_PERM_SET] = { "perm set", "it changes the cluster database" },
	[VDISK_CTL_PING] = { "ping", "it sends traffic over the cluster's links" },
	[VDISK_CTL_MAP_SET] = { "map set", "it runs a reconfiguration cycle" },
	[VDISK_CTL_MAP_PROMOTE] = { "map promote", "it runs a reconfiguration cycle" },
	[VDISK_CTL_SUSPEND] = { "suspend", "it holds the disk's I/O on every node" },
	[VDISK_CTL_RESUME] = { "resume", "it runs a reconfiguration cycle" },
	[VDISK_CTL_DISK_STOP] = { "disk stop", "it cuts this node's clients of the disk off" },
	[VDISK_CTL_DISK_START] = { "disk start", "it serves the disk to this node's clients" },
};

static void change_start(qb_ipcs_connection_t *c, struct ctl_client *cl,
			 const union vdisk_ctl_request *req)
{
	struct change *ch;
	char err[512];
	int rc;

	if (!cl->privileged) {
		qb_log(LOG_WARNING, "refused %s from uid %u (pid %d)",
		       privileged_requests[req->hdr.id].name, (unsigned int)cl->uid, (int)cl->pid);
		snprintf(err, sizeof(err), "permission denied: %s needs root or membership of group "
			 CTL_ADMIN_GROUP " (%s)", privileged_requests[req->hdr.id].name,
			 privileged_requests[req->hdr.id].why);
		reply_error(c, req->hdr.id, -EPERM, err);
		return;
	}
	ch = change_new(c, req->hdr.id);
	if (!ch)
		return;
	if (req->hdr.id == VDISK_CTL_DISK_CREATE)
		rc = create_start(cl->ctl, &req->create, ch, err, sizeof(err));
	else if (req->hdr.id == VDISK_CTL_PERM_SET)
		rc = perm_start(cl->ctl, &req->perm, ch, err, sizeof(err));
	else if (req->hdr.id == VDISK_CTL_PING)
		rc = ping_start(cl->ctl, &req->ping, ch, err, sizeof(err));
	else if (req->hdr.id == VDISK_CTL_DISK_STOP || req->hdr.id == VDISK_CTL_DISK_START)
		rc = here_start(cl->ctl, &req->disk, req->hdr.id == VDISK_CTL_DISK_STOP, ch, err,
				sizeof(err));
	else if (req->hdr.id != VDISK_CTL_DISK_DELETE)
		rc = cycle_start(cl->ctl, req, ch, err, sizeof(err));
	else
		rc = delete_start(cl->ctl, &req->disk, ch, err, sizeof(err));
	if (rc) {
		change_reply(ch, rc, err, NULL);
		return;
	}
	if (req->hdr.id != VDISK_CTL_PING)
		qb_log(LOG_NOTICE, "uid %u (pid %d) requested change %d on '%s'",
		       (unsigned int)cl->uid, (int)cl->pid, req->hdr.id, req->disk.name);
}

/* disk list -l: every disk's users, asked of the cluster at once; the
 * reply (ch->reply) goes when the last answer is in. */
struct list_ask {
	struct change *ch;
	size_t pending;
};

struct list_item {
	struct list_ask *la;
	struct json_object *disk; /* in ch->reply's "disks" */
};

static void list_ask_put(struct list_ask *la)
{
	if (--la->pending)
		return;
	change_reply(la->ch, 0, NULL, la->ch->reply);
	free(la);
}

static void list_user(void *ctx, int rc, const char *users)
{
	struct list_item *it = ctx;

	json_object_object_add(it->disk, rc ? "users_error" : "users",
			       json_object_new_string(users));
	list_ask_put(it->la);
	free(it);
}

/* Returns whether it took o (and answers), as disk_show_users(). */
static bool list_users(qb_ipcs_connection_t *c, int32_t id, struct json_object *o)
{
	struct ctl_client *cl = qb_ipcs_context_get(c);
	struct json_object *disks, *d, *name;
	struct list_ask *la;
	struct list_item *it;
	size_t i, n;
	char why[128];
	int rc;

	if (!cl->ctl->p.ask || !json_object_object_get_ex(o, "disks", &disks))
		return false;
	la = calloc(1, sizeof(*la));
	if (!la) {
		reply_error(c, id, -ENOMEM, "out of memory");
		json_object_put(o);
		return true;
	}
	la->ch = change_new(c, id);
	if (!la->ch) {
		free(la); /* change_new answered: out of memory */
		json_object_put(o);
		return true;
	}
	la->ch->reply = o;
	la->pending = 1; /* until every ask is out */
	n = json_object_array_length(disks);
	for (i = 0; i < n; i++) {
		d = json_object_array_get_idx(disks, i);
		it = malloc(sizeof(*it));
		rc = !it ? -ENOMEM : !json_object_object_get_ex(d, "name", &name) ? -EINVAL : 0;
		if (!rc) {
			it->la = la;
			it->disk = d;
			rc = inuse_ask(cl->ctl->p.ask, json_object_get_string(name), list_user, it);
		}
		if (rc) {
			free(it);
			snprintf(why, sizeof(why), "cannot ask the cluster: %s", strerror(-rc));
			json_object_object_add(d, "users_error", json_object_new_string(why));
			continue;
		}
		la->pending++;
	}
	list_ask_put(la);
	return true;
}

/* disk show: the reply o waits for the cluster to say who uses d. Returns
 * whether it took o (and answers), false: answer o without the users. */
static bool disk_show_users(qb_ipcs_connection_t *c, int32_t id, const struct db_disk *d,
			    struct json_object *o)
{
	struct ctl_client *cl = qb_ipcs_context_get(c);
	struct change *ch;
	char why[128];
	int rc;

	if (!cl->ctl->p.ask)
		return false;
	ch = change_new(c, id);
	if (!ch) {
		json_object_put(o); /* change_new answered: out of memory */
		return true;
	}
	ch->reply = o;
	rc = inuse_ask(cl->ctl->p.ask, d->name, reply_users, ch);
	if (rc) {
		snprintf(why, sizeof(why), "cannot ask the cluster: %s", strerror(-rc));
		reply_users(ch, rc, why);
	}
	return true;
}

static int32_t ctl_msg_process(qb_ipcs_connection_t *c, void *data, size_t size)
{
	struct ctl_client *cl = qb_ipcs_context_get(c);
	struct ctl *ctl = cl->ctl;
	union vdisk_ctl_request req;
	struct json_object *o = NULL;
	const struct db_disk *d;
	char err[256];
	int rc;

	rc = ctl_request_decode(data, size, &req, err, sizeof(err));
	if (rc) {
		qb_log(LOG_WARNING, "malformed control request from pid %d: %s", (int)cl->pid, err);
		reply_error(c, req.hdr.id, rc, err);
		return 0;
	}
	switch (req.hdr.id) {
	case VDISK_CTL_STATUS:
		o = ctl_view_status(&ctl->p);
		break;
	case VDISK_CTL_NODE_LIST:
		o = ctl_view_nodes(&ctl->p);
		break;
	case VDISK_CTL_DISK_LIST:
		o = ctl_view_disks(&ctl->p);
		if ((req.disk.flags & VDISK_CTL_F_USERS) && list_users(c, req.hdr.id, o))
			return 0;
		break;
	case VDISK_CTL_DISK_SHOW:
	case VDISK_CTL_DISK_CHECK:
		d = db_disk_find(cdb_db(ctl->p.cdb), req.disk.name);
		if (!d) {
			snprintf(err, sizeof(err), DB_NO_SUCH_DISK, req.disk.name);
			reply_error(c, req.hdr.id, -ENOENT, err);
			return 0;
		}
		if (req.hdr.id == VDISK_CTL_DISK_CHECK) {
			disk_check_start(c, cl, d, req.hdr.id);
			return 0;
		}
		o = json_object_new_object();
		json_object_object_add(o, "disk", ctl_view_disk(&ctl->p, d));
		if (disk_show_users(c, req.hdr.id, d, o))
			return 0;
		break;
	case VDISK_CTL_SCAN:
		scan_start(c, cl, req.hdr.id);
		return 0;
	case VDISK_CTL_LINK_STATUS:
	case VDISK_CTL_STATS:
		rc = req.hdr.id == VDISK_CTL_STATS ? ctl_view_stats(&ctl->p, &o) :
						    ctl_view_links(&ctl->p, &o);
		if (rc) {
			reply_error(c, req.hdr.id, rc, strerror(-rc));
			return 0;
		}
		break;
	default:
		change_start(c, cl, &req);
		return 0;
	}
	reply_send(c, req.hdr.id, 0, o);
	return 0;
}

static int32_t ctl_accept(qb_ipcs_connection_t *c, uid_t uid, gid_t gid)
{
	struct ctl_client *cl = calloc(1, sizeof(*cl));
	struct qb_ipcs_connection_stats stats;

	if (!cl)
		return -ENOMEM;
	cl->ctl = the_ctl;
	cl->uid = uid;
	cl->gid = gid;
	if (qb_ipcs_connection_stats_get(c, &stats, QB_FALSE) == 0)
		cl->pid = stats.client_pid;
	/* Judged now, while the pid is surely the client's: later /proc
	 * could show another process that got the pid. Reads are for
	 * everybody; requests for changes ask this. */
	cl->privileged = client_privileged(cl);
	qb_ipcs_context_set(c, cl);
	return 0;
}

static void ctl_destroyed(qb_ipcs_connection_t *c)
{
	free(qb_ipcs_context_get(c));
	qb_ipcs_context_set(c, NULL);
}

static int32_t job_add(enum qb_loop_priority p, void *data, qb_loop_job_dispatch_fn fn)
{
	return qb_loop_job_add(the_ctl->loop, p, data, fn);
}

static int32_t dispatch_add(enum qb_loop_priority p, int32_t fd, int32_t events, void *data,
			    qb_ipcs_dispatch_fn_t fn)
{
	return qb_loop_poll_add(the_ctl->loop, p, fd, events, data, fn);
}

static int32_t dispatch_mod(enum qb_loop_priority p, int32_t fd, int32_t events, void *data,
			    qb_ipcs_dispatch_fn_t fn)
{
	return qb_loop_poll_mod(the_ctl->loop, p, fd, events, data, fn);
}

static int32_t dispatch_del(int32_t fd)
{
	return qb_loop_poll_del(the_ctl->loop, fd);
}

int ctl_start(struct ctl **out, qb_loop_t *loop, const char *ipc_name,
	      const struct ctl_parts *parts)
{
	static struct qb_ipcs_service_handlers handlers = {
		.connection_accept = ctl_accept,
		.msg_process = ctl_msg_process,
		.connection_destroyed = ctl_destroyed,
	};
	static struct qb_ipcs_poll_handlers poll = {
		.job_add = job_add,
		.dispatch_add = dispatch_add,
		.dispatch_mod = dispatch_mod,
		.dispatch_del = dispatch_del,
	};
	struct ctl *ctl;
	int rc;

	if (the_ctl)
		return -EBUSY;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->loop = loop;
	ctl->p = *parts;
	ctl->service = qb_ipcs_create(ipc_name, 0, QB_IPC_NATIVE, &handlers);
	if (!ctl->service) {
		rc = errno ? -errno : -ENOMEM;
		goto out_free;
	}
	the_ctl = ctl;
	qb_ipcs_enforce_buffer_size(ctl->service, VDISK_CTL_MAX_MSG);
	qb_ipcs_poll_handlers_set(ctl->service, &poll);
	rc = qb_ipcs_run(ctl->service);
	if (rc)
		goto out_destroy;
	*out = ctl;
	return 0;

out_destroy:
	qb_ipcs_destroy(ctl->service);
	the_ctl = NULL;
out_free:
	free(ctl);
	return rc;
}

void ctl_stop(struct ctl *ctl)
{
	if (!ctl)
		return;
	qb_ipcs_destroy(ctl->service);
	the_ctl = NULL;
	free(ctl);
}

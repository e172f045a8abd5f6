/*
 * vdiskd: the vdisk daemon. Sets up logging, reads the configuration and runs
 * the control plane on one qb_loop until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <qb/qblog.h>
#include <qb/qbloop.h>

#include "cdb.h"
#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "failover.h"
#include "inuse.h"
#include "inuse_ask.h"
#include "lease.h"
#include "linkaddr.h"
#include "nbd.h"
#include "ndfs.h"
#include "prober.h"
#include "reconfig.h"
#include "router.h"
#include "stopped.h"
#include "transport.h"
#include "vdmap.h"

#define DEFAULT_CONFIG VDISK_SYSCONFDIR "/vdisk.conf"
/* glibc's ceiling for M_MMAP_THRESHOLD on 64-bit, as large as VD_IO_MAX. */
#define BUFFER_REUSE_MAX (32 * 1024 * 1024)

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vdiskd [-f] [-d] [-c FILE]\n"
		"  -f, --foreground  stay in the foreground and log to stderr\n"
		"  -d, --debug       log debug messages\n"
		"  -c, --config FILE configuration file (default %s)\n"
		"  -h, --help        this help\n"
		"  -V, --version     print the version\n",
		DEFAULT_CONFIG);
}

/* A blackbox that a process with our pid left (killed, it could not remove
 * it; pids come round again) makes libqb's creation of ours fail, and that
 * is printed at every start. It is stale by construction: ours is not made
 * yet. */
static void blackbox_stale_remove(void)
{
	static const char *const parts[] = { "header", "data" };
	char path[96];
	size_t i;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(path, sizeof(path), "/dev/shm/qb-vdiskd-%d-blackbox-%s", (int)getpid(),
			 parts[i]);
		unlink(path);
	}
}

static void log_setup(bool foreground, bool debug)
{
	int level = debug ? LOG_DEBUG : LOG_INFO;

	qb_log_init("vdiskd", LOG_DAEMON, level);
	qb_log_format_set(QB_LOG_SYSLOG, "%b");
	qb_log_format_set(QB_LOG_STDERR, "%t %N[%P] %p [%f] %b");
	qb_log_filter_ctl(QB_LOG_SYSLOG, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", level);
	if (foreground) {
		qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_FALSE);
		qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_TRUE);
		qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", level);
	} else {
		/* Until the daemon has started, whoever started it sees its
		 * errors too (daemon_ready() ends this). */
		qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_TRUE);
		qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_ERR);
	}
	/* The blackbox keeps recent debug messages for post-mortems
	 * (qb-blackbox); it costs a ring buffer, not I/O. */
	blackbox_stale_remove();
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_SIZE, 1024 * 1024);
	qb_log_filter_ctl(QB_LOG_BLACKBOX, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_DEBUG);
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_ENABLED, QB_TRUE);
	/* The data-plane thread logs too; libqb is only thread safe with its
	 * logging thread, which also keeps writes off both loops. */
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_THREADED, QB_TRUE);
	qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_THREADED, QB_TRUE);
	qb_log_thread_start();
}

/*
 * In the background, the parent waits on a pipe until the daemon has
 * started: a start that fails is the parent's exit status and the reason is
 * on its stderr, not only a line in syslog. The daemon keeps the write end
 * (ready_fd) and stderr until daemon_ready().
 */
static int ready_fd = -1;

static int daemonize(void)
{
	int p[2], fd;
	pid_t pid;
	char ok;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		fd = -errno;
		close(p[0]);
		close(p[1]);
		return fd;
	}
	if (pid > 0) {
		close(p[1]);
		/* One byte once started; end of file if it exited first. */
		if (read(p[0], &ok, 1) == 1)
			_exit(0);
		fprintf(stderr, "vdiskd: did not start (the reason is above, and in the system log)\n");
		_exit(1);
	}
	close(p[0]);
	ready_fd = p[1];
	if (setsid() < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

/* Descriptors 0..2 left closed by whoever started vdiskd would be handed
 * out by the next open() (a pipe, a socket, the FUSE device) and then
 * written to as stdout or stderr, or replaced by /dev/null in
 * daemon_ready(): they are /dev/null from the start. */
static int stdio_ensure(void)
{
	int fd;

	do {
		fd = open("/dev/null", O_RDWR);
		if (fd < 0)
			return -errno;
	} while (fd <= STDERR_FILENO);
	close(fd);
	return 0;
}

/* Started: the parent may exit 0, and stderr goes to /dev/null. */
static void daemon_ready(void)
{
	int fd;

	if (ready_fd < 0)
		return;
	qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_FALSE);
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	if (write(ready_fd, "", 1) != 1)
		qb_log(LOG_WARNING, "cannot tell the starting process: %s", strerror(errno));
	close(ready_fd);
	ready_fd = -1;
}

struct daemon {
	const struct vdisk_config *cfg;
	struct cdb *cdb;
	struct transport *transport;
	struct router *router;
	struct lease *lease;
	struct nbd *nbd;
	struct ndfs *ndfs;
	struct reconfig *reconfig;
	struct prober *resolver; /* host names of links, apart from device probes */
	struct inuse *inuse; /* who has which disk open on this node */
	struct inuse_ask *ask; /* ... and in the cluster, before a delete */
	struct stopped *stopped; /* disks not served to this node's clients */
	struct linkaddr *linkaddr;
	uint64_t map_seq;
	/* What the transport was last told, so a database change (which
	 * leaves the nodes alone) costs no address lookups. */
	uint32_t published_local;
	size_t npublished;
	struct membership_node published[MEMBERSHIP_MAX_NODES];
	bool published_member[MEMBERSHIP_MAX_NODES];
};

/* Whether the nodelist or the membership changed since the last publish;
 * records the current one if so. */
static bool nodes_changed(struct daemon *d, struct membership *m)
{
	const struct membership_node *nodes;
	size_t i, n = membership_nodes(m, &nodes);
	bool changed = n != d->npublished || membership_local_nodeid(m) != d->published_local;

	for (i = 0; i < n && !changed; i++)
		changed = memcmp(&nodes[i], &d->published[i], sizeof(nodes[i])) ||
			  membership_is_member(m, nodes[i].nodeid) != d->published_member[i];
	if (!changed)
		return false;
	d->published_local = membership_local_nodeid(m);
	d->npublished = n;
	memcpy(d->published, nodes, n * sizeof(*nodes));
	for (i = 0; i < n; i++)
		d->published_member[i] = membership_is_member(m, nodes[i].nodeid);
	return true;
}

/* Tells the transport who is in the nodelist, who is a member and where
 * each link of each node is: vdisk.conf's [links], else corosync's ringX_addr. */
static void nodes_publish(struct daemon *d, bool force)
{
	struct membership *m = cdb_membership(d->cdb);
	const struct membership_node *nodes;
	struct transport_node tn[MEMBERSHIP_MAX_NODES];
	const struct config_links *over;
	size_t i, n = membership_nodes(m, &nodes);
	int li;

	/* nodes_changed() first: it records what is published. */
	if (!membership_local_nodeid(m) || (!nodes_changed(d, m) && !force))
		return;
	for (i = 0; i < n; i++) {
		memset(&tn[i], 0, sizeof(tn[i]));
		tn[i].nodeid = nodes[i].nodeid;
		tn[i].member = membership_is_member(m, nodes[i].nodeid);
		snprintf(tn[i].name, sizeof(tn[i].name), "%s", nodes[i].name);
		over = config_links_find(d->cfg, nodes[i].name, nodes[i].nodeid);
		for (li = 0; li < MEMBERSHIP_MAX_LINKS && li < TRANSPORT_MAX_LINKS; li++)
			linkaddr_get(d->linkaddr,
				     over ? (li < (int)over->naddrs ? over->addr[li] : "") :
					    nodes[i].addr[li],
				     d->cfg->port, &tn[i].addr[li]);
	}
	transport_nodes_set(d->transport, membership_local_nodeid(m), tn, n);
}

/* A link's host name resolved, or is to be asked again: publish anew. */
static void link_names_changed(void *ctx)
{
	nodes_publish(ctx, true);
}

/* Hands the data plane a new mapping snapshot; returns its seq. */
static uint64_t map_publish(void *ctx)
{
	struct daemon *d = ctx;
	struct membership *m = cdb_membership(d->cdb);
	const uint32_t *members;
	size_t i, n = membership_members(m, &members);
	struct vdmap *map;

	map = vdmap_build(cdb_db(d->cdb), cdb_config(d->cdb), membership_local_nodeid(m),
			  membership_quorate(m) && cdb_synced(d->cdb), members, n);
	if (!map) {
		qb_log(LOG_ERR, "out of memory building the mapping snapshot");
		return d->map_seq;
	}
	/* A joiner's database is empty until synced: nothing to forget yet. */
	if (cdb_synced(d->cdb))
		stopped_prune(d->stopped, cdb_db(d->cdb));
	for (i = 0; i < map->ndisks; i++)
		map->disks[i].stopped = stopped_has(d->stopped, map->disks[i].id);
	map->nfences = lease_fences(d->lease, now_ns(), map->fences);
	map->seq = ++d->map_seq;
	reconfig_snapshot_mark(d->reconfig, map);
	router_map_post(d->router, map);
	return map->seq;
}

/* A fence ended when its command said the node was fenced, or a disk was
 * stopped or started here (vdiskctl disk stop/start). */
static void republish(void *ctx)
{
	map_publish(ctx);
}

static void state_changed(void *ctx)
{
	struct daemon *d = ctx;

	nodes_publish(d, false);
	map_publish(d);
	reconfig_kick(d->reconfig);
	failover_check(d->cdb, d->reconfig);
}

static int32_t on_signal(int32_t sig, void *data)
{
	qb_log(LOG_NOTICE, "%s: shutting down", strsignal(sig));
	qb_loop_stop(data);
	return 0;
}

static int run(const struct vdisk_config *cfg)
{
	struct daemon d = { .cfg = cfg };
	struct transport_config tcfg = {
		.port = cfg->port,
		.hb_interval_ms = cfg->heartbeat_interval_ms,
		.hb_timeout_ms = cfg->heartbeat_timeout_ms,
		.policy = cfg->policy,
	};
	struct ctl *ctl = NULL;
	qb_loop_signal_handle sigs[2];
	char err[512];
	qb_loop_t *loop;
	int rc;

	loop = qb_loop_create();
	if (!loop)
		return -ENOMEM;
	qb_loop_signal_add(loop, QB_LOOP_HIGH, SIGTERM, loop, on_signal, &sigs[0]);
	qb_loop_signal_add(loop, QB_LOOP_HIGH, SIGINT, loop, on_signal, &sigs[1]);
	if (mkdir(cfg->run_dir, 0755) && errno != EEXIST) {
		rc = -errno;
		qb_log(LOG_ERR, "cannot create run directory %s: %s", cfg->run_dir, strerror(errno));
		goto out_loop;
	}
	rc = auth_key_load(&tcfg.key, cfg->authkey, err, sizeof(err));
	if (rc) {
		qb_log(LOG_ERR, "%s", err);
		goto out_loop;
	}
	rc = transport_start(&d.transport, &tcfg, loop);
	auth_key_clear(&tcfg.key);
	if (rc) {
		qb_log(LOG_ERR, "cannot start the transport: %s", strerror(-rc));
		goto out_loop;
	}
	rc = lease_create(&d.lease, loop, cfg->lease_ms, cfg->fence_command, republish, &d);
	if (rc)
		goto out_transport;
	rc = router_start(&d.router, d.transport, cfg->io_timeout_ms, d.lease,
			  cfg->resync_rate);
	if (rc) {
		qb_log(LOG_ERR, "cannot start the router: %s", strerror(-rc));
		goto out_transport;
	}
	rc = inuse_create(&d.inuse, cfg->ndfs_mount);
	if (rc)
		goto out_transport;
	rc = stopped_create(&d.stopped, cfg->state_dir, republish, &d, err, sizeof(err));
	if (rc) {
		qb_log(LOG_ERR, "cannot start: %s", err);
		goto out_transport;
	}
	rc = nbd_start(&d.nbd, d.transport, d.router, d.inuse, cfg);
	if (rc)
		goto out_transport; /* nbd_start() said why */
	rc = cdb_start(&d.cdb, loop, cfg->state_dir, err, sizeof(err));
	if (rc) {
		qb_log(LOG_ERR, "cannot start the cluster database: %s", err);
		goto out_transport;
	}
	rc = lease_attach(d.lease, d.cdb);
	if (rc) {
		qb_log(LOG_ERR, "cannot start the lease: %s", strerror(-rc));
		goto out_cdb;
	}
	rc = prober_start(&d.resolver, loop);
	if (!rc)
		rc = linkaddr_create(&d.linkaddr, loop, d.resolver, link_names_changed, &d);
	if (rc) {
		qb_log(LOG_ERR, "cannot start: %s", strerror(-rc));
		goto out_cdb;
	}
	rc = inuse_ask_create(&d.ask, loop, d.cdb, d.inuse);
	if (rc) {
		qb_log(LOG_ERR, "cannot start: %s", strerror(-rc));
		goto out_cdb;
	}
	rc = reconfig_start(&d.reconfig, loop, d.cdb, cfg, map_publish, &d);
	if (rc) {
		qb_log(LOG_ERR, "cannot start the reconfiguration service: %s", strerror(-rc));
		goto out_cdb;
	}
	cdb_watch(d.cdb, state_changed, &d);
	rc = ndfs_start(&d.ndfs, d.transport, d.router, d.cdb, d.inuse, loop, cfg->ndfs_mount);
	if (rc)
		goto out_cdb; /* ndfs_start() said why */
	rc = ctl_start(&ctl, loop, cfg->ipc_name,
		       &(struct ctl_parts){
			       .cdb = d.cdb,
			       .transport = d.transport,
			       .router = d.router,
			       .reconfig = d.reconfig,
			       .lease = d.lease,
			       .ask = d.ask,
			       .inuse = d.inuse,
			       .stopped = d.stopped,
			       .policy = cfg->policy == VDISK_POLICY_STRIPE ? "stripe" : "passive",
		       });
	if (rc) {
		qb_log(LOG_ERR, "cannot start the control server '%s': %s", cfg->ipc_name,
		       strerror(-rc));
		goto out_cdb;
	}
	qb_log(LOG_NOTICE, "vdiskd %s started; control service '%s', state in %s, port %u",
	       VDISK_VERSION, cfg->ipc_name, cfg->state_dir, cfg->port);
	daemon_ready();
	qb_loop_run(loop);
	rc = 0;

	/* I/O stops first (DESIGN.md, I6): the data thread is joined, then
	 * the I/O its kernel ring still runs is waited for (router_destroy),
	 * and only then does this node leave the group, so the others take
	 * its disks over when nothing of it can reach them any more. The
	 * database answers its pending requests as it stops, through the
	 * control server; the transport's thread is joined before the server
	 * it reports to goes away. */
out_cdb:
	if (d.router) {
		uint64_t t0 = now_ns();

		rc = router_quiesce(d.router, 2 * cfg->io_timeout_ms);
		if (rc)
			qb_log(LOG_ERR, "I/O still runs after %" PRIu32 " ms (a device that does not "
			       "answer?); stopping anyway", 2 * cfg->io_timeout_ms);
		else
			qb_log(LOG_NOTICE, "data plane quiesced in %" PRIu64 " ms: nothing new starts, "
			       "nothing runs", (now_ns() - t0) / 1000000);
		rc = 0;
	}
	transport_halt(d.transport);
	router_destroy(d.router);
	d.router = NULL;
	qb_log(LOG_NOTICE, "data plane stopped: no I/O of this node runs any more");
	/* Its pending asks are answered through the control server. */
	inuse_ask_destroy(d.ask);
	d.ask = NULL;
	cdb_stop(d.cdb);
	qb_log(LOG_NOTICE, "left the cluster group");
	/* After its prober: no lookup can end in it any more. */
	prober_stop(d.resolver);
	linkaddr_destroy(d.linkaddr);
out_transport:
	/* Data-plane parts are freed once their thread is gone. */
	transport_halt(d.transport);
	router_destroy(d.router);
	nbd_destroy(d.nbd);
	ndfs_destroy(d.ndfs);
	inuse_destroy(d.inuse);
	stopped_destroy(d.stopped);
	transport_stop(d.transport);
	lease_destroy(d.lease);
	/* Its requests are answered through the control server. */
	reconfig_stop(d.reconfig);
	ctl_stop(ctl);
out_loop:
	qb_loop_destroy(loop);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *config = DEFAULT_CONFIG;
	bool foreground = false, debug = false, config_given = false;
	struct vdisk_config cfg;
	char err[512];
	int c, rc;

	if (stdio_ensure())
		return 1;
	while ((c = getopt_long(argc, argv, "fdc:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			foreground = true;
			break;
		case 'd':
			debug = true;
			break;
		case 'c':
			config = optarg;
			config_given = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vdiskd %s\n", VDISK_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vdiskd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	config_init(&cfg);
	/* A missing default file means "all defaults"; a named one must exist. */
	rc = config_load(&cfg, config, err, sizeof(err));
	if (rc && !(rc == -ENOENT && !config_given)) {
		fprintf(stderr, "vdiskd: %s\n", err);
		return 1;
	}
	if (rc)
		config_init(&cfg);
	/* A fence command that cannot run would hold a lost node's disks for
	 * good: refuse it now, not at the first failure. */
	if (cfg.fence_command[0] && access(cfg.fence_command, X_OK)) {
		fprintf(stderr, "vdiskd: %s: [io] fence_command %s: %s\n", config,
			cfg.fence_command, strerror(errno));
		return 1;
	}
	if (!foreground && daemonize()) {
		fprintf(stderr, "vdiskd: cannot daemonize: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Request buffers of up to VD_IO_MAX come and go all the time: kept
	 * in the heap for reuse, not mapped and unmapped each time (which
	 * costs a page fault per 4 KiB of every buffer). */
	mallopt(M_MMAP_THRESHOLD, BUFFER_REUSE_MAX);
	mallopt(M_TRIM_THRESHOLD, 8 * BUFFER_REUSE_MAX);
	log_setup(foreground, debug);
	rc = run(&cfg);
	qb_log_fini();
	return rc ? 1 : 0;
}

/*
 * Corosync faked at the membership.h boundary, for unit tests that run
 * several cluster members in one process: this header implements
 * membership.h as an in-process CPG bus that delivers every multicast to
 * every member of the sender's configuration in one total order, the way
 * CPG's agreed order does, so several cdb instances (and what rides on their
 * group: reconfiguration cycles, lease beats) work against each other.
 *
 * It defines membership.h's functions, so the test executable links them
 * instead of the library's membership.o: include it, after <cmocka.h>,
 * from exactly one .c of each test executable.
 *
 * The test plays corosync:
 *   fake_bus_init()      before the first member starts: the loop, and a
 *                        directory for the members' state (fake_state_dir)
 *                        with a file standing for a device (fake.backing);
 *   fake.next_nodeid     the nodeid the next membership_start() (that is,
 *                        the next cdb_start()) gets;
 *   fake_confchg()       installs a configuration (and its quorum: the fake
 *                        has no separate quorum event) on the nodes listed;
 *   fake_pump()          runs the loop and delivers messages until nothing
 *                        moved for a while; fake_step() does one step;
 *   fake.tap             sees every message delivered;
 *   fake_bus_fini()      after the last member stopped.
 * Nothing is delivered outside fake_step(), so a test sees the state between
 * two deliveries.
 */
#ifndef VDISK_TEST_FAKE_MEMBERSHIP_H
#define VDISK_TEST_FAKE_MEMBERSHIP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <corosync/corotypes.h>

#include "membership.h"

/* Nodeids 1..FAKE_NODES make up corosync's nodelist. */
#ifndef FAKE_NODES
#define FAKE_NODES 3
#endif
#define FAKE_QUEUE 256
/* One step runs the loop this long before it delivers. */
#define FAKE_STEP_MS 5
/* fake_pump() stops after this many steps without a delivery. */
#define FAKE_IDLE_STEPS 50
/* What membership_totem_ms() reports: corosync's defaults. */
#define FAKE_TOKEN_MS 1000
#define FAKE_CONSENSUS_MS 1200

struct membership {
	uint32_t nodeid;
	const struct membership_ops *ops;
	void *ctx;
	bool quorate;
	uint32_t members[FAKE_NODES];
	size_t nmembers;
	uint64_t view;
	/* Left in the last configuration change with its node going down. */
	bool left_down[FAKE_NODES + 1];
};

struct fake_msg {
	uint32_t from;
	void *buf;
	size_t len;
};

static struct {
	qb_loop_t *loop; /* every member's */
	uint32_t next_nodeid;
	struct membership *nodes[FAKE_NODES + 1]; /* running members by nodeid */
	/* The nodes' vdiskd leaves the group at the next configuration
	 * change while the node stays up (membership_left_down() false).
	 * A member stopped with membership_stop() always leaves clean. */
	bool leaves_clean[FAKE_NODES + 1];
	struct membership_node nodelist[FAKE_NODES];
	char dir[64]; /* the test's own directory: state dirs, scripts */
	char backing[128]; /* a 1 MiB file in it: a device every node reaches */
	/* If set, sees every message as it is delivered, before the members. */
	void (*tap)(uint32_t from, const void *buf, size_t len);
	struct fake_msg queue[FAKE_QUEUE]; /* sent, not yet delivered */
	size_t queued;
} fake;

static inline bool fake_listed(const uint32_t *ids, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The corosync boundary. */

int membership_start(struct membership **out, qb_loop_t *loop, const struct membership_ops *ops,
		     void *ctx)
{
	struct membership *m;

	assert_in_range(fake.next_nodeid, 1, FAKE_NODES);
	assert_null(fake.nodes[fake.next_nodeid]);
	m = calloc(1, sizeof(*m));
	assert_non_null(m);
	m->nodeid = fake.next_nodeid;
	m->ops = ops;
	m->ctx = ctx;
	fake.nodes[m->nodeid] = m;
	*out = m;
	return 0;
}

void membership_stop(struct membership *m)
{
	fake.nodes[m->nodeid] = NULL;
	free(m);
}

int membership_send(struct membership *m, void *buf, size_t len)
{
	assert_true(fake.queued < FAKE_QUEUE);
	fake.queue[fake.queued++] = (struct fake_msg){ .from = m->nodeid, .buf = buf, .len = len };
	return 0;
}

uint32_t membership_local_nodeid(const struct membership *m)
{
	return m->nodeid;
}

bool membership_left_down(const struct membership *m, uint32_t nodeid)
{
	return nodeid <= FAKE_NODES && m->left_down[nodeid];
}

uint64_t membership_view(const struct membership *m)
{
	return m->view;
}

bool membership_quorate(const struct membership *m)
{
	return m->quorate;
}

bool membership_is_member(const struct membership *m, uint32_t nodeid)
{
	return fake_listed(m->members, m->nmembers, nodeid);
}

size_t membership_members(const struct membership *m, const uint32_t **members)
{
	*members = m->members;
	return m->nmembers;
}

size_t membership_nodes(const struct membership *m, const struct membership_node **nodes)
{
	*nodes = fake.nodelist;
	return FAKE_NODES;
}

/* Node N is "nN", at 127.0.0.N. */
static inline void fake_nodelist_init(void)
{
	uint32_t i;

	for (i = 0; i < FAKE_NODES; i++) {
		struct membership_node *n = &fake.nodelist[i];

		memset(n, 0, sizeof(*n));
		n->nodeid = i + 1;
		snprintf(n->name, sizeof(n->name), "n%u", n->nodeid);
		snprintf(n->addr[0], sizeof(n->addr[0]), "127.0.0.%u", n->nodeid);
	}
}

const char *membership_node_name(const struct membership *m, uint32_t nodeid)
{
	/* Rotating, as the real one's: a message may name two unknown nodes. */
	static char unknown[2][32];
	static unsigned int next;
	char *buf;

	if (nodeid >= 1 && nodeid <= FAKE_NODES)
		return fake.nodelist[nodeid - 1].name;
	buf = unknown[next++ % 2];
	snprintf(buf, sizeof(unknown[0]), "node%u", nodeid);
	return buf;
}

int membership_node_lookup(const struct membership *m, const char *text, uint32_t *nodeid)
{
	uint32_t i;

	for (i = 0; i < FAKE_NODES; i++) {
		char id[16];

		snprintf(id, sizeof(id), "%u", fake.nodelist[i].nodeid);
		if (!strcmp(text, fake.nodelist[i].name) || !strcmp(text, id)) {
			*nodeid = fake.nodelist[i].nodeid;
			return 0;
		}
	}
	return -ENOENT;
}

int membership_totem_ms(const struct membership *m, uint32_t *token, uint32_t *consensus)
{
	*token = FAKE_TOKEN_MS;
	*consensus = FAKE_CONSENSUS_MS;
	return 0;
}

/* No CMAP: the database mirror stays idle. */
bool membership_cmap(const struct membership *m, cmap_handle_t *handle)
{
	return false;
}

int membership_cs_errno(int cs_error)
{
	return cs_error == CS_OK ? 0 : -EIO;
}

/* The bus */

/* Makes the loop and a fresh /tmp/NAME.XXXXXX with the backing file. */
static inline void fake_bus_init(const char *name)
{
	FILE *f;

	memset(&fake, 0, sizeof(fake));
	fake_nodelist_init();
	snprintf(fake.dir, sizeof(fake.dir), "/tmp/%s.XXXXXX", name);
	assert_non_null(mkdtemp(fake.dir));
	snprintf(fake.backing, sizeof(fake.backing), "%s/disk.img", fake.dir);
	f = fopen(fake.backing, "w");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
	fake.loop = qb_loop_create();
	assert_non_null(fake.loop);
}

/* Drops what was never delivered; removes the directory. */
static inline void fake_bus_fini(void)
{
	char cmd[128];

	while (fake.queued)
		free(fake.queue[--fake.queued].buf);
	qb_loop_destroy(fake.loop);
	fake.loop = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fake.dir);
	assert_int_equal(system(cmd), 0);
}

/* Where node id keeps its database. */
static inline void fake_state_dir(uint32_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/n%u", fake.dir, id);
}

static inline void fake_loop_stop(void *data)
{
	qb_loop_stop(fake.loop);
}

/*
 * Runs the loop's timers and jobs for FAKE_STEP_MS, then delivers the oldest
 * message to each running member of its sender's configuration. A message
 * whose sender stopped is dropped, as CPG drops what a dead process had not
 * got out. false if there was nothing to deliver.
 */
static inline bool fake_step(void)
{
	struct fake_msg msg;
	qb_loop_timer_handle t;
	uint32_t id;

	qb_loop_timer_add(fake.loop, QB_LOOP_LOW, FAKE_STEP_MS * QB_TIME_NS_IN_MSEC, NULL,
			  fake_loop_stop, &t);
	qb_loop_run(fake.loop);
	if (!fake.queued)
		return false;
	msg = fake.queue[0];
	memmove(fake.queue, fake.queue + 1, --fake.queued * sizeof(fake.queue[0]));
	if (fake.tap && fake.nodes[msg.from])
		fake.tap(msg.from, msg.buf, msg.len);
	for (id = 1; id <= FAKE_NODES; id++) {
		struct membership *m = fake.nodes[id];

		if (m && fake.nodes[msg.from] && membership_is_member(fake.nodes[msg.from], id))
			m->ops->deliver(m->ctx, msg.from, (uint32_t)getpid(), msg.buf, msg.len);
	}
	free(msg.buf);
	return true;
}

/* Steps until nothing was delivered for FAKE_IDLE_STEPS steps. */
static inline void fake_pump(void)
{
	unsigned int idle;

	for (idle = 0; idle < FAKE_IDLE_STEPS; idle++)
		if (fake_step())
			idle = 0;
}

/*
 * Installs a configuration on the listed (running) nodes, each told in turn.
 * A node that was a member before and is not in ids left: down, unless it
 * stopped or was marked in fake.leaves_clean.
 */
static inline void fake_confchg(const uint32_t *ids, size_t n, bool quorate)
{
	size_t i, j;

	assert_true(n <= FAKE_NODES);
	for (i = 0; i < n; i++) {
		struct membership *m = fake.nodes[ids[i]];

		assert_non_null(m);
		memset(m->left_down, 0, sizeof(m->left_down));
		for (j = 0; j < m->nmembers; j++) {
			uint32_t old = m->members[j];

			if (!fake_listed(ids, n, old))
				m->left_down[old] = fake.nodes[old] && !fake.leaves_clean[old];
		}
		memcpy(m->members, ids, n * sizeof(*ids));
		m->nmembers = n;
		m->quorate = quorate;
		m->view++;
		m->ops->confchg(m->ctx, ids, n);
	}
	memset(fake.leaves_clean, 0, sizeof(fake.leaves_clean));
}

#endif

/*
 * Who has each virtual disk open on this node (inuse.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vdisk/ctl.h>

#include "inuse.h"

struct opener {
	uint64_t token;
	char disk[VDISK_NAME_MAX + 1];
	enum inuse_kind kind;
	pid_t pid;
	char comm[16]; /* the process name when it opened, "" unknown */
};

struct inuse {
	pthread_mutex_t lock;
	struct opener *opens;
	size_t n, cap;
	uint64_t next_token;
	char mount[4096];
};

/* Names of the kinds, singular and plural, as the description counts them. */
static const char *const kind_name[][2] = {
	[INUSE_NBD] = { "NBD client", "NBD clients" },
	[INUSE_FILE] = { "open of the device file", "opens of the device file" },
};

/* Shown at most per kind: a description is one line. */
#define PIDS_SHOWN 3

int inuse_create(struct inuse **out, const char *ndfs_mount)
{
	struct inuse *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	pthread_mutex_init(&u->lock, NULL);
	snprintf(u->mount, sizeof(u->mount), "%s", ndfs_mount ? ndfs_mount : "");
	*out = u;
	return 0;
}

void inuse_destroy(struct inuse *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u->opens);
	free(u);
}

static void comm_read(pid_t pid, char *comm, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	comm[0] = '\0';
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, comm, len - 1);
	close(fd);
	comm[n > 0 ? n : 0] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
}

uint64_t inuse_open(struct inuse *u, const char *disk, enum inuse_kind kind, pid_t pid)
{
	struct opener o = { .kind = kind, .pid = pid };
	uint64_t token = 0;

	snprintf(o.disk, sizeof(o.disk), "%s", disk);
	comm_read(pid, o.comm, sizeof(o.comm));
	pthread_mutex_lock(&u->lock);
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 16;
		struct opener *grown = reallocarray(u->opens, cap, sizeof(*grown));

		if (!grown)
			goto out;
		u->opens = grown;
		u->cap = cap;
	}
	o.token = token = ++u->next_token;
	u->opens[u->n++] = o;
out:
	pthread_mutex_unlock(&u->lock);
	return token;
}

void inuse_close(struct inuse *u, uint64_t token)
{
	size_t i;

	if (!token)
		return;
	pthread_mutex_lock(&u->lock);
	for (i = 0; i < u->n; i++) {
		if (u->opens[i].token == token) {
			u->opens[i] = u->opens[--u->n];
			break;
		}
	}
	pthread_mutex_unlock(&u->lock);
}

/* Appends to buf at *used, never past len. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t len, size_t *used,
							  const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used = *used + (size_t)n < len ? *used + (size_t)n : len - 1;
}

static void kind_describe(struct inuse *u, const char *disk, enum inuse_kind kind, char *buf,
			  size_t len, size_t *used)
{
	size_t i, count = 0, shown = 0;

	for (i = 0; i < u->n; i++)
		count += u->opens[i].kind == kind && !strcmp(u->opens[i].disk, disk);
	if (!count)
		return;
	append(buf, len, used, "%s%zu %s (", *used ? ", " : "", count,
	       kind_name[kind][count > 1]);
	for (i = 0; i < u->n && shown < PIDS_SHOWN; i++) {
		const struct opener *o = &u->opens[i];

		if (o->kind != kind || strcmp(o->disk, disk))
			continue;
		if (o->pid > 0)
			append(buf, len, used, "%spid %d%s%s", shown ? "; " : "", (int)o->pid,
			       o->comm[0] ? ", " : "", o->comm);
		else
			append(buf, len, used, "%s%s", shown ? "; " : "",
			       kind == INUSE_NBD ? "over TCP" : "pid unknown");
		shown++;
	}
	append(buf, len, used, "%s)", count > shown ? "; ..." : "");
}

/* Loop devices whose backing file is disk's device file. */
static void loops_describe(struct inuse *u, const char *disk, char *buf, size_t len,
			   size_t *used)
{
	char want[4096 + VDISK_NAME_MAX + 2], path[4200], backing[4200];
	struct dirent *de;
	DIR *dir;
	int fd;

	if (!u->mount[0])
		return;
	snprintf(want, sizeof(want), "%s/%s", u->mount, disk);
	dir = opendir("/sys/block");
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		ssize_t n;

		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, backing, sizeof(backing) - 1);
		close(fd);
		if (n <= 0)
			continue;
		backing[n] = '\0';
		backing[strcspn(backing, "\n")] = '\0';
		if (!strcmp(backing, want))
			append(buf, len, used, "%s%s over the device file", *used ? ", " : "",
			       de->d_name);
	}
	closedir(dir);
}

size_t inuse_describe(struct inuse *u, const char *disk, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	pthread_mutex_lock(&u->lock);
	kind_describe(u, disk, INUSE_NBD, buf, len, &used);
	kind_describe(u, disk, INUSE_FILE, buf, len, &used);
	pthread_mutex_unlock(&u->lock);
	loops_describe(u, disk, buf, len, &used);
	return used;
}

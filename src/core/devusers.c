// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Who uses a block device: what lloop detach names when a device will
 * not go, in place of a bare "in use".  Not on any I/O path.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/devusers.h"
#include "core/fileline.h"

#define SHOWN_MAX 4 /* users named; the rest are counted */

struct users {
	char *buf;
	size_t len, used;
	int n;
};

/* one user more; the first SHOWN_MAX are named, comma-separated */
static void add(struct users *u, const char *text)
{
	int w;

	if (++u->n > SHOWN_MAX || u->used + 1 >= u->len)
		return;
	w = snprintf(u->buf + u->used, u->len - u->used, "%s%s",
		     u->n > 1 ? ", " : "", text);
	if (w > 0)
		u->used += (size_t)w < u->len - u->used ? (size_t)w :
							 u->len - u->used - 1;
}

/* the byte that \ooo at s stands for, or -1 if s holds no such escape */
static int octal_at(const char *s)
{
	if (s[0] != '\\' || s[1] < '0' || s[1] > '3' || s[2] < '0' ||
	    s[2] > '7' || s[3] < '0' || s[3] > '7')
		return -1;
	return (s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0');
}

/*
 * mountinfo and /proc/swaps write space, tab, newline and backslash as
 * \ooo; a tab or newline stays written out: the message is one line.
 */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		int c = octal_at(s);

		if (c >= ' ') {
			*o++ = (char)c;
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static void mounts(struct users *u, dev_t rdev)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		unsigned maj, min;
		char *save = NULL, *tok, *target = NULL;
		int i = 0;

		for (tok = strtok_r(line, " ", &save); tok && i < 5;
		     tok = strtok_r(NULL, " ", &save), i++) {
			if (i == 2 && (sscanf(tok, "%u:%u", &maj, &min) != 2 ||
				       makedev(maj, min) != rdev))
				break;
			if (i == 4)
				target = tok;
		}
		if (target) {
			char item[4200];

			unescape(target);
			snprintf(item, sizeof(item), "mounted on %s", target);
			add(u, item);
		}
	}
	free(line);
	fclose(f);
}

static void swaps(struct users *u, dev_t rdev)
{
	FILE *f = fopen("/proc/swaps", "re");
	char path[4096];
	struct stat st;
	int c;

	if (!f)
		return;
	while ((c = fgetc(f)) != EOF && c != '\n')
		; /* the heading */
	while (fscanf(f, "%4095s%*[^\n]", path) == 1) {
		unescape(path);
		if (!stat(path, &st) && S_ISBLK(st.st_mode) && st.st_rdev == rdev)
			add(u, "a swap area");
	}
	fclose(f);
}

static void holders(struct users *u, dev_t rdev)
{
	char path[64];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/holders",
		 major(rdev), minor(rdev));
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		char item[300];

		if (e->d_name[0] == '.')
			continue;
		snprintf(item, sizeof(item), "held by /dev/%s", e->d_name);
		add(u, item);
	}
	closedir(d);
}

static bool has_open(int pid, dev_t rdev)
{
	char path[64];
	struct dirent *e;
	struct statx stx;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return false; /* gone, or not ours to see */
	/* what each descriptor is, without asking its file system (a hung
	 * NFS or FUSE server must not hang us) */
	while (!found && (e = readdir(d)))
		found = e->d_name[0] != '.' &&
			!statx(dirfd(d), e->d_name, AT_STATX_DONT_SYNC,
			       STATX_TYPE, &stx) &&
			S_ISBLK(stx.stx_mode) &&
			makedev(stx.stx_rdev_major, stx.stx_rdev_minor) == rdev;
	closedir(d);
	return found;
}

/* the parent's pid, from /proc/PID/stat: "pid (comm) state ppid ..." */
static pid_t parent_of(int pid)
{
	char path[64], buf[512], *p;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!read_first_line(path, buf, sizeof(buf)))
		return -1;
	p = strrchr(buf, ')'); /* the command may hold spaces and ')' */
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

static void processes(struct users *u, dev_t rdev, pid_t skip)
{
	struct dirent *e;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[64], comm[64], item[128];
		int pid;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = atoi(e->d_name);
		if (pid == getpid() || pid == skip ||
		    (skip > 0 && parent_of(pid) == skip) || !has_open(pid, rdev))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if (!read_first_line(path, comm, sizeof(comm)) || !comm[0])
			strcpy(comm, "?");
		snprintf(item, sizeof(item), "open by pid %d (%s)", pid, comm);
		add(u, item);
	}
	closedir(d);
}

int dev_users(const char *dev, pid_t skip, char *buf, size_t len)
{
	struct users u = { .buf = buf, .len = len };
	struct stat st;

	if (len)
		buf[0] = '\0';
	if (stat(dev, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	mounts(&u, st.st_rdev);
	swaps(&u, st.st_rdev);
	holders(&u, st.st_rdev);
	processes(&u, st.st_rdev, skip);
	if (u.n > SHOWN_MAX && u.used + 1 < len)
		snprintf(buf + u.used, len - u.used, " and %d more",
			 u.n - SHOWN_MAX);
	return u.n;
}

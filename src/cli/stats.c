// SPDX-License-Identifier: GPL-2.0-or-later
/* lloop stats: ask a running daemon for its figures */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/lookup.h"
#include "core/control.h"
#include "core/log.h"
#include "core/runtime.h"

void stats_usage(void)
{
	printf("Usage: lloop stats [--json] [--control PATH | DEVICE | IMAGE]\n"
	       "\n"
	       "Show a running daemon's pools, memory locking, connections,\n"
	       "requests per export and latency percentiles: the daemon of an\n"
	       "attached DEVICE or IMAGE, the one at PATH, or else the only\n"
	       "one running (serve or attach).\n"
	       "\n"
	       "Options:\n"
	       "      --control PATH  the daemon's control socket\n"
	       "      --json          machine-readable output\n"
	       "  -h, --help          this text\n");
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

struct pick {
	int fd;
	int n;
	char first[4200];
};

/* one more daemon whose socket is path, if it answers */
static void consider(struct pick *p, const char *path)
{
	int fd = connect_to(path);

	if (fd < 0)
		return; /* left by a daemon that died */
	if (p->n++ == 0) {
		p->fd = fd;
		snprintf(p->first, sizeof(p->first), "%s", path);
		return;
	}
	close(fd);
	if (p->n == 2)
		log_error("stats: several daemons run: %s and %s; name a "
			  "device or image, or choose one with --control PATH",
			  p->first, path);
}

static int consider_attachment(const struct attachment *a, void *arg)
{
	char path[4200];

	if (attachment_alive(a) &&
	    !runtime_file(path, sizeof(path), a->pid, "sock"))
		consider(arg, path);
	return 0;
}

/* the one daemon that answers: serve's in CONTROL_DIR, or attach's */
static int find_daemon(void)
{
	struct pick p = { .fd = -1 };
	char path[300];
	struct dirent *d;
	DIR *dir = opendir(CONTROL_DIR);

	while (dir && (d = readdir(dir))) {
		if (strncmp(d->d_name, "serve-", 6) ||
		    !strstr(d->d_name, ".sock"))
			continue;
		snprintf(path, sizeof(path), CONTROL_DIR "/%s", d->d_name);
		consider(&p, path);
	}
	if (dir)
		closedir(dir);
	if (attachment_each(consider_attachment, &p) == -EPERM)
		p.n = -1;	/* said */
	if (p.n == 0)
		log_error("stats: no running daemon (no serve daemon in %s, "
			  "nothing attached; or use --control PATH)",
			  CONTROL_DIR);
	if (p.n != 1) {
		if (p.fd >= 0)
			close(p.fd);
		return -ENOENT;
	}
	return p.fd;
}

/* the daemon of the attachment NAME names */
static int attached_daemon(const char *name)
{
	struct lookup l;
	char path[4200];
	int fd;

	if (!attachment_lookup_one("stats", name, &l))
		return -ENOENT;
	if (!attachment_alive(&l.found)) {
		log_error("stats: %s: its daemon (pid %d) has died ('lloop "
			  "detach %s' cleans up)", name, l.found.pid,
			  l.found.device);
		return -ESRCH;
	}
	if (runtime_file(path, sizeof(path), l.found.pid, "sock"))
		return -ENAMETOOLONG;
	fd = connect_to(path);
	if (fd < 0)
		log_error("stats: %s: cannot reach its daemon (pid %d) at %s: "
			  "%s", name, l.found.pid, path, strerror(-fd));
	return fd;
}

int stats_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	bool json = false;
	char buf[65536];
	ssize_t n;
	int c, fd;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			stats_usage();
			return 0;
		default:
			log_error("stats: see 'lloop stats --help'");
			return 2;
		}
	}
	if (argc - optind > 1 || (path && optind < argc)) {
		log_error("stats: give one of --control PATH, DEVICE or IMAGE "
			  "(see 'lloop stats --help')");
		return 2;
	}
	if (optind < argc) {
		fd = attached_daemon(argv[optind]);
		if (fd < 0)
			return 1;
	} else if (path) {
		fd = connect_to(path);
		if (fd < 0) {
			log_error("--control %s: cannot connect: %s", path,
				  strerror(-fd));
			return 1;
		}
	} else {
		fd = find_daemon();
		if (fd < 0)
			return 1;
	}
	if (send(fd, json ? "stats json\n" : "stats\n", json ? 11 : 6,
		 MSG_NOSIGNAL) < 0) {
		log_error("stats: cannot ask the daemon: %s", strerror(errno));
		close(fd);
		return 1;
	}
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		if (fwrite(buf, 1, n, stdout) != (size_t)n)
			break;
	close(fd);
	return n < 0 ? 1 : 0;
}

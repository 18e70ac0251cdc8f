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
#include "core/control.h"
#include "core/log.h"

void stats_usage(void)
{
	printf("Usage: lloop stats [--json] [--control PATH]\n"
	       "\n"
	       "Show a running daemon's pools, memory locking, connections,\n"
	       "requests per export and latency percentiles.\n"
	       "\n"
	       "Options:\n"
	       "      --control PATH  the daemon's control socket (default: the\n"
	       "                      only one in " CONTROL_DIR ")\n"
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

/* the one daemon whose socket answers in CONTROL_DIR */
static int find_daemon(void)
{
	char path[300], found[300] = "";
	struct dirent *d;
	int fd = -1, n = 0;
	DIR *dir = opendir(CONTROL_DIR);

	if (!dir) {
		log_error("stats: no running daemon: cannot read %s: %s",
			  CONTROL_DIR, strerror(errno));
		return -ENOENT;
	}
	while ((d = readdir(dir))) {
		int f;

		if (strncmp(d->d_name, "serve-", 6) ||
		    !strstr(d->d_name, ".sock"))
			continue;
		snprintf(path, sizeof(path), CONTROL_DIR "/%s", d->d_name);
		f = connect_to(path);
		if (f < 0)
			continue; /* left by a daemon that died */
		if (n++)
			close(f);
		else
			fd = f;
		if (n == 2)
			log_error("stats: several daemons run: %s and %s; "
				  "choose one with --control PATH",
				  found, path);
		snprintf(found, sizeof(found), "%s", path);
	}
	closedir(dir);
	if (n == 0)
		log_error("stats: no running daemon in %s (use --control "
			  "PATH)", CONTROL_DIR);
	if (n != 1) {
		if (fd >= 0)
			close(fd);
		return -ENOENT;
	}
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
	if (optind != argc) {
		log_error("stats: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (path) {
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

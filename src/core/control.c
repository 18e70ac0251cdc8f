// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/control.h"
#include "core/log.h"
#include "core/memsafe.h"
#include "core/runtime.h"
#include "core/server.h"
#include "core/stats.h"

#define REPLY_MAX (256 * 1024)

static struct {
	struct server *srv;
	int fd;
	int stop_fd;
	char path[108];
	pthread_t thread;
	bool running;
	char *reply;
} ctl = { .fd = -1, .stop_fd = -1 };

static void answer(int fd)
{
	char req[64];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n = 0;
	size_t len, off = 0;
	bool json;

	/* a client that says nothing within a second is dropped */
	if (poll(&p, 1, 1000) == 1)
		n = recv(fd, req, sizeof(req) - 1, 0);
	if (n <= 0)
		return;
	req[n] = '\0';
	if (strncmp(req, "stats", 5)) {
		len = snprintf(ctl.reply, REPLY_MAX, "error: unknown request\n");
	} else {
		json = strstr(req, "json") != NULL;
		len = stats_format(ctl.srv, ctl.reply, REPLY_MAX, json);
	}
	while (off < len) {
		ssize_t w = send(fd, ctl.reply + off, len - off, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		off += w;
	}
}

static void *control_main(void *arg)
{
	pthread_setname_np(pthread_self(), "lloop-ctl");
	for (;;) {
		struct pollfd p[2] = { { .fd = ctl.fd, .events = POLLIN },
				       { .fd = ctl.stop_fd, .events = POLLIN } };
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents)
			return NULL;
		if (!p[0].revents)
			continue;
		fd = accept4(ctl.fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		answer(fd);
		close(fd);
	}
}

int control_start(struct server *srv, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	pthread_attr_t attr;
	int ret;

	ctl.srv = srv;
	if (path) {
		ret = snprintf(ctl.path, sizeof(ctl.path), "%s", path);
	} else {
		if (mkdir(CONTROL_DIR, 0700) < 0 && errno != EEXIST) {
			log_error("--control: cannot create %s: %s "
				  "(set another path with --control PATH)",
				  CONTROL_DIR, strerror(errno));
			return -errno;
		}
		if (runtime_dir_check(CONTROL_DIR, true) < 0)
			return -EPERM;
		ret = snprintf(ctl.path, sizeof(ctl.path),
			       CONTROL_DIR "/serve-%d.sock", getpid());
	}
	if (ret <= 0 || ret >= (int)sizeof(ctl.path)) {
		log_error("--control %s: path too long", path);
		return -ENAMETOOLONG;
	}
	ctl.reply = malloc(REPLY_MAX);
	if (!ctl.reply)
		return -ENOMEM;
	memset(ctl.reply, 0, REPLY_MAX); /* fault it in before mlockall */
	ctl.stop_fd = eventfd(0, EFD_CLOEXEC);
	ctl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl.fd < 0 || ctl.stop_fd < 0)
		return -errno;
	unlink(ctl.path);
	strcpy(sun.sun_path, ctl.path);
	if (bind(ctl.fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(ctl.path, 0600) < 0 || listen(ctl.fd, 16) < 0) {
		ret = -errno;
		log_error("--control %s: cannot listen: %s", ctl.path,
			  strerror(errno));
		close(ctl.fd);
		ctl.fd = -1;
		return ret;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, LLOOP_THREAD_STACK);
	ret = pthread_create(&ctl.thread, &attr, control_main, NULL);
	pthread_attr_destroy(&attr);
	if (ret)
		return -ret;
	ctl.running = true;
	return 0;
}

const char *control_path(void)
{
	return ctl.path;
}

void control_stop(void)
{
	uint64_t one = 1;

	if (ctl.running) {
		if (write(ctl.stop_fd, &one, sizeof(one)) != sizeof(one))
			log_error("control: cannot stop: %s", strerror(errno));
		pthread_join(ctl.thread, NULL);
		ctl.running = false;
	}
	if (ctl.fd >= 0) {
		close(ctl.fd);
		unlink(ctl.path);
		ctl.fd = -1;
	}
	if (ctl.stop_fd >= 0)
		close(ctl.stop_fd);
	ctl.stop_fd = -1;
	free(ctl.reply);
	ctl.reply = NULL;
}

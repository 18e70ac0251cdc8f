// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd_notify's datagram protocol, as systemd documents it
 * (sd_notify(3), "Notes"): a SOCK_DGRAM AF_UNIX socket, one message per
 * datagram, newline-separated KEY=VALUE assignments.  The manager learns
 * the sender's PID from the credentials the kernel attaches.
 *
 * MAINPID goes with READY=1 so that a process which forked (lloop attach
 * without --foreground) can name its daemon; the unit then needs
 * NotifyAccess=all, as the daemon is not the process systemd started.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/notify.h"

static int notify_addr(struct sockaddr_un *sun, socklen_t *len)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	if (!path || !path[0])
		return 0;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sun->sun_path))
		return -EAFNOSUPPORT; /* vsock: or a relative path */
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n);
	if (path[0] == '@')
		sun->sun_path[0] = '\0'; /* abstract: no terminating NUL */
	*len = offsetof(struct sockaddr_un, sun_path) + n +
	       (path[0] == '/');
	return 1;
}

int notify_send(const char *msg)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd, ret = notify_addr(&sun, &len);

	if (ret <= 0) {
		if (ret < 0)
			log_warn("NOTIFY_SOCKET=%s: not a path or an abstract "
				 "name: cannot tell the service manager",
				 getenv("NOTIFY_SOCKET"));
		return ret;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = 0;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
		   (struct sockaddr *)&sun, len) < 0) {
		ret = -errno;
		log_warn("NOTIFY_SOCKET=%s: %s", getenv("NOTIFY_SOCKET"),
			 strerror(errno));
	}
	close(fd);
	return ret;
}

int notify_ready(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%d%s%s", (int)getpid(),
		 status ? "\nSTATUS=" : "", status ? status : "");
	return notify_send(msg);
}

int notify_stopping(void)
{
	return notify_send("STOPPING=1");
}

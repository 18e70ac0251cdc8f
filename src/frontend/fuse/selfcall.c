// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * selfcall: the calls on our own FUSE file, in a helper process that does
 * not keep /dev/fuse alive (why: selfcall.h).
 *
 * How the helper is made.  It must share nothing that can hold /dev/fuse
 * open.  Not our descriptors: it closes them all but its socket.  Not our
 * memory either: a child that shares it (CLONE_VM, vfork) keeps our
 * address space alive after we die, and with it the mappings of our
 * io_uring rings, so the rings, so their requests in flight on /dev/fuse:
 * the connection would never be aborted and the helper, and the device,
 * would hang for good (tried: that is what the uring engine did).  A
 * fork() gets copies of those mappings just the same if it is made once
 * the rings exist, and forking a big mlock()ed daemon copies its page
 * tables and makes every page copy-on-write for as long as the child
 * lives, an allocation on the I/O path at each write of a buffer.  So the
 * helper is forked once, early (selfcall_start): the daemon is small
 * then, has no rings, no worker threads and no locked memory, and is
 * already in its own mount namespace, where the FUSE file will be.  It
 * then serves calls one at a time over a socketpair: an argument block by
 * value, the descriptors it needs by SCM_RIGHTS.  No exec: in the daemon's
 * namespace most mounts are gone (attach.c prunes them), shared libraries
 * maybe with them.
 *
 * What the helper may do.  It is the fork of a process that may have had
 * threads (a librados backend starts some): no malloc, no stdio, no log_*,
 * no locks.  System calls only, on its own static buffer.  The functions
 * it runs are ours, at the same addresses in the copy: a function pointer
 * travels in the request.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "frontend/fuse/selfcall.h"

/* what the fall-back close loop of a kernel without close_range covers */
#define HELPER_MAX_FD (1u << 20)

struct selfcall_msg {
	int (*fn)(void *arg, const int *fds);
	int result;
	unsigned len;
	unsigned nfds;		/* sent with the request */
	char arg[SELFCALL_ARG_MAX] __attribute__((aligned(16)));
};

#define MSG_HEAD offsetof(struct selfcall_msg, arg)

static int helper_fd = -1;
static pid_t helper_pid = -1;

/* close [lo, hi]: close_range (Linux 5.9), or one by one */
static void close_span(unsigned lo, unsigned hi, unsigned max_fd)
{
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return;
	for (unsigned fd = lo; fd <= hi && fd < max_fd; fd++)
		close(fd);
}

/* ---- in the helper ---- */

static void helper_main(int sock, unsigned max_fd)
{
	static struct selfcall_msg m;
	char cbuf[CMSG_SPACE(sizeof(int) * SELFCALL_MAX_FDS)];
	int fds[SELFCALL_MAX_FDS];
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { 0 };
	struct cmsghdr *c;
	unsigned nfds;
	sigset_t all;
	ssize_t n;

	/*
	 * Our descriptors, /dev/fuse among them, 0-2 too (the terminal
	 * waits for EOF on lloop attach's stdout), and the ready pipe.
	 */
	if (sock > 0)
		close_span(0, sock - 1, max_fd);
	close_span(sock + 1, ~0u, max_fd);
	/* only SIGKILL ends us: a SIGTERM to the whole group (systemd)
	 * must not take the helper the daemon's detach needs */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	prctl(PR_SET_NAME, "lloop-helper", 0, 0, 0);

	for (;;) {
		mh = (struct msghdr){
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = cbuf,
			.msg_controllen = sizeof(cbuf),
		};
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < (ssize_t)MSG_HEAD)
			return; /* the daemon closed the socket, or died */
		nfds = 0;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			unsigned k;

			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (unsigned i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(fd));
				if (nfds < SELFCALL_MAX_FDS)
					fds[nfds++] = fd;
				else
					close(fd);
			}
		}
		/* fds the kernel could not give us (RLIMIT_NOFILE) */
		if (nfds != m.nfds || (mh.msg_flags & MSG_CTRUNC) ||
		    m.len > SELFCALL_ARG_MAX ||
		    (size_t)n != MSG_HEAD + m.len)
			m.result = -EBADF;
		else
			m.result = m.fn(m.arg, fds);
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (m.len > SELFCALL_ARG_MAX)
			m.len = 0;
		if (send(sock, &m, MSG_HEAD + m.len, MSG_NOSIGNAL) < 0)
			return;
	}
}

/* ---- in the daemon ---- */

static unsigned max_fd(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > HELPER_MAX_FD)
		return HELPER_MAX_FD;
	return rl.rlim_cur;
}

int selfcall_start(void)
{
	unsigned maxfd = max_fd();
	pid_t parent = getpid();
	int sv[2], err;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = -errno;
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	if (pid == 0) {
		/* die with the thread that made us, even if it died already */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
		    getppid() != parent)
			_exit(1);
		helper_main(sv[1], maxfd);
		_exit(0);
	}
	close(sv[1]);
	helper_fd = sv[0];
	helper_pid = pid;
	return 0;
fail:
	log_warn("attach: cannot start the helper process: %s; a SIGKILL "
		 "may not end this daemon while it waits for its own FUSE "
		 "file",
		 strerror(-err));
	return err;
}

void selfcall_stop(void)
{
	if (helper_fd < 0)
		return;
	close(helper_fd);
	helper_fd = -1;
	/* it is in recvmsg, or dead: EOF ends it */
	while (waitpid(helper_pid, NULL, 0) < 0 && errno == EINTR)
		;
	helper_pid = -1;
}

static int send_call(struct selfcall_msg *m, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SELFCALL_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { m, MSG_HEAD + m->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (nfds) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(helper_fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

int selfcall(int (*fn)(void *arg, const int *fds), void *arg, size_t len,
	     const int *fds, unsigned nfds, int handoff)
{
	static struct selfcall_msg m;
	ssize_t n;
	int ret;

	if (len > SELFCALL_ARG_MAX || nfds > SELFCALL_MAX_FDS)
		return -E2BIG;
	if (helper_fd < 0)
		goto here;
	m.fn = fn;
	m.result = 0;
	m.len = len;
	m.nfds = nfds;
	memcpy(m.arg, arg, len);
	ret = send_call(&m, fds, nfds);
	if (ret < 0) {
		log_warn("attach: the helper process is gone (%s); making the "
			 "call in the daemon",
			 strerror(-ret));
		goto here;
	}
	if (handoff >= 0)
		close(handoff);
	/*
	 * The helper may wait for our workers for long, or forever if we
	 * are killed: then this wait ends with us, and /dev/fuse with it.
	 */
	do {
		n = recv(helper_fd, &m, sizeof(m), 0);
	} while (n < 0 && errno == EINTR);
	if (n < (ssize_t)(MSG_HEAD + len))
		return -ECHILD;
	memcpy(arg, m.arg, len);
	return m.result;
here:
	ret = fn(arg, fds);
	if (handoff >= 0)
		close(handoff);
	return ret;
}

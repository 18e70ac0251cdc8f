/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_SELFCALL_H
#define LLOOP_SELFCALL_H
/*
 * A system call on our own FUSE file (open it, LOOP_CONFIGURE on it, fsync
 * the loop device over it), made by a helper process.
 *
 * Such a call waits, uninterruptibly, for our workers to answer.  Made by
 * a thread of ours, it pins the daemon: a SIGKILL cannot end a process
 * until every thread has left the kernel, and the kernel ends the FUSE
 * requests only when /dev/fuse is released, which is at process exit.  The
 * daemon would stay in D state for good.  The helper holds nothing of
 * ours that keeps /dev/fuse open; the daemon waits for its answer on a
 * socket, which SIGKILL interrupts: the daemon dies, /dev/fuse is
 * released, the kernel aborts the connection, the helper's call fails
 * and the helper, which has PR_SET_PDEATHSIG SIGKILL, dies too.
 */
#include <stddef.h>

/* the most an argument block may hold (a path and a loop_config fit) */
#define SELFCALL_ARG_MAX 8192
#define SELFCALL_MAX_FDS 4

/*
 * Start the helper: fork it now, from the main thread, while the daemon
 * is small (before its arena, rings and threads) and once it is in its
 * own mount namespace, which the helper shares.  Without a helper (this
 * failed, or was not called), selfcall runs fn in the daemon, with a
 * warning.  0 or -errno.
 */
int selfcall_start(void);

/* end the helper (it exits when its socket closes) and reap it */
void selfcall_stop(void);

/*
 * Run fn in the helper: on a copy of the LEN bytes at ARG, which are
 * copied back when it returns (fn's results), with copies of fds[0..nfds-1]
 * in the helper's own table at the same places of its fds[].  fn may
 * only make system calls (see selfcall.c).  The helper closes its copies
 * after fn.  HANDOFF, one of fds[] or -1, passes to the helper: the
 * daemon closes its own copy once the helper has one, so that the
 * helper's close is the last (the last close of a loop device may wait
 * on the file under it).  Returns what fn returned, 0 or -errno, or
 * -ECHILD if the helper died before answering.  Main thread only, one
 * call at a time.
 */
int selfcall(int (*fn)(void *arg, const int *fds), void *arg, size_t len,
	     const int *fds, unsigned nfds, int handoff);

#endif

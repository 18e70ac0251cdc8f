/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_MEMSAFE_H
#define LLOOP_MEMSAFE_H
/*
 * What lets a block device served from userspace keep going when memory
 * is short, above all when it is the swap device: the kernel must not
 * wait on reclaim that waits on us.
 *  - PR_SET_IO_FLUSHER: our allocations never recurse into I/O, and we
 *    are not throttled as a writer.  Set before any thread is made, so
 *    every thread inherits it.
 *  - oom_score_adj: the OOM killer picks someone else.
 *  - mlockall: nothing of ours is paged out, so serving a page-in never
 *    needs a page-in.  Done after the pools are prefaulted.
 */
#include <stdbool.h>
#include <stddef.h>

struct memsafe_opts {
	bool mlock;
	int oom_score_adj;
	bool set_oom_score_adj;
};

struct memsafe_state {
	bool mlocked;
	bool io_flusher;
	bool oom_adjusted;
	int oom_score_adj;	/* as read back */
};

extern struct memsafe_state memsafe;

/* apply what o asks; 0, or -errno when a required step failed */
int memsafe_apply(const struct memsafe_opts *o);
/* PR_GET_IO_FLUSHER of the calling thread: 1, 0 or -errno */
int memsafe_thread_io_flusher(void);
/* VmLck and VmRSS of this process in bytes, from /proc/self/status */
int memsafe_read_status(size_t *vm_lck, size_t *vm_rss);
/*
 * AddressSanitizer reserves terabytes of shadow memory that mlockall
 * cannot lock; a sanitized build runs without --mlock and says so.
 */
#if defined(__SANITIZE_ADDRESS__)
#define LLOOP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LLOOP_SANITIZED 1
#endif
#endif
#ifndef LLOOP_SANITIZED
#define LLOOP_SANITIZED 0
#endif

/* stack size for every thread we create: small, since it is locked */
#define LLOOP_THREAD_STACK (256 * 1024)

#endif

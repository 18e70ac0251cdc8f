/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_TASK_H
#define LLOOP_TASK_H
#include <stdbool.h>

/* a callback posted to a worker, or queued while it waits for the pool */
struct task {
	void (*run)(struct task *t);
	struct task *next;
	bool queued;
};

#endif

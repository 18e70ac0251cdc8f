/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_CLI_LOOKUP_H
#define LLOOP_CLI_LOOKUP_H

#include <stdbool.h>

#include "core/runtime.h"

struct lookup {
	int n;				/* attachments NAME names */
	struct attachment found;	/* the one, when n == 1 */
	bool stacked;			/* NAME is also upper's image */
	struct attachment upper;
	int err;			/* the runtime directory's (said) */
};

/*
 * The attachments that NAME names: a device (any path to it), or an
 * image by any of its names.  A device named is that device, even when it
 * is also the image of another attachment (one attach stacked on
 * another): then n is 1 and stacked says so.
 */
void attachment_lookup(const char *name, struct lookup *l);
/* the one attachment NAME names, or an error line for CMD and false */
bool attachment_lookup_one(const char *cmd, const char *name,
			   struct lookup *l);

#endif

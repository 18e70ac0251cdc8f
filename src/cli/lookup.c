// SPDX-License-Identifier: GPL-2.0-or-later
/* Which attachment a device or image named on the command line is. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "cli/lookup.h"
#include "core/log.h"

struct find {
	const char *dev;
	char image[PATH_MAX];
	struct lookup *l;
	struct attachment device;	/* the one whose device is dev */
	int n_device;
	bool device_current;		/* and it is alive, or holds it */
};

static int match(const struct attachment *a, void *arg)
{
	struct find *f = arg;
	bool image = !strcmp(a->image, f->dev) ||
		     (backend_spec_is_path(a->image) &&
		      same_file(a->image, f->image));

	if (!strcmp(a->device, f->dev)) {
		/*
		 * Dead daemons' records may name a device that has been
		 * freed and bound again since: the device is the one whose
		 * daemon lives or which still holds it, if there is one.
		 */
		bool current = attachment_alive(a) ||
			       attachment_device_held(a);

		if (!f->n_device++ || (current && !f->device_current)) {
			f->device = *a;
			f->device_current = current;
		}
	} else if (image) {
		f->l->upper = *a;
	}
	if (!strcmp(a->device, f->dev) || image) {
		f->l->found = *a;
		f->l->n++;
	}
	return 0;
}

void attachment_lookup(const char *name, struct lookup *l)
{
	struct find f = { .dev = name, .l = l };
	struct stat st;

	memset(l, 0, sizeof(*l));
	if (!realpath(name, f.image))
		snprintf(f.image, sizeof(f.image), "%s", name);
	else if (!stat(f.image, &st) && S_ISBLK(st.st_mode))
		f.dev = f.image;	/* loop0 in /dev, or a link to it */
	l->err = attachment_each(match, &f);
	if (f.n_device && l->n > 1) {
		l->stacked = l->n > f.n_device;
		l->found = f.device;
		l->n = 1;
	}
}

bool attachment_lookup_one(const char *cmd, const char *name,
			   struct lookup *l)
{
	attachment_lookup(name, l);
	if (l->err)	/* said */
		return false;
	if (l->n == 0)
		log_error("%s: %s: not attached by lloop (see 'lloop list')",
			  cmd, name);
	else if (l->n > 1)
		log_error("%s: %s matches %d attachments: name the device",
			  cmd, name, l->n);
	return l->n == 1;
}

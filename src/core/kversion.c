// SPDX-License-Identifier: GPL-2.0-or-later
/* The running kernel's version, for what only its version tells. */
#include <stdio.h>
#include <sys/utsname.h>

#include "core/kversion.h"

bool kernel_at_least(unsigned major, unsigned minor)
{
	struct utsname u;
	unsigned ma = 0, mi = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

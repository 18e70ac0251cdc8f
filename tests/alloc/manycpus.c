// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * LD_PRELOAD shim for tests/interop/threads_cap.sh: sysconf(3) says 160
 * CPUs are online, as on a large HPC node.
 */
#include <unistd.h>

long __sysconf(int name);

long sysconf(int name)
{
	if (name == _SC_NPROCESSORS_ONLN)
		return 160;
	return __sysconf(name);
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * LD_PRELOAD shim for tests/attach/loop_legacy.sh: uname(2) says Linux
 * 5.4, so that lloop binds its loop device the way a kernel without
 * LOOP_CONFIGURE needs, on a kernel that has it.
 */
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

int uname(struct utsname *u)
{
	if (syscall(SYS_uname, u) < 0)
		return -1;
	snprintf(u->release, sizeof(u->release), "5.4.0-lloop-test");
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lloop detach DEVICE|IMAGE: ask the attach daemon to flush, unbind the
 * loop or nbd device and stop; wait until it has.  A daemon that died is
 * cleaned up after: the kernel's autoclear has already freed its loop
 * device and its mount went with its namespace; an nbd device is
 * disconnected here.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/lookup.h"
#include "core/devusers.h"
#include "core/log.h"
#include "core/runtime.h"
#include "frontend/fuse/fuse.h"
#include "frontend/nbd/kernel.h"
#include "frontend/ublk/ublk.h"

#define DETACH_WAIT_SECONDS 60
/* how long the daemon may take before we look for who keeps the device */
#define DETACH_LOOK_SECONDS 3

void detach_usage(void)
{
	printf("Usage: lloop detach DEVICE|IMAGE\n"
	       "\n"
	       "Flush and remove a device made by 'lloop attach', and stop its\n"
	       "daemon. A device still mounted is refused: unmount it first.\n");
}

/*
 * Whether a is a loop, nbd or ublk device that processes have open (who,
 * into who): it goes only at the last close, and its daemon serves it
 * until then (losetup -d is as lazy; the loop and nbd drivers unbind at
 * that close, a ublk daemon waits for it itself).  Said after
 * DETACH_LOOK_SECONDS, and only when seen twice, half a second apart, so
 * that a passing probe (udev's blkid) is not taken for a holder; the
 * daemon's own helper, which holds the device through a long flush, is
 * not one.  A flush with nobody else on the device gets the full wait.
 */
static bool lazily_held(const struct attachment *a, char *who, size_t len)
{
	int nbd = nbd_kernel_index_of(a->device);
	bool bound;

	if (nbd >= 0)
		bound = nbd_kernel_connected(nbd);
	else if (!strncmp(a->device, "/dev/loop", 9))
		bound = loopdev_bound(a->device);
	else
		bound = access(a->device, F_OK) == 0; /* ublk: not deleted */
	return bound && dev_users(a->device, a->pid, who, len) > 0;
}

int detach_main(int argc, char **argv)
{
	struct lookup l;
	struct attachment *a = &l.found;
	bool held = false;
	int id;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		detach_usage();
		return 0;
	}
	if (argc != 2) {
		log_error("detach: give one DEVICE or IMAGE (see 'lloop detach "
			  "--help')");
		return 2;
	}
	if (!attachment_lookup_one("detach", argv[1], &l))
		return 1;
	/* while the attachment stacked on this device lives, it stays:
	 * unbinding it would fail the upper's I/O */
	if (l.stacked && attachment_alive(&l.upper)) {
		log_error("detach: %s is the image of %s (pid %d): detach that "
			  "first", argv[1], l.upper.device, l.upper.pid);
		return 1;
	}
	if (!attachment_alive(a)) {
		if (attachment_device_held(a)) {
			char who[1024];

			if (dev_users(a->device, 0, who, sizeof(who)) <= 0)
				snprintf(who, sizeof(who), "mounted?");
			/* keep the state: it stops a second attach */
			log_error("detach: %s: its daemon (pid %d) died, and "
				  "the device is still in use (%s): unmount "
				  "it or stop what uses it, and the kernel "
				  "frees it; then detach again",
				  a->device, a->pid, who);
			return 1;
		}
		/*
		 * A dead socket leaves the nbd device configured, and what was
		 * in flight waiting for ever (no timeout: one would kill the
		 * device on a slow file system): the disconnect fails those
		 * and frees the device at its last close, mounted or not.
		 * Unless someone else has the device by now.
		 */
		id = nbd_kernel_index_of(a->device);
		if (id >= 0 && nbd_kernel_is_ours(id, a->image, a->pid))
			nbd_kernel_disconnect_index(id);
		/* and a ublk device stays, failing I/O, until deleted */
		if (sscanf(a->device, "/dev/ublkb%d", &id) == 1) {
			pid_t now = 0;
			int err = ublk_delete_id(id, a->pid, &now);

			if (err == -EPERM)
				log_warn("detach: %s is not deleted: another "
					 "daemon (pid %d) has had it since",
					 a->device, now);
			else if (err < 0 && err != -ENODEV)
				log_warn("detach: %s: could not delete it: %s",
					 a->device, strerror(-err));
		}
		attachment_forget(a);
		printf("%s: its daemon (pid %d) had died; cleaned up\n",
		       a->device, a->pid);
		return 0;
	}
	if (loopdev_busy(a->device)) {
		char who[1024];

		/* an exclusive opener (mkfs, another driver) shows as open */
		if (dev_users(a->device, a->pid, who, sizeof(who)) <= 0)
			snprintf(who, sizeof(who), "mounted in another mount "
				 "namespace, or claimed by the kernel");
		log_error("detach: %s is in use (%s): unmount it, or stop "
			  "what uses it, first",
			  a->device, who);
		return 1;
	}
	if (kill(a->pid, SIGTERM) < 0) {
		log_error("detach: cannot signal pid %d: %s", a->pid,
			  strerror(errno));
		return 1;
	}
	for (int i = 1; i <= DETACH_WAIT_SECONDS * 10; i++) {
		char msg[600];

		if (attachment_alive(a)) {
			usleep(100000);
			if (i == DETACH_LOOK_SECONDS * 10)
				held = lazily_held(a, msg, sizeof(msg));
			if (held && i == DETACH_LOOK_SECONDS * 10 + 5 &&
			    lazily_held(a, msg, sizeof(msg))) {
				log_error("detach: %s is still %s: it is "
					  "unbound at the last close, and "
					  "its daemon (pid %d) serves it and "
					  "stops then",
					  a->device, msg, a->pid);
				return 1;
			}
			continue;
		}
		if (!attachment_fail_take(a->pid, msg, sizeof(msg)))
			return 0;
		log_error("detach: %s: the daemon (pid %d) stopped with an "
			  "error: %s",
			  a->device, a->pid, msg);
		return 1;
	}
	log_error("detach: %s: the daemon (pid %d) has not finished after "
		  "%d s; something still uses the device",
		  a->device, a->pid, DETACH_WAIT_SECONDS);
	return 1;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_NBD_KERNEL_H
#define LLOOP_NBD_KERNEL_H
/*
 * The Linux nbd driver as a client of lloop's own NBD server, over a
 * socketpair: lloop negotiates on the kernel's end with the same
 * handshake every TCP client meets, then hands that end to the driver.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct nbd_kernel {
	/* what the handshake found */
	uint64_t size;
	uint16_t flags;		/* transmission flags */
	uint32_t max_payload;	/* from NBD_INFO_BLOCK_SIZE */
	/* the device */
	int index;		/* /dev/nbdINDEX, or -1 */
	char device[32];
	bool netlink;		/* configured through netlink, else ioctl */
	int dev_fd;		/* ioctl: the open device, else -1 */
	pthread_t doit;		/* ioctl: the thread waiting in NBD_DO_IT */
	bool doit_running;
	atomic_bool doit_ended;	/* that thread is out of NBD_DO_IT */
	const char *ident;	/* netlink: NBD_ATTR_BACKEND_IDENTIFIER */
};

/* the nbd driver is there: its netlink family, or /dev/nbd0 */
bool nbd_kernel_available(void);
/* the client side of the handshake on fd (blocking): NBD_OPT_GO for
 * export "" with NBD_INFO_BLOCK_SIZE asked */
int nbd_kernel_negotiate(int fd, struct nbd_kernel *k);
/* give sock to the driver: a free device, its size, block size and the
 * negotiated flags; ident names the backend (NBD_ATTR_BACKEND_IDENTIFIER).
 * No netlink family "nbd" (an old kernel) falls back to the ioctls;
 * LLOOP_NBD_IOCTL=1 in the environment forces them (for tests). */
int nbd_kernel_connect(struct nbd_kernel *k, int sock, unsigned block_size,
		       const char *ident);
/* cap the size of the requests the driver sends at max_payload */
void nbd_kernel_limit_requests(const struct nbd_kernel *k);
/* flush, then disconnect: the driver sends NBD_CMD_DISC; the flush's
 * result in *flush_err (may be NULL) */
int nbd_kernel_disconnect(struct nbd_kernel *k, int *flush_err);
/* as nbd_kernel_disconnect, but while processes have the device open,
 * disconnect at its last close (serve them until then), as losetup -d */
int nbd_kernel_detach(struct nbd_kernel *k, int *flush_err);
/* /dev/nbdINDEX is connected (its driver has a configuration) */
bool nbd_kernel_connected(int index);
/* disconnect /dev/nbdINDEX whatever configured it (a dead daemon's) */
int nbd_kernel_disconnect_index(int index);
/* /dev/nbdN -> N, or -1 */
int nbd_kernel_index_of(const char *device);
/* /dev/nbdINDEX is still the one connected with ident (netlink) or by
 * pid (ioctl), not a device someone has taken since */
bool nbd_kernel_is_ours(int index, const char *ident, pid_t pid);

#endif

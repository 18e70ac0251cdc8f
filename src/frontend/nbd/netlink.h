/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_NBD_NETLINK_H
#define LLOOP_NBD_NETLINK_H
/* the nbd driver's generic-netlink family (linux/nbd-netlink.h) */
#include <stdbool.h>
#include <stdint.h>

struct nbd_netlink_conf {
	int index;		/* a device, or -1 for any free one */
	int sock;		/* the socket the driver takes */
	uint64_t size;
	uint64_t block_size;
	uint64_t flags;		/* NBD transmission flags */
	uint64_t timeout;	/* seconds per request; 0: the driver's */
	const char *ident;	/* NBD_ATTR_BACKEND_IDENTIFIER, or NULL */
};

/* NBD_CMD_CONNECT; *index gets the device's: -ENOENT when the kernel
 * has no nbd family (driver not loaded) */
int nbd_netlink_connect(const struct nbd_netlink_conf *c, int *index);
/* the kernel has the family (the nbd driver is loaded) */
bool nbd_netlink_present(void);
/* NBD_CMD_DISCONNECT */
int nbd_netlink_disconnect(int index);
/* NBD_CMD_RECONFIGURE: the driver disconnects at the device's last close
 * (ident: the device's NBD_ATTR_BACKEND_IDENTIFIER, or NULL) */
int nbd_netlink_disconnect_on_close(int index, const char *ident);

#endif

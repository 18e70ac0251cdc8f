// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The Linux nbd driver as a client.  Like nbd-client, lloop negotiates in
 * userspace and then gives the socket to the kernel; unlike nbd-client,
 * the server is lloop itself, on the other end of a socketpair, so the
 * kernel's requests meet exactly the code TCP clients meet.  The netlink
 * interface first (it picks a free device and needs no thread), the
 * ioctls where the kernel lacks it (a thread sits in NBD_DO_IT).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/devusers.h"
#include "core/fileline.h"
#include "core/kversion.h"
#include "core/log.h"
#include "frontend/nbd/kernel.h"
#include "frontend/nbd/netlink.h"
#include "frontend/nbd/proto.h"

/* linux/nbd.h clashes with our protocol names: its ioctls only */
#define NBD_IOC_SET_SOCK _IO(0xab, 0)
#define NBD_IOC_SET_BLKSIZE _IO(0xab, 1)
#define NBD_IOC_SET_SIZE _IO(0xab, 2)
#define NBD_IOC_DO_IT _IO(0xab, 3)
#define NBD_IOC_CLEAR_SOCK _IO(0xab, 4)
#define NBD_IOC_CLEAR_QUE _IO(0xab, 5)
#define NBD_IOC_DISCONNECT _IO(0xab, 8)
#define NBD_IOC_SET_FLAGS _IO(0xab, 10)

#define NEGOTIATE_TIMEOUT 30	/* seconds; the server is us */
#define MAX_NBD_DEVICES 1024

/* ---- the handshake, client side ---- */

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

/* one option reply; its payload (at most cap bytes) into buf */
static int read_reply(int fd, uint32_t *type, uint8_t *buf, uint32_t cap,
		      uint32_t *len)
{
	uint8_t h[20];
	int ret = read_full(fd, h, sizeof(h));

	if (ret < 0)
		return ret;
	if (get_be64(h) != NBD_REP_MAGIC || get_be32(h + 8) != NBD_OPT_GO)
		return -EPROTO;
	*type = get_be32(h + 12);
	*len = get_be32(h + 16);
	if (*len > cap)
		return -EPROTO;
	return read_full(fd, buf, *len);
}

int nbd_kernel_negotiate(int fd, struct nbd_kernel *k)
{
	struct timeval tv = { .tv_sec = NEGOTIATE_TIMEOUT };
	uint8_t buf[1024];
	uint32_t type, len;
	bool have_export = false;
	int ret;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ret = read_full(fd, buf, 18);
	if (ret < 0)
		return ret;
	if (get_be64(buf) != NBD_MAGIC || get_be64(buf + 8) != NBD_IHAVEOPT ||
	    !(get_be16(buf + 16) & NBD_FLAG_FIXED_NEWSTYLE))
		return -EPROTO;
	put_be32(buf, NBD_FLAG_C_FIXED_NEWSTYLE |
			      (get_be16(buf + 16) & NBD_FLAG_NO_ZEROES));
	/* GO: export "", and the block sizes please; no structured
	 * replies, which the kernel driver does not read */
	put_be64(buf + 4, NBD_IHAVEOPT);
	put_be32(buf + 12, NBD_OPT_GO);
	put_be32(buf + 16, 8);
	put_be32(buf + 20, 0);
	put_be16(buf + 24, 1);
	put_be16(buf + 26, NBD_INFO_BLOCK_SIZE);
	ret = write_full(fd, buf, 28);
	if (ret < 0)
		return ret;
	k->max_payload = 0;
	for (;;) {
		ret = read_reply(fd, &type, buf, sizeof(buf), &len);
		if (ret < 0)
			return ret;
		if (type == NBD_REP_ACK)
			break;
		if (type & (1u << 31)) {
			log_error("nbd: the server refused NBD_OPT_GO: error "
				  "%#x %.*s",
				  type, (int)len, (char *)buf);
			return -EPROTO;
		}
		if (type != NBD_REP_INFO || len < 2)
			continue;
		if (get_be16(buf) == NBD_INFO_EXPORT && len >= 12) {
			k->size = get_be64(buf + 2);
			k->flags = get_be16(buf + 10);
			have_export = true;
		} else if (get_be16(buf) == NBD_INFO_BLOCK_SIZE && len >= 14) {
			k->max_payload = get_be32(buf + 10);
		}
	}
	tv.tv_sec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return have_export ? 0 : -EPROTO;
}

/* ---- the device ---- */

bool nbd_kernel_available(void)
{
	return nbd_netlink_present() || access("/dev/nbd0", F_OK) == 0;
}

static void *do_it(void *arg)
{
	struct nbd_kernel *k = arg;

	/* returns when the device is disconnected or the socket dies */
	if (ioctl(k->dev_fd, NBD_IOC_DO_IT) < 0 && errno != EPIPE &&
	    errno != ECONNRESET)
		log_debug("%s: NBD_DO_IT: %s", k->device, strerror(errno));
	ioctl(k->dev_fd, NBD_IOC_CLEAR_QUE);
	ioctl(k->dev_fd, NBD_IOC_CLEAR_SOCK);
	atomic_store(&k->doit_ended, true);
	return NULL;
}

/* the device started by NBD_DO_IT, in this long at most */
#define DOIT_START_MS 10000

/*
 * The driver applies the size only when NBD_DO_IT starts the device,
 * on our thread, some time after it is created: until then the device
 * has no size.  It has started once sysfs shows its pid.
 */
static int doit_started(struct nbd_kernel *k)
{
	for (int ms = 0; ms < DOIT_START_MS; ms += 5) {
		if (nbd_kernel_connected(k->index))
			return 0;
		if (atomic_load(&k->doit_ended))
			return -EIO;
		usleep(5000);
	}
	return -ETIMEDOUT;
}

static int connect_ioctl(struct nbd_kernel *k, int sock, unsigned block_size)
{
	pthread_attr_t attr;
	int fd = -1, ret;

	for (int i = 0; i < MAX_NBD_DEVICES; i++) {
		char dev[32];

		snprintf(dev, sizeof(dev), "/dev/nbd%d", i);
		fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				break;
			continue;
		}
		/* EBUSY: another client has it */
		if (ioctl(fd, NBD_IOC_SET_SOCK, sock) == 0) {
			k->index = i;
			snprintf(k->device, sizeof(k->device), "%s", dev);
			break;
		}
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		log_error("nbd: no free /dev/nbdN (is the nbd driver loaded? "
			  "modprobe nbd)");
		return -ENODEV;
	}
	if (ioctl(fd, NBD_IOC_SET_BLKSIZE, (unsigned long)block_size) < 0 ||
	    ioctl(fd, NBD_IOC_SET_SIZE, (unsigned long)k->size) < 0 ||
	    ioctl(fd, NBD_IOC_SET_FLAGS, (unsigned long)k->flags) < 0) {
		ret = -errno;
		log_error("nbd: configuring %s: %s", k->device,
			  strerror(errno));
		ioctl(fd, NBD_IOC_CLEAR_SOCK);
		close(fd);
		k->index = -1;
		return ret;
	}
	k->dev_fd = fd;
	/* the thread only waits in the kernel: a small stack, locked */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	ret = -pthread_create(&k->doit, &attr, do_it, k);
	pthread_attr_destroy(&attr);
	if (ret < 0) {
		log_error("nbd: a thread for NBD_DO_IT: %s", strerror(-ret));
		ioctl(fd, NBD_IOC_CLEAR_SOCK);
		close(fd);
		k->dev_fd = -1;
		k->index = -1;
		return ret;
	}
	k->doit_running = true;
	ret = doit_started(k);
	if (ret < 0) {
		log_error("%s: NBD_DO_IT did not start the device: %s",
			  k->device, ret == -EIO ? "it returned at once" :
						   "not within 10 s");
		/* ends NBD_DO_IT if it is in there after all */
		ioctl(fd, NBD_IOC_DISCONNECT);
		pthread_join(k->doit, NULL);
		k->doit_running = false;
		close(fd);
		k->dev_fd = -1;
		k->index = -1;
	}
	return ret;
}

int nbd_kernel_connect(struct nbd_kernel *k, int sock, unsigned block_size,
		       const char *ident)
{
	struct nbd_netlink_conf c = {
		.index = -1,
		.sock = sock,
		.size = k->size,
		.block_size = block_size,
		.flags = k->flags,
		.ident = ident,
	};
	const char *force = getenv("LLOOP_NBD_IOCTL");
	int ret = -ENOENT;

	k->index = -1;
	k->dev_fd = -1;
	k->doit_running = false;
	atomic_store(&k->doit_ended, false);
	k->netlink = false;
	k->ident = ident;
	if (!force || strcmp(force, "1"))
		ret = nbd_netlink_connect(&c, &k->index);
	if (ret == 0) {
		k->netlink = true;
		snprintf(k->device, sizeof(k->device), "/dev/nbd%d", k->index);
		return 0;
	}
	if (ret != -ENOENT) {
		log_error("nbd: netlink NBD_CMD_CONNECT: %s", strerror(-ret));
		return ret;
	}
	return connect_ioctl(k, sock, block_size);
}

void nbd_kernel_limit_requests(const struct nbd_kernel *k)
{
	char path[96];
	FILE *f;

	if (!k->max_payload || k->index < 0)
		return;
	/* the driver knows nothing of NBD_INFO_BLOCK_SIZE: a request over
	 * the server's maximum would fail, so say it through the queue */
	snprintf(path, sizeof(path), "/sys/block/nbd%d/queue/max_sectors_kb",
		 k->index);
	f = fopen(path, "we");
	if (!f || fprintf(f, "%u\n", k->max_payload / 1024) < 0 || fclose(f))
		log_warn("%s: cannot cap requests at %u KiB: %s", path,
			 k->max_payload / 1024, strerror(errno));
}

int nbd_kernel_disconnect_index(int index)
{
	char dev[32];
	int fd, ret;

	ret = nbd_netlink_disconnect(index);
	if (ret != -ENOENT)
		return ret;
	snprintf(dev, sizeof(dev), "/dev/nbd%d", index);
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = ioctl(fd, NBD_IOC_DISCONNECT) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

/* the device open and flushed (durable first: the driver turns the
 * fsync into NBD_CMD_FLUSH), its result in *flush_err; -1 if not open */
static int open_flushed(struct nbd_kernel *k, int *flush_err)
{
	int fd = open(k->device, O_RDONLY | O_CLOEXEC);

	if (flush_err)
		*flush_err = 0;
	if (fd >= 0 && fsync(fd) < 0) {
		if (flush_err)
			*flush_err = -errno;
		log_error("%s: the flush before detach failed (%s): what was "
			  "written through it may not be durable",
			  k->device, strerror(errno));
	}
	return fd;
}

bool nbd_kernel_connected(int index)
{
	char path[64];

	/* the driver adds it when started, removes it with the config */
	snprintf(path, sizeof(path), "/sys/block/nbd%d/pid", index);
	return access(path, F_OK) == 0;
}

/* the driver disconnects at the last close from Linux 5.2 on */
static bool has_disconnect_on_close(void)
{
	return kernel_at_least(5, 2);
}

int nbd_kernel_detach(struct nbd_kernel *k, int *flush_err)
{
	char who[512];
	int fd, ret;

	if (k->index < 0 || !k->netlink || !has_disconnect_on_close() ||
	    dev_users(k->device, getpid(), who, sizeof(who)) <= 0)
		return nbd_kernel_disconnect(k, flush_err);
	fd = open_flushed(k, flush_err);
	ret = nbd_netlink_disconnect_on_close(k->index, k->ident);
	/* with nobody else on it by now, this close is the last one */
	if (fd >= 0)
		close(fd);
	if (ret < 0) {
		log_warn("%s: NBD_CMD_RECONFIGURE: %s: disconnecting it now, "
			 "under %s",
			 k->device, strerror(-ret), who);
		return nbd_kernel_disconnect(k, NULL);
	}
	log_info("%s: still %s; serving until its last user closes it",
		 k->device, who);
	/*
	 * Until the driver lets go.  The index may then go to another
	 * device at once (the next attach takes the lowest free one): one
	 * that is not ours ends the wait as well.
	 */
	while (nbd_kernel_connected(k->index) &&
	       nbd_kernel_is_ours(k->index, k->ident, getpid()))
		usleep(100000);
	k->index = -1;
	return 0;
}

int nbd_kernel_disconnect(struct nbd_kernel *k, int *flush_err)
{
	int fd, ret;

	if (flush_err)
		*flush_err = 0;
	if (k->index < 0)
		return 0;
	fd = open_flushed(k, flush_err);
	if (fd >= 0)
		close(fd);
	if (k->netlink) {
		ret = nbd_netlink_disconnect(k->index);
	} else {
		ret = ioctl(k->dev_fd, NBD_IOC_DISCONNECT) < 0 ? -errno : 0;
		if (k->doit_running)
			pthread_join(k->doit, NULL);
		k->doit_running = false;
		close(k->dev_fd);
		k->dev_fd = -1;
	}
	if (ret < 0)
		log_error("%s: disconnect: %s", k->device, strerror(-ret));
	k->index = -1;
	return ret;
}

bool nbd_kernel_is_ours(int index, const char *ident, pid_t pid)
{
	char path[64], buf[4096];

	/* netlink: the identifier we gave it, as long as it is configured */
	snprintf(path, sizeof(path), "/sys/block/nbd%d/backend", index);
	if (read_first_line(path, buf, sizeof(buf)) && buf[0])
		return !strcmp(buf, ident);
	/* the ioctl interface: the pid that ran NBD_DO_IT */
	snprintf(path, sizeof(path), "/sys/block/nbd%d/pid", index);
	return read_first_line(path, buf, sizeof(buf)) && atoi(buf) == pid;
}

int nbd_kernel_index_of(const char *device)
{
	char *end;
	long n;

	if (strncmp(device, "/dev/nbd", 8))
		return -1;
	n = strtol(device + 8, &end, 10);
	if (end == device + 8 || *end || n < 0 || n >= 1 << 20)
		return -1;
	return n;
}

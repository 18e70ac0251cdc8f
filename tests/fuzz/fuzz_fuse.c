// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the FUSE request decoder (src/frontend/fuse/session.c)
 * as /dev/fuse would feed it, one session per input.
 *
 * Input: one config byte, then messages, each a little-endian u32 length
 * and that many bytes as one read(2) of /dev/fuse returns them (header
 * and arguments; an INIT first, as the kernel sends).  The end of the
 * input is the unmount: reads fail with ENODEV.  The config byte:
 *   bits 0-1  the export: 0 disk (memory), 1 ro (read-only), 2 file
 *             (O_DIRECT on a memfd, offers passthrough), 3 disk
 *   bit 2     ask for passthrough (as --passthrough)
 *   bit 3     the kernel grants FUSE_DEV_IOC_BACKING_OPEN (else EPERM or
 *             EOPNOTSUPP): OPENs are answered FOPEN_PASSTHROUGH
 *   bits 4-7  the engine's schedule (0: in order)
 *
 * Every reply is checked (fuse_fuzz.c): its header, that it answers the
 * request its slot read, its size for the opcode, that each request but
 * FORGET, BATCH_FORGET and INTERRUPT gets exactly one, and passthrough:
 * one backing file per session, opened with the image's descriptor, and
 * every OPEN after it answered FOPEN_PASSTHROUGH with its id.
 */
#include <errno.h>

#include "fuse_fuzz.h"

#define NR_SLOTS 3

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *in;
static size_t in_len, in_pos;

static int fuse_readv(struct op *op)
{
	size_t cap = ff_dev_room(op), msg;

	for (;;) {
		/* the end of the input: the file system is unmounted */
		if (in_len - in_pos < 4)
			return -ENODEV;
		msg = ff_le32(in + in_pos);
		in_pos += 4;
		if (msg > in_len - in_pos)
			msg = in_len - in_pos;
		/* the kernel fails a request too big for the read itself */
		if (msg <= cap)
			break;
		in_pos += msg;
	}
	in_pos += msg;
	return ff_dev_deliver(op, in + in_pos - msg, msg);
}

static const struct fz_hooks fuse_hooks = {
	.recv = fuse_readv,
	.send = ff_dev_reply,
	.sent = ff_dev_sent,
	.io = ff_io,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* three slots of 2 MiB each, from worker 0's pool */
	ff_setup(&fuse_hooks, NR_SLOTS, 8 * 1024 * 1024);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	ff_begin(data[0]);
	in = data + 1;
	in_len = size - 1;
	in_pos = 0;
	ff_run(false);
	return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_FUSE_TRANSPORT_H
#define LLOOP_FUSE_TRANSPORT_H
/*
 * One decoder, two transports.  session.c decodes a request and answers
 * it with the opcode handlers, whichever way it came: read(2) from
 * /dev/fuse (its slots), or an io_uring entry of FUSE over io_uring
 * (uring.c).  A handler puts the reply's body at rq->buf (a read's data
 * may sit at rq->data); the transport the request came by sends it back:
 * writev on /dev/fuse, or COMMIT_AND_FETCH on the ring.
 */
#include <linux/fuse.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/request.h"
#include "frontend/fuse/fuse.h"

/* every slot and ring entry: a request's data, or its bounce span */
#define FUSE_SLOT_BUF_LEN (2 * FUSE_MAX_WRITE)

/* FUSE_OVER_IO_URING (7.42, Linux 6.14), bit 41 of the INIT flags: in
 * flags2, newer than the headers here */
#define FUSE_URING_FLAG2 (1u << (41 - 32))

/* rq->wire_flags of a request that came through the ring; rq->wire_type
 * is then the index of its entry */
#define FUSE_RQ_RING 1u

/* ---- session.c, for uring.c ---- */

/* clear what the last request left in rq, keep the slot's own parts */
void fuse_rq_reset(struct fuse_session *fs, struct request *rq);
/*
 * Decode and answer one request: ih its header, args the opcode's
 * argument struct (args_len bytes), and for a write data_len bytes of
 * data at rq->buf.  rq->cookie must be ih->unique already.
 */
void fuse_dispatch(struct fuse_session *fs, struct request *rq,
		   const struct fuse_in_header *ih, const void *args,
		   size_t args_len, size_t data_len);
/* a slot, a ring entry or the ring itself is done: the last ends the
 * session */
void fuse_live_put(struct fuse_session *fs);

/* ---- uring.c, for session.c ---- */

/* main thread, before the worker serves: the engine, enable_uring */
int fuse_uring_prepare(struct fuse_session *fs);
/* worker, at the session's start: entries from the pool, the ring;
 * returns how many live things the ring adds (entries + the ring) */
int fuse_uring_setup(struct fuse_session *fs);
/* at INIT: may the reply grant FUSE_OVER_IO_URING?  If not, the ring is
 * given up (with one line why) */
bool fuse_uring_grant(struct fuse_session *fs, const struct fuse_init_in *in);
/* how many entries the ring has, for INIT's max_background */
unsigned fuse_uring_entries(const struct fuse_session *fs);
/* the INIT reply that granted it reached the kernel: register entries */
void fuse_uring_init_replied(struct fuse_session *fs, int res);
/* the reply of a request that came through the ring */
void fuse_uring_reply(struct request *rq, int err, const void *body,
		      size_t len);
/* /dev/fuse is over: a ring never registered goes now */
void fuse_uring_dev_ended(struct fuse_session *fs);
/* the worker stops: forced, the ring is closed now */
void fuse_uring_stop(struct fuse_session *fs, bool force);
/* the session is over: the ring's memory goes */
void fuse_uring_free(struct fuse_session *fs);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_UBLK_PROTO_H
#define LLOOP_UBLK_PROTO_H
/*
 * The ublk driver's interface.  The structures come from the system's
 * <linux/ublk_cmd.h> (Linux 6.1 and later have them all); the
 * ioctl-encoded command numbers, which drivers since 6.4 take whatever
 * their legacy-opcode setting, are spelled here when the headers are
 * older than that.
 */
#include <linux/ublk_cmd.h>
#include <sys/ioctl.h>

#ifndef UBLK_U_CMD_ADD_DEV
#define UBLK_U_CMD_GET_DEV_INFO _IOR('u', UBLK_CMD_GET_DEV_INFO, \
				     struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_ADD_DEV _IOWR('u', UBLK_CMD_ADD_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV _IOWR('u', UBLK_CMD_DEL_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_DEV _IOWR('u', UBLK_CMD_START_DEV, \
				   struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_STOP_DEV _IOWR('u', UBLK_CMD_STOP_DEV, \
				  struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_SET_PARAMS _IOWR('u', UBLK_CMD_SET_PARAMS, \
				    struct ublksrv_ctrl_cmd)
#define UBLK_U_IO_FETCH_REQ _IOWR('u', UBLK_IO_FETCH_REQ, \
				  struct ublksrv_io_cmd)
#define UBLK_U_IO_COMMIT_AND_FETCH_REQ _IOWR('u', UBLK_IO_COMMIT_AND_FETCH_REQ, \
					     struct ublksrv_io_cmd)
#endif
/* Linux 6.9 and later: delete without waiting for the disk's last opener */
#ifndef UBLK_U_CMD_DEL_DEV_ASYNC
#define UBLK_U_CMD_DEL_DEV_ASYNC _IOR('u', 0x14, struct ublksrv_ctrl_cmd)
#endif

#endif

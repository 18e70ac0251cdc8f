/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_NOTIFY_H
#define LLOOP_NOTIFY_H
/*
 * The service manager's readiness protocol (sd_notify(3)), written out
 * here so that lloop needs no libsystemd: one datagram of "KEY=VALUE"
 * lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an
 * abstract name when it starts with '@').  Without $NOTIFY_SOCKET each
 * call does nothing and returns 0.
 */

/* send msg as is: 0 sent or nothing to do, or a negative errno */
int notify_send(const char *msg);
/* "READY=1\nMAINPID=<this process>\nSTATUS=..." */
int notify_ready(const char *status);
/* "STOPPING=1" */
int notify_stopping(void);

#endif

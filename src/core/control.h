/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_CONTROL_H
#define LLOOP_CONTROL_H
/*
 * The control socket: a Unix socket where `lloop stats` asks the daemon
 * for its figures.  One thread, outside the I/O path, answers one
 * request per connection from a buffer allocated at start.
 */
struct server;

#define CONTROL_DIR "/run/lloop"

/* path NULL: CONTROL_DIR/serve-PID.sock */
int control_start(struct server *srv, const char *path);
const char *control_path(void);
void control_stop(void);

#endif

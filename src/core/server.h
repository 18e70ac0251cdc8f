/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_SERVER_H
#define LLOOP_SERVER_H
/*
 * The daemon: its exports, its workers and its listeners.  Everything
 * here is set up before the workers start and read-only afterwards,
 * except the few atomics.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/worker.h"

enum engine_choice { ENGINE_AUTO, ENGINE_URING, ENGINE_THREADS };

struct server_config {
	unsigned threads;
	unsigned queue_depth;	/* requests in flight per worker */
	size_t buffer_memory;	/* arena bytes per worker, power of two */
	unsigned max_connections;
	unsigned handshake_timeout;	/* seconds, 0: none */
	enum engine_choice engine;
	struct backend_opts bopts;
};

struct export {
	char *name;
	char *spec;		/* IMAGE as given */
	char *description;
	struct backend *be;
	bool read_only;
};

struct server {
	struct server_config cfg;
	struct export *exports;
	unsigned nr_exports;
	struct worker *workers;
	unsigned nr_workers;
	const struct engine_ops *engine;
	uint32_t max_payload;	/* NBD maximum block size */
	void *frontend;		/* the NBD frontend's state */
	atomic_bool stopping;
	atomic_bool force_stop;	/* the drain took too long */
	atomic_bool failed;	/* a worker died: exit non-zero */
	atomic_uint next_worker;
	atomic_uint conns_current;
	atomic_ullong conns_accepted;
	atomic_ullong conns_refused;
};

/*
 * Before any thread: SIGINT and SIGTERM blocked (every thread inherits the
 * mask), so that they come only to the caller's sigwait on set.  A thread
 * made before would take one that came before the sigwait, and its
 * default action would end the process at once: no drain, no final
 * fdatasync.  One that comes during start-up waits for the sigwait.
 * SIGPIPE ignored.
 */
void server_block_signals(sigset_t *set);
/* set defaults the CLI may override */
void server_config_defaults(struct server_config *cfg);
/* pick the engine, open backends were already opened by the caller */
int server_setup(struct server *srv);
int server_start(struct server *srv);
/* ask every worker to drain and stop, then wait for them */
void server_stop(struct server *srv);
void server_fini(struct server *srv);
struct export *server_find_export(struct server *srv, const char *name);
struct worker *server_pick_worker(struct server *srv);

#endif

// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/server.h"

#define MiB (1024 * 1024)
/* all workers' arenas together, in the default configuration */
#define DEFAULT_ARENA_TOTAL (192 * MiB)
#define MAX_ARENA_DEFAULT (64 * MiB)
#define MIN_ARENA (8 * MiB)
#define NBD_MAX_PAYLOAD_CAP (32 * MiB)
/* how long SIGTERM waits for replies to be taken before closing */
#define DRAIN_SECONDS 5

void server_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void server_config_defaults(struct server_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	/* a node with more CPUs still gets no more workers than a guard
	 * can keep waiting (backend/rmw.h) */
	cfg->threads = cpus < 1 ? 1 : cpus > WORKERS_MAX ? WORKERS_MAX : cpus;
	cfg->queue_depth = 128;
	cfg->max_connections = 256;
	cfg->handshake_timeout = 10;
	cfg->engine = ENGINE_AUTO;
	cfg->bopts.cache = CACHE_NONE;
	cfg->bopts.ceph_timeout = CEPH_TIMEOUT_DEFAULT;
}

static size_t pow2_floor(size_t x)
{
	size_t p = 1;

	while (p <= x / 2)
		p *= 2;
	return p;
}

static int pick_engine(struct server *srv)
{
	int ret;

	switch (srv->cfg.engine) {
	case ENGINE_THREADS:
		srv->engine = &threads_engine;
		return 0;
	case ENGINE_URING:
		ret = uring_probe();
		if (ret < 0) {
			log_error("--engine=uring: io_uring is not available "
				  "here: %s", strerror(-ret));
			return ret;
		}
		srv->engine = &uring_engine;
		return 0;
	case ENGINE_AUTO:
		break;
	}
	ret = uring_probe();
	if (ret < 0) {
		log_warn("io_uring refused (%s): using the threads engine",
			 strerror(-ret));
		srv->engine = &threads_engine;
	} else {
		srv->engine = &uring_engine;
	}
	return 0;
}

int server_setup(struct server *srv)
{
	struct server_config *cfg = &srv->cfg;
	int ret;

	ret = pick_engine(srv);
	if (ret < 0)
		return ret;
	if (!cfg->buffer_memory) {
		size_t per = DEFAULT_ARENA_TOTAL / cfg->threads;

		if (per > MAX_ARENA_DEFAULT)
			per = MAX_ARENA_DEFAULT;
		if (per < MIN_ARENA)
			per = MIN_ARENA;
		cfg->buffer_memory = pow2_floor(per);
	}
	/*
	 * Half the arena, so that a request of the maximum size still fits
	 * after rounding up for a bounce head and tail.
	 */
	srv->max_payload = cfg->buffer_memory / 2;
	if (srv->max_payload > NBD_MAX_PAYLOAD_CAP)
		srv->max_payload = NBD_MAX_PAYLOAD_CAP;

	srv->workers = calloc(cfg->threads, sizeof(*srv->workers));
	if (!srv->workers)
		return -ENOMEM;
	for (unsigned i = 0; i < cfg->threads; i++) {
		ret = worker_init(&srv->workers[i], srv, i);
		srv->nr_workers++;
		if (ret < 0) {
			log_error("cannot allocate the pools of worker %u "
				  "(--queue-depth %u, --buffer-memory %zu): %s",
				  i, cfg->queue_depth, cfg->buffer_memory,
				  strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int server_start(struct server *srv)
{
	/* blocking calls: lseek always; all file I/O under threads */
	unsigned nhelpers = srv->engine == &threads_engine ?
				    4 * srv->nr_workers :
				    2;
	int ret = helpers_start(nhelpers);

	if (ret < 0)
		return ret;
	log_info("engine %s, %u worker%s, queue depth %u, %zu MiB of "
		 "buffers per worker, max payload %u",
		 srv->engine->name, srv->nr_workers,
		 srv->nr_workers == 1 ? "" : "s", srv->cfg.queue_depth,
		 srv->cfg.buffer_memory / MiB, srv->max_payload);
	for (unsigned i = 0; i < srv->nr_workers; i++) {
		ret = worker_start(&srv->workers[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void wake_all(struct server *srv)
{
	for (unsigned i = 0; i < srv->nr_workers; i++)
		worker_wake(&srv->workers[i]);
}

void server_stop(struct server *srv)
{
	struct timespec deadline;
	bool late = false;

	atomic_store(&srv->stopping, true);
	wake_all(srv);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += DRAIN_SECONDS;
	for (unsigned i = 0; i < srv->nr_workers; i++) {
		struct worker *w = &srv->workers[i];

		if (!w->started || late)
			continue;
		if (pthread_timedjoin_np(w->thread, NULL, &deadline) == 0)
			w->started = false;
		else
			late = true;
	}
	if (late) {
		/* replies that clients do not read: drop them, end now */
		log_warn("replies not taken within %d s: closing the "
			 "connections that hold them", DRAIN_SECONDS);
		atomic_store(&srv->force_stop, true);
		wake_all(srv);
	}
	for (unsigned i = 0; i < srv->nr_workers; i++)
		worker_join(&srv->workers[i]);
	helpers_stop();
}

void server_fini(struct server *srv)
{
	for (unsigned i = 0; i < srv->nr_workers; i++)
		worker_fini(&srv->workers[i]);
	free(srv->workers);
	srv->workers = NULL;
	srv->nr_workers = 0;
	for (unsigned i = 0; i < srv->nr_exports; i++) {
		struct export *e = &srv->exports[i];

		if (e->be)
			e->be->ops->close(e->be);
		e->be = NULL;
	}
}

struct export *server_find_export(struct server *srv, const char *name)
{
	if (!name[0])
		return srv->nr_exports ? &srv->exports[0] : NULL;
	for (unsigned i = 0; i < srv->nr_exports; i++)
		if (!strcmp(srv->exports[i].name, name))
			return &srv->exports[i];
	return NULL;
}

struct worker *server_pick_worker(struct server *srv)
{
	unsigned i = atomic_fetch_add(&srv->next_worker, 1);

	return &srv->workers[i % srv->nr_workers];
}

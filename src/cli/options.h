/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_OPTIONS_H
#define LLOOP_OPTIONS_H
/*
 * The options lloop serve and lloop attach share, parsed in one place so
 * that both say the same thing about a bad value.
 */
#include <getopt.h>
#include <stdint.h>

#include "core/memsafe.h"
#include "core/server.h"

/* above any subcommand's own option values */
enum {
	OPT_CACHE = 0x1000,
	OPT_ENGINE,
	OPT_QUEUE_DEPTH,
	OPT_BUFFER_MEMORY,
	OPT_MLOCK,
	OPT_NO_MLOCK,
	OPT_OOM_SCORE_ADJ,
	OPT_LOG_LEVEL,
	OPT_INJECT_FAULT,
	OPT_LOG,
	OPT_CEPH_CONF,
	OPT_CEPH_ID,
	OPT_CEPH_TIMEOUT,
	OPT_EXCLUSIVE,
};

#define COMMON_LONG_OPTIONS                                                    \
	{ "cache", required_argument, NULL, OPT_CACHE },                       \
	{ "engine", required_argument, NULL, OPT_ENGINE },                     \
	{ "queue-depth", required_argument, NULL, OPT_QUEUE_DEPTH },           \
	{ "buffer-memory", required_argument, NULL, OPT_BUFFER_MEMORY },       \
	{ "mlock", no_argument, NULL, OPT_MLOCK },                             \
	{ "no-mlock", no_argument, NULL, OPT_NO_MLOCK },                       \
	{ "oom-score-adj", required_argument, NULL, OPT_OOM_SCORE_ADJ },       \
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },               \
	{ "inject-fault", required_argument, NULL, OPT_INJECT_FAULT },        \
	{ "log", required_argument, NULL, OPT_LOG },                           \
	{ "ceph-conf", required_argument, NULL, OPT_CEPH_CONF },               \
	{ "ceph-id", required_argument, NULL, OPT_CEPH_ID },                   \
	{ "ceph-timeout", required_argument, NULL, OPT_CEPH_TIMEOUT },         \
	{ "exclusive", no_argument, NULL, OPT_EXCLUSIVE }

/* the usage lines of --config and --log (cli/config.c, core/log.c) */
#define OPERATOR_USAGE                                                         \
	"      --config FILE        options from FILE, 'key = value' lines\n"  \
	"                           (key: a long option; image = IMAGE);\n"   \
	"                           options after --config override it\n"     \
	"      --log TARGET         stderr (default) or syslog\n"

/* the usage lines of --inject-fault, for every subcommand that has it */
#define INJECT_FAULT_USAGE                                                     \
	"      --inject-fault OP:ERRNO:EVERY_N[:START-END]\n"                  \
	"                           testing tool: fail every Nth OP (read,\n"   \
	"                           write, flush, trim, zero, cache, extents\n" \
	"                           or all, counted per OP) with ERRNO (EIO,\n" \
	"                           ENOSPC, EPERM, ...) or 'short' (read and\n" \
	"                           write move half, the client gets EIO);\n"  \
	"                           only requests touching START-END if given;\n"\
	"                           repeatable; one warning per fault\n"

/* the usage lines of the rbd: backend's options */
#define CEPH_USAGE                                                             \
	"\n"                                                                   \
	"Ceph RBD (IMAGE rbd:POOL/IMAGE, or rbd:POOL/IMAGE@SNAPSHOT read-only):\n"\
	"      --ceph-conf FILE     ceph.conf with mon_host and the keyring\n" \
	"                           (default: librados's search, $CEPH_CONF,\n"\
	"                           /etc/ceph/ceph.conf)\n"                     \
	"      --ceph-id NAME       connect as client.NAME (default admin)\n" \
	"      --ceph-timeout SECONDS\n"                                       \
	"                           give up connecting, and fail a request\n"  \
	"                           the cluster has not answered, by then\n"   \
	"                           (default 30; 0: requests wait forever)\n"  \
	"      --exclusive          take the image's exclusive lock at start\n"\
	"                           and keep it: other writers are refused\n"

struct common_opts {
	struct server_config *cfg;
	struct memsafe_opts *mem;
	int *log_level;
	unsigned min_queue_depth;
	uint64_t min_buffer_memory;
};

/* 1: c was a common option, taken; 0: not one; -EINVAL: bad (said) */
int common_option(int c, const char *arg, const struct common_opts *o);
/* "OPT VAL: WHY" as the one line; returns -EINVAL */
int option_bad(const char *opt, const char *val, const char *why);
/* the one line for getopt's ':' (no value) or '?' (unknown); -EINVAL */
int option_unknown(const char *cmd, int c, char **argv);

#endif

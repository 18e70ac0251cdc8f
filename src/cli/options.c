// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "cli/options.h"
#include "core/log.h"
#include "core/parse.h"

int option_bad(const char *opt, const char *val, const char *why)
{
	log_error("%s%s %s: %s", config_where(val), opt, val, why);
	return -EINVAL;
}

int option_unknown(const char *cmd, int c, char **argv)
{
	if (c == ':')
		log_error("%s: %s needs a value (see 'lloop %s --help')", cmd,
			  argv[optind - 1], cmd);
	else
		log_error("%s: unknown option '%s' (see 'lloop %s --help')",
			  cmd,
			  optopt ? (char[]){ '-', (char)optopt, 0 } :
				   argv[optind - 1],
			  cmd);
	return -EINVAL;
}

static int inject_fault(const char *arg, struct backend_opts *b)
{
	const char *why;

	if (b->nr_faults == FAULT_MAX_RULES)
		return option_bad("--inject-fault", arg,
				  "too many rules (at most 16)");
	if (fault_parse(arg, &b->faults[b->nr_faults], &why) < 0)
		return option_bad("--inject-fault", arg, why);
	b->nr_faults++;
	return 1;
}

int common_option(int c, const char *arg, const struct common_opts *o)
{
	struct server_config *cfg = o->cfg;
	char why[80];
	uint64_t v;
	char *end;
	long n;

	switch (c) {
	case OPT_CACHE:
		if (!strcmp(arg, "none"))
			cfg->bopts.cache = CACHE_NONE;
		else if (!strcmp(arg, "writeback"))
			cfg->bopts.cache = CACHE_WRITEBACK;
		else
			return option_bad("--cache", arg,
					  "expected none or writeback");
		return 1;
	case OPT_ENGINE:
		if (!strcmp(arg, "uring"))
			cfg->engine = ENGINE_URING;
		else if (!strcmp(arg, "threads"))
			cfg->engine = ENGINE_THREADS;
		else
			return option_bad("--engine", arg,
					  "expected uring or threads");
		return 1;
	case OPT_QUEUE_DEPTH:
		snprintf(why, sizeof(why), "expected %u to 4096",
			 o->min_queue_depth);
		if (parse_uint(arg, o->min_queue_depth, 4096,
			       &cfg->queue_depth) < 0)
			return option_bad("--queue-depth", arg, why);
		return 1;
	case OPT_BUFFER_MEMORY:
		snprintf(why, sizeof(why),
			 "expected a power of two from %lluM to 16G",
			 (unsigned long long)(o->min_buffer_memory >> 20));
		if (parse_size(arg, &v) < 0 || v < o->min_buffer_memory ||
		    v > (1ULL << 34) || (v & (v - 1)))
			return option_bad("--buffer-memory", arg, why);
		cfg->buffer_memory = v;
		return 1;
	case OPT_MLOCK:
		o->mem->mlock = true;
		return 1;
	case OPT_NO_MLOCK:
		o->mem->mlock = false;
		return 1;
	case OPT_OOM_SCORE_ADJ:
		n = strtol(arg, &end, 10);
		if (!arg[0] || *end || n < -1000 || n > 1000)
			return option_bad("--oom-score-adj", arg,
					  "expected -1000 to 1000");
		o->mem->oom_score_adj = n;
		return 1;
	case OPT_INJECT_FAULT:
		return inject_fault(arg, &cfg->bopts);
	case OPT_LOG_LEVEL:
		n = log_parse_level(arg);
		if (n < 0)
			return option_bad("--log-level", arg,
					  "expected error, warning, info or "
					  "debug");
		*o->log_level = n;
		return 1;
	case OPT_LOG:
		if (log_set_target(arg) < 0)
			return option_bad("--log", arg,
					  "expected stderr or syslog");
		return 1;
	case OPT_CEPH_CONF:
		cfg->bopts.ceph_conf = arg;
		return 1;
	case OPT_CEPH_ID:
		if (!arg[0] || strchr(arg, '.') == arg)
			return option_bad("--ceph-id", arg,
					  "expected a user name, e.g. admin "
					  "for client.admin");
		if (!strncmp(arg, "client.", 7))
			arg += 7;
		cfg->bopts.ceph_id = arg;
		return 1;
	case OPT_CEPH_TIMEOUT:
		if (parse_uint(arg, 0, 86400, &cfg->bopts.ceph_timeout) < 0)
			return option_bad("--ceph-timeout", arg,
					  "expected seconds, 0 to 86400");
		return 1;
	case OPT_EXCLUSIVE:
		cfg->bopts.exclusive = true;
		return 1;
	}
	return 0;
}

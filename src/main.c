// SPDX-License-Identifier: GPL-2.0-or-later
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/engine.h"
#include "core/log.h"
#include "core/memsafe.h"

static const struct subcommand subcommands[] = {
	{ "serve", "export images over NBD", serve_main, serve_usage },
	{ "attach", "make an image a local block device", attach_main,
	  attach_usage },
	{ "detach", "remove a device made by attach", detach_main,
	  detach_usage },
	{ "list", "show the attached devices", list_main, list_usage },
	{ "stats", "show a running daemon's figures", stats_main,
	  stats_usage },
	{ "create", "create an image file", create_main, create_usage },
};

#define NR_SUBCOMMANDS (sizeof(subcommands) / sizeof(*subcommands))

static void usage(FILE *out)
{
	fprintf(out, "Usage: lloop COMMAND [OPTIONS]\n\nCommands:\n");
	for (unsigned i = 0; i < NR_SUBCOMMANDS; i++)
		fprintf(out, "  %-8s %s\n", subcommands[i].name,
			subcommands[i].summary);
	fprintf(out, "  %-8s %s\n", "help", "help on a command");
	fprintf(out, "\n'lloop COMMAND --help' for a command's options.\n");
}

static const struct subcommand *find(const char *name)
{
	for (unsigned i = 0; i < NR_SUBCOMMANDS; i++)
		if (!strcmp(subcommands[i].name, name))
			return &subcommands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct subcommand *sc;

	/*
	 * One malloc arena: each thread's own would reserve 64 MiB that
	 * mlockall counts as locked.  Nothing allocates on the I/O path.
	 */
	mallopt(M_ARENA_MAX, 1);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("lloop %s\n", LLOOP_VERSION);
		printf("engines: io_uring (%s), threads\n",
		       uring_probe() == 0 ? "available" : "refused here");
		printf("frontends: nbd, fuse + loop\n");
		if (LLOOP_SANITIZED)
			printf("build: sanitized (no mlock)\n");
		return 0;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc < 3) {
			usage(stdout);
			return 0;
		}
		sc = find(argv[2]);
		if (!sc) {
			log_error("help: no command '%s'", argv[2]);
			return 2;
		}
		sc->usage();
		return 0;
	}
	sc = find(argv[1]);
	if (!sc) {
		log_error("no command '%s' (see 'lloop --help')", argv[1]);
		return 2;
	}
	return sc->main(argc - 1, argv + 1);
}

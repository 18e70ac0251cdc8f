// SPDX-License-Identifier: GPL-2.0-or-later
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/engine.h"
#include "backend/backend.h"
#include "core/log.h"
#include "core/memsafe.h"
#include "frontend/nbd/kernel.h"
#include "frontend/ublk/ublk.h"

/*
 * GnuTLS's version, for --version, without its header (main.c has no
 * gnutls dependency of its own).  meson says whether this build has TLS
 * (LLOOP_TLS); without that word, a weak reference links either way and
 * is NULL when the binary does not link GnuTLS.  Either way --version
 * says what this binary can do, not what the host has installed.
 */
#if !defined(LLOOP_TLS)
extern const char *gnutls_check_version(const char *req_version)
	__attribute__((weak));
#define HAVE_TLS (gnutls_check_version != NULL)
#elif LLOOP_TLS
extern const char *gnutls_check_version(const char *req_version);
#define HAVE_TLS 1
#else
#define HAVE_TLS 0
#define gnutls_check_version(v) ""
#endif

#define FUSE_ENABLE_URING "/sys/module/fuse/parameters/enable_uring"

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
	fprintf(out, "\nOptions:\n"
		     "  -h, --help     this text\n"
		     "  -V, --version  the version, and what this build and "
		     "kernel support\n");
	fprintf(out, "\n'lloop help COMMAND' or 'lloop COMMAND --help' for a "
		     "command's options;\n'man lloop' for all of them.\n");
}

/* FUSE over io_uring: the kernel has the parameter (6.14+), and is it Y */
static const char *fuse_uring_state(void)
{
	char c = 0;
	FILE *f = fopen(FUSE_ENABLE_URING, "r");

	if (!f)
		return access("/sys/module/fuse", F_OK) == 0 ?
			       "not offered by this kernel (Linux 6.14+)" :
			       "not known (the fuse module is not loaded)";
	if (fread(&c, 1, 1, f) != 1)
		c = 0;
	fclose(f);
	return c == 'Y' || c == '1' ?
		       "offered by the kernel, enabled" :
		       "offered by the kernel, disabled ('attach --fuse-uring' "
		       "enables it)";
}

/* one capability per line, "NAME: STATE", for people and for scripts */
static void version(void)
{
	int ret = uring_probe();

	printf("lloop %s\n", LLOOP_VERSION);
	if (ret == 0)
		printf("io_uring: available\n");
	else
		printf("io_uring: refused here (%s): the threads engine "
		       "takes over\n", strerror(-ret));
	printf("threads engine: available\n");
	printf("nbd server: available\n");
	printf("kernel nbd: %s\n", nbd_kernel_available() ?
		       "available (attach --frontend nbd)" :
		       "not available (no nbd module: modprobe nbd)");
	printf("fuse + loop: %s\n",
	       access("/dev/fuse", F_OK) == 0 &&
			       access("/dev/loop-control", F_OK) == 0 ?
		       "available" :
		       "not available (needs /dev/fuse and /dev/loop-control)");
	printf("FUSE over io_uring: %s\n", fuse_uring_state());
	printf("ublk: %s\n", ublk_available() ?
		       "available (attach --frontend ublk)" :
		       "not available (no ublk driver: modprobe ublk_drv)");
	if (HAVE_TLS)
		printf("TLS: GnuTLS %s\n", gnutls_check_version(NULL));
	else
		printf("TLS: not in this build\n");
	printf("Ceph RBD: %s\n", rbd_state());
	if (LLOOP_SANITIZED)
		printf("build: sanitized (no mlock)\n");
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
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		version();
		return 0;
	}
	if (!strcmp(argv[1], "help")) {
		/* "lloop help help": help is about the commands, as lloop --help */
		if (argc < 3 || !strcmp(argv[2], "help")) {
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

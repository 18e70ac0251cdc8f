// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lloop serve: export images over NBD until SIGINT or SIGTERM, which
 * drain what is in flight, make it durable and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/options.h"
#include "core/control.h"
#include "core/log.h"
#include "core/memsafe.h"
#include "core/notify.h"
#include "core/parse.h"
#include "core/server.h"
#include "frontend/nbd/nbd.h"

#define MAX_LISTEN 16
#define MAX_ALLOW 64
#define DEFAULT_LISTEN "tcp://127.0.0.1:10809"

struct serve_opts {
	const char *listen[MAX_LISTEN];
	unsigned nr_listen;
	const char *pidfile;
	bool daemon;
	bool read_only;
	const char *control;
	struct memsafe_opts mem;
	struct nbd_frontend_opts fo;
	struct cidr allow[MAX_ALLOW];
	/* the first TLS option that needs --tls, and its word */
	const char *tls_needs, *tls_word;
};

void serve_usage(void)
{
	printf("Usage: lloop serve [OPTIONS] IMAGE\n"
	       "       lloop serve [OPTIONS] NAME=IMAGE [NAME=IMAGE]...\n"
	       "\n"
	       "Serve images over NBD. IMAGE is a file, a block device,\n"
	       "memory:SIZE (a sparse RAM disk) or rbd:POOL/IMAGE (Ceph). With\n"
	       "several exports the first one is also the default export (the\n"
	       "empty name).\n"
	       "\n"
	       "Options:\n"
	       "  -l, --listen URI         tcp://HOST:PORT, tcp://[IPV6]:PORT or\n"
	       "                           unix:PATH; repeatable (default "
	       DEFAULT_LISTEN ")\n"
	       "  -r, --read-only          refuse writes, trims and zeroing\n"
	       "      --create SIZE        create IMAGE, sparse, SIZE bytes (K, M,\n"
	       "                           G, T suffixes); never overwrites a file\n"
	       "      --cache MODE         none (O_DIRECT, default) or writeback\n"
	       "      --engine ENGINE      uring or threads (default: uring, or\n"
	       "                           threads where io_uring is refused)\n"
	       "  -t, --threads N          worker threads, 1 to 128 (default: online\n"
	       "                           CPUs, at most 128)\n"
	       "      --queue-depth N      requests in flight per worker (128)\n"
	       "      --buffer-memory SIZE buffer arena per worker, a power of two\n"
	       "                           (default: 192M over all workers, at\n"
	       "                           most 64M each)\n"
	       "      --max-connections N  connections at once; more are refused\n"
	       "                           (256)\n"
	       "      --pidfile FILE       write the pid once listening\n"
	       "      --daemon             go to the background once listening\n"
	       "      --log-level LEVEL    error, warning, info (default), debug\n"
	       "      --mlock, --no-mlock  lock all memory after the pools are\n"
	       "                           made (default: on; needed for swap)\n"
	       "      --oom-score-adj N    -1000 to 1000 (default -1000)\n"
	       "      --control PATH       control socket for 'lloop stats'\n"
	       "                           (default " CONTROL_DIR "/serve-PID.sock)\n"
	       "      --handshake-timeout SECONDS\n"
	       "                           close a client that has not finished\n"
	       "                           its handshake (TLS included) by then\n"
	       "                           (default 10; 0: never)\n"
	       "\n"
	       "Security:\n"
	       "      --tls MODE           off (default), on (offer STARTTLS) or\n"
	       "                           require (nothing but STARTTLS before\n"
	       "                           TLS)\n"
	       "      --tls-certificates DIR\n"
	       "                           X.509: DIR/server-cert.pem,\n"
	       "                           server-key.pem, ca-cert.pem\n"
	       "      --tls-verify-peer    require client certificates signed by\n"
	       "                           DIR/ca-cert.pem\n"
	       "      --tls-psk FILE       pre-shared keys, psktool's USER:HEXKEY\n"
	       "                           lines\n"
	       "      --tls-priority STR   GnuTLS priority string (default\n"
	       "                           TLS 1.3, then 1.2)\n"
	       "      --allow CIDR         TCP clients only from this range (e.g.\n"
	       "                           10.0.0.0/8, ::1/128); repeatable\n"
	       "      --socket-mode MODE   unix socket permissions (0600)\n"
	       "      --socket-group GROUP unix socket group\n"
	       "  NAME=IMAGE:ro            that export read-only\n"
	       OPERATOR_USAGE
	       INJECT_FAULT_USAGE
	       "  -h, --help               this text\n"
	       CEPH_USAGE);
}

enum {
	OPT_CREATE = 256,
	OPT_MAX_CONNECTIONS,
	OPT_PIDFILE,
	OPT_DAEMON,
	OPT_CONTROL,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_TLS,
	OPT_TLS_CERTIFICATES,
	OPT_TLS_VERIFY_PEER,
	OPT_TLS_PSK,
	OPT_TLS_PRIORITY,
	OPT_ALLOW,
	OPT_SOCKET_MODE,
	OPT_SOCKET_GROUP,
};

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "read-only", no_argument, NULL, 'r' },
	{ "create", required_argument, NULL, OPT_CREATE },
	{ "threads", required_argument, NULL, 't' },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "daemon", no_argument, NULL, OPT_DAEMON },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "handshake-timeout", required_argument, NULL,
	  OPT_HANDSHAKE_TIMEOUT },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "tls-certificates", required_argument, NULL, OPT_TLS_CERTIFICATES },
	{ "tls-verify-peer", no_argument, NULL, OPT_TLS_VERIFY_PEER },
	{ "tls-psk", required_argument, NULL, OPT_TLS_PSK },
	{ "tls-priority", required_argument, NULL, OPT_TLS_PRIORITY },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
	{ "help", no_argument, NULL, 'h' },
	COMMON_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static int parse_tls_mode(const char *arg, enum tls_mode *m)
{
	if (!strcmp(arg, "off"))
		*m = TLS_OFF;
	else if (!strcmp(arg, "on"))
		*m = TLS_ON;
	else if (!strcmp(arg, "require"))
		*m = TLS_REQUIRE;
	else
		return option_bad("--tls", arg, "expected off, on or require");
	return 0;
}

static int parse_group(const char *arg, long *gid)
{
	struct group *g = getgrnam(arg);
	unsigned v;

	if (g) {
		*gid = g->gr_gid;
		return 0;
	}
	if (parse_uint(arg, 0, 0x7fffffff, &v) < 0)
		return option_bad("--socket-group", arg, "no such group");
	*gid = v;
	return 0;
}

/* TLS and who may connect */
static int security_option(int c, const char *arg, struct serve_opts *so)
{
	struct nbd_frontend_opts *fo = &so->fo;
	char *end;
	long v;

	switch (c) {
	case OPT_TLS:
		return parse_tls_mode(arg, &fo->tls.mode);
	case OPT_TLS_CERTIFICATES:
		fo->tls.certificates = arg;
		return 0;
	case OPT_TLS_VERIFY_PEER:
		fo->tls.verify_peer = true;
		return 0;
	case OPT_TLS_PSK:
		fo->tls.psk_file = arg;
		return 0;
	case OPT_TLS_PRIORITY:
		fo->tls.priority = arg;
		return 0;
	case OPT_ALLOW:
		if (fo->nr_allow == MAX_ALLOW)
			return option_bad("--allow", arg,
					  "too many ranges (at most 64)");
		if (cidr_parse(arg, &so->allow[fo->nr_allow]) < 0)
			return option_bad("--allow", arg,
					  "expected ADDRESS[/BITS], e.g. "
					  "10.0.0.0/8 or ::1/128");
		fo->nr_allow++;
		return 0;
	case OPT_SOCKET_MODE:
		errno = 0;
		v = strtol(arg, &end, 8);
		if (errno || !arg[0] || *end || v < 0 || v > 0777)
			return option_bad("--socket-mode", arg,
					  "expected an octal mode, e.g. 0660");
		fo->socket_mode = v;
		return 0;
	case OPT_SOCKET_GROUP:
		return parse_group(arg, &fo->socket_gid);
	}
	return -EINVAL;
}

/* the options that mean nothing with --tls off, by name */
static const char *tls_option_name(int c)
{
	switch (c) {
	case OPT_TLS_CERTIFICATES:
		return "--tls-certificates";
	case OPT_TLS_VERIFY_PEER:
		return "--tls-verify-peer";
	case OPT_TLS_PSK:
		return "--tls-psk";
	default:
		return "--tls-priority";
	}
}

static int parse_options(int argc, char **argv, struct server_config *cfg,
			 struct serve_opts *so)
{
	const struct common_opts common = {
		.cfg = cfg,
		.mem = &so->mem,
		.log_level = &log_level,
		.min_queue_depth = 1,
		.min_buffer_memory = 1 << 20,
	};
	struct listen_addr la;
	uint64_t v;
	int c, ret;

	optind = 1;
	opterr = 0; /* one line per error, ours */
	while ((c = getopt_long(argc, argv, ":l:rt:h", long_opts, NULL)) !=
	       -1) {
		ret = common_option(c, optarg, &common);
		if (ret < 0)
			return ret;
		if (ret)
			continue;
		switch (c) {
		case 'l':
			if (so->nr_listen == MAX_LISTEN)
				return option_bad("--listen", optarg,
						  "too many listeners (at most "
						  "16)");
			if (parse_listen(optarg, &la) < 0)
				return option_bad("--listen", optarg,
						  "expected tcp://HOST:PORT, "
						  "tcp://[IPV6]:PORT or "
						  "unix:PATH");
			so->listen[so->nr_listen++] = optarg;
			break;
		case 'r':
			so->read_only = true;
			break;
		case OPT_CREATE:
			if (parse_size(optarg, &v) < 0 || !v)
				return option_bad("--create", optarg,
						  "not a size (e.g. 10G)");
			cfg->bopts.create_size = v;
			break;
		case 't':
			if (parse_uint(optarg, 1, WORKERS_MAX, &cfg->threads) < 0)
				return option_bad("--threads", optarg,
						  "expected 1 to 128");
			break;
		case OPT_MAX_CONNECTIONS:
			if (parse_uint(optarg, 1, 65536,
				       &cfg->max_connections) < 0)
				return option_bad("--max-connections", optarg,
						  "expected 1 to 65536");
			break;
		case OPT_PIDFILE:
			so->pidfile = optarg;
			break;
		case OPT_DAEMON:
			so->daemon = true;
			break;
		case OPT_CONTROL:
			so->control = optarg;
			break;
		case OPT_HANDSHAKE_TIMEOUT:
			if (parse_uint(optarg, 0, 86400,
				       &cfg->handshake_timeout) < 0)
				return option_bad("--handshake-timeout", optarg,
						  "expected 0 to 86400 seconds");
			break;
		case OPT_TLS_CERTIFICATES:
		case OPT_TLS_VERIFY_PEER:
		case OPT_TLS_PSK:
		case OPT_TLS_PRIORITY:
			if (!so->tls_needs) {
				so->tls_needs = tls_option_name(c);
				/* a flag has no optarg: its own word */
				so->tls_word = optarg ? optarg :
							argv[optind - 1];
			}
			/* fall through */
		case OPT_TLS:
		case OPT_ALLOW:
		case OPT_SOCKET_MODE:
		case OPT_SOCKET_GROUP:
			ret = security_option(c, optarg, so);
			if (ret < 0)
				return ret;
			break;
		case 'h':
			serve_usage();
			exit(0);
		default:
			return option_unknown("serve", c, argv);
		}
	}
	if (optind == argc) {
		log_error("serve: no IMAGE given (see 'lloop serve --help')");
		return -EINVAL;
	}
	if (!so->nr_listen)
		so->listen[so->nr_listen++] = DEFAULT_LISTEN;
	cfg->bopts.read_only = so->read_only;
	so->fo.listen = so->listen;
	so->fo.nr_listen = so->nr_listen;
	so->fo.allow = so->allow;
	if (so->fo.tls.mode == TLS_OFF && so->tls_needs) {
		log_error("%s%s needs --tls on or --tls require",
			  config_where(so->tls_word), so->tls_needs);
		return -EINVAL;
	}
	return 0;
}

/*
 * NAME=IMAGE when the part before '=' could not be a path; NAME=IMAGE:ro
 * makes that export read-only.
 */
static void split_export(char *arg, char **name, char **image, bool *ro)
{
	char *eq = strchr(arg, '=');
	size_t len;

	*ro = false;
	if (eq && !memchr(arg, '/', eq - arg) && !memchr(arg, ':', eq - arg)) {
		*eq = '\0';
		*name = arg;
		*image = eq + 1;
		len = strlen(*image);
		if (len > 3 && !strcmp(*image + len - 3, ":ro")) {
			(*image)[len - 3] = '\0';
			*ro = true;
		}
	} else {
		*name = NULL;
		*image = arg;
	}
}

/*
 * Names and images first, so that a bad argument opens nothing: -EINVAL
 * (usage) after one line, naming FILE:LINE when the export came from a
 * config file.
 */
static int check_exports(struct server *srv, int argc, char **argv)
{
	unsigned n = argc - optind;

	srv->exports = calloc(n, sizeof(*srv->exports));
	if (!srv->exports)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct export *e = &srv->exports[i];
		const char *where;
		char *name, *image;
		bool ro;

		/* before split_export cuts the word at its '=' */
		where = config_where(argv[optind + i]);
		split_export(argv[optind + i], &name, &image, &ro);
		if (!name && n > 1) {
			log_error("%s%s: with several exports each needs a "
				  "name: NAME=IMAGE", where, image);
			return -EINVAL;
		}
		if (name && (!name[0] || strlen(name) > NBD_MAX_NAME)) {
			log_error("%s%s: export names are 1 to 4096 bytes",
				  where, argv[optind + i]);
			return -EINVAL;
		}
		e->name = name ? name : "";
		e->spec = image;
		e->description = image;
		e->read_only = srv->cfg.bopts.read_only || ro;
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(srv->exports[j].name, e->name)) {
				log_error("%sexport name '%s' given twice",
					  where, e->name);
				return -EINVAL;
			}
		if (!image[0]) {
			log_error("%s%s: no image", where, argv[optind + i]);
			return -EINVAL;
		}
	}
	return 0;
}

static int open_exports(struct server *srv, int argc, char **argv)
{
	for (unsigned i = 0; i < (unsigned)(argc - optind); i++) {
		struct export *e = &srv->exports[i];
		struct backend_opts bo = srv->cfg.bopts;
		int ret;

		bo.read_only = e->read_only;
		ret = backend_open(e->spec, &bo, &e->be);

		if (ret < 0)
			return ret;
		/* the backend may know better: a snapshot is never written */
		e->read_only = e->read_only || e->be->read_only;
		srv->nr_exports++;
	}
	return 0;
}

static void log_exports(struct server *srv)
{
	for (unsigned i = 0; i < srv->nr_exports; i++) {
		struct export *e = &srv->exports[i];

		log_info("export '%s': %s, %llu bytes%s%s", e->name, e->spec,
			 (unsigned long long)e->be->size,
			 e->read_only ? ", read-only" : "",
			 e->be->align > 1 ? ", direct I/O" : "");
	}
}

static int write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_error("--pidfile %s: %s", path, strerror(errno));
		return -errno;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", getpid());
	if (write(fd, buf, n) != n) {
		log_error("--pidfile %s: %s", path, strerror(errno));
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

/* fork; the parent waits for the child to say it is listening */
static int daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	*ready_fd = p[1];
	return 0;
}

int serve_main(int argc, char **argv)
{
	struct server srv = { 0 };
	struct serve_opts so = {
		.fo = { .socket_mode = 0600, .socket_gid = -1 },
	};
	int ready_fd = -1, sig, ret, status = 1;
	bool pidfile_written = false;
	sigset_t set;

	server_config_defaults(&srv.cfg);
	so.mem = (struct memsafe_opts){ .mlock = true, .oom_score_adj = -1000,
					.set_oom_score_adj = true };
	if (config_expand(&argc, &argv, "serve", long_opts) < 0)
		return 2;
	if (parse_options(argc, argv, &srv.cfg, &so) < 0)
		return 2;
	/* a bad name or a name given twice is a usage error, like a bad
	 * option */
	ret = check_exports(&srv, argc, argv);
	if (ret < 0) {
		status = ret == -EINVAL ? 2 : 1;
		goto out;
	}
	/*
	 * Fork before opening anything: librados's threads (rbd:) do not
	 * cross a fork.  Errors from here on still reach the terminal (the
	 * child keeps stderr), and the parent fails with the child.
	 */
	if (so.daemon && daemonize(&ready_fd) < 0) {
		log_error("--daemon: cannot fork: %s", strerror(errno));
		goto out;
	}
	/* before any thread: the control thread's, librados's, the workers' */
	server_block_signals(&set);

	ret = open_exports(&srv, argc, argv);
	if (ret < 0)
		goto out;
	ret = server_setup(&srv);
	if (ret < 0)
		goto out;
	ret = nbd_frontend_init(&srv, &so.fo);
	if (ret < 0)
		goto out;

	/*
	 * The control buffer is made before mlockall; IO_FLUSHER before any
	 * thread, so that all inherit it.
	 */
	if (control_start(&srv, so.control) < 0)
		goto out;
	if (memsafe_apply(&so.mem) < 0)
		goto out;

	ret = server_start(&srv);
	if (ret < 0) {
		log_error("cannot start the workers: %s", strerror(-ret));
		goto stop;
	}
	nbd_frontend_start(&srv);
	log_exports(&srv);
	nbd_frontend_log_listeners(&srv);
	log_info("control socket %s; memory locked: %s, io_flusher: %s, "
		 "oom_score_adj %d",
		 control_path(), memsafe.mlocked ? "yes" : "no",
		 memsafe.io_flusher ? "yes" : "no", memsafe.oom_score_adj);
	if (so.pidfile) {
		if (write_pidfile(so.pidfile) < 0)
			goto stop;
		pidfile_written = true;
	}
	/*
	 * systemd first, then the parent of --daemon: once the command
	 * returns, all start-up has to say (a bad NOTIFY_SOCKET) is said,
	 * as attach does.
	 */
	notify_ready(NULL);
	if (ready_fd >= 0) {
		if (write(ready_fd, "R", 1) != 1) {
			log_error("the serve --daemon command was gone before "
				  "it could be told the server is ready: "
				  "stopping");
			goto stop;
		}
		close(ready_fd);
		ready_fd = -1;
	}

	sigwait(&set, &sig);
	notify_stopping();
	if (!atomic_load(&srv.failed))
		log_info("%s: draining and stopping",
			 sig == SIGINT ? "SIGINT" : "SIGTERM");
	status = atomic_load(&srv.failed) ? 1 : 0;
stop:
	server_stop(&srv);
	log_flush();
	for (unsigned i = 0; i < srv.nr_exports; i++) {
		struct export *e = &srv.exports[i];

		int err = e->read_only ? 0 : e->be->ops->sync(e->be);

		if (err < 0) {
			log_error("%s: the final flush failed: %s", e->spec,
				  strerror(-err));
			status = 1;
		}
	}
	/* whatever the status: the pid in it is gone with us */
	if (pidfile_written)
		unlink(so.pidfile);
out:
	control_stop();
	nbd_frontend_fini(&srv);
	server_fini(&srv);
	free(srv.exports);
	return status;
}

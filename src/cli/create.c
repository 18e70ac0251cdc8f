// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lloop create: make an image file, sparse by default.  It never
 * overwrites a file, and a failure (or SIGINT) after the file was made
 * removes it: an operator never finds a half-made image.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "core/log.h"
#include "core/parse.h"

#define LUSTRE_SUPER_MAGIC 0x0BD00BD0
/* per fallocate or write burst: small enough to report progress */
#define PREALLOC_CHUNK (64ULL << 20)
#define ZERO_BUF (8ULL << 20)
#define TTY_INTERVAL_NS 250000000LL	/* bar redrawn 4 times a second */
#define PLAIN_INTERVAL_NS 5000000000LL	/* a line every 5 s otherwise */
#define BAR_WIDTH 16
/* Lustre: stripes are multiples of 64 KiB, below 4 GiB; <= 2000 OSTs */
#define STRIPE_UNIT (64ULL << 10)
#define STRIPE_SIZE_MAX ((4ULL << 30) - STRIPE_UNIT)
#define STRIPE_COUNT_MAX 2000

struct create_opts {
	const char *image;
	const char *size_arg;
	uint64_t size;
	bool preallocate;
	bool quiet;
	int stripe_count;	/* 0: not given, -1: all OSTs */
	uint64_t stripe_size;	/* 0: not given */
};

struct progress {
	const char *image;
	uint64_t total;
	bool tty;
	bool quiet;
	int64_t start_ns;
	int64_t last_ns;
};

static volatile sig_atomic_t interrupted;

void create_usage(void)
{
	printf("Usage: lloop create [OPTIONS] IMAGE SIZE\n"
	       "\n"
	       "Create the image file IMAGE of SIZE bytes (K, M, G, T suffixes,\n"
	       "binary: 10G is 10 GiB), sparse unless --preallocate. An existing\n"
	       "file is never overwritten; on failure nothing is left behind.\n"
	       "\n"
	       "Options:\n"
	       "      --preallocate        allocate all the space now: fallocate,\n"
	       "                           or writing zeros where the file system\n"
	       "                           refuses fallocate; shows progress\n"
	       "      --stripe-count N     Lustre only: stripe IMAGE over N OSTs\n"
	       "                           (-1: all), set with 'lfs setstripe'\n"
	       "                           before any data is written\n"
	       "      --stripe-size SIZE   Lustre only: stripe size, a multiple of\n"
	       "                           64K (e.g. 1M, 4M)\n"
	       "  -q, --quiet              no progress and no summary; errors only\n"
	       "  -h, --help               this text\n"
	       "\n"
	       "Progress goes to stderr: a bar with rate and time left on a\n"
	       "terminal, a plain line every 5 seconds otherwise.\n"
	       "\n"
	       "Exit status: 0 created, 1 failed (nothing left behind), 2 bad\n"
	       "command line.\n");
}

enum {
	OPT_PREALLOCATE = 256,
	OPT_STRIPE_COUNT,
	OPT_STRIPE_SIZE,
};

static const struct option long_opts[] = {
	{ "preallocate", no_argument, NULL, OPT_PREALLOCATE },
	{ "stripe-count", required_argument, NULL, OPT_STRIPE_COUNT },
	{ "stripe-size", required_argument, NULL, OPT_STRIPE_SIZE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_stripe_count(const char *arg, int *out)
{
	unsigned n;

	if (!strcmp(arg, "-1")) {
		*out = -1;
		return 0;
	}
	if (parse_uint(arg, 1, STRIPE_COUNT_MAX, &n) < 0)
		return option_bad("--stripe-count", arg,
				  "expected 1 to 2000, or -1 for all OSTs");
	*out = n;
	return 0;
}

static int parse_stripe_size(const char *arg, uint64_t *out)
{
	if (parse_size(arg, out) < 0 || !*out || *out % STRIPE_UNIT ||
	    *out > STRIPE_SIZE_MAX)
		return option_bad("--stripe-size", arg,
				  "expected a multiple of 64K below 4G "
				  "(e.g. 1M)");
	return 0;
}

static int parse_args(int argc, char **argv, struct create_opts *o)
{
	int c;

	optind = 1;
	opterr = 0; /* one line per error, ours */
	while ((c = getopt_long(argc, argv, ":qh", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_PREALLOCATE:
			o->preallocate = true;
			break;
		case OPT_STRIPE_COUNT:
			if (parse_stripe_count(optarg, &o->stripe_count) < 0)
				return -EINVAL;
			break;
		case OPT_STRIPE_SIZE:
			if (parse_stripe_size(optarg, &o->stripe_size) < 0)
				return -EINVAL;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			create_usage();
			exit(0);
		default:
			return option_unknown("create", c, argv);
		}
	}
	if (argc - optind != 2) {
		log_error("create: expected IMAGE and SIZE, got %d argument%s "
			  "(see 'lloop create --help')",
			  argc - optind, argc - optind == 1 ? "" : "s");
		return -EINVAL;
	}
	o->image = argv[optind];
	o->size_arg = argv[optind + 1];
	/* off_t is signed: the largest file is INT64_MAX bytes */
	if (!o->image[0]) {
		log_error("create: IMAGE is empty");
		return -EINVAL;
	}
	if (parse_size(o->size_arg, &o->size) < 0 || !o->size ||
	    o->size > INT64_MAX) {
		log_error("create: SIZE %s: not a size (e.g. 512M, 10G, 2T)",
			  o->size_arg);
		return -EINVAL;
	}
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "1.5 GiB": one decimal, binary units */
static const char *human(uint64_t v, char *buf, size_t cap)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	double d = v;
	unsigned u = 0;

	while (d >= 1024 && u < sizeof(units) / sizeof(*units) - 1) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, cap, "%.1f %s", d, units[u]);
	return buf;
}

/* "0:07", "1:02:03"; "?" before the rate is known or past 99 h */
static const char *duration(double secs, char *buf, size_t cap)
{
	unsigned long s;

	if (secs < 0 || secs >= 360000)
		return "?";
	s = (unsigned long)(secs + 0.5);
	if (s >= 3600)
		snprintf(buf, cap, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60,
			 s % 60);
	else
		snprintf(buf, cap, "%lu:%02lu", s / 60, s % 60);
	return buf;
}

static void progress_show(struct progress *p, uint64_t done)
{
	char line[256], bar[BAR_WIDTH + 1], a[32], b[32], r[32], t[32];
	double secs = (now_ns() - p->start_ns) / 1e9;
	double rate = secs > 0 ? done / secs : 0;
	unsigned pct = p->total ? done * 100 / p->total : 100;
	const char *left = rate > 0 ?
		duration((p->total - done) / rate, t, sizeof(t)) : "?";
	unsigned fill = pct * BAR_WIDTH / 100;
	int n;

	human(done, a, sizeof(a));
	human(p->total, b, sizeof(b));
	human((uint64_t)rate, r, sizeof(r));
	if (p->tty) {
		memset(bar, '#', fill);
		memset(bar + fill, '.', BAR_WIDTH - fill);
		bar[BAR_WIDTH] = '\0';
		/*
		 * Fixed widths: each redraw covers the one before, and the
		 * widest line (76 columns) fits an 80-column terminal.
		 */
		n = snprintf(line, sizeof(line),
			     "\r%3u%% [%s] %10s of %-10s %10s/s %9s left",
			     pct, bar, a, b, r, left);
	} else {
		n = snprintf(line, sizeof(line),
			     "lloop: %s: %u%% (%s of %s), %s/s, %s left\n",
			     p->image, pct, a, b, r, left);
	}
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

/* redraw now and then: 4 times a second on a terminal, every 5 s else */
static void progress_update(struct progress *p, uint64_t done)
{
	int64_t t = now_ns();

	if (p->quiet || done >= p->total)
		return;
	if (t - p->last_ns < (p->tty ? TTY_INTERVAL_NS : PLAIN_INTERVAL_NS))
		return;
	p->last_ns = t;
	progress_show(p, done);
}

static void progress_start(struct progress *p, const char *image,
			   uint64_t total, bool quiet)
{
	*p = (struct progress){ .image = image, .total = total,
				.tty = isatty(STDERR_FILENO), .quiet = quiet };
	p->start_ns = p->last_ns = now_ns();
	if (!quiet && p->tty)
		progress_show(p, 0);
}

/* the bar ends at 100% on its own line; plain output needs no last line */
static void progress_end(struct progress *p, bool ok)
{
	if (p->quiet || !p->tty)
		return;
	if (ok)
		progress_show(p, p->total);
	if (write(STDERR_FILENO, "\n", 1) < 0)
		return;
}

static void on_signal(int sig)
{
	interrupted = sig;
}

/*
 * No SA_RESTART: a long write or fallocate returns EINTR at once.  A
 * signal ignored at start (nohup, a background job) stays ignored.
 */
static void catch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_signal }, old;

	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(*sigs); i++)
		if (sigaction(sigs[i], NULL, &old) == 0 &&
		    old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
}

static int write_zeros(int fd, const void *zeros, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len < ZERO_BUF ? len : ZERO_BUF;
		ssize_t w = pwrite(fd, zeros, n, off);

		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += w;
		len -= w;
	}
	return 0;
}

/*
 * Zeros go through the page cache: each chunk is made durable and
 * dropped, so that the rate shown is the disk's and a 1 TiB image does
 * not push everything else out of memory.
 */
static int write_zero_chunk(int fd, const void *zeros, uint64_t off,
			    uint64_t len)
{
	int ret = write_zeros(fd, zeros, off, len);

	if (ret < 0)
		return ret;
	if (fdatasync(fd) < 0)
		return -errno;
	posix_fadvise(fd, off, len, POSIX_FADV_DONTNEED);
	return 0;
}

static int fill_chunk(int fd, bool *use_write, void **zeros, uint64_t off,
		      uint64_t len, const struct create_opts *o)
{
	if (!*use_write) {
		if (fallocate(fd, 0, off, len) == 0)
			return 0;
		if (errno != EOPNOTSUPP && errno != ENOSYS)
			return -errno;
		if (!o->quiet) {
			/* the 0% bar is on the line: start a new one */
			if (isatty(STDERR_FILENO) &&
			    write(STDERR_FILENO, "\n", 1) < 0)
				return -errno;
			log_info("%s: the file system refuses fallocate; "
				 "writing zeros", o->image);
		}
		*use_write = true;
	}
	if (!*zeros) {
		*zeros = mmap(NULL, ZERO_BUF, PROT_READ,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (*zeros == MAP_FAILED) {
			*zeros = NULL;
			return -ENOMEM;
		}
	}
	return write_zero_chunk(fd, *zeros, off, len);
}

/* in chunks, so that progress can be shown and SIGINT heard */
static int preallocate(int fd, const struct create_opts *o)
{
	struct progress p;
	bool use_write = false;
	void *zeros = NULL;
	uint64_t off = 0;
	int ret = 0;

	progress_start(&p, o->image, o->size, o->quiet);
	while (off < o->size) {
		uint64_t len = o->size - off;

		if (len > PREALLOC_CHUNK)
			len = PREALLOC_CHUNK;
		if (interrupted) {
			ret = -EINTR;
			break;
		}
		ret = fill_chunk(fd, &use_write, &zeros, off, len, o);
		if (ret < 0)
			break;
		off += len;
		progress_update(&p, off);
	}
	progress_end(&p, ret == 0);
	if (zeros)
		munmap(zeros, ZERO_BUF);
	if (ret == -EINTR && !interrupted)
		ret = -EIO;
	if (ret < 0 && ret != -EINTR)
		log_error("%s: --preallocate: failed at %llu of %llu bytes: %s",
			  o->image, (unsigned long long)off,
			  (unsigned long long)o->size, strerror(-ret));
	return ret;
}

static char *image_dir(const char *image)
{
	char *copy = strdup(image);
	char *dir;

	if (!copy)
		return NULL;
	dir = strdup(dirname(copy));
	free(copy);
	return dir;
}

/* the full path of lfs on PATH, or NULL */
static char *find_lfs(void)
{
	const char *path = getenv("PATH");
	char *copy, *save, *d, *found = NULL;

	copy = strdup(path && path[0] ? path : "/usr/bin:/bin");
	if (!copy)
		return NULL;
	for (d = strtok_r(copy, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		char *p;
		struct stat st;

		if (asprintf(&p, "%s/lfs", d[0] ? d : ".") < 0)
			break;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(p, X_OK) == 0) {
			found = p;
			break;
		}
		free(p);
	}
	free(copy);
	return found;
}

/* Lustre and lfs present, before anything is made */
static int check_stripe(const struct create_opts *o, char **lfs)
{
	const char *opt = o->stripe_count ? "--stripe-count" : "--stripe-size";
	char *dir = image_dir(o->image);
	struct statfs sf;
	int ret;

	if (!dir)
		return -ENOMEM;
	ret = statfs(dir, &sf);
	if (ret < 0) {
		ret = -errno;
		log_error("%s: %s: cannot statfs %s: %s", opt, o->image, dir,
			  strerror(errno));
	} else if ((unsigned long)sf.f_type != LUSTRE_SUPER_MAGIC) {
		ret = -ENOTSUP;
		log_error("%s: %s's directory is not on Lustre (statfs magic "
			  "0x%lx); drop the option", opt, o->image,
			  (unsigned long)sf.f_type);
	} else if (!(*lfs = find_lfs())) {
		ret = -ENOENT;
		log_error("%s: %s's directory is on Lustre but 'lfs' is not on "
			  "PATH (install the Lustre client tools)", opt,
			  o->image);
	}
	free(dir);
	return ret;
}

/* lfs setstripe -c N -S SIZE IMAGE, which creates IMAGE with its layout */
static int run_setstripe(const char *lfs, const struct create_opts *o)
{
	char count[16], size[32];
	const char *argv[9];
	int n = 0, status;
	pid_t pid;

	argv[n++] = "lfs";
	argv[n++] = "setstripe";
	if (o->stripe_count) {
		snprintf(count, sizeof(count), "%d", o->stripe_count);
		argv[n++] = "-c";
		argv[n++] = count;
	}
	if (o->stripe_size) {
		snprintf(size, sizeof(size), "%llu",
			 (unsigned long long)o->stripe_size);
		argv[n++] = "-S";
		argv[n++] = size;
	}
	argv[n++] = o->image;
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execv(lfs, (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		log_error("%s: --stripe-count/--stripe-size: '%s setstripe' "
			  "exited with status %d", o->image, lfs,
			  WEXITSTATUS(status));
	else
		log_error("%s: --stripe-count/--stripe-size: '%s setstripe' "
			  "killed by signal %d", o->image, lfs,
			  WTERMSIG(status));
	return -EIO;
}

/* preallocation needs the space: say so now, not after an hour */
static int check_space(const struct create_opts *o)
{
	char *dir = image_dir(o->image);
	char need[32], have[32];
	struct statvfs sv;
	uint64_t free_bytes;
	int ret = 0;

	if (!dir)
		return -ENOMEM;
	if (statvfs(dir, &sv) == 0) {
		/* root may use the blocks reserved for it */
		free_bytes = (uint64_t)(geteuid() ? sv.f_bavail : sv.f_bfree) *
			     sv.f_frsize;
		if (free_bytes < o->size) {
			log_error("%s: --preallocate: needs %s, the file "
				  "system has %s free", o->image,
				  human(o->size, need, sizeof(need)),
				  human(free_bytes, have, sizeof(have)));
			ret = -ENOSPC;
		}
	}
	free(dir);
	return ret;
}

static int refuse_existing(const char *image)
{
	log_error("%s: the file exists; refusing to overwrite it", image);
	return -EEXIST;
}

/* the file, made by us or by lfs setstripe; *created once it exists */
static int make_file(const struct create_opts *o, const char *lfs,
		     bool *created)
{
	struct stat st;
	int fd, ret;

	if (!lfs) {
		fd = open(o->image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			  0644);
		if (fd < 0 && errno == EEXIST)
			return refuse_existing(o->image);
		if (fd < 0)
			goto err_open;
		*created = true;
		return fd;
	}
	ret = run_setstripe(lfs, o);
	/* lfs may have made the file before failing: ours to remove */
	*created = lstat(o->image, &st) == 0;
	if (ret < 0)
		return ret;
	fd = open(o->image, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		goto err_open;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size) {
		log_error("%s: not an empty regular file after lfs setstripe",
			  o->image);
		close(fd);
		return -EEXIST;
	}
	return fd;
err_open:
	ret = -errno;
	log_error("%s: cannot create: %s", o->image, strerror(errno));
	return ret;
}

static int size_file(int fd, const struct create_opts *o)
{
	if (ftruncate(fd, o->size) == 0)
		return 0;
	log_error("%s: cannot size it to %llu bytes: %s", o->image,
		  (unsigned long long)o->size, strerror(errno));
	return -errno;
}

/* the new name durable too, not only the data */
static void sync_dir(const char *image)
{
	char *dir = image_dir(image);
	int fd;

	if (!dir)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

static int fill_file(int fd, const struct create_opts *o)
{
	/* a signal while lfs ran: stop before the long part */
	int ret = interrupted ? -EINTR : size_file(fd, o);

	if (ret == 0 && o->preallocate)
		ret = preallocate(fd, o);
	if (ret == 0 && fsync(fd) < 0) {
		ret = -errno;
		log_error("%s: fsync: %s", o->image, strerror(errno));
	}
	if (ret == -EINTR)
		log_error("%s: interrupted (%s)", o->image,
			  strsignal(interrupted));
	return ret;
}

static void summary(const struct create_opts *o, int64_t start_ns)
{
	char sz[32], r[32];
	double secs = (now_ns() - start_ns) / 1e9;

	if (o->quiet)
		return;
	human(o->size, sz, sizeof(sz));
	if (!o->preallocate) {
		log_info("%s: created, %s (%llu bytes), sparse", o->image, sz,
			 (unsigned long long)o->size);
		return;
	}
	human(secs > 0 ? (uint64_t)(o->size / secs) : o->size, r, sizeof(r));
	log_info("%s: created, %s (%llu bytes), preallocated in %.1f s "
		 "(%s/s)", o->image, sz, (unsigned long long)o->size, secs,
		 r);
}

int create_main(int argc, char **argv)
{
	struct create_opts o = { 0 };
	bool created = false;
	char *lfs = NULL;
	struct stat st;
	int64_t start;
	int fd, ret;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	/* a clear refusal before any other check, lfs included */
	if (lstat(o.image, &st) == 0) {
		refuse_existing(o.image);
		return 1;
	}
	if ((o.stripe_count || o.stripe_size) && check_stripe(&o, &lfs) < 0)
		return 1;
	if (o.preallocate && check_space(&o) < 0) {
		free(lfs);
		return 1;
	}
	if (o.size % 512 && !o.quiet)
		log_warn("%s: %llu bytes is not a multiple of 512; a block "
			 "device shows only whole sectors", o.image,
			 (unsigned long long)o.size);
	catch_signals();
	start = now_ns();
	fd = make_file(&o, lfs, &created);
	free(lfs);
	ret = fd < 0 ? fd : fill_file(fd, &o);
	if (fd >= 0)
		close(fd);
	if (ret < 0) {
		if (created && unlink(o.image) == 0)
			log_error("%s: removed the partial file", o.image);
		else if (created)
			log_error("%s: cannot remove the partial file: %s",
				  o.image, strerror(errno));
		return 1;
	}
	sync_dir(o.image);
	summary(&o, start);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileline.h"
#include "core/log.h"
#include "core/runtime.h"

const char *runtime_dir(void)
{
	const char *d = getenv("LLOOP_RUNTIME_DIR");

	return d && d[0] ? d : RUNTIME_DIR_DEFAULT;
}

int runtime_file(char *buf, size_t len, pid_t pid, const char *ext)
{
	int n = snprintf(buf, len, "%s/attach/%d.%s", runtime_dir(), pid, ext);

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/*
 * Whether a directory of ours may be trusted: what is in it is mounted
 * on, signalled and removed, as root.  Every directory on the way to it
 * is root's or ours, and one that others may write to has the sticky bit
 * (so that they cannot swap what is in it); a symbolic link on the way
 * is root's or ours too, and so is every directory on the way to where
 * it leads.  The directory itself is root's or ours and no symbolic
 * link; with files of ours in it, only its owner may write to it.  0, or
 * why not in why.
 */
static int dir_unsafe(const char *dir, bool files, char *why, size_t len,
		      int depth)
{
	char path[4096], real[4096];
	bool link = false;
	struct stat st;
	size_t n, there;

	if (dir[0] == '/')
		n = snprintf(path, sizeof(path), "%s", dir);
	else if (getcwd(real, sizeof(real)))
		n = snprintf(path, sizeof(path), "%s/%s", real, dir);
	else
		n = sizeof(path);
	if (n >= sizeof(path)) {
		snprintf(why, len, "the path is too long");
		return -ENAMETOOLONG;
	}
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	there = n;	/* how much of it exists */
	for (size_t end = 1; end <= n; end++) {
		bool last = end == n;
		char c;

		if (!last && path[end] != '/')
			continue;
		c = path[end];
		path[end] = '\0';
		if (lstat(path, &st) < 0) {
			int err = errno;

			path[end] = c;
			if (err == ENOENT) {
				/* the rest is made later, by us, 0700 */
				while (end > 1 && path[end - 1] != '/')
					end--;
				there = end > 1 ? end - 1 : 1;
				break;
			}
			snprintf(why, len, "%.*s: %s", (int)end, path,
				 strerror(err));
			return -err;
		}
		why[0] = '\0';
		if (st.st_uid != 0 && st.st_uid != geteuid())
			snprintf(why, len, "%s is owned by uid %u, neither root "
				 "nor us", last ? "it" : path,
				 (unsigned)st.st_uid);
		else if (S_ISLNK(st.st_mode) && last)
			snprintf(why, len, "it is a symbolic link; name the "
				 "directory itself");
		else if (S_ISLNK(st.st_mode))
			link = true;
		else if (!S_ISDIR(st.st_mode))
			snprintf(why, len, "%s is not a directory", path);
		else if (last && files && (st.st_mode & 022))
			snprintf(why, len, "others may write to it (mode %04o; "
				 "chmod go-w it)", st.st_mode & 07777);
		else if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))
			snprintf(why, len, "others may write to %s, which "
				 "has no sticky bit", path);
		path[end] = c;
		if (why[0])
			return -EPERM;
	}
	if (!link)
		return 0;
	/* where the links lead, as far as it exists: the same checks; a
	 * part not there yet is no directory with files of ours */
	path[there] = '\0';
	if (depth > 8 || !realpath(path, real)) {
		snprintf(why, len, "cannot resolve the symbolic links in it");
		return -ELOOP;
	}
	return dir_unsafe(real, files && there == n, why, len, depth + 1);
}

int runtime_dir_check(const char *dir, bool files)
{
	char why[4400];
	const char *env = getenv("LLOOP_RUNTIME_DIR");

	if (!dir_unsafe(dir, files, why, sizeof(why), 0))
		return 0;
	log_error("%s: not a safe runtime directory%s: %s", dir,
		  env && env[0] ? " (LLOOP_RUNTIME_DIR)" : "", why);
	return -EPERM;
}

int runtime_make_dirs(void)
{
	char path[4096];

	char locks[4096];

	snprintf(path, sizeof(path), "%s/attach", runtime_dir());
	snprintf(locks, sizeof(locks), "%s/locks", runtime_dir());
	const char *dirs[] = { runtime_dir(), path, locks };

	for (unsigned i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
		/* RUNDIR holds only attach/ and locks/: /tmp would do */
		int err = runtime_dir_check(dirs[i], i > 0);

		if (err)
			return err;
		/* one made now is ours and 0700, in checked directories */
		if (mkdir(dirs[i], 0700) < 0 && errno != EEXIST) {
			err = -errno;
			log_error("%s: cannot create: %s", dirs[i],
				  strerror(errno));
			return err;
		}
	}
	return 0;
}

bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (!strcmp(a, b))
		return true;
	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int attachment_write(const struct attachment *a)
{
	char path[4096], tmp[4200];
	FILE *f;
	int err;

	if (runtime_file(path, sizeof(path), a->pid, "state") < 0) {
		log_error("cannot record the attachment: %s/attach: path too "
			  "long", runtime_dir());
		return -ENAMETOOLONG;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "we");
	if (!f) {
		err = -errno;
		log_error("cannot record the attachment: %s: %s", tmp,
			  strerror(-err));
		return err;
	}
	fprintf(f,
		"device=%s\nimage=%s\nsize=%llu\nsector_size=%u\npid=%d\n"
		"start_time=%llu\nread_only=%d\ndirect_io=%d\npath=%s\n"
		"backing_dev=%llu\nbacking_ino=%llu\n",
		a->device, a->image, (unsigned long long)a->size,
		a->sector_size, a->pid, (unsigned long long)a->start_time,
		a->read_only, a->direct_io, a->path,
		(unsigned long long)a->backing_dev,
		(unsigned long long)a->backing_ino);
	err = ferror(f) ? -EIO : 0;
	/* fclose writes what is buffered: ENOSPC shows here */
	if (fclose(f) != 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		log_error("cannot record the attachment: %s: %s", path,
			  strerror(-err));
		unlink(tmp);
	}
	return err;
}

int attachment_read(const char *path, struct attachment *a)
{
	char line[4200];
	const char *base;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	memset(a, 0, sizeof(*a));
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *v;

		if (!eq)
			continue;
		*eq = '\0';
		v = eq + 1;
		v[strcspn(v, "\n")] = '\0';
		if (!strcmp(line, "device"))
			snprintf(a->device, sizeof(a->device), "%s", v);
		else if (!strcmp(line, "image"))
			snprintf(a->image, sizeof(a->image), "%s", v);
		else if (!strcmp(line, "size"))
			a->size = strtoull(v, NULL, 10);
		else if (!strcmp(line, "sector_size"))
			a->sector_size = strtoul(v, NULL, 10);
		else if (!strcmp(line, "pid"))
			a->pid = atoi(v);
		else if (!strcmp(line, "start_time"))
			a->start_time = strtoull(v, NULL, 10);
		else if (!strcmp(line, "read_only"))
			a->read_only = atoi(v);
		else if (!strcmp(line, "direct_io"))
			a->direct_io = atoi(v);
		else if (!strcmp(line, "path"))
			snprintf(a->path, sizeof(a->path), "%s", v);
		else if (!strcmp(line, "backing_dev"))
			a->backing_dev = strtoull(v, NULL, 10);
		else if (!strcmp(line, "backing_ino"))
			a->backing_ino = strtoull(v, NULL, 10);
	}
	fclose(f);
	if (a->pid <= 0)
		return -EINVAL;
	/* PID.state, or PID.START.state (kept) */
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	snprintf(line, sizeof(line), "%d.state", a->pid);
	a->kept = strcmp(base, line) != 0;
	return 0;
}

static int kept_file(char *buf, size_t len, const struct attachment *a)
{
	int n = snprintf(buf, len, "%s/attach/%d.%llu.state", runtime_dir(),
			 a->pid, (unsigned long long)a->start_time);

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

void attachment_keep_dead(pid_t pid)
{
	char path[4096], kept[4200];
	struct attachment a;

	if (runtime_file(path, sizeof(path), pid, "state") < 0 ||
	    attachment_read(path, &a) < 0 || attachment_alive(&a) ||
	    !attachment_device_held(&a))
		return;	/* none, or one that is all over: ours overwrites it */
	if (kept_file(kept, sizeof(kept), &a) < 0 || rename(path, kept) < 0)
		log_warn("%s: a dead daemon's record, its device %s still "
			 "bound: cannot keep it: %s", path, a.device,
			 strerror(errno));
}

void attachment_forget(const struct attachment *a)
{
	char path[4200];

	if (!a->kept)
		attachment_remove(a->pid);
	else if (!kept_file(path, sizeof(path), a))
		unlink(path);
}

void attachment_remove(pid_t pid)
{
	static const char *const exts[] = { "state", "img", "sock", "log" };
	char path[4096];

	for (unsigned i = 0; i < sizeof(exts) / sizeof(*exts); i++)
		if (runtime_file(path, sizeof(path), pid, exts[i]) == 0)
			unlink(path);
}

/*
 * A daemon that stops with an error leaves PID.failed with the error for
 * 'lloop detach', which waits for it to go: a detach whose last flush
 * failed must not report success.  The detach that reads it removes it.
 */
void attachment_fail_write(pid_t pid, const char *msg)
{
	char path[4096];
	int fd;

	if (runtime_file(path, sizeof(path), pid, "failed") < 0)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (dprintf(fd, "%s\n", msg) < 0)
		unlink(path);
	close(fd);
}

bool attachment_fail_take(pid_t pid, char *buf, size_t len)
{
	char path[4096];

	if (runtime_file(path, sizeof(path), pid, "failed") < 0 ||
	    !read_first_line(path, buf, len))
		return false;
	unlink(path);
	return true;
}

void attachment_fail_clear(pid_t pid)
{
	char path[4096];

	if (!runtime_file(path, sizeof(path), pid, "failed"))
		unlink(path);
}

uint64_t pid_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the name may hold spaces and parentheses: go past the last ')' */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0; /* dead, not yet reaped */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			  "%*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &start) != 1)
		return 0;
	return start;
}

bool attachment_alive(const struct attachment *a)
{
	return a->pid > 0 && a->start_time &&
	       pid_start_time(a->pid) == a->start_time;
}

bool attachment_device_held(const struct attachment *a)
{
	char path[128], backing[4096], mnt[4096];
	const char *name = strrchr(a->device, '/');

	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file",
		 name ? name + 1 : a->device);
	if (!read_first_line(path, backing, sizeof(backing)))
		return false; /* unbound */
	/* our FUSE file; once the daemon's namespace is gone, "/" (a kept
	 * record's PID.img is another daemon's now) */
	runtime_file(mnt, sizeof(mnt), a->pid, "img");
	if (!a->kept && !strcmp(backing, mnt))
		return true;
	if (strcmp(backing, "/"))
		return false;
	/*
	 * Any dead daemon's: whose, its file's device and inode say.  Not
	 * asked by the daemon itself, whose FUSE file it would wait for
	 * (the kernel asks the file system when its attributes are old).
	 */
	if (a->backing_dev && !(a->pid == getpid() &&
				a->start_time == pid_start_time(a->pid))) {
		uint64_t dev, ino;
		bool dio;
		int fd = open(a->device, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		int err = fd < 0 ? -errno : loop_backing(fd, &dev, &ino, &dio);

		if (fd >= 0)
			close(fd);
		if (err == -ENXIO || err == -ENOENT)
			return false; /* unbound since */
		if (!err)
			return dev == a->backing_dev && ino == a->backing_ino;
		/* its daemon gone, the attributes too old: it may be ours */
	}
	return true;
}

int loop_backing(int loop_fd, uint64_t *dev, uint64_t *ino, bool *direct_io)
{
	struct loop_info64 info;

	if (ioctl(loop_fd, LOOP_GET_STATUS64, &info) < 0)
		return -errno;
	*dev = info.lo_device;
	*ino = info.lo_inode;
	*direct_io = info.lo_flags & LO_FLAGS_DIRECT_IO;
	return 0;
}

int image_lock(const char *image)
{
	char path[4200];
	struct stat st;
	int fd;

	if (stat(image, &st) < 0)
		return -errno;
	/* never removed: unlinking a lock file races with its next user */
	snprintf(path, sizeof(path), "%s/locks/%llx-%llx.lock", runtime_dir(),
		 (unsigned long long)(S_ISBLK(st.st_mode) ? st.st_rdev :
							     st.st_dev),
		 (unsigned long long)(S_ISBLK(st.st_mode) ? 0 : st.st_ino));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * A daemon killed before it wrote its state leaves its socket, mount point
 * and log, which no state names: gone with it once it is gone.
 */
static void sweep_unborn(const char *dir, const char *sock)
{
	char path[4400];
	long pid = strtol(sock, NULL, 10);

	if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH)
		return;
	snprintf(path, sizeof(path), "%s/%ld.state", dir, pid);
	if (access(path, F_OK) == 0)
		return;
	attachment_remove(pid);
}

int attachment_each(int (*fn)(const struct attachment *a, void *arg),
		    void *arg)
{
	char dir[4096], path[4400];
	struct dirent *d;
	DIR *dp;
	int ret = 0;

	snprintf(dir, sizeof(dir), "%s/attach", runtime_dir());
	if (access(dir, F_OK) == 0 && runtime_dir_check(dir, true) < 0)
		return -EPERM;
	dp = opendir(dir);
	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	while (!ret && (d = readdir(dp))) {
		struct attachment a;
		size_t n = strlen(d->d_name);

		if (n > 5 && !strcmp(d->d_name + n - 5, ".sock")) {
			sweep_unborn(dir, d->d_name);
			continue;
		}
		if (n < 7 || strcmp(d->d_name + n - 6, ".state"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (attachment_read(path, &a) == 0)
			ret = fn(&a, arg);
	}
	closedir(dp);
	return ret;
}

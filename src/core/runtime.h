/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_RUNTIME_H
#define LLOOP_RUNTIME_H
/*
 * Attachments are kept as small files under the runtime directory, one
 * per attach daemon: RUNDIR/attach/PID.state (what `lloop list` shows),
 * PID.img (the FUSE mount point, in the daemon's own mount namespace),
 * PID.sock (its control socket) and PID.log; and RUNDIR/locks/HASH.lock,
 * held by the daemon serving the image whose path hashes to HASH.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define RUNTIME_DIR_DEFAULT "/run/lloop"

struct attachment {
	char device[64];
	char image[4096];
	uint64_t size;
	unsigned sector_size;
	pid_t pid;
	uint64_t start_time;	/* of pid, so that a reused pid is not it */
	bool read_only;
	bool direct_io;		/* the loop device's, as the kernel set it */
	char path[24];		/* "engine" or "passthrough", then "+uring";
				 * "nbd" */
	/* the loop device's file as LOOP_GET_STATUS64 gives it (0: not
	 * known); once the daemon is dead its path reads "/" for any
	 * dead daemon's device, these tell whose it is */
	uint64_t backing_dev, backing_ino;
	/* a dead daemon's record, moved aside to PID.START.state when a
	 * new daemon got its pid (attachment_keep_dead) */
	bool kept;
};

/* RUNDIR: $LLOOP_RUNTIME_DIR or /run/lloop */
const char *runtime_dir(void);
/* RUNDIR/attach/PID.EXT into buf */
int runtime_file(char *buf, size_t len, pid_t pid, const char *ext);
/*
 * DIR may be trusted (see runtime.c): 0, or -EPERM and one line why.  A
 * DIR not there yet passes, its parents checked.  FILES: ours are in it
 * (not only directories of ours), so only its owner may write to it.
 */
int runtime_dir_check(const char *dir, bool files);
/* RUNDIR, RUNDIR/attach and RUNDIR/locks, made and checked */
int runtime_make_dirs(void);
int attachment_write(const struct attachment *a);
int attachment_read(const char *path, struct attachment *a);
/* remove PID's state, mount point, socket and log */
void attachment_remove(pid_t pid);
/* a dead daemon's record: its files, or the one file of a kept one */
void attachment_forget(const struct attachment *a);
/*
 * A new daemon with pid PID, before it writes anything: the record of a
 * dead daemon that had this pid, whose device is still bound, moves to
 * PID.START.state (it still stops a second attach of its image)
 */
void attachment_keep_dead(pid_t pid);
/* the same file: the same path, inode (another hard link or mount of it
 * counts) or block device */
bool same_file(const char *a, const char *b);
/* a daemon's error at exit, kept for 'lloop detach' (PID.failed) */
void attachment_fail_write(pid_t pid, const char *msg);
/* read and remove it; false if there is none */
bool attachment_fail_take(pid_t pid, char *buf, size_t len);
/* remove it unread: one of an earlier daemon that had this pid */
void attachment_fail_clear(pid_t pid);
/* the daemon of a is running: its pid, with the start time recorded */
bool attachment_alive(const struct attachment *a);
/* the loop device of a (dead) attachment is still bound to its file */
bool attachment_device_held(const struct attachment *a);
/* of the loop device LOOP_FD: its file's device and inode, whether it
 * does direct I/O; 0 or -errno */
int loop_backing(int loop_fd, uint64_t *dev, uint64_t *ino, bool *direct_io);
/* start time of pid (clock ticks since boot), 0 when it does not run
 * (a zombie does not) */
uint64_t pid_start_time(pid_t pid);
/* hold an exclusive lock on IMAGE, by device and inode so that a link
 * is the same image, for as long as the returned fd lives (in this
 * process or its forks): -EBUSY when another holds it */
int image_lock(const char *image);
/* call fn for every state file; stops when fn returns non-zero;
 * -EPERM (said) when RUNDIR/attach is not safe */
int attachment_each(int (*fn)(const struct attachment *a, void *arg),
		    void *arg);

#endif

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * LD_PRELOAD shim for the allocation test: counts malloc, calloc,
 * realloc, free, mmap and munmap made on lloop's I/O threads (named
 * lloop-w* and lloop-h*).  The daemon finds lloop_alloc_counts with
 * dlsym and shows the counts in `lloop stats`.
 *
 * The malloc family is passed to glibc's __libc_* entry points and mmap
 * to the raw system call, so the shim never needs dlsym (which itself
 * allocates) and cannot recurse.
 */
/* define mmap and mmap64 both, not the one the header redirects to */
#undef _FILE_OFFSET_BITS
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

enum { C_MALLOC, C_CALLOC, C_REALLOC, C_FREE, C_MMAP, C_MUNMAP, C_NR };

static atomic_ullong counts[C_NR];
static __thread int io_thread __attribute__((tls_model("initial-exec")));

static int on_io_thread(void)
{
	char name[16] = "";

	/* a thread is named once, right at its start; only "yes" sticks */
	if (io_thread)
		return 1;
	if (prctl(PR_GET_NAME, name, 0, 0, 0) == 0 &&
	    (!strncmp(name, "lloop-w", 7) || !strncmp(name, "lloop-h", 7)))
		io_thread = 1;
	return io_thread;
}

static void count(int what)
{
	if (on_io_thread())
		atomic_fetch_add(&counts[what], 1);
}

void lloop_alloc_counts(uint64_t *out)
{
	for (int i = 0; i < C_NR; i++)
		out[i] = atomic_load(&counts[i]);
}

void *malloc(size_t n)
{
	count(C_MALLOC);
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	count(C_CALLOC);
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	count(C_REALLOC);
	return __libc_realloc(p, n);
}

void free(void *p)
{
	if (p)
		count(C_FREE);
	__libc_free(p);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	count(C_MMAP);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	count(C_MMAP);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
	count(C_MUNMAP);
	return syscall(SYS_munmap, addr, len);
}

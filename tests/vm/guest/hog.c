// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * hog MIB [PASSES]: take MIB MiB of anonymous memory, write a checksum
 * pattern into every 4 KiB page, then read every page back and verify
 * it, PASSES times.  Run several at once in a guest with a fraction of
 * that memory and the pages must go to swap and come back intact.
 * Prints one summary line; exits 0 only when every page verified.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	int passes = argc > 2 ? atoi(argv[2]) : 1;
	size_t pages = mib * 256, bad = 0;
	uint64_t seed = (uint64_t)getpid() << 32;
	uint64_t *m = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED) {
		perror("hog: mmap");
		return 2;
	}
	for (int pass = 0; pass < passes; pass++) {
		uint64_t s = seed + pass;

		for (size_t p = 0; p < pages; p++) {
			uint64_t *w = m + p * (PAGE / 8);

			/* every word, so that a page of zeroes or another
			 * page's data is caught */
			for (size_t i = 0; i < PAGE / 8; i++)
				w[i] = mix(s ^ (p << 9) ^ i);
		}
		for (size_t p = 0; p < pages; p++) {
			uint64_t *w = m + p * (PAGE / 8);

			for (size_t i = 0; i < PAGE / 8; i++)
				if (w[i] != mix(s ^ (p << 9) ^ i)) {
					if (bad++ < 5)
						fprintf(stderr,
							"hog %d: page %zu word "
							"%zu differs\n",
							getpid(), p, i);
					break;
				}
		}
	}
	printf("hog %d: %zu MiB, %d pass(es), %zu pages verified, %zu bad\n",
	       getpid(), mib, passes, pages * passes - bad, bad);
	return bad ? 1 : 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the NBD handshake, driven from the client side.
 *
 * Input: one byte that picks the engine's schedule (0: in order, whole
 * transfers), then the client's byte stream from its flags on: options of
 * every kind, and whatever follows a GO or EXPORT_NAME as transmission.
 */
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "nbd_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	nbd_fz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	fz_schedule(data[0]);
	nbd_fz_run(NULL, 0, data + 1, size - 1);
	return 0;
}

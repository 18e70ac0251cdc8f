/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_KVERSION_H
#define LLOOP_KVERSION_H

#include <stdbool.h>

/* the running kernel is Linux major.minor or later (false if unknown) */
bool kernel_at_least(unsigned major, unsigned minor);

#endif

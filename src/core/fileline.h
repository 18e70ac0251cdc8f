/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_CORE_FILELINE_H
#define LLOOP_CORE_FILELINE_H
/* The first line of a small file (a sysfs attribute, a state note). */
#include <stdbool.h>
#include <stddef.h>

/* into buf, without its newline; false if the file cannot be read */
bool read_first_line(const char *path, char *buf, size_t len);

#endif

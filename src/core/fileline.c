// SPDX-License-Identifier: GPL-2.0-or-later
/* The first line of a small file: sysfs attributes, runtime notes. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/fileline.h"

bool read_first_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return n >= 0;
}

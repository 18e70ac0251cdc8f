// SPDX-License-Identifier: GPL-2.0-or-later
/* lloop list: the devices lloop attach made */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/runtime.h"

void list_usage(void)
{
	printf("Usage: lloop list [--json]\n"
	       "\n"
	       "Show each attachment: device, image, size, sector size, daemon\n"
	       "pid, read-only, and the I/O path. A daemon that died shows as\n"
	       "such until 'lloop detach' cleans it up.\n");
}

struct listing {
	bool json;
	int n;
};

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int show(const struct attachment *a, void *arg)
{
	struct listing *l = arg;
	bool alive = attachment_alive(a);

	if (l->json) {
		printf("%s{\"device\":", l->n ? "," : "");
		json_str(a->device);
		printf(",\"image\":");
		json_str(a->image);
		printf(",\"size\":%llu,\"sector_size\":%u,\"pid\":%d,"
		       "\"read_only\":%s,\"direct_io\":%s,\"path\":\"%s\","
		       "\"alive\":%s}",
		       (unsigned long long)a->size, a->sector_size, a->pid,
		       a->read_only ? "true" : "false",
		       a->direct_io ? "true" : "false", a->path,
		       alive ? "true" : "false");
	} else {
		if (!l->n)
			printf("%-12s %-14s %6s %7s %-3s %-17s %s\n", "DEVICE",
			       "SIZE", "SECTOR", "PID", "RO", "PATH", "IMAGE");
		printf("%-12s %-14llu %6u %7d %-3s %-17s %s%s\n", a->device,
		       (unsigned long long)a->size, a->sector_size, a->pid,
		       a->read_only ? "yes" : "no", a->path, a->image,
		       alive ? "" : "  (daemon died: lloop detach)");
	}
	l->n++;
	return 0;
}

int list_main(int argc, char **argv)
{
	struct listing l = { 0 };
	int ret;

	if (argc == 2 && !strcmp(argv[1], "--json")) {
		l.json = true;
	} else if (argc == 2 &&
		   (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		list_usage();
		return 0;
	} else if (argc != 1) {
		log_error("list: unexpected argument '%s' (see 'lloop list "
			  "--help')",
			  argv[argc > 2 && !strcmp(argv[1], "--json") ? 2 : 1]);
		return 2;
	}
	if (l.json)
		printf("[");
	ret = attachment_each(show, &l);
	if (ret < 0) {
		if (l.json)
			printf("]\n");	/* valid, if empty */
		if (ret != -EPERM)	/* that one is said */
			log_error("list: cannot read %s/attach: %s",
				  runtime_dir(), strerror(-ret));
		return 1;
	}
	if (l.json)
		printf("]\n");
	return 0;
}

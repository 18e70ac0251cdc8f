/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_CLI_H
#define LLOOP_CLI_H

struct subcommand {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv);
	void (*usage)(void);
};

int serve_main(int argc, char **argv);
void serve_usage(void);
int stats_main(int argc, char **argv);
int attach_main(int argc, char **argv);
void attach_usage(void);
int detach_main(int argc, char **argv);
void detach_usage(void);
int list_main(int argc, char **argv);
void list_usage(void);
void stats_usage(void);
int create_main(int argc, char **argv);
void create_usage(void);

#endif

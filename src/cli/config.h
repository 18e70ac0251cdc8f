/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_CONFIG_H
#define LLOOP_CONFIG_H
/*
 * --config FILE for lloop serve and lloop attach: "key = value" lines
 * that mirror the long options.  The file's lines become options in
 * place of "--config FILE", so the command's own getopt loop checks them
 * as it checks the command line, and what comes after --config on the
 * command line wins over the file.
 */
#include <getopt.h>

/*
 * Replace every "--config FILE" (or --config=FILE) in *argv by the
 * options the file gives; the file's images go last.  *argc and *argv
 * then name a new vector that lives as long as the process (option
 * values point into it).  cmd is "serve" (keys image and export) or
 * "attach" (key image, once).  Returns 0, or -EINVAL after one line
 * "FILE:LINE: why".
 */
int config_expand(int *argc, char ***argv, const char *cmd,
		  const struct option *opts);

/* "FILE:LINE: " if s points into an option read from a file, else "" */
const char *config_where(const char *s);

#endif

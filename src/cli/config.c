// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Config files: "key = value" lines, one long option each.
 *
 *   # /etc/lloop/swap0.conf
 *   image = /lustre/swap/node17.img
 *   queue-depth = 64
 *   read-only = no
 *
 * A file is turned into "--key=value" words spliced into argv where
 * --config stood, and the command's getopt loop takes them like any
 * other: one parser, one set of checks, and the usual rule that a later
 * option wins.  The words are remembered with their file and line, so a
 * bad value says where it was written (config_where).
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/config.h"
#include "core/log.h"

#define CONFIG_MAX_BYTES (1 << 20)

/* a word made from a file, and where */
struct origin {
	const char *word;
	const char *file;
	unsigned line;
};

struct words {
	char **v;
	size_t n, cap;
};

/* kept for the life of the process: option values point into them */
static struct origin *origins;
static size_t nr_origins, cap_origins;
/*
 * Not static: a static that is only written may be optimised away, and
 * then LeakSanitizer finds the words unreachable at exit.
 */
struct words config_expanded, config_positional;
char *config_file_name;
static unsigned images_seen;

static int push(struct words *w, char *s)
{
	if (w->n + 1 >= w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		char **v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = s;
	w->v[w->n] = NULL;
	return 0;
}

/* a new word "PREFIX" "VALUE", recorded as coming from file:line */
static char *word(const char *prefix, const char *value, const char *file,
		  unsigned line)
{
	char *s;

	if (nr_origins == cap_origins) {
		size_t cap = cap_origins ? 2 * cap_origins : 16;
		struct origin *o = realloc(origins, cap * sizeof(*o));

		if (!o)
			return NULL;
		origins = o;
		cap_origins = cap;
	}
	if (asprintf(&s, "%s%s", prefix, value) < 0)
		return NULL;
	origins[nr_origins++] = (struct origin){ s, file, line };
	return s;
}

const char *config_where(const char *s)
{
	static char where[4200];

	if (!s)
		return "";
	for (size_t i = 0; i < nr_origins; i++) {
		const struct origin *o = &origins[i];

		if (s >= o->word && s <= o->word + strlen(o->word)) {
			snprintf(where, sizeof(where), "%s:%u: ", o->file,
				 o->line);
			return where;
		}
	}
	return "";
}

static const struct option *find_option(const struct option *opts,
					const char *name)
{
	for (; opts->name; opts++)
		if (!strcmp(opts->name, name))
			return opts;
	return NULL;
}

/* 1 true, 0 false, -1 neither */
static int parse_bool(const char *s)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (unsigned i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i]))
			return 1;
		if (!strcasecmp(s, no[i]))
			return 0;
	}
	return -1;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

struct parse {
	const char *file;
	unsigned line;
	const char *cmd;
	const struct option *opts;
	struct words *out;	/* options, in file order */
	struct words *pos;	/* images, in file order */
};

static int bad(const struct parse *p, const char *fmt, const char *a,
	       const char *b)
{
	char why[512];

	snprintf(why, sizeof(why), fmt, a, b);
	log_error("%s:%u: %s", p->file, p->line, why);
	return -EINVAL;
}

/* image = PATH (serve, attach); export = NAME=PATH (serve) */
static int positional(const struct parse *p, const char *key,
		      const char *value)
{
	char *w;

	if (!value[0])
		return bad(p, "'%s' needs a value%s", key, "");
	if (!strcmp(key, "export")) {
		const char *eq = strchr(value, '=');

		if (!eq || eq == value || memchr(value, '/', eq - value) ||
		    memchr(value, ':', eq - value) || !eq[1])
			return bad(p, "export = %s: expected NAME=IMAGE%s",
				   value, "");
	}
	if (!strcmp(p->cmd, "attach") && images_seen++)
		return bad(p, "a second '%s': attach takes one image%s", key,
			   "");
	w = word("", value, p->file, p->line);
	return w ? push(p->pos, w) : -ENOMEM;
}

/* a flag: "--name" for true; "--no-name" (or "--name" without "no-")
 * for false where the command has it, else nothing: the default */
static int flag(const struct parse *p, const struct option *o,
		const char *value)
{
	int b = value ? parse_bool(value) : 1;
	char name[128];
	char *w = NULL;

	if (b < 0)
		return bad(p,
			   "%s = %s: expected true or false (yes/no, on/off, "
			   "1/0)",
			   o->name, value);
	if (b) {
		w = word("--", o->name, p->file, p->line);
	} else {
		if (!strncmp(o->name, "no-", 3))
			snprintf(name, sizeof(name), "%s", o->name + 3);
		else
			snprintf(name, sizeof(name), "no-%s", o->name);
		o = find_option(p->opts, name);
		if (!o || o->has_arg != no_argument)
			return 0;
		w = word("--", o->name, p->file, p->line);
	}
	return w ? push(p->out, w) : -ENOMEM;
}

static int config_line(struct parse *p, char *line)
{
	const struct option *o;
	char *key, *value = NULL, *eq, *w;
	char opt[128];
	size_t n;

	line = trim(line);
	if (!line[0] || line[0] == '#')
		return 0;
	eq = strchr(line, '=');
	if (eq) {
		*eq = '\0';
		value = trim(eq + 1);
		n = strlen(value);
		if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
			value[n - 1] = '\0';
			value++;
		}
	}
	key = trim(line);
	if (!key[0])
		return bad(p, "expected 'key = value'%s%s", "", "");
	if (!strcmp(key, "image") ||
	    (!strcmp(key, "export") && !strcmp(p->cmd, "serve"))) {
		if (!value)
			return bad(p, "expected '%s = ...'%s", key, "");
		return positional(p, key, value);
	}
	if (!strcmp(key, "config"))
		return bad(p, "a config file cannot name another%s%s", "", "");
	o = find_option(p->opts, key);
	if (!o || !strcmp(key, "help"))
		return bad(p, "unknown key '%s'%s", key, "");
	if (o->has_arg == no_argument)
		return flag(p, o, value);
	if (!value)
		return bad(p, "expected '%s = VALUE'%s", key, "");
	/* "--key=value": getopt's optarg then points into this word */
	snprintf(opt, sizeof(opt), "--%s=", key);
	w = word(opt, value, p->file, p->line);
	if (!w)
		return -ENOMEM;
	return push(p->out, w);
}

static int config_read(const char *path, const char *cmd,
		       const struct option *opts, struct words *out,
		       struct words *pos)
{
	struct parse p = { .cmd = cmd, .opts = opts, .out = out, .pos = pos };
	char *line = NULL;
	size_t cap = 0, total = 0;
	ssize_t n;
	int ret = 0;
	FILE *f;

	if (!path[0]) {
		log_error("--config: no FILE given");
		return -EINVAL;
	}
	f = fopen(path, "re");
	if (!f) {
		log_error("--config %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	p.file = config_file_name = strdup(path);
	if (!p.file) {
		fclose(f);
		return -ENOMEM;
	}
	while (ret == 0 && (n = getline(&line, &cap, f)) >= 0) {
		p.line++;
		total += n;
		if (total > CONFIG_MAX_BYTES || memchr(line, '\0', n)) {
			ret = bad(&p, "not a config file (binary, or over "
				      "1 MiB)%s%s", "", "");
			break;
		}
		ret = config_line(&p, line);
	}
	if (ret == 0 && ferror(f)) {
		log_error("--config %s: %s", path, strerror(errno));
		ret = -EINVAL;
	}
	free(line);
	fclose(f);
	if (ret == -ENOMEM)
		log_error("--config %s: out of memory", path);
	return ret < 0 ? -EINVAL : 0;
}

/* does argv word a take the next word as its value? */
static bool takes_value(const char *a, const struct option *opts)
{
	const struct option *o;

	if (!strncmp(a, "--", 2)) {
		if (strchr(a, '='))
			return false;
		o = find_option(opts, a + 2);
		return o && o->has_arg == required_argument;
	}
	if (a[0] == '-' && a[1] && !a[2])
		for (o = opts; o->name; o++)
			if (o->val == a[1])
				return o->has_arg == required_argument;
	return false;
}

int config_expand(int *argc, char ***argv, const char *cmd,
		  const struct option *opts)
{
	struct words out = { 0 }, pos = { 0 };
	char **av = *argv;
	bool options = true, any = false;
	int ac = *argc, ret = 0;

	for (int i = 0; i < ac; i++) {
		const char *a = av[i], *file = NULL;

		if (i > 0 && options && !strcmp(a, "--config")) {
			if (i + 1 == ac) {
				log_error("%s: --config needs a FILE", cmd);
				return -EINVAL;
			}
			file = av[++i];
		} else if (i > 0 && options && !strncmp(a, "--config=", 9)) {
			file = a + 9;
		}
		if (file) {
			ret = config_read(file, cmd, opts, &out, &pos);
			if (ret < 0) {
				/* the process ends now: keep what is reachable */
				config_expanded = out;
				config_positional = pos;
				return ret;
			}
			any = true;
			continue;
		}
		if (push(&out, av[i]) < 0)
			return -ENOMEM;
		if (i == 0 || !options)
			continue;
		if (!strcmp(a, "--"))
			options = false;
		else if (takes_value(a, opts) && i + 1 < ac &&
			 push(&out, av[++i]) < 0)
			return -ENOMEM;
	}
	if (!any) {
		free(out.v);
		return 0;
	}
	for (size_t i = 0; i < pos.n; i++)
		if (push(&out, pos.v[i]) < 0)
			return -ENOMEM;
	free(pos.v);
	config_expanded = out;
	*argc = out.n;
	*argv = out.v;
	return 0;
}

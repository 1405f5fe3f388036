/*
 * The configuration: an ini file read with inih into a fresh struct config,
 * checked as it is read.  The first mistake stops the parse and is reported
 * as "FILE:LINE: message", in words that say what is wrong and what would
 * be right; the caller keeps whatever configuration it had.
 *
 * Debian's libinih gives the handler no line number and tells it nothing
 * when a section starts, so this file feeds ini_parse_stream through a
 * reader of its own: the reader counts lines, and it sees every "[section]"
 * line before inih does, which is where sections are checked and opened
 * (an empty or repeated section never reaches the handler otherwise).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"

#define DEFAULT_NAME		"(built-in default)"

/* Caps that keep a typing slip from asking for something absurd. */
#define MAX_WORKERS		4096
#define MAX_COUNT		1048576
#define MAX_DURATION_MS		(7ULL * 24 * 60 * 60 * 1000)	/* week */
#define MAX_PAYLOAD		(1ULL << 30)
#define MAX_RSS			(1ULL << 50)

#define SUN_PATH_LEN		sizeof(((struct sockaddr_un *)0)->sun_path)

/* What runs when there is no configuration file at all. */
static const char default_text[] =
    "; forkpoold's built-in configuration, used when there is no file.\n"
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = auto\n";

enum key_type {
	KEY_STRING,		/* any text; non-empty when min is 1 */
	KEY_SOCKET,		/* a path that fits in sun_path */
	KEY_MODE,		/* octal permission bits */
	KEY_UINT,		/* a whole number */
	KEY_DURATION,		/* a whole number with ms, s or m */
	KEY_SIZE,		/* a whole number with K, M or G */
	KEY_LOG_LEVEL,
	KEY_WORKERS,		/* a whole number or "auto" */
	KEY_PREFETCH,		/* a whole number or "auto" (PREFETCH_AUTO) */
	KEY_HANDLER,		/* the name of a built-in handler */
	KEY_USER,		/* a user name or uid */
	KEY_GROUP,		/* a group name or gid */
	KEY_USERS,		/* users, separated by blanks or commas */
	KEY_GROUPS,		/* groups, the same */
	KEY_SANDBOX		/* none or seccomp */
};

/* One key a section takes, where its value goes and what it may be. */
struct key {
	const char	*name;
	enum key_type	 type;
	size_t		 offset;	/* in struct config or pool_config */
	size_t		 size;		/* of that field */
	uint64_t	 min;
	uint64_t	 max;
	const char	*allowed;	/* the same bounds, in words */
};

#define FIELD(s, f)	offsetof(struct s, f), sizeof(((struct s *)0)->f)
#define DAEMON(f)	FIELD(config, f)
#define POOL(f)		FIELD(pool_config, f)

static const struct key daemon_keys[] = {
	{ "socket", KEY_SOCKET, DAEMON(socket), 1, 0,
	    "the path of a Unix socket" },
	{ "socket_mode", KEY_MODE, DAEMON(socket_mode), 0, 0777,
	    "an octal mode from 0 to 0777, such as 0660" },
	{ "max_clients", KEY_UINT, DAEMON(max_clients), 1, MAX_COUNT,
	    "1 to 1048576" },
	{ "max_inflight", KEY_UINT, DAEMON(max_inflight), 1, MAX_COUNT,
	    "1 to 1048576" },
	{ "max_payload", KEY_SIZE, DAEMON(max_payload), 1, MAX_PAYLOAD,
	    "1 to 1G (a frame's length is 32 bits and must also hold the "
	    "header and the pool name)" },
	{ "client_timeout", KEY_DURATION, DAEMON(client_timeout_ms), 1,
	    MAX_DURATION_MS, "1ms to 10080m (a week)" },
	{ "shutdown_timeout", KEY_DURATION, DAEMON(shutdown_timeout_ms), 0,
	    MAX_DURATION_MS, "0 (stop at once) to 10080m (a week)" },
	{ "log_level", KEY_LOG_LEVEL, DAEMON(log_level), 0, 0,
	    "error, warning, notice, info or debug" },
	{ "socket_group", KEY_GROUP, DAEMON(socket_gid), 0, 0,
	    "a group name or number" },
	{ "allow_users", KEY_USERS, DAEMON(allow_uids), 0, 0,
	    "user names or numbers, separated by blanks or commas" },
	{ "allow_groups", KEY_GROUPS, DAEMON(allow_gids), 0, 0,
	    "group names or numbers, separated by blanks or commas" },
	{ "max_memory", KEY_SIZE, DAEMON(max_memory), 1024 * 1024,
	    MAX_RSS, "1M to 1048576G" },
	{ "max_client_buffer", KEY_SIZE, DAEMON(max_client_buffer), 1,
	    MAX_RSS, "1 to 1048576G" },
};

static const struct key pool_keys[] = {
	{ "handler", KEY_HANDLER, POOL(handler), 1, 0,
	    "echo, the only built-in handler (load others with "
	    "module = FILE.so)" },
	{ "module", KEY_STRING, POOL(module), 1, 0,
	    "a module's file name, such as deflate.so, or its path" },
	{ "module_args", KEY_STRING, POOL(module_args), 0, 0,
	    "any text, passed to the module" },
	{ "command", KEY_STRING, POOL(command), 1, 0,
	    "a program and its arguments, split like a shell splits words "
	    "but run without one" },
	{ "command_dir", KEY_STRING, POOL(command_dir), 1, 0,
	    "the program's working directory" },
	{ "command_env", KEY_STRING, POOL(command_env), 1, 0,
	    "NAME=value pairs, split like command" },
	{ "env", KEY_STRING, POOL(env), 1, 0,
	    "NAME=value pairs, split like command" },
	{ "start_timeout", KEY_DURATION, POOL(start_timeout_ms), 1,
	    MAX_DURATION_MS, "1ms to 10080m (a week)" },
	{ "workers", KEY_WORKERS, POOL(workers), 1, MAX_WORKERS,
	    "1 to 4096, or auto" },
	{ "queue_limit", KEY_UINT, POOL(queue_limit), 1, MAX_COUNT,
	    "1 to 1048576" },
	{ "task_timeout", KEY_DURATION, POOL(task_timeout_ms), 0,
	    MAX_DURATION_MS, "0 (none) to 10080m (a week)" },
	{ "max_tasks", KEY_UINT, POOL(max_tasks), 0, UINT64_MAX,
	    "0 (never) to 18446744073709551615" },
	{ "max_rss", KEY_SIZE, POOL(max_rss), 0, MAX_RSS,
	    "0 (never) to 1048576G" },
	{ "prefetch", KEY_PREFETCH, POOL(prefetch), 1, 1024,
	    "1 to 1024, or auto" },
	{ "restart_burst", KEY_UINT, POOL(restart_burst), 0, 10000,
	    "0 to 10000" },
	{ "restart_window", KEY_DURATION, POOL(restart_window_ms), 1,
	    MAX_DURATION_MS, "1ms to 10080m (a week)" },
	{ "retries", KEY_UINT, POOL(retries), 0, 100, "0 to 100" },
	{ "slow_task", KEY_DURATION, POOL(slow_task_ms), 0, MAX_DURATION_MS,
	    "0 (off) to 10080m (a week)" },
	{ "quarantine_after", KEY_UINT, POOL(quarantine_after), 0, 1000,
	    "0 (off) to 1000 crashes" },
	{ "quarantine_window", KEY_DURATION, POOL(quarantine_window_ms), 1,
	    MAX_DURATION_MS, "1ms to 10080m (a week)" },
	{ "user", KEY_USER, POOL(uid), 0, 0, "a user name or number" },
	{ "group", KEY_GROUP, POOL(gid), 0, 0, "a group name or number" },
	{ "rlimit_as", KEY_SIZE, POOL(rlimit_as), 1, MAX_RSS,
	    "1 to 1048576G" },
	{ "rlimit_cpu", KEY_DURATION, POOL(rlimit_cpu_ms), 1000,
	    MAX_DURATION_MS, "1s to 10080m (a week), in whole seconds" },
	{ "rlimit_nofile", KEY_UINT, POOL(rlimit_nofile), 4, MAX_COUNT,
	    "4 to 1048576" },
	{ "rlimit_core", KEY_SIZE, POOL(rlimit_core), 0, MAX_RSS,
	    "0 (no core files) to 1048576G" },
	{ "sandbox", KEY_SANDBOX, POOL(sandbox), 0, 0, "none or seccomp" },
};

#define NKEYS(t)	(sizeof(t) / sizeof((t)[0]))
#define MAX_KEYS	NKEYS(pool_keys)

enum section {
	SECTION_NONE,
	SECTION_DAEMON,
	SECTION_POOL
};

/* The state of one parse, shared by the reader and the handler. */
struct parse {
	struct config	*conf;
	const char	*name;		/* the file, for messages */
	FILE		*fp;		/* read lines from this, or */
	const char	*text;		/* from this string */
	char		*buf;		/* getline's buffer */
	size_t		 bufsize;
	int		 line;		/* lines given to inih so far */
	int		 done;		/* end of input reached */
	enum section	 section;
	struct pool_config *pool;	/* the open [pool:NAME] */
	int		 daemon_line;	/* where [daemon] was, or 0 */
	int		 key_line[MAX_KEYS];	/* where each key was */
	char		*err;
	size_t		 errlen;
	int		 failed;
};

static int	config_error(struct parse *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Record the first error as "FILE:LINE: message"; always returns -1. */
static int
config_error(struct parse *p, int line, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (p->failed)
		return (-1);
	p->failed = 1;
	if (p->err == NULL || p->errlen == 0)
		return (-1);
	n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - n, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

/* Store a number in a field of whichever width the structure gives it. */
static void
config_store(void *base, const struct key *k, uint64_t v)
{
	char		*field = (char *)base + k->offset;
	uint32_t	 v32;

	if (k->size == sizeof(uint64_t))
		memcpy(field, &v, sizeof(v));
	else {
		v32 = (uint32_t)v;	/* every narrow key's max fits */
		memcpy(field, &v32, sizeof(v32));
	}
}

/* Replace the string a field points to. */
static void
config_store_string(void *base, const struct key *k, const char *value)
{
	char	**field = (char **)(void *)((char *)base + k->offset);

	free(*field);
	*field = xstrdup(value);
}

/* Online CPUs, for workers = auto; at least 1, at most MAX_WORKERS. */
static unsigned int
config_auto_workers(void)
{
	long	n;

	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return (1);
	if (n > MAX_WORKERS)
		return (MAX_WORKERS);
	return ((unsigned int)n);
}

/* user = NAME: the uid, and the user's group unless group = is set. */
static int
config_set_user(struct parse *p, const struct key *k, void *base,
    const char *value)
{
	struct pool_config	*pc = base;
	uid_t			 uid;
	gid_t			 gid;

	if (ids_user(value, &uid, &gid) == -1)
		return (config_error(p, p->line, "%s: no user is named \"%s\"; "
		    "allowed: %s", k->name, value, k->allowed));
	pc->uid = uid;
	pc->user_gid = gid;
	return (0);
}

/* allow_users, allow_groups: a list of names or numbers. */
static int
config_set_list(struct parse *p, const struct key *k, void *base,
    const char *value)
{
	struct config	*conf = base;
	char		*copy, *word, *save;
	uid_t		 uid;
	gid_t		 gid;
	unsigned int	*n = k->type == KEY_USERS ? &conf->n_allow_uids :
			    &conf->n_allow_gids;
	int		 rc = 0;

	copy = xstrdup(value);
	for (word = strtok_r(copy, " \t,", &save); word != NULL && rc == 0;
	    word = strtok_r(NULL, " \t,", &save)) {
		if (*n == MAX_ALLOW)
			rc = config_error(p, p->line, "%s: more than %d "
			    "entries", k->name, MAX_ALLOW);
		else if (k->type == KEY_USERS && ids_user(word, &uid,
		    &gid) == 0)
			conf->allow_uids[(*n)++] = uid;
		else if (k->type == KEY_GROUPS && ids_group(word, &gid) == 0)
			conf->allow_gids[(*n)++] = gid;
		else
			rc = config_error(p, p->line, "%s: no %s is named "
			    "\"%s\"", k->name, k->type == KEY_USERS ? "user" :
			    "group", word);
	}
	free(copy);
	return (rc);
}

/* Check one value against its key and store it; 0 or -1. */
static int
config_set(struct parse *p, const struct key *k, void *base,
    const char *value)
{
	enum num_result	 res = NUM_OK;
	uint64_t	 v = 0;
	gid_t		 gid;
	int		 level;

	if (*value == '\0' && (k->type != KEY_STRING || k->min > 0))
		return (config_error(p, p->line, "%s: no value; allowed: %s",
		    k->name, k->allowed));

	switch (k->type) {
	case KEY_STRING:
		config_store_string(base, k, value);
		return (0);
	case KEY_SOCKET:
		if (strlen(value) >= SUN_PATH_LEN)
			return (config_error(p, p->line, "%s: \"%s\" is too "
			    "long; a Unix socket path is at most %zu bytes",
			    k->name, value, SUN_PATH_LEN - 1));
		config_store_string(base, k, value);
		return (0);
	case KEY_HANDLER:
		if (strcmp(value, "echo") != 0)
			return (config_error(p, p->line, "%s: \"%s\" is not a "
			    "built-in handler; allowed: %s", k->name, value,
			    k->allowed));
		config_store_string(base, k, value);
		return (0);
	case KEY_USER:
		return (config_set_user(p, k, base, value));
	case KEY_GROUP:
		if (ids_group(value, &gid) == -1)
			return (config_error(p, p->line, "%s: no group is named "
			    "\"%s\"; allowed: %s", k->name, value, k->allowed));
		memcpy((char *)base + k->offset, &(int64_t){ gid },
		    sizeof(int64_t));
		return (0);
	case KEY_USERS:
	case KEY_GROUPS:
		return (config_set_list(p, k, base, value));
	case KEY_SANDBOX:
		if (strcmp(value, "none") != 0 && strcmp(value, "seccomp") != 0)
			return (config_error(p, p->line, "%s: \"%s\" is not a "
			    "sandbox; allowed: %s", k->name, value, k->allowed));
		((struct pool_config *)base)->sandbox = strcmp(value,
		    "seccomp") == 0 ? SANDBOX_SECCOMP : SANDBOX_NONE;
		return (0);
	case KEY_LOG_LEVEL:
		if ((level = log_level_from_name(value)) == -1)
			return (config_error(p, p->line, "%s: \"%s\" is not a "
			    "log level; allowed: %s", k->name, value,
			    k->allowed));
		((struct config *)base)->log_level = level;
		return (0);
	case KEY_MODE:
		if (*value == '\0' || value[strspn(value, "01234567")] != '\0')
			return (config_error(p, p->line, "%s: \"%s\" is not an "
			    "octal mode such as 0660", k->name, value));
		/* Too many digits saturate at ULONG_MAX: out of range too. */
		if ((v = strtoul(value, NULL, 8)) > k->max)
			return (config_error(p, p->line, "%s: \"%s\" is out of "
			    "range; allowed: %s", k->name, value, k->allowed));
		((struct config *)base)->socket_mode = (mode_t)v;
		return (0);
	case KEY_WORKERS:
		if (strcmp(value, "auto") == 0) {
			config_store(base, k, config_auto_workers());
			return (0);
		}
		if ((res = config_number(value, &v)) == NUM_SYNTAX)
			return (config_error(p, p->line, "%s: \"%s\" is not a "
			    "number or \"auto\"", k->name, value));
		break;
	case KEY_PREFETCH:
		if (strcmp(value, "auto") == 0) {
			config_store(base, k, PREFETCH_AUTO);
			return (0);
		}
		if ((res = config_number(value, &v)) == NUM_SYNTAX)
			return (config_error(p, p->line, "%s: \"%s\" is not a "
			    "number or \"auto\"", k->name, value));
		break;
	case KEY_UINT:
		if ((res = config_number(value, &v)) == NUM_SYNTAX)
			return (config_error(p, p->line, "%s: \"%s\" is not a "
			    "whole number; allowed: %s", k->name, value,
			    k->allowed));
		break;
	case KEY_DURATION:
		res = config_duration(value, &v);
		if (res == NUM_SYNTAX)
			return (config_error(p, p->line, "%s: \"%s\" is not a "
			    "duration; use a whole number with ms, s or m "
			    "(a bare number is seconds)", k->name, value));
		break;
	case KEY_SIZE:
		res = config_size(value, &v);
		if (res == NUM_SYNTAX)
			return (config_error(p, p->line, "%s: \"%s\" is not a "
			    "size; use a whole number of bytes, or one with "
			    "K, M or G", k->name, value));
		break;
	}

	if (res == NUM_RANGE || v < k->min || v > k->max)
		return (config_error(p, p->line, "%s: \"%s\" is out of range; "
		    "allowed: %s", k->name, value, k->allowed));
	config_store(base, k, v);
	return (0);
}

/* A new [pool:NAME] with every default but its handler. */
static struct pool_config *
config_pool_new(const char *name, size_t len, int line)
{
	struct pool_config	*pc;

	pc = xcalloc(1, sizeof(*pc));
	memcpy(pc->name, name, len);
	pc->name[len] = '\0';
	pc->line = line;
	pc->workers = config_auto_workers();
	pc->queue_limit = 1024;
	pc->task_timeout_ms = 30 * 1000;
	pc->max_tasks = 0;
	pc->max_rss = 0;
	pc->prefetch = PREFETCH_AUTO;
	pc->restart_burst = 5;
	pc->restart_window_ms = 10 * 1000;
	pc->retries = 0;
	pc->start_timeout_ms = 0;	/* by kind: config_end_section */
	pc->quarantine_after = 2;
	pc->quarantine_window_ms = 10 * 60 * 1000;
	pc->uid = -1;
	pc->gid = -1;
	pc->user_gid = -1;
	pc->rlimit_as = RLIMIT_UNSET;
	pc->rlimit_cpu_ms = RLIMIT_UNSET;
	pc->rlimit_nofile = RLIMIT_UNSET;
	pc->rlimit_core = RLIMIT_UNSET;
	return (pc);
}

/*
 * When name is one of handler, module, command and the pool already has
 * another of them: "module = x.so", the one it has.  NULL otherwise.
 */
static const char *
config_pool_kind(const struct pool_config *pc, const char *name)
{
	static char	 buf[256];
	const char	*kinds[] = { "handler", "module", "command" };
	const char	*vals[] = { pc->handler, pc->module, pc->command };
	size_t		 i;
	int		 asked = 0;

	for (i = 0; i < 3; i++)
		asked |= strcmp(name, kinds[i]) == 0;
	if (!asked)
		return (NULL);
	for (i = 0; i < 3; i++)
		if (vals[i] != NULL && strcmp(name, kinds[i]) != 0) {
			snprintf(buf, sizeof(buf), "%s = %s", kinds[i],
			    vals[i]);
			return (buf);
		}
	return (NULL);
}

/* The key a misspelt name most likely meant (two edits at most), or NULL. */
static const char *
config_nearest_key(const struct key *keys, size_t nkeys, const char *name)
{
	const char	*best = NULL;
	unsigned int	 d, bestd = 3;
	size_t		 i;

	for (i = 0; i < nkeys; i++)
		if ((d = config_distance(name, keys[i].name)) < bestd) {
			bestd = d;
			best = keys[i].name;
		}
	return (best);
}

/* The line where a pool key was set in the open section, or 0. */
static int
config_pool_key_line(struct parse *p, const char *name)
{
	size_t	i;

	for (i = 0; i < NKEYS(pool_keys); i++)
		if (strcmp(pool_keys[i].name, name) == 0)
			return (p->key_line[i]);
	return (0);
}

/* Split a NAME=value list (command_env, env) into words. */
static int
config_env_words(struct parse *p, const char *key, const char *value,
    char ***words)
{
	char	why[128], *eq;
	size_t	i;

	if (value == NULL)
		return (0);
	if (config_split_words(value, words, why, sizeof(why)) == -1)
		return (config_error(p, config_pool_key_line(p, key),
		    "%s: %s", key, why));
	for (i = 0; (*words)[i] != NULL; i++) {
		eq = strchr((*words)[i], '=');
		if (eq == NULL || eq == (*words)[i])
			return (config_error(p, config_pool_key_line(p, key),
			    "%s: \"%s\" is not NAME=value", key,
			    (*words)[i]));
	}
	return (0);
}

/* The open section is over: check what can only be checked whole. */
static int
config_end_section(struct parse *p)
{
	struct pool_config	*pc = p->pool;
	char			 why[128];
	int			 line;

	if (p->section != SECTION_POOL)
		return (0);
	if (pc->handler == NULL && pc->module == NULL && pc->command == NULL)
		return (config_error(p, pc->line, "[pool:%s] has no handler, "
		    "module or command; set handler = echo, module = FILE.so "
		    "or command = PROGRAM", pc->name));
	if (pc->command != NULL && config_split_words(pc->command,
	    &pc->argv, why, sizeof(why)) == -1)
		return (config_error(p, config_pool_key_line(p, "command"),
		    "command: %s", why));
	if (config_env_words(p, "command_env", pc->command_env,
	    &pc->envv) == -1 ||
	    config_env_words(p, "env", pc->env, &pc->env_words) == -1)
		return (-1);
	/* A program may load for a while; a module is forked ready. */
	if (pc->start_timeout_ms == 0)
		pc->start_timeout_ms = (pc->command != NULL ? 60 : 10) * 1000;
	if (pc->gid == -1 && pc->uid != -1)
		pc->gid = pc->user_gid;
	if (pc->rlimit_cpu_ms != RLIMIT_UNSET && pc->rlimit_cpu_ms % 1000 != 0)
		return (config_error(p, config_pool_key_line(p, "rlimit_cpu"),
		    "rlimit_cpu: the kernel counts whole seconds; use a "
		    "multiple of 1s, such as 2s or 1m"));
	if (pc->sandbox == SANDBOX_SECCOMP && pc->command != NULL)
		return (config_error(p, config_pool_key_line(p, "sandbox"),
		    "sandbox: seccomp applies to module workers; a program "
		    "worker (command) must confine itself"));
	if (pc->command == NULL && (pc->command_dir != NULL ||
	    pc->command_env != NULL))
		return (config_error(p, config_pool_key_line(p,
		    pc->command_dir != NULL ? "command_dir" : "command_env"),
		    "%s: [pool:%s] has no command", pc->command_dir != NULL ?
		    "command_dir" : "command_env", pc->name));
	if (pc->module == NULL && pc->module_args != NULL) {
		line = config_pool_key_line(p, "module_args");
		return (config_error(p, line, "module_args: [pool:%s] has no "
		    "module to pass them to", pc->name));
	}
	return (0);
}

/* A "[...]" line, name being what is inside the brackets. */
static int
config_start_section(struct parse *p, const char *name, size_t len)
{
	struct pool_config	*pc;
	const char		*pool;
	size_t			 plen;

	if (config_end_section(p) == -1)
		return (-1);
	memset(p->key_line, 0, sizeof(p->key_line));
	p->pool = NULL;

	if (len == 6 && strncmp(name, "daemon", 6) == 0) {
		if (p->daemon_line != 0)
			return (config_error(p, p->line, "[daemon] appears "
			    "twice (first at line %d)", p->daemon_line));
		p->daemon_line = p->line;
		p->section = SECTION_DAEMON;
		return (0);
	}
	if (len < 5 || strncmp(name, "pool:", 5) != 0)
		return (config_error(p, p->line, "unknown section [%.*s]; "
		    "allowed: [daemon] and [pool:NAME]", (int)len, name));

	pool = name + 5;
	plen = len - 5;
	if (!fp_pool_name_valid(pool, plen))
		return (config_error(p, p->line, "[%.*s]: \"%.*s\" is not a "
		    "pool name; allowed: 1 to %d characters of A-Z a-z 0-9 "
		    "_ . -", (int)len, name, (int)plen, pool,
		    FP_POOL_NAME_MAX));
	TAILQ_FOREACH(pc, &p->conf->pools, entry) {
		if (strlen(pc->name) == plen &&
		    memcmp(pc->name, pool, plen) == 0)
			return (config_error(p, p->line, "[pool:%s] appears "
			    "twice (first at line %d)", pc->name, pc->line));
	}
	pc = config_pool_new(pool, plen, p->line);
	TAILQ_INSERT_TAIL(&p->conf->pools, pc, entry);
	p->pool = pc;
	p->section = SECTION_POOL;
	return (0);
}

/* End of input: the last section, and the file as a whole. */
static int
config_finish(struct parse *p)
{
	if (config_end_section(p) == -1)
		return (-1);
	if (TAILQ_EMPTY(&p->conf->pools))
		return (config_error(p, p->line > 0 ? p->line : 1, "no pool "
		    "is defined; add a [pool:NAME] section with handler = "
		    "echo or module = FILE.so"));
	return (0);
}

/*
 * Look at a line before inih does (leading blanks already gone), so that
 * each kind of mistake gets its own message and sections are opened here.
 * inih's own rules are followed: ';' and '#' start a comment line, a ';'
 * after a blank starts an inline one, and "key: value" is allowed.
 */
static int
config_check_line(struct parse *p, const char *s)
{
	const char	*end, *close;
	size_t		 len;
	int		 blank = 0;

	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (len == 0 || *s == ';' || *s == '#')
		return (0);

	if (*s == '[') {
		if ((close = memchr(s, ']', len)) == NULL)
			return (config_error(p, p->line, "\"%.*s\" has no "
			    "closing \"]\"", (int)len, s));
		for (end = close + 1; isspace((unsigned char)*end); end++)
			;
		if (end < s + len && *end != ';' && *end != '#')
			return (config_error(p, p->line, "unexpected \"%.*s\" "
			    "after [%.*s]", (int)(s + len - end), end,
			    (int)(close - s - 1), s + 1));
		/* Blanks inside the brackets are forgiven. */
		for (s++; isspace((unsigned char)*s); s++)
			;
		while (close > s && isspace((unsigned char)close[-1]))
			close--;
		return (config_start_section(p, s, close - s));
	}

	for (end = s; end < s + len; end++) {
		if (*end == '=' || *end == ':')
			return (0);
		if (blank && *end == ';')
			break;
		blank = isspace((unsigned char)*end);
	}
	return (config_error(p, p->line, "\"%.*s\" is not \"key = value\", "
	    "a [section] or a comment", (int)(end - s), s));
}

/* The next raw line of input with its newline, or NULL at the end. */
static const char *
config_next_line(struct parse *p, size_t *len)
{
	const char	*line, *nl;
	ssize_t		 n;

	if (p->fp != NULL) {
		if ((n = getline(&p->buf, &p->bufsize, p->fp)) == -1) {
			if (ferror(p->fp))
				config_error(p, p->line + 1, "cannot read: %s",
				    strerror(errno));
			return (NULL);
		}
		*len = n;
		return (p->buf);
	}
	if (*p->text == '\0')
		return (NULL);
	line = p->text;
	if ((nl = strchr(line, '\n')) != NULL)
		*len = nl + 1 - line;
	else
		*len = strlen(line);
	p->text += *len;
	return (line);
}

/*
 * inih's reader: one line per call, counted.  Leading blanks are removed
 * here, which also turns off inih's multi-line values: an indented
 * "workers = 2" is an ordinary key, not more text for the key above it.
 */
static char *
config_read_line(char *str, int num, void *arg)
{
	struct parse	*p = arg;
	const char	*line;
	size_t		 len;

	if (p->failed || p->done)
		return (NULL);
	if ((line = config_next_line(p, &len)) == NULL) {
		p->done = 1;
		if (!p->failed)
			config_finish(p);
		return (NULL);
	}
	p->line++;

	if (memchr(line, '\0', len) != NULL) {
		config_error(p, p->line, "the line contains a NUL byte");
		return (NULL);
	}
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (p->line == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;	/* a UTF-8 byte order mark */
		len -= 3;
	}
	while (len > 0 && isspace((unsigned char)*line)) {
		line++;
		len--;
	}
	/* Room for the newline and the NUL, which inih expects. */
	if (num < 2 || len > (size_t)num - 2) {
		config_error(p, p->line, "the line is longer than %d "
		    "characters", num - 2);
		return (NULL);
	}
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	if (config_check_line(p, str) == -1)
		return (NULL);
	return (str);
}

/* inih's handler: one "key = value" in the section the reader opened. */
static int
config_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct parse		*p = arg;
	const struct key	*keys, *k;
	size_t			 nkeys, i;
	void			*base;
	char			 where[FP_POOL_NAME_MAX + 8];
	const char		*other, *near;

	(void)section;		/* truncated by inih; the reader knows */
	if (p->failed)
		return (0);
	if (p->section == SECTION_NONE) {
		config_error(p, p->line, "\"%s\" is outside any section; put "
		    "it under [daemon] or [pool:NAME]", name);
		return (0);
	}
	if (*name == '\0') {
		config_error(p, p->line, "no key name before \"=\"");
		return (0);
	}

	if (p->section == SECTION_DAEMON) {
		keys = daemon_keys;
		nkeys = NKEYS(daemon_keys);
		base = p->conf;
		snprintf(where, sizeof(where), "[daemon]");
	} else {
		keys = pool_keys;
		nkeys = NKEYS(pool_keys);
		base = p->pool;
		snprintf(where, sizeof(where), "[pool:%s]", p->pool->name);
	}
	for (i = 0; i < nkeys; i++)
		if (strcmp(keys[i].name, name) == 0)
			break;
	if (i == nkeys) {
		if ((near = config_nearest_key(keys, nkeys, name)) != NULL)
			config_error(p, p->line, "unknown key \"%s\" in %s; "
			    "did you mean \"%s\"? (forkpool.ini(5) lists the "
			    "keys)", name, where, near);
		else
			config_error(p, p->line, "unknown key \"%s\" in %s; "
			    "forkpool.ini(5) lists the keys it takes", name,
			    where);
		return (0);
	}
	k = &keys[i];
	if (p->key_line[i] != 0) {
		config_error(p, p->line, "%s: set twice in %s (first at line "
		    "%d)", k->name, where, p->key_line[i]);
		return (0);
	}
	p->key_line[i] = p->line;

	/* Said at the second of the keys, where the choice was made. */
	if (p->section == SECTION_POOL && (other = config_pool_kind(p->pool,
	    k->name)) != NULL) {
		config_error(p, p->line, "%s: %s already has %s; a pool has "
		    "one of handler, module or command", k->name, where,
		    other);
		return (0);
	}
	return (config_set(p, k, base, value) == 0);
}

/*
 * max_memory's default: a quarter of the machine's memory, the bound on
 * what the master holds for all its clients together.
 */
static uint64_t
config_default_memory(void)
{
	long	pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || size <= 0)
		return (1024ULL * 1024 * 1024);
	return ((uint64_t)pages * (uint64_t)size / 4);
}

/* A configuration holding every daemon default and no pools. */
static struct config *
config_new(const char *name)
{
	struct config	*conf;

	conf = xcalloc(1, sizeof(*conf));
	conf->path = xstrdup(name);
	conf->socket = NULL;		/* decided at run time */
	conf->socket_mode = 0660;
	conf->max_clients = 1024;
	conf->max_inflight = 1024;
	conf->max_payload = FP_DEFAULT_MAX_PAYLOAD;
	conf->client_timeout_ms = 30 * 1000;
	conf->shutdown_timeout_ms = 30 * 1000;
	conf->log_level = LOG_INFO;
	conf->socket_gid = -1;
	conf->max_client_buffer = 64ULL * 1024 * 1024;
	conf->max_memory = config_default_memory();
	TAILQ_INIT(&conf->pools);
	return (conf);
}

/* Run inih over p's input into a fresh configuration; NULL on error. */
static struct config *
config_parse(struct parse *p)
{
	int	rc;

	if (p->err != NULL && p->errlen > 0)
		p->err[0] = '\0';
	p->conf = config_new(p->name);
	rc = ini_parse_stream(config_read_line, p, config_handler, p);
	/* The reader and handler catch everything inih would; in case not: */
	if (!p->failed && rc > 0)
		config_error(p, rc, "syntax error");
	else if (!p->failed && rc < 0)
		config_error(p, p->line, "cannot parse (inih error %d)", rc);
	free(p->buf);
	p->buf = NULL;
	if (p->failed) {
		config_free(p->conf);
		return (NULL);
	}
	return (p->conf);
}

/* Read and check the file at path. */
struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct parse	 p;
	struct config	*conf;

	memset(&p, 0, sizeof(p));
	p.name = path;
	p.err = err;
	p.errlen = errlen;
	if ((p.fp = fopen(path, "r")) == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: cannot open: %s", path,
			    strerror(errno));
		return (NULL);
	}
	conf = config_parse(&p);
	fclose(p.fp);
	return (conf);
}

/* Parse text as if it were a file called name. */
struct config *
config_load_string(const char *text, const char *name, char *err,
    size_t errlen)
{
	struct parse	p;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.text = text;
	p.err = err;
	p.errlen = errlen;
	return (config_parse(&p));
}

/* The embedded default: one echo pool, a worker per online CPU. */
struct config *
config_default(char *err, size_t errlen)
{
	return (config_load_string(default_text, DEFAULT_NAME, err, errlen));
}

void
config_free(struct config *conf)
{
	struct pool_config	*pc;

	if (conf == NULL)
		return;
	while ((pc = TAILQ_FIRST(&conf->pools)) != NULL) {
		TAILQ_REMOVE(&conf->pools, pc, entry);
		config_pool_free(pc);
	}
	free(conf->path);
	free(conf->socket);
	free(conf);
}

struct pool_config *
config_find_pool(struct config *conf, const char *name)
{
	struct pool_config	*pc;

	TAILQ_FOREACH(pc, &conf->pools, entry) {
		if (strcmp(pc->name, name) == 0)
			return (pc);
	}
	return (NULL);
}

/* The configuration conf came from, read again (for a reload). */
struct config *
config_reload(const struct config *conf, char *err, size_t errlen)
{
	if (strcmp(conf->path, DEFAULT_NAME) == 0)
		return (config_default(err, errlen));
	return (config_load(conf->path, err, errlen));
}

/*
 * The keys of the configuration, one row each: the whole truth about a key
 * (tmux's options-table.c).  A row gives its name, type, range in numbers
 * and in words, default, and how a reload applies it.  Defaults, pool
 * equality and a reload's in-place copy are derived here from the rows, so
 * a new key is its struct field, its row and its test value
 * (tests/key_values.c), with its line in forkpool.ini(5).
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "config_key.h"
#include "log.h"

/* Caps that keep a typing slip from asking for something absurd. */
#define MAX_COUNT		1048576
#define MAX_DURATION_MS		(7ULL * 24 * 60 * 60 * 1000)	/* week */
#define MAX_PAYLOAD		(1ULL << 30)
#define MAX_RSS			(1ULL << 50)

static uint64_t
config_default_workers(const void *base)
{
	(void)base;
	return (config_auto_workers());
}

/*
 * max_memory's default: a quarter of the machine's memory, the bound on
 * what the master holds for all its clients together.
 */
static uint64_t
config_default_memory(const void *base)
{
	long	pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	(void)base;
	if (pages <= 0 || size <= 0)
		return (1024ULL * 1024 * 1024);
	return ((uint64_t)pages * (uint64_t)size / 4);
}

/* A program may load for a while; a module is forked ready. */
static uint64_t
config_default_start(const void *base)
{
	const struct pool_config	*pc = base;

	return ((pc->command != NULL ? 60 : 10) * 1000);
}

/* group: the user's own group when user = is set, else the master's. */
static uint64_t
config_default_group(const void *base)
{
	const struct pool_config	*pc = base;

	return ((uint64_t)(pc->uid != -1 ? pc->user_gid : -1));
}

#define FIELD(s, f)	offsetof(struct s, f), sizeof(((struct s *)0)->f)
#define DAEMON(f)	FIELD(config, f)
#define POOL(f)		FIELD(pool_config, f)


static const struct key daemon_keys[] = {
	{ "socket", KEY_SOCKET, DAEMON(socket), 1, 0,
	    "the path of a Unix socket", RELOAD_RESTART, 0, NULL },
	{ "socket_mode", KEY_MODE, DAEMON(socket_mode), 0, 0777,
	    "an octal mode from 0 to 0777, such as 0660", RELOAD_RESTART, 0660,
	    NULL },
	{ "max_clients", KEY_UINT, DAEMON(max_clients), 1, MAX_COUNT,
	    "1 to 1048576", RELOAD_LIVE, 1024, NULL },
	{ "max_inflight", KEY_UINT, DAEMON(max_inflight), 1, MAX_COUNT,
	    "1 to 1048576", RELOAD_LIVE, 1024, NULL },
	/* Workers' readers are sized at fork (FORKPOOL_MAX_PAYLOAD). */
	{ "max_payload", KEY_SIZE, DAEMON(max_payload), 1, MAX_PAYLOAD,
	    "1 to 1G (a frame's length is 32 bits and must also hold the "
	    "header and the pool name)", RELOAD_WORKERS,
	    FP_DEFAULT_MAX_PAYLOAD, NULL },
	{ "client_timeout", KEY_DURATION, DAEMON(client_timeout_ms), 1,
	    MAX_DURATION_MS, "1ms to 10080m (a week)", RELOAD_LIVE, 30 * 1000,
	    NULL },
	{ "shutdown_timeout", KEY_DURATION, DAEMON(shutdown_timeout_ms), 0,
	    MAX_DURATION_MS, "0 (stop at once) to 10080m (a week)", RELOAD_LIVE,
	    30 * 1000, NULL },
	{ "log_level", KEY_LOG_LEVEL, DAEMON(log_level), 0, 0,
	    "error, warning, notice, info or debug", RELOAD_LIVE, LOG_INFO,
	    NULL },
	{ "socket_group", KEY_GROUP, DAEMON(socket_gid), 0, 0,
	    "a group name or number", RELOAD_RESTART, KEY_UNSET, NULL },
	{ "allow_users", KEY_USERS, DAEMON(allow_uids), 0, 0,
	    "user names or numbers, separated by blanks or commas", RELOAD_LIVE,
	    0, NULL },
	{ "allow_groups", KEY_GROUPS, DAEMON(allow_gids), 0, 0,
	    "group names or numbers, separated by blanks or commas",
	    RELOAD_LIVE, 0, NULL },
	{ "max_memory", KEY_SIZE, DAEMON(max_memory), 1024 * 1024,
	    MAX_RSS, "1M to 1048576G", RELOAD_LIVE, 0, config_default_memory },
	{ "max_client_buffer", KEY_SIZE, DAEMON(max_client_buffer), 1,
	    MAX_RSS, "1 to 1048576G", RELOAD_LIVE, 64ULL * 1024 * 1024, NULL },
};

static const struct key pool_keys[] = {
	{ "handler", KEY_HANDLER, POOL(handler), 1, 0,
	    "echo, the only built-in handler (load others with "
	    "module = FILE.so)", RELOAD_WORKERS, 0, NULL },
	{ "module", KEY_STRING, POOL(module), 1, 0,
	    "a module's file name, such as deflate.so, or its path",
	    RELOAD_WORKERS, 0, NULL },
	{ "module_args", KEY_STRING, POOL(module_args), 0, 0,
	    "any text, passed to the module", RELOAD_WORKERS, 0, NULL },
	{ "command", KEY_STRING, POOL(command), 1, 0,
	    "a program and its arguments, split like a shell splits words "
	    "but run without one", RELOAD_WORKERS, 0, NULL },
	{ "command_dir", KEY_STRING, POOL(command_dir), 1, 0,
	    "the program's working directory", RELOAD_WORKERS, 0, NULL },
	{ "command_env", KEY_STRING, POOL(command_env), 1, 0,
	    "NAME=value pairs, split like command", RELOAD_WORKERS, 0, NULL },
	{ "env", KEY_STRING, POOL(env), 1, 0,
	    "NAME=value pairs, split like command", RELOAD_WORKERS, 0, NULL },
	{ "start_timeout", KEY_DURATION, POOL(start_timeout_ms), 1,
	    MAX_DURATION_MS, "1ms to 10080m (a week)", RELOAD_WORKERS, 0,
	    config_default_start },
	{ "workers", KEY_WORKERS, POOL(workers), 1, MAX_WORKERS,
	    "1 to 4096, or auto", RELOAD_LIVE, 0, config_default_workers },
	{ "queue_limit", KEY_UINT, POOL(queue_limit), 1, MAX_COUNT,
	    "1 to 1048576", RELOAD_LIVE, 1024, NULL },
	{ "task_timeout", KEY_DURATION, POOL(task_timeout_ms), 0,
	    MAX_DURATION_MS, "0 (none) to 10080m (a week)", RELOAD_LIVE,
	    30 * 1000, NULL },
	{ "max_tasks", KEY_UINT, POOL(max_tasks), 0, UINT64_MAX,
	    "0 (never) to 18446744073709551615", RELOAD_LIVE, 0, NULL },
	{ "max_rss", KEY_SIZE, POOL(max_rss), 0, MAX_RSS,
	    "0 (never) to 1048576G", RELOAD_LIVE, 0, NULL },
	{ "prefetch", KEY_PREFETCH, POOL(prefetch), 1, 1024,
	    "1 to 1024, or auto", RELOAD_LIVE, PREFETCH_AUTO, NULL },
	{ "prefetch_min", KEY_UINT, POOL(prefetch_min), 1, 8, "1 to 8",
	    RELOAD_LIVE, 1, NULL },
	{ "restart_burst", KEY_UINT, POOL(restart_burst), 0, 10000,
	    "0 to 10000", RELOAD_LIVE, 5, NULL },
	{ "restart_window", KEY_DURATION, POOL(restart_window_ms), 1,
	    MAX_DURATION_MS, "1ms to 10080m (a week)", RELOAD_LIVE, 10 * 1000,
	    NULL },
	{ "retries", KEY_UINT, POOL(retries), 0, 100, "0 to 100", RELOAD_LIVE,
	    0, NULL },
	{ "slow_task", KEY_DURATION, POOL(slow_task_ms), 0, MAX_DURATION_MS,
	    "0 (off) to 10080m (a week)", RELOAD_LIVE, 0, NULL },
	{ "quarantine_after", KEY_UINT, POOL(quarantine_after), 0, 1000,
	    "0 (off) to 1000 crashes", RELOAD_LIVE, 2, NULL },
	{ "quarantine_window", KEY_DURATION, POOL(quarantine_window_ms), 1,
	    MAX_DURATION_MS, "1ms to 10080m (a week)", RELOAD_LIVE,
	    10 * 60 * 1000, NULL },
	{ "user", KEY_USER, POOL(uid), 0, 0, "a user name or number",
	    RELOAD_WORKERS, KEY_UNSET, NULL },
	{ "group", KEY_GROUP, POOL(gid), 0, 0, "a group name or number",
	    RELOAD_WORKERS, KEY_UNSET, config_default_group },
	{ "rlimit_as", KEY_SIZE, POOL(rlimit_as), 1, MAX_RSS,
	    "1 to 1048576G", RELOAD_WORKERS, RLIMIT_UNSET, NULL },
	{ "rlimit_cpu", KEY_DURATION, POOL(rlimit_cpu_ms), 1000,
	    MAX_DURATION_MS, "1s to 10080m (a week), in whole seconds",
	    RELOAD_WORKERS, RLIMIT_UNSET, NULL },
	{ "rlimit_nofile", KEY_UINT, POOL(rlimit_nofile), 4, MAX_COUNT,
	    "4 to 1048576", RELOAD_WORKERS, RLIMIT_UNSET, NULL },
	{ "rlimit_core", KEY_SIZE, POOL(rlimit_core), 0, MAX_RSS,
	    "0 (no core files) to 1048576G", RELOAD_WORKERS, RLIMIT_UNSET,
	    NULL },
	{ "sandbox", KEY_SANDBOX, POOL(sandbox), 0, 0, "none or seccomp",
	    RELOAD_WORKERS, SANDBOX_NONE, NULL },
};

#define NKEYS(t)	(sizeof(t) / sizeof((t)[0]))

_Static_assert(NKEYS(pool_keys) <= CONFIG_MAX_KEYS &&
    NKEYS(daemon_keys) <= CONFIG_MAX_KEYS, "raise CONFIG_MAX_KEYS");

static const struct key *
config_keys(enum key_section section, size_t *n)
{
	if (section == KEYS_DAEMON) {
		*n = NKEYS(daemon_keys);
		return (daemon_keys);
	}
	*n = NKEYS(pool_keys);
	return (pool_keys);
}

/* The i'th key of a section, or NULL past the last. */
const struct key *
config_key_at(enum key_section section, size_t i)
{
	const struct key	*keys;
	size_t			 n;

	keys = config_keys(section, &n);
	return (i < n ? &keys[i] : NULL);
}

/* The index of the key called name, or -1. */
int
config_key_index(enum key_section section, const char *name)
{
	const struct key	*keys;
	size_t			 n, i;

	keys = config_keys(section, &n);
	for (i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return ((int)i);
	return (-1);
}

/* The key a misspelt name most likely meant (two edits at most), or NULL. */
const char *
config_key_nearest(enum key_section section, const char *name)
{
	const struct key	*keys;
	const char		*best = NULL;
	unsigned int		 d, bestd = 3;
	size_t			 n, i;

	keys = config_keys(section, &n);
	for (i = 0; i < n; i++)
		if ((d = config_distance(name, keys[i].name)) < bestd) {
			bestd = d;
			best = keys[i].name;
		}
	return (best);
}

const char *
config_key_name(const struct key *k)
{
	return (k->name);
}

enum key_reload
config_key_reload(const struct key *k)
{
	return (k->reload);
}

/* Set every key of a section to its default, computed ones included. */
void
config_keys_default(enum key_section section, void *base)
{
	const struct key	*keys;
	size_t			 n, i;

	keys = config_keys(section, &n);
	for (i = 0; i < n; i++) {
		if (config_key_kind(&keys[i]) != KIND_NUMBER)
			continue;	/* NULL and empty, from calloc */
		config_store(base, &keys[i], keys[i].def_fn != NULL ?
		    keys[i].def_fn(base) : keys[i].def);
	}
}

/*
 * A section is complete: the defaults computed from other keys, for each
 * key the section did not set (line[i] == 0).
 */
void
config_keys_computed(enum key_section section, void *base, const int *line)
{
	const struct key	*keys;
	size_t			 n, i;

	keys = config_keys(section, &n);
	for (i = 0; i < n; i++)
		if (keys[i].def_fn != NULL && line[i] == 0)
			config_store(base, &keys[i], keys[i].def_fn(base));
}

/* 1 when a and b are the same pool: in every key, or every WORKERS key. */
static int
config_pool_same(const struct pool_config *a, const struct pool_config *b,
    int only_workers)
{
	size_t	i;

	for (i = 0; i < NKEYS(pool_keys); i++) {
		if (only_workers && pool_keys[i].reload != RELOAD_WORKERS)
			continue;
		if (!config_key_equal(&pool_keys[i], a, b))
			return (0);
	}
	return (strcmp(a->name, b->name) == 0);
}

/*
 * 1 when two sections configure the same pool: every key, not the line
 * they sit on.
 */
int
config_pool_equal(const struct pool_config *a, const struct pool_config *b)
{
	return (config_pool_same(a, b, 0));
}

/*
 * 1 when two sections fork the same workers: equal in every key a reload
 * applies with new workers.  A reload replaces a pool's workers when not.
 */
int
config_pool_same_workers(const struct pool_config *a,
    const struct pool_config *b)
{
	return (config_pool_same(a, b, 1));
}

/* The keys a reload applies in place, from one section to another. */
void
config_pool_copy_live(struct pool_config *to, const struct pool_config *from)
{
	size_t	i;

	for (i = 0; i < NKEYS(pool_keys); i++)
		if (pool_keys[i].reload == RELOAD_LIVE)
			config_key_copy(&pool_keys[i], to, from);
}

void
config_pool_free(struct pool_config *pc)
{
	size_t	i;

	for (i = 0; i < NKEYS(pool_keys); i++)
		if (config_key_kind(&pool_keys[i]) == KIND_STRING)
			free(*config_string_field(pc, &pool_keys[i]));
	config_words_free(pc->argv);
	config_words_free(pc->envv);
	config_words_free(pc->env_words);
	free(pc);
}

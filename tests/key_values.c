/*
 * A test value for every key: not its default, valid on this machine (as
 * root, which the integration tests are), and harmless to a running echo
 * pool, so that a reload can apply each one and STATUS can show it.
 * Adding a key to daemon/config_table.c means adding its line here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "key_values.h"

#define CUPPER		"command = @P/cupper\n"
#define DEFLATE		"module = deflate.so\n"

static const struct key_value key_values[] = {
	{ KEYS_DAEMON, "socket", "/tmp/forkpool-elsewhere.sock", NULL, NULL,
	    0 },
	{ KEYS_DAEMON, "socket_mode", "0600", NULL, NULL, 0 },
	{ KEYS_DAEMON, "max_clients", "100", NULL, NULL, 0 },
	{ KEYS_DAEMON, "max_inflight", "100", NULL, NULL, 0 },
	{ KEYS_DAEMON, "max_payload", "1024K", "1M", NULL, 0 },
	{ KEYS_DAEMON, "client_timeout", "45", "45s", NULL, 0 },
	{ KEYS_DAEMON, "shutdown_timeout", "5000ms", "5s", NULL, 0 },
	{ KEYS_DAEMON, "log_level", "debug", NULL, NULL, 0 },
	{ KEYS_DAEMON, "socket_group", "65534", NULL, NULL, 0 },
	{ KEYS_DAEMON, "allow_users", "@U", NULL, NULL, 0 },
	{ KEYS_DAEMON, "allow_groups", "@G", NULL, NULL, 0 },
	{ KEYS_DAEMON, "max_memory", "512M", NULL, NULL, 0 },
	{ KEYS_DAEMON, "max_client_buffer", "32M", NULL, NULL, 0 },

	{ KEYS_POOL, "handler", "echo", NULL, DEFLATE, 1 },
	{ KEYS_POOL, "module", "deflate.so", NULL, NULL, 1 },
	{ KEYS_POOL, "module_args", "level=1", NULL, DEFLATE, 0 },
	{ KEYS_POOL, "command", "@P/cupper", NULL, NULL, 1 },
	{ KEYS_POOL, "command_dir", "/tmp", NULL, CUPPER, 0 },
	{ KEYS_POOL, "command_env", "KEY_TEST=1", NULL, CUPPER, 0 },
	{ KEYS_POOL, "env", "KEY_TEST=1", NULL, NULL, 0 },
	{ KEYS_POOL, "start_timeout", "20s", NULL, NULL, 0 },
	/* One more than the online CPUs: never auto, the default. */
	{ KEYS_POOL, "workers", "@W", NULL, NULL, 0 },
	{ KEYS_POOL, "queue_limit", "99", NULL, NULL, 0 },
	{ KEYS_POOL, "task_timeout", "90s", "90s", NULL, 0 },
	{ KEYS_POOL, "max_tasks", "1000", NULL, NULL, 0 },
	{ KEYS_POOL, "max_rss", "1G", NULL, NULL, 0 },
	{ KEYS_POOL, "prefetch", "4", NULL, NULL, 0 },
	{ KEYS_POOL, "prefetch_min", "3", NULL, NULL, 0 },
	{ KEYS_POOL, "restart_burst", "7", NULL, NULL, 0 },
	{ KEYS_POOL, "restart_window", "20s", NULL, NULL, 0 },
	{ KEYS_POOL, "retries", "2", NULL, NULL, 0 },
	{ KEYS_POOL, "slow_task", "1500ms", NULL, NULL, 0 },
	{ KEYS_POOL, "quarantine_after", "5", NULL, NULL, 0 },
	{ KEYS_POOL, "quarantine_window", "60s", "1m", NULL, 0 },
	{ KEYS_POOL, "user", "65534", NULL, NULL, 0 },
	{ KEYS_POOL, "group", "65534", NULL, NULL, 0 },
	/* Above AddressSanitizer's reservation, so its builds run too. */
	{ KEYS_POOL, "rlimit_as", "1048576G", NULL, NULL, 0 },
	{ KEYS_POOL, "rlimit_cpu", "100s", NULL, NULL, 0 },
	{ KEYS_POOL, "rlimit_nofile", "512", NULL, NULL, 0 },
	{ KEYS_POOL, "rlimit_core", "0", NULL, NULL, 0 },
	{ KEYS_POOL, "sandbox", "seccomp", NULL, NULL, 0 },
};

/* The test value for a key, or NULL when it has none. */
const struct key_value *
key_value_find(enum key_section section, const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(key_values) / sizeof(key_values[0]); i++)
		if (key_values[i].section == section &&
		    strcmp(key_values[i].name, name) == 0)
			return (&key_values[i]);
	return (NULL);
}

/*
 * s with @P (the test programs), @U (our uid), @G (our gid) and @W (one
 * worker more than workers = auto) expanded.
 */
static void
key_value_expand(const char *s, char *buf, size_t len)
{
	const char	*dir = tprogram_dir();
	size_t		 off = 0;

	for (; *s != '\0' && off + 1 < len; s++) {
		if (*s == '@' && s[1] == 'P')
			off += snprintf(buf + off, len - off, "%s", dir);
		else if (*s == '@' && s[1] == 'U')
			off += snprintf(buf + off, len - off, "%u", getuid());
		else if (*s == '@' && s[1] == 'G')
			off += snprintf(buf + off, len - off, "%u", getgid());
		else if (*s == '@' && s[1] == 'W')
			off += snprintf(buf + off, len - off, "%ld",
			    sysconf(_SC_NPROCESSORS_ONLN) + 1);
		else {
			buf[off++] = *s;
			continue;
		}
		s++;
	}
	buf[off < len ? off : len - 1] = '\0';
}

/*
 * The file the test of kv writes: one pool p of one worker (its base,
 * echo by default) and, with with_key, the key set to its test value;
 * without, the same file with the key at its default.
 */
void
key_value_ini(const struct key_value *kv, int with_key, char *buf,
    size_t len)
{
	char		 text[2048], line[512];
	const char	*base = kv->base != NULL ? kv->base : "handler = echo\n";
	int		 pool = kv->section == KEYS_POOL;

	line[0] = '\0';
	if (with_key)
		snprintf(line, sizeof(line), "%s = %s\n", kv->name, kv->value);
	snprintf(text, sizeof(text), "%s%s[pool:p]\n%s%s%s",
	    !pool && with_key ? "[daemon]\n" : "",
	    !pool ? line : "",
	    pool && with_key && kv->replaces ? "" : base,
	    pool ? line : "",
	    pool && strcmp(kv->name, "workers") == 0 ? "" : "workers = 1\n");
	key_value_expand(text, buf, len);
}

/* How STATUS and config_key_text write kv's value. */
void
key_value_shown(const struct key_value *kv, char *buf, size_t len)
{
	key_value_expand(kv->shown != NULL ? kv->shown : kv->value, buf, len);
}

/*
 * The configuration's sections: [daemon] and [pool:NAME] opened as the
 * reader (config_read.c) meets them, each "key = value" checked by its
 * row (config_table.c, config_key.c), and a pool section checked whole
 * when it ends.  Errors say what is wrong and what would be right.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"
#include "log.h"

/* A new [pool:NAME] with every default but its handler. */
static struct pool_config *
config_pool_new(const char *name, size_t len, int line)
{
	struct pool_config	*pc;

	pc = xcalloc(1, sizeof(*pc));
	memcpy(pc->name, name, len);
	pc->name[len] = '\0';
	pc->line = line;
	/* Not a key: user = sets it with uid, and only then is it read. */
	pc->user_gid = -1;
	config_keys_default(KEYS_POOL, pc);
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

/* The line where a pool key was set in the open section, or 0. */
static int
config_pool_key_line(struct config_parse *p, const char *name)
{
	int	i = config_key_index(KEYS_POOL, name);

	return (i == -1 ? 0 : p->key_line[i]);
}

/* Split a NAME=value list (command_env, env) into words. */
static int
config_env_words(struct config_parse *p, const char *key,
    const char *value, char ***words)
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
config_end_section(struct config_parse *p)
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
	/* start_timeout by kind, group from user, unless they were set. */
	config_keys_computed(KEYS_POOL, pc, p->key_line);
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
int
config_start_section(struct config_parse *p, const char *name,
    size_t len)
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
int
config_finish(struct config_parse *p)
{
	if (config_end_section(p) == -1)
		return (-1);
	if (TAILQ_EMPTY(&p->conf->pools))
		return (config_error(p, p->line > 0 ? p->line : 1, "no pool "
		    "is defined; add a [pool:NAME] section with handler = "
		    "echo or module = FILE.so"));
	return (0);
}

/* inih's handler: one "key = value" in the section the reader opened. */
int
config_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct config_parse	*p = arg;
	const struct key	*k;
	enum key_section	 keys;
	void			*base;
	char			 where[FP_POOL_NAME_MAX + 8], why[512];
	const char		*other, *near;
	int			 i;

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
		keys = KEYS_DAEMON;
		base = p->conf;
		snprintf(where, sizeof(where), "[daemon]");
	} else {
		keys = KEYS_POOL;
		base = p->pool;
		snprintf(where, sizeof(where), "[pool:%s]", p->pool->name);
	}
	if ((i = config_key_index(keys, name)) == -1) {
		if ((near = config_key_nearest(keys, name)) != NULL)
			config_error(p, p->line, "unknown key \"%s\" in %s; "
			    "did you mean \"%s\"? (forkpool.ini(5) lists the "
			    "keys)", name, where, near);
		else
			config_error(p, p->line, "unknown key \"%s\" in %s; "
			    "forkpool.ini(5) lists the keys it takes", name,
			    where);
		return (0);
	}
	k = config_key_at(keys, i);
	if (p->key_line[i] != 0) {
		config_error(p, p->line, "%s: set twice in %s (first at line "
		    "%d)", name, where, p->key_line[i]);
		return (0);
	}
	p->key_line[i] = p->line;

	/* Said at the second of the keys, where the choice was made. */
	if (p->section == SECTION_POOL && (other = config_pool_kind(p->pool,
	    name)) != NULL) {
		config_error(p, p->line, "%s: %s already has %s; a pool has "
		    "one of handler, module or command", name, where, other);
		return (0);
	}
	if (config_key_set(k, base, value, why, sizeof(why)) == -1)
		config_error(p, p->line, "%s", why);
	return (!p->failed);
}

/* A configuration holding every daemon default and no pools. */
struct config *
config_new(const char *name)
{
	struct config	*conf;

	conf = xcalloc(1, sizeof(*conf));
	conf->path = xstrdup(name);
	/* No socket: the one -s or the default names, decided at run time. */
	config_keys_default(KEYS_DAEMON, conf);
	TAILQ_INIT(&conf->pools);
	return (conf);
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


/*
 * A key's row, shared by config_table.c (the rows) and config_key.c (what
 * each type of value means).  Nothing else looks inside a row.
 */
#ifndef CONFIG_KEY_H
#define CONFIG_KEY_H

#define MAX_WORKERS		4096
#define KEY_UNSET		((uint64_t)-1)	/* -1 in an int64_t field */

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

/* What a field holds, which decides how it is compared and copied. */
enum key_kind {
	KIND_NUMBER,		/* 4 or 8 bytes, signed or not */
	KIND_STRING,		/* char *, NULL when unset */
	KIND_LIST		/* struct config's allow lists */
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
	enum key_reload	 reload;
	uint64_t	 def;		/* a number's default, unless: */
	uint64_t	(*def_fn)(const void *);	/* computed from base */
};

enum key_kind	 config_key_kind(const struct key *k);
void		 config_store(void *base, const struct key *k, uint64_t v);
uint64_t	 config_fetch(const void *base, const struct key *k);
char		**config_string_field(const void *base, const struct key *k);
void		 config_store_string(void *base, const struct key *k,
		    const char *value);
uint32_t	*config_list(const void *base, const struct key *k,
		    unsigned int **n);
uint64_t	 config_auto_workers(void);

#endif

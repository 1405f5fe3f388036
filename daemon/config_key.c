/*
 * What a key's type means: how a value is checked and stored, and how it
 * reads back as text (for STATUS, and config_key_set takes it again).
 * config_table.c has the rows; config.c knows only sections and lines.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "config_key.h"
#include "log.h"

#define SUN_PATH_LEN		sizeof(((struct sockaddr_un *)0)->sun_path)
#define NKEYS(t)		(sizeof(t) / sizeof((t)[0]))

/* Online CPUs, for workers = auto; at least 1, at most MAX_WORKERS. */
uint64_t
config_auto_workers(void)
{
	long	n;

	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return (1);
	if (n > MAX_WORKERS)
		return (MAX_WORKERS);
	return ((uint64_t)n);
}

enum key_kind
config_key_kind(const struct key *k)
{
	switch (k->type) {
	case KEY_STRING:
	case KEY_SOCKET:
	case KEY_HANDLER:
		return (KIND_STRING);
	case KEY_USERS:
	case KEY_GROUPS:
		return (KIND_LIST);
	default:
		return (KIND_NUMBER);
	}
}

/* Store a number in a field of whichever width the structure gives it. */
void
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

/* A number field as stored; an int64_t's -1 reads as KEY_UNSET. */
uint64_t
config_fetch(const void *base, const struct key *k)
{
	const char	*field = (const char *)base + k->offset;
	uint64_t	 v;
	uint32_t	 v32;

	if (k->size == sizeof(uint64_t)) {
		memcpy(&v, field, sizeof(v));
		return (v);
	}
	memcpy(&v32, field, sizeof(v32));
	return (v32);
}

char **
config_string_field(const void *base, const struct key *k)
{
	return ((char **)(uintptr_t)((const char *)base + k->offset));
}

/* Replace the string a field points to (NULL: unset). */
void
config_store_string(void *base, const struct key *k, const char *value)
{
	char	**field = config_string_field(base, k);

	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

/* An allow list's ids and count; only struct config has them. */
uint32_t *
config_list(const void *base, const struct key *k, unsigned int **n)
{
	struct config	*conf = (struct config *)(uintptr_t)base;

	if (k->type == KEY_USERS) {
		*n = &conf->n_allow_uids;
		return (conf->allow_uids);
	}
	*n = &conf->n_allow_gids;
	return (conf->allow_gids);
}


/* 1 when a and b hold the same value for k. */
int
config_key_equal(const struct key *k, const void *a, const void *b)
{
	const char	*sa, *sb;
	const uint32_t	*la, *lb;
	unsigned int	*na, *nb;

	switch (config_key_kind(k)) {
	case KIND_STRING:
		sa = *config_string_field(a, k);
		sb = *config_string_field(b, k);
		if (sa == NULL || sb == NULL)
			return (sa == sb);
		return (strcmp(sa, sb) == 0);
	case KIND_LIST:
		la = config_list(a, k, &na);
		lb = config_list(b, k, &nb);
		return (*na == *nb && memcmp(la, lb, *na * sizeof(*la)) == 0);
	case KIND_NUMBER:
		break;
	}
	return (config_fetch(a, k) == config_fetch(b, k));
}

/* Set k in to the value it has in from. */
void
config_key_copy(const struct key *k, void *to, const void *from)
{
	uint32_t	*lt;
	const uint32_t	*lf;
	unsigned int	*nt, *nf;

	switch (config_key_kind(k)) {
	case KIND_STRING:
		config_store_string(to, k, *config_string_field(from, k));
		return;
	case KIND_LIST:
		lt = config_list(to, k, &nt);
		lf = config_list(from, k, &nf);
		memcpy(lt, lf, *nf * sizeof(*lf));
		*nt = *nf;
		return;
	case KIND_NUMBER:
		config_store(to, k, config_fetch(from, k));
		return;
	}
}

static int	config_why(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Say why a value was refused; always returns -1. */
static int
config_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return (-1);
}

/* user = NAME: the uid, and the user's group unless group = is set. */
static int
config_set_user(const struct key *k, void *base, const char *value,
    char *why, size_t whylen)
{
	struct pool_config	*pc = base;
	uid_t			 uid;
	gid_t			 gid;

	if (ids_user(value, &uid, &gid) == -1)
		return (config_why(why, whylen, "%s: no user is named \"%s\"; "
		    "allowed: %s", k->name, value, k->allowed));
	pc->uid = uid;
	pc->user_gid = gid;
	return (0);
}

/* allow_users, allow_groups: a list of names or numbers. */
static int
config_set_list(const struct key *k, void *base, const char *value,
    char *why, size_t whylen)
{
	char		*copy, *word, *save;
	uint32_t	*ids;
	unsigned int	*n;
	uid_t		 uid;
	gid_t		 gid;
	int		 rc = 0;

	ids = config_list(base, k, &n);
	*n = 0;
	copy = xstrdup(value);
	for (word = strtok_r(copy, " \t,", &save); word != NULL && rc == 0;
	    word = strtok_r(NULL, " \t,", &save)) {
		if (*n == MAX_ALLOW)
			rc = config_why(why, whylen, "%s: more than %d "
			    "entries", k->name, MAX_ALLOW);
		else if (k->type == KEY_USERS && ids_user(word, &uid,
		    &gid) == 0)
			ids[(*n)++] = uid;
		else if (k->type == KEY_GROUPS && ids_group(word, &gid) == 0)
			ids[(*n)++] = gid;
		else
			rc = config_why(why, whylen, "%s: no %s is named "
			    "\"%s\"", k->name, k->type == KEY_USERS ? "user" :
			    "group", word);
	}
	free(copy);
	return (rc);
}

/* The keys whose value is a word from a short list, or a name. */
static int
config_set_word(const struct key *k, void *base, const char *value,
    char *why, size_t whylen)
{
	gid_t	gid;
	int	level;

	switch (k->type) {
	case KEY_HANDLER:
		if (strcmp(value, "echo") != 0)
			return (config_why(why, whylen, "%s: \"%s\" is not a "
			    "built-in handler; allowed: %s", k->name, value,
			    k->allowed));
		config_store_string(base, k, value);
		return (0);
	case KEY_GROUP:
		if (ids_group(value, &gid) == -1)
			return (config_why(why, whylen, "%s: no group is named "
			    "\"%s\"; allowed: %s", k->name, value, k->allowed));
		config_store(base, k, (uint64_t)gid);
		return (0);
	case KEY_SANDBOX:
		if (strcmp(value, "none") != 0 && strcmp(value, "seccomp") != 0)
			return (config_why(why, whylen, "%s: \"%s\" is not a "
			    "sandbox; allowed: %s", k->name, value,
			    k->allowed));
		config_store(base, k, strcmp(value, "seccomp") == 0 ?
		    SANDBOX_SECCOMP : SANDBOX_NONE);
		return (0);
	case KEY_LOG_LEVEL:
		if ((level = log_level_from_name(value)) == -1)
			return (config_why(why, whylen, "%s: \"%s\" is not a "
			    "log level; allowed: %s", k->name, value,
			    k->allowed));
		config_store(base, k, (uint64_t)level);
		return (0);
	default:
		return (config_set_user(k, base, value, why, whylen));
	}
}

/* Read a number key's value into *v; NUM_SYNTAX has said why. */
static enum num_result
config_read_number(const struct key *k, const char *value, uint64_t *v,
    char *why, size_t whylen)
{
	enum num_result	 res;

	switch (k->type) {
	case KEY_MODE:
		if (*value == '\0' || value[strspn(value, "01234567")] != '\0')
			return (config_why(why, whylen, "%s: \"%s\" is not an "
			    "octal mode such as 0660", k->name, value),
			    NUM_SYNTAX);
		/* Too many digits saturate at ULONG_MAX: out of range too. */
		*v = strtoul(value, NULL, 8);
		return (NUM_OK);
	case KEY_WORKERS:
	case KEY_PREFETCH:
		if (strcmp(value, "auto") == 0) {
			*v = k->type == KEY_WORKERS ? config_auto_workers() :
			    PREFETCH_AUTO;
			return (NUM_OK);
		}
		if ((res = config_number(value, v)) == NUM_SYNTAX)
			config_why(why, whylen, "%s: \"%s\" is not a number "
			    "or \"auto\"", k->name, value);
		return (res);
	case KEY_DURATION:
		if ((res = config_duration(value, v)) == NUM_SYNTAX)
			config_why(why, whylen, "%s: \"%s\" is not a duration; "
			    "use a whole number with ms, s or m (a bare number "
			    "is seconds)", k->name, value);
		return (res);
	case KEY_SIZE:
		if ((res = config_size(value, v)) == NUM_SYNTAX)
			config_why(why, whylen, "%s: \"%s\" is not a size; use "
			    "a whole number of bytes, or one with K, M or G",
			    k->name, value);
		return (res);
	default:
		if ((res = config_number(value, v)) == NUM_SYNTAX)
			config_why(why, whylen, "%s: \"%s\" is not a whole "
			    "number; allowed: %s", k->name, value, k->allowed);
		return (res);
	}
}

/* "auto" stands for itself, not for a number in the range. */
static int
config_is_auto(const struct key *k, const char *value)
{
	return ((k->type == KEY_WORKERS || k->type == KEY_PREFETCH) &&
	    strcmp(value, "auto") == 0);
}

/*
 * Check one value against its key and store it in base (a struct config
 * or pool_config); 0, or -1 and why, starting with the key's name.
 */
int
config_key_set(const struct key *k, void *base, const char *value,
    char *why, size_t whylen)
{
	enum num_result	 res;
	uint64_t	 v = 0;

	if (*value == '\0' && (k->type != KEY_STRING || k->min > 0))
		return (config_why(why, whylen, "%s: no value; allowed: %s",
		    k->name, k->allowed));

	switch (k->type) {
	case KEY_SOCKET:
		if (strlen(value) >= SUN_PATH_LEN)
			return (config_why(why, whylen, "%s: \"%s\" is too "
			    "long; a Unix socket path is at most %zu bytes",
			    k->name, value, SUN_PATH_LEN - 1));
		/* FALLTHROUGH */
	case KEY_STRING:
		config_store_string(base, k, value);
		return (0);
	case KEY_USERS:
	case KEY_GROUPS:
		return (config_set_list(k, base, value, why, whylen));
	case KEY_HANDLER:
	case KEY_USER:
	case KEY_GROUP:
	case KEY_SANDBOX:
	case KEY_LOG_LEVEL:
		return (config_set_word(k, base, value, why, whylen));
	default:
		break;
	}
	if ((res = config_read_number(k, value, &v, why, whylen)) ==
	    NUM_SYNTAX)
		return (-1);
	if (!config_is_auto(k, value) && (res == NUM_RANGE || v < k->min ||
	    v > k->max))
		return (config_why(why, whylen, "%s: \"%s\" is out of range; "
		    "allowed: %s", k->name, value, k->allowed));
	config_store(base, k, v);
	return (0);
}

/*
 * A number in the largest of units that keeps it whole, as config_key_set
 * reads it back: "30s" rather than "30000ms".
 */
static void
config_text_scaled(char *buf, size_t len, uint64_t v, const char *const *sfx,
    const uint64_t *scale, size_t nunits)
{
	size_t	i;

	for (i = 0; i < nunits; i++)
		if (v != 0 && v % scale[i] == 0)
			break;
	if (i == nunits)
		i--;
	snprintf(buf, len, "%llu%s", (unsigned long long)(v / scale[i]),
	    sfx[i]);
}

static void
config_text_duration(char *buf, size_t len, uint64_t ms)
{
	static const char *const	sfx[] = { "m", "s", "ms" };
	static const uint64_t		scale[] = { 60 * 1000, 1000, 1 };

	config_text_scaled(buf, len, ms, sfx, scale, NKEYS(sfx));
}

static void
config_text_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const	sfx[] = { "G", "M", "K", "" };
	static const uint64_t		scale[] = { 1ULL << 30, 1ULL << 20,
					    1ULL << 10, 1 };

	config_text_scaled(buf, len, bytes, sfx, scale, NKEYS(sfx));
}

/* An allow list as numbers separated by commas. */
static void
config_text_list(const struct key *k, const void *base, char *buf,
    size_t len)
{
	const uint32_t	*ids;
	unsigned int	*n, i;
	size_t		 off = 0;

	ids = config_list(base, k, &n);
	buf[0] = '\0';
	for (i = 0; i < *n && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%u", i == 0 ? "" : ",",
		    ids[i]);
}

/*
 * k's value in base as text config_key_set takes back, in buf (1024
 * bytes hold any but a long string's); -1 when the key has no value: an
 * unset string, user or group, rlimit or an empty allow list.
 */
int
config_key_text(const struct key *k, const void *base, char *buf, size_t len)
{
	const char	*s;
	unsigned int	*n;
	uint64_t	 v = 0;

	if (config_key_kind(k) == KIND_STRING) {
		if ((s = *config_string_field(base, k)) == NULL)
			return (-1);
		snprintf(buf, len, "%s", s);
		return (0);
	}
	if (config_key_kind(k) == KIND_LIST) {
		config_list(base, k, &n);
		config_text_list(k, base, buf, len);
		return (*n == 0 ? -1 : 0);
	}
	if ((v = config_fetch(base, k)) == KEY_UNSET && k->def == KEY_UNSET)
		return (-1);	/* RLIMIT_UNSET, or an int64_t's -1 */
	switch (k->type) {
	case KEY_MODE:
		snprintf(buf, len, "0%03llo", (unsigned long long)v);
		break;
	case KEY_DURATION:
		config_text_duration(buf, len, v);
		break;
	case KEY_SIZE:
		config_text_size(buf, len, v);
		break;
	case KEY_LOG_LEVEL:
		snprintf(buf, len, "%s", log_level_name((int)v));
		break;
	case KEY_SANDBOX:
		snprintf(buf, len, "%s", v == SANDBOX_SECCOMP ? "seccomp" :
		    "none");
		break;
	case KEY_PREFETCH:
		if (v == PREFETCH_AUTO) {
			snprintf(buf, len, "auto");
			break;
		}
		/* FALLTHROUGH */
	default:
		snprintf(buf, len, "%llu", (unsigned long long)v);
		break;
	}
	return (0);
}


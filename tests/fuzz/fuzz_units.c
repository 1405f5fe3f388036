/*
 * libFuzzer harness for the unit parsers of daemon/config.c.
 *
 * config_parse_duration and config_parse_size each get the input as a C
 * string and are held to the grammar config.c documents, computed here
 * independently in 128-bit arithmetic: decimal digits, then exactly one
 * unit (durations: none = s, ms, s, m; sizes: none = bytes, K k M m G g,
 * powers of 1024), and a value that fits 64 bits.  A parse succeeds
 * exactly when the reference does, with exactly its value, so "<n>ms" is n,
 * "<n>s" and "<n>" are 1000 n, and nothing wraps.
 *
 * Then the same text goes through config_load_string as the value of keys
 * with documented bounds (task_timeout, client_timeout, rlimit_cpu,
 * max_payload, max_rss): the file is accepted exactly when the value parses
 * and lies within the key's bounds, and the field holds exactly that value
 * (max_payload is a 32-bit field; a value that did not fit would show).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"
#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(cond)	do { if (!(cond)) abort(); } while (0)

/* The bounds config.c documents for each key, in its "allowed" words. */
#define WEEK_MS		(7ULL * 24 * 60 * 60 * 1000)
#define GIB		(1ULL << 30)
#define MAX_RSS_BYTES	(1ULL << 50)

struct ref_unit {
	const char	*suffix;
	uint64_t	 scale;
};

static const struct ref_unit ref_durations[] = {
	{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { NULL, 0 }
};

static const struct ref_unit ref_sizes[] = {
	{ "", 1 }, { "K", 1024 }, { "k", 1024 }, { "M", 1048576 },
	{ "m", 1048576 }, { "G", 1073741824 }, { "g", 1073741824 }, { NULL, 0 }
};

/* The reference: 0 and *v, or -1 for bad syntax or a value past 2^64-1. */
static int
ref_parse(const char *s, const struct ref_unit *units, uint64_t *v)
{
	unsigned __int128	 n = 0, big = (unsigned __int128)1 << 100;
	const struct ref_unit	*u;
	const char		*p;

	for (p = s; *p >= '0' && *p <= '9'; p++)
		if (n < big)	/* saturate: still past 2^64 */
			n = n * 10 + (unsigned)(*p - '0');
	if (p == s)
		return (-1);
	for (u = units; u->suffix != NULL; u++)
		if (strcmp(p, u->suffix) == 0)
			break;
	if (u->suffix == NULL)
		return (-1);
	n *= u->scale;
	if (n > UINT64_MAX)
		return (-1);
	*v = (uint64_t)n;
	return (0);
}

/* A key, the section it lives in and the field that must hold it. */
struct bounded {
	const char	*key;
	int		 pool;		/* in [pool:p], else [daemon] */
	int		 size;		/* a size, else a duration */
	uint64_t	 min;
	uint64_t	 max;
	uint64_t	 step;		/* the value must be a multiple */
};

static const struct bounded bounded[] = {
	{ "task_timeout", 1, 0, 0, WEEK_MS, 1 },
	{ "client_timeout", 0, 0, 1, WEEK_MS, 1 },
	/* The kernel counts CPU time in whole seconds. */
	{ "rlimit_cpu", 1, 0, 1000, WEEK_MS, 1000 },
	{ "max_payload", 0, 1, 1, GIB, 1 },
	{ "max_rss", 1, 1, 0, MAX_RSS_BYTES, 1 },
};

/* Where config.c stored bounded[i] in a parsed configuration. */
static uint64_t
bounded_value(const struct config *conf, size_t i)
{
	const struct pool_config *pc = TAILQ_FIRST(&conf->pools);

	switch (i) {
	case 0:
		return (pc->task_timeout_ms);
	case 1:
		return (conf->client_timeout_ms);
	case 2:
		return (pc->rlimit_cpu_ms);
	case 3:
		return (conf->max_payload);
	default:
		return (pc->max_rss);
	}
}

/* The text as the value of each bounded key, in a file of its own. */
static void
check_bounded(const char *s)
{
	struct config	*conf;
	char		 text[512], err[512];
	uint64_t	 v;
	size_t		 i;
	int		 ok;

	/* Only a bare token survives ini syntax unchanged as a value. */
	if (*s == '\0' || strlen(s) > 100 || s[strcspn(s, " \t\r\n\v\f;#=:[]")]
	    != '\0')
		return;
	for (i = 0; i < sizeof(bounded) / sizeof(bounded[0]); i++) {
		ok = ref_parse(s, bounded[i].size ? ref_sizes : ref_durations,
		    &v) == 0 && v >= bounded[i].min && v <= bounded[i].max &&
		    v % bounded[i].step == 0;
		snprintf(text, sizeof(text), bounded[i].pool ?
		    "[pool:p]\nhandler = echo\n%s = %s\n" :
		    "[daemon]\n%s = %s\n[pool:p]\nhandler = echo\n",
		    bounded[i].key, s);
		conf = config_load_string(text, "units.ini", err, sizeof(err));
		CHECK((conf != NULL) == ok);
		if (conf == NULL) {
			/* The message names the file, line and key. */
			CHECK(strncmp(err, "units.ini:", 10) == 0 &&
			    strstr(err, bounded[i].key) != NULL);
			continue;
		}
		CHECK(bounded_value(conf, i) == v);
		config_free(conf);
	}
}

/* Silence the log: only fatal() (out of memory) would still print. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(LOG_CRIT, "fuzz_units");
	return (0);
}

/* One input: both parsers against the reference, then the bounds. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s;
	uint64_t	 got, want;
	size_t		 ndig;
	int		 rc, want_rc;

	if ((s = malloc(size + 1)) == NULL)
		return (0);
	memcpy(s, data, size);
	s[size] = '\0';

	rc = config_parse_duration(s, &got);
	want_rc = ref_parse(s, ref_durations, &want);
	CHECK(rc == want_rc && (rc != 0 || got == want));

	/* Said plainly, without the table: "<n>ms" is n milliseconds. */
	ndig = strspn(s, "0123456789");
	if (ndig > 0 && ndig < 20 && strcmp(s + ndig, "ms") == 0) {
		want = strtoull(s, NULL, 10);
		CHECK(config_parse_duration(s, &got) == 0 && got == want);
	}

	rc = config_parse_size(s, &got);
	want_rc = ref_parse(s, ref_sizes, &want);
	CHECK(rc == want_rc && (rc != 0 || got == want));

	check_bounded(s);
	free(s);
	return (0);
}

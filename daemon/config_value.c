/*
 * Values in the configuration, apart from the file: whole numbers,
 * durations and sizes with their units, shell-like words, and the edit
 * distance behind "did you mean".  Pure; the key rows say where they go.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"

/*
 * A unit is matched whole against what follows the digits.  Durations: a
 * bare number is seconds, because that is what people mean by "30"; sizes:
 * a bare number is bytes, and K, M, G are powers of 1024.
 */
struct unit {
	const char	*suffix;
	uint64_t	 scale;
};

static const struct unit duration_units[] = {
	{ "", 1000 },
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ NULL, 0 }
};

static const struct unit size_units[] = {
	{ "", 1 },
	{ "K", 1ULL << 10 }, { "k", 1ULL << 10 },
	{ "M", 1ULL << 20 }, { "m", 1ULL << 20 },
	{ "G", 1ULL << 30 }, { "g", 1ULL << 30 },
	{ NULL, 0 }
};

/* Read decimal digits into *v; *end is left at the first other byte. */
static enum num_result
config_digits(const char *s, const char **end, uint64_t *v)
{
	enum num_result	 res = NUM_OK;
	uint64_t	 n = 0;
	unsigned int	 d;

	if (*s < '0' || *s > '9')
		return (NUM_SYNTAX);
	for (; *s >= '0' && *s <= '9'; s++) {
		d = *s - '0';
		if (n > (UINT64_MAX - d) / 10)
			res = NUM_RANGE;	/* keep going to find the end */
		else
			n = n * 10 + d;
	}
	*end = s;
	*v = n;
	return (res);
}

/* A whole number followed by exactly one of units' suffixes. */
static enum num_result
config_parse_scaled(const char *s, const struct unit *units, uint64_t *v)
{
	const struct unit	*u;
	const char		*end;
	enum num_result		 res;
	uint64_t		 n;

	if ((res = config_digits(s, &end, &n)) == NUM_SYNTAX)
		return (NUM_SYNTAX);
	for (u = units; u->suffix != NULL; u++)
		if (strcmp(end, u->suffix) == 0)
			break;
	if (u->suffix == NULL)
		return (NUM_SYNTAX);
	if (res == NUM_RANGE || n > UINT64_MAX / u->scale)
		return (NUM_RANGE);
	*v = n * u->scale;
	return (NUM_OK);
}

/* A whole number and nothing else. */
enum num_result
config_number(const char *s, uint64_t *v)
{
	enum num_result	 res;
	const char	*end;

	if ((res = config_digits(s, &end, v)) != NUM_SYNTAX && *end != '\0')
		return (NUM_SYNTAX);
	return (res);
}

enum num_result
config_duration(const char *s, uint64_t *ms)
{
	return (config_parse_scaled(s, duration_units, ms));
}

enum num_result
config_size(const char *s, uint64_t *bytes)
{
	return (config_parse_scaled(s, size_units, bytes));
}

/* "500ms", "30s", "5m" or "30" (seconds) into milliseconds; 0 or -1. */
int
config_parse_duration(const char *s, uint64_t *ms)
{
	return (config_parse_scaled(s, duration_units, ms) == NUM_OK ? 0 : -1);
}

/* "4096", "64K", "16M" or "1G" into bytes; 0 or -1. */
int
config_parse_size(const char *s, uint64_t *bytes)
{
	return (config_parse_scaled(s, size_units, bytes) == NUM_OK ? 0 : -1);
}

/* Edits (insert, delete, replace, case aside) from a to b, capped at 3. */
unsigned int
config_distance(const char *a, const char *b)
{
	unsigned int	row[32], prev, cur, i, j, la, lb;

	la = strlen(a);
	lb = strlen(b);
	if (la >= 32 || lb >= 32)
		return (3);
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			cur = row[j];
			row[j] = prev + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (cur + 1 < row[j])
				row[j] = cur + 1;
			prev = cur;
		}
	}
	return (row[lb] < 3 ? row[lb] : 3);
}

void
config_words_free(char **words)
{
	size_t	i;

	for (i = 0; words != NULL && words[i] != NULL; i++)
		free(words[i]);
	free(words);
}

/*
 * Split s into words as a shell would, without running one: blanks
 * separate words, '...' keeps everything literally, "..." and a backslash
 * keep the next character.  No variables, globs or redirections: what is
 * written is what the program gets.  0 and a NULL-terminated array, or -1
 * and why.
 */
int
config_split_words(const char *s, char ***out, char *why, size_t whylen)
{
	char	**words = NULL, *w;
	size_t	  n = 0, len;
	char	  quote;

	w = xcalloc(1, strlen(s) + 1);
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		len = 0;
		quote = 0;
		for (; *s != '\0'; s++) {
			if (quote == 0 && (*s == ' ' || *s == '\t'))
				break;
			if (quote == 0 && (*s == '\'' || *s == '"')) {
				quote = *s;
				continue;
			}
			if (quote != 0 && *s == quote) {
				quote = 0;
				continue;
			}
			if (*s == '\\' && quote != '\'' && s[1] != '\0')
				s++;
			w[len++] = *s;
		}
		if (quote != 0) {
			snprintf(why, whylen, "a %s quote is not closed",
			    quote == '"' ? "double" : "single");
			free(w);
			words = xrealloc(words, n + 1, sizeof(*words));
			words[n] = NULL;
			config_words_free(words);
			return (-1);
		}
		w[len] = '\0';
		words = xrealloc(words, n + 2, sizeof(*words));
		words[n++] = xstrdup(w);
	}
	free(w);
	if (n == 0) {
		snprintf(why, whylen, "no program is named");
		free(words);
		return (-1);
	}
	words[n] = NULL;
	*out = words;
	return (0);
}

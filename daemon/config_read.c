/*
 * Reading a configuration: from a file or a string, through inih, into a
 * fresh struct config; the first mistake is reported as "FILE:LINE:
 * message" and the caller keeps whatever configuration it had.
 *
 * Debian's libinih gives the handler no line number and tells it nothing
 * when a section starts, so this file feeds ini_parse_stream through a
 * reader of its own: the reader counts lines, and it sees every "[section]"
 * line before inih does, which is where sections are checked and opened
 * (an empty or repeated section never reaches the handler otherwise).
 * config.c has the sections and the handler.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"
#include "log.h"

#define DEFAULT_NAME		"(built-in default)"

/* What runs when there is no configuration file at all. */
static const char default_text[] =
    "; forkpoold's built-in configuration, used when there is no file.\n"
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = auto\n";

/* Record the first error as "FILE:LINE: message"; always returns -1. */
int
config_error(struct config_parse *p, int line, const char *fmt, ...)
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

/*
 * Look at a line before inih does (leading blanks already gone), so that
 * each kind of mistake gets its own message and sections are opened here.
 * inih's own rules are followed: ';' and '#' start a comment line, a ';'
 * after a blank starts an inline one, and "key: value" is allowed.
 */
static int
config_check_line(struct config_parse *p, const char *s)
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
config_next_line(struct config_parse *p, size_t *len)
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
	struct config_parse	*p = arg;
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

/* Run inih over p's input into a fresh configuration; NULL on error. */
static struct config *
config_parse(struct config_parse *p)
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
	struct config_parse	 p;
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
	struct config_parse	p;

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

/* The configuration conf came from, read again (for a reload). */
struct config *
config_reload(const struct config *conf, char *err, size_t errlen)
{
	if (strcmp(conf->path, DEFAULT_NAME) == 0)
		return (config_default(err, errlen));
	return (config_load(conf->path, err, errlen));
}


/*
 * config_*: the bridge's ini file.  [daemon] socket names the local
 * forkpoold; [bridge] holds the bridge's own settings; each [redis:NAME]
 * is a feed.  Errors name FILE:LINE, as forkpoold's do.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "bridge.h"
#include "log.h"
#include "forkpool/proto.h"

/* What the inih handler needs to report an error with its line. */
struct conf_parse {
	struct bridge_conf	*conf;
	struct feed		*feed;		/* the current [redis:NAME] */
	char			*section;
	FILE			*fp;
	int			 line;
	char			*err;
	size_t			 errlen;
	int			 failed;
};

static void	conf_error(struct conf_parse *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
conf_error(struct conf_parse *p, const char *fmt, ...)
{
	char	msg[256];
	va_list	ap;

	if (p->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%d: %s", p->conf->path, p->line, msg);
	p->failed = 1;
}

/* inih's reader: one line, counted, so errors can say where. */
static char *
conf_reader(char *buf, int size, void *arg)
{
	struct conf_parse	*p = arg;

	if (fgets(buf, size, p->fp) == NULL)
		return (NULL);
	p->line++;
	return (buf);
}

/* "500ms", "2s", "1m", "3" (seconds) into milliseconds; -1 when bad. */
static int
conf_duration(const char *s, uint64_t *ms)
{
	char			*end;
	unsigned long long	 n;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		return (-1);
	n = strtoull(s, &end, 10);
	if (errno != 0 || n > UINT32_MAX)
		return (-1);
	if (strcmp(end, "ms") == 0)
		*ms = n;
	else if (*end == '\0' || strcmp(end, "s") == 0)
		*ms = n * 1000;
	else if (strcmp(end, "m") == 0)
		*ms = n * 60000;
	else
		return (-1);
	return (0);
}

static int
conf_uint(const char *s, unsigned int min, unsigned int max,
    unsigned int *out)
{
	char			*end;
	unsigned long		 n;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		return (-1);
	n = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return (-1);
	*out = n;
	return (0);
}

/* The host name, the default consumer name. */
char *
conf_hostname(void)
{
	char	host[HOST_NAME_MAX + 1];

	if (gethostname(host, sizeof(host)) == -1 || *host == '\0')
		return (xstrdup("localhost"));
	host[sizeof(host) - 1] = '\0';
	return (xstrdup(host));
}

static struct feed *
conf_new_feed(struct conf_parse *p, const char *name)
{
	struct feed	*f;

	f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->window = 64;
	f->claim_idle_ms = 60000;
	f->max_deliveries = 5;
	f->reply_ttl_ms = 3600 * 1000;
	f->line = p->line;
	f->lag = -1;
	f->pending = -1;
	TAILQ_INSERT_TAIL(&p->conf->feeds, f, entry);
	p->conf->nfeeds++;
	return (f);
}

static void
conf_set_str(char **slot, const char *value)
{
	free(*slot);
	*slot = xstrdup(value);
}

/* [redis:NAME] keys. */
static int
conf_feed_key(struct conf_parse *p, struct feed *f, const char *key,
    const char *value)
{
	if (strcmp(key, "redis") == 0)
		conf_set_str(&f->redis, value);
	else if (strcmp(key, "password_file") == 0)
		conf_set_str(&f->password_file, value);
	else if (strcmp(key, "stream") == 0)
		conf_set_str(&f->stream, value);
	else if (strcmp(key, "group") == 0)
		conf_set_str(&f->group, value);
	else if (strcmp(key, "consumer") == 0)
		conf_set_str(&f->consumer, value);
	else if (strcmp(key, "pool") == 0) {
		if (!fp_pool_name_valid(value, strlen(value))) {
			conf_error(p, "pool: '%s' is not a pool name (1 to 64 "
			    "of A-Z a-z 0-9 _ . -)", value);
			return (0);
		}
		conf_set_str(&f->pool, value);
	} else if (strcmp(key, "results") == 0)
		conf_set_str(&f->results, value);
	else if (strcmp(key, "dead_letter") == 0)
		conf_set_str(&f->dead_letter, value);
	else if (strcmp(key, "window") == 0) {
		if (conf_uint(value, 1, 4096, &f->window) == -1)
			conf_error(p, "window: '%s' is not a number from 1 to "
			    "4096", value);
	} else if (strcmp(key, "max_deliveries") == 0) {
		if (conf_uint(value, 1, 1000, &f->max_deliveries) == -1)
			conf_error(p, "max_deliveries: '%s' is not a number "
			    "from 1 to 1000", value);
	} else if (strcmp(key, "claim_idle") == 0) {
		f->line = p->line;
		if (conf_duration(value, &f->claim_idle_ms) == -1 ||
		    f->claim_idle_ms == 0)
			conf_error(p, "claim_idle: '%s' is not a duration "
			    "(such as 500ms, 60s, 2m)", value);
	} else if (strcmp(key, "refresh") == 0) {
		f->line = p->line;
		if (conf_duration(value, &f->refresh_ms) == -1 ||
		    f->refresh_ms == 0)
			conf_error(p, "refresh: '%s' is not a duration "
			    "(such as 500ms, 20s)", value);
	} else if (strcmp(key, "reply_ttl") == 0) {
		if (conf_duration(value, &f->reply_ttl_ms) == -1 ||
		    f->reply_ttl_ms < 1000)
			conf_error(p, "reply_ttl: '%s' is not a duration of "
			    "a second or more", value);
	} else
		conf_error(p, "unknown key '%s' in [redis:%s]", key, f->name);
	return (0);
}

/* [bridge] keys. */
static void
conf_bridge_key(struct conf_parse *p, const char *key, const char *value)
{
	struct bridge_conf	*conf = p->conf;
	int			 level;

	if (strcmp(key, "metrics_file") == 0)
		conf_set_str(&conf->metrics_file, value);
	else if (strcmp(key, "metrics_interval") == 0) {
		if (conf_duration(value, &conf->metrics_interval_ms) == -1 ||
		    conf->metrics_interval_ms == 0)
			conf_error(p, "metrics_interval: '%s' is not a "
			    "duration", value);
	} else if (strcmp(key, "shutdown_timeout") == 0) {
		if (conf_duration(value, &conf->shutdown_timeout_ms) == -1)
			conf_error(p, "shutdown_timeout: '%s' is not a "
			    "duration", value);
	} else if (strcmp(key, "log_level") == 0) {
		if ((level = log_level_from_name(value)) == -1)
			conf_error(p, "log_level: '%s' is not one of error, "
			    "warning, notice, info, debug", value);
		else
			conf->log_level = level;
	} else
		conf_error(p, "unknown key '%s' in [bridge]", key);
}

static int
conf_handler(void *arg, const char *section, const char *key,
    const char *value)
{
	struct conf_parse	*p = arg;

	if (p->failed)
		return (0);
	if (p->section == NULL || strcmp(p->section, section) != 0) {
		free(p->section);
		p->section = xstrdup(section);
		p->feed = NULL;
		if (strncmp(section, "redis:", 6) == 0) {
			if (section[6] == '\0') {
				conf_error(p, "[redis:] needs a name");
				return (0);
			}
			p->feed = conf_new_feed(p, section + 6);
		} else if (strcmp(section, "daemon") != 0 &&
		    strcmp(section, "bridge") != 0) {
			conf_error(p, "unknown section [%s] (expected "
			    "[daemon], [bridge] or [redis:NAME])", section);
			return (0);
		}
	}
	if (key == NULL)
		return (1);
	if (p->feed != NULL)
		conf_feed_key(p, p->feed, key, value);
	else if (strcmp(section, "daemon") == 0) {
		if (strcmp(key, "socket") == 0)
			conf_set_str(&p->conf->socket, value);
		else
			conf_error(p, "unknown key '%s' in [daemon] (the "
			    "bridge reads only socket)", key);
	} else
		conf_bridge_key(p, key, value);
	return (!p->failed);
}

/* Defaults that depend on other keys, and the checks across keys. */
static int
conf_finish_feed(struct conf_parse *p, struct feed *f)
{
	p->line = f->line;
	if (f->redis == NULL) {
		conf_error(p, "[redis:%s] needs redis = unix:PATH or "
		    "HOST:PORT", f->name);
		return (-1);
	}
	if (f->stream == NULL) {
		conf_error(p, "[redis:%s] needs stream = NAME", f->name);
		return (-1);
	}
	if (f->group == NULL)
		f->group = xstrdup("forkpool");
	if (f->consumer == NULL)
		f->consumer = conf_hostname();
	if (f->results == NULL)
		xasprintf(&f->results, "%s:results", f->stream);
	if (f->dead_letter == NULL)
		xasprintf(&f->dead_letter, "%s:dead", f->stream);
	if (f->refresh_ms == 0)
		f->refresh_ms = f->claim_idle_ms / 3 > 0 ?
		    f->claim_idle_ms / 3 : 1;
	/*
	 * A live bridge touches its entries every refresh; another host
	 * takes entries idle for claim_idle.  Were refresh not well
	 * below claim_idle, a live host's long task would be stolen.
	 */
	if (f->refresh_ms * 2 > f->claim_idle_ms) {
		conf_error(p, "[redis:%s] claim_idle (%llu ms) must be at "
		    "least twice refresh (%llu ms), or a running task is "
		    "taken over from a live host", f->name,
		    (unsigned long long)f->claim_idle_ms,
		    (unsigned long long)f->refresh_ms);
		return (-1);
	}
	return (0);
}

/* Read path into a new configuration; NULL and err set when it is bad. */
struct bridge_conf *
conf_load(const char *path, char *err, size_t errlen)
{
	struct conf_parse	 p;
	struct bridge_conf	*conf;
	struct feed		*f;
	int			 rc;

	memset(&p, 0, sizeof(p));
	conf = xcalloc(1, sizeof(*conf));
	conf->path = path;
	conf->metrics_interval_ms = 5000;
	conf->shutdown_timeout_ms = 30000;
	conf->log_level = LOG_INFO;
	TAILQ_INIT(&conf->feeds);
	p.conf = conf;
	p.err = err;
	p.errlen = errlen;
	if ((p.fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		conf_free(conf);
		return (NULL);
	}
	rc = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	fclose(p.fp);
	free(p.section);
	if (rc > 0 && !p.failed)
		conf_error(&p, "syntax error");
	if (!p.failed && conf->nfeeds == 0) {
		p.line = 0;
		snprintf(err, errlen, "%s: no [redis:NAME] section", path);
		p.failed = 1;
	}
	TAILQ_FOREACH(f, &conf->feeds, entry) {
		if (!p.failed)
			conf_finish_feed(&p, f);
	}
	if (p.failed) {
		conf_free(conf);
		return (NULL);
	}
	return (conf);
}

void
conf_free(struct bridge_conf *conf)
{
	struct feed	*f;

	if (conf == NULL)
		return;
	while ((f = TAILQ_FIRST(&conf->feeds)) != NULL) {
		TAILQ_REMOVE(&conf->feeds, f, entry);
		feed_free(f);
	}
	free(conf->socket);
	free(conf->metrics_file);
	free(conf);
}

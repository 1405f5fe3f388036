/*
 * metrics_*: Prometheus text, written to metrics_file (for node_exporter's
 * textfile collector, or anything that reads a file) every
 * metrics_interval, renamed into place so a reader never sees half.  The
 * group's lag and pending count come from XINFO GROUPS on each round.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "bridge.h"
#include "log.h"

static struct event	*metrics_ev;
static int		 metrics_failed;

/* One counter or gauge, per feed. */
static const struct metrics_row {
	const char		*name;
	const char		*type;
	const char		*help;
	int			 counter;	/* FC_*, or -1 */
	const char		*outcome;	/* the outcome label, or NULL */
} metrics_rows[] = {
	{ "forkpool_redis_entries_read_total", "counter",
	    "Entries read from the stream by this bridge.", FC_READ, NULL },
	{ "forkpool_redis_entries_claimed_total", "counter",
	    "Entries taken over from consumers idle past claim_idle.",
	    FC_CLAIMED, NULL },
	{ "forkpool_redis_entries_acked_total", "counter",
	    "Entries acknowledged, each with its outcome written.", FC_ACKED,
	    NULL },
	{ "forkpool_redis_entries_dead_lettered_total", "counter",
	    "Entries sent to the dead-letter stream.", FC_DEAD, NULL },
	{ "forkpool_redis_entries_redelivered_total", "counter",
	    "Entries delivered again after a crash or timeout.",
	    FC_REDELIVERED, NULL },
	{ "forkpool_redis_entries_lost_total", "counter",
	    "Held entries another consumer took over.", FC_LOST, NULL },
	{ "forkpool_redis_reconnects_total", "counter",
	    "Connections to Redis made again after a loss.", FC_RECONNECTS,
	    NULL },
	{ "forkpool_redis_outcomes_total", "counter",
	    "Outcomes written, by type.", FC_RESULT, "result" },
	{ NULL, NULL, NULL, FC_ERROR, "error" },
	{ NULL, NULL, NULL, FC_EXPIRED, "expired" },
};

static long long
metrics_held(const struct feed *f)
{
	return (f->held);
}

static long long
metrics_window(const struct feed *f)
{
	return (f->window);
}

static long long
metrics_lag(const struct feed *f)
{
	return (f->lag);
}

static long long
metrics_pending(const struct feed *f)
{
	return (f->pending);
}

/* Per-feed gauges; a negative value is unknown and left out. */
static const struct metrics_gauge {
	const char	*name;
	const char	*help;
	long long	(*value)(const struct feed *);
} metrics_gauges[] = {
	{ "forkpool_redis_window_in_use", "Entries held now.",
	    metrics_held },
	{ "forkpool_redis_window_size", "The configured window.",
	    metrics_window },
	{ "forkpool_redis_group_lag", "Entries in the stream not yet "
	    "delivered to the group.", metrics_lag },
	{ "forkpool_redis_group_pending", "Entries delivered to the group "
	    "and not yet acknowledged.", metrics_pending },
};

static void
metrics_feed_gauges(FILE *fp)
{
	const struct metrics_gauge	*g;
	struct feed			*f;
	size_t				 i;

	for (i = 0; i < sizeof(metrics_gauges) / sizeof(metrics_gauges[0]);
	    i++) {
		g = &metrics_gauges[i];
		fprintf(fp, "# HELP %s %s\n# TYPE %s gauge\n", g->name,
		    g->help, g->name);
		TAILQ_FOREACH(f, &bridge_conf->feeds, entry) {
			if (g->value(f) >= 0)
				fprintf(fp, "%s{feed=\"%s\"} %lld\n", g->name,
				    f->name, g->value(f));
		}
	}
	fprintf(fp, "# HELP forkpool_redis_local_up 1 while connected to "
	    "forkpoold.\n# TYPE forkpool_redis_local_up gauge\n"
	    "forkpool_redis_local_up %d\n", local_up());
}

static void
metrics_text(FILE *fp)
{
	const struct metrics_row	*m;
	const char			*family = NULL;
	struct feed			*f;
	size_t				 i;

	for (i = 0; i < sizeof(metrics_rows) / sizeof(metrics_rows[0]);
	    i++) {
		m = &metrics_rows[i];
		if (m->name != NULL) {
			family = m->name;
			fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", m->name,
			    m->help, m->name, m->type);
		}
		TAILQ_FOREACH(f, &bridge_conf->feeds, entry) {
			if (m->outcome != NULL)
				fprintf(fp, "%s{feed=\"%s\",outcome=\"%s\"} "
				    "%llu\n", family, f->name, m->outcome,
				    (unsigned long long)f->counters[m->counter]);
			else
				fprintf(fp, "%s{feed=\"%s\"} %llu\n", family,
				    f->name,
				    (unsigned long long)f->counters[m->counter]);
		}
	}
	metrics_feed_gauges(fp);
}

/* Write the file now; a failure is logged once until it works again. */
void
metrics_write(void)
{
	const char	*path = bridge_conf->metrics_file;
	char		*tmp;
	FILE		*fp;
	int		 bad;

	if (path == NULL)
		return;
	xasprintf(&tmp, "%s.tmp", path);
	if ((fp = fopen(tmp, "w")) == NULL)
		bad = 1;
	else {
		metrics_text(fp);
		bad = fclose(fp) != 0 || rename(tmp, path) == -1;
	}
	if (bad && !metrics_failed)
		log_warn("metrics: %s", path);
	metrics_failed = bad;
	free(tmp);
}

/* XINFO GROUPS: find our group; take its pending count and lag. */
static void
metrics_xinfo_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct feed		*f = arg;
	redisReply		*reply = r;
	const redisReply	*g, *k, *v;
	size_t			 i, j;
	int			 ours;

	(void)ac;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i < reply->elements; i++) {
		g = reply->element[i];
		if (g->type != REDIS_REPLY_ARRAY)
			continue;
		ours = 0;
		for (j = 0; j + 1 < g->elements; j += 2) {
			k = g->element[j];
			v = g->element[j + 1];
			if (strcmp(k->str, "name") == 0)
				ours = v->type == REDIS_REPLY_STRING &&
				    strcmp(v->str, f->group) == 0;
		}
		for (j = 0; ours && j + 1 < g->elements; j += 2) {
			k = g->element[j];
			v = g->element[j + 1];
			if (strcmp(k->str, "pending") == 0)
				f->pending = v->integer;
			else if (strcmp(k->str, "lag") == 0)
				f->lag = v->type == REDIS_REPLY_INTEGER ?
				    v->integer : -1;
		}
	}
}

static void
metrics_cb(evutil_socket_t fd, short events, void *arg)
{
	struct feed	*f;
	const char	*argv[3];

	(void)fd;
	(void)events;
	(void)arg;
	TAILQ_FOREACH(f, &bridge_conf->feeds, entry) {
		argv[0] = "XINFO";
		argv[1] = "GROUPS";
		argv[2] = f->stream;
		rlink_argv(&f->wr, metrics_xinfo_cb, f, 3, argv, NULL);
	}
	metrics_write();
	bridge_timer(metrics_ev, bridge_conf->metrics_interval_ms);
}

void
metrics_start(void)
{
	if (bridge_conf->metrics_file == NULL)
		return;
	if ((metrics_ev = evtimer_new(bridge_base, metrics_cb, NULL)) == NULL)
		fatalx("evtimer_new");
	bridge_timer(metrics_ev, 0);
}

void
metrics_stop(void)
{
	metrics_write();
	if (metrics_ev != NULL)
		event_free(metrics_ev);
	metrics_ev = NULL;
}

/*
 * The STATUS document (spec/PROTOCOL.md), built with jansson.
 */
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "forkpoold.h"
#include "log.h"

static json_t *
status_worker(const struct worker *w)
{
	return (json_pack("{s:I, s:s, s:I}",
	    "pid", (json_int_t)w->pid,
	    "state", worker_state_name(w->state),
	    "tasks", (json_int_t)w->tasks));
}

static json_t *
status_pool(const struct pool *pool)
{
	const struct worker	*w;
	json_t			*obj, *workers;

	workers = json_array();
	TAILQ_FOREACH(w, &pool->workers, entry)
		json_array_append_new(workers, status_worker(w));
	obj = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:b, s:I, s:I}",
	    "name", pool->name,
	    "size", (json_int_t)pool->conf->workers,
	    "queued", (json_int_t)pool->nqueued,
	    "queue_limit", (json_int_t)pool->conf->queue_limit,
	    "restarts", (json_int_t)pool->restarts,
	    "completed", (json_int_t)pool->completed,
	    "failed", (json_int_t)pool->failed,
	    "timeouts", (json_int_t)pool->timeouts,
	    "crashes", (json_int_t)pool->crashes,
	    "overloaded", (json_int_t)pool->overloaded,
	    "cancelled", (json_int_t)pool->cancelled,
	    "backoff", pool->backoff,
	    "backoff_ms", (json_int_t)pool->backoff_ms,
	    "prefetch", (json_int_t)pool->conf->prefetch);
	if (obj == NULL)
		fatalx("status: json_pack");
	json_object_set_new(obj, "workers", workers);
	return (obj);
}

/* The whole document, malloc'd. */
char *
status_json(void)
{
	const struct pool	*pool;
	json_t			*doc, *pools;
	char			*text;
	struct timeval		 now, up;

	evutil_gettimeofday(&now, NULL);
	evutil_timersub(&now, &master->started_at, &up);
	pools = json_array();
	TAILQ_FOREACH(pool, &master->pools, entry)
		json_array_append_new(pools, status_pool(pool));
	doc = json_pack("{s:s, s:I, s:I, s:I, s:b, s:o}",
	    "version", FORKPOOL_VERSION,
	    "pid", (json_int_t)getpid(),
	    "uptime_ms", (json_int_t)(up.tv_sec * 1000 + up.tv_usec / 1000),
	    "clients", (json_int_t)client_count(),
	    "stopping", master->stopping,
	    "pools", pools);
	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL)
		fatalx("status: json");
	json_decref(doc);
	return (text);
}

/*
 * The STATUS document (spec/PROTOCOL.md), built with jansson.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "forkpoold.h"
#include "log.h"

static json_t *
status_worker(const struct worker *w)
{
	const struct task	*task = TAILQ_FIRST(&w->inflight);
	json_t			*obj;

	obj = json_pack("{s:I, s:s, s:I, s:I, s:I, s:b}",
	    "pid", (json_int_t)w->pid,
	    "state", worker_shown_name(worker_shown(w)),
	    "tasks", (json_int_t)w->tasks,
	    "rss_bytes", (json_int_t)worker_rss(w->pid),
	    "inflight", (json_int_t)w->ninflight,
	    "current", w->gen == w->pool->gen);
	if (obj == NULL)
		fatalx("status: json_pack");
	if (task != NULL)
		json_object_set_new(obj, "running_ms", json_integer(
		    (clock_now_us() - task->started_us) / 1000));
	return (obj);
}

/* The fingerprints that crashed workers, and which are refused now. */
static json_t *
status_quarantine(const struct pool *pool)
{
	const struct quarantine_entry	*e;
	json_t				*list = json_array();
	uint64_t			 now = clock_now_ms();
	unsigned int			 i;
	char				 hex[33];

	quarantine_count(pool->quarantine, now);
	for (i = 0; (e = quarantine_entry(pool->quarantine, i)) != NULL; i++) {
		snprintf(hex, sizeof(hex), "%016llx%016llx",
		    (unsigned long long)e->fp.hi, (unsigned long long)e->fp.lo);
		json_array_append_new(list, json_pack("{s:s, s:I, s:b, s:I}",
		    "fingerprint", hex,
		    "crashes", (json_int_t)e->crashes,
		    "quarantined", e->quarantined,
		    "expires_in_ms", (json_int_t)(e->expires_ms - now)));
	}
	return (list);
}

/*
 * A program pool's command as written, and the program its first worker
 * really runs (/proc/PID/exe): "python3" on PATH is not always the
 * interpreter a client expects.
 */
static void
status_command(json_t *obj, const struct pool *pool)
{
	const struct worker	*w;
	char			 path[64], exe[PATH_MAX];
	ssize_t			 n;

	if (pool->conf->command == NULL)
		return;
	json_object_set_new(obj, "command", json_string(pool->conf->command));
	TAILQ_FOREACH(w, &pool->workers, entry) {
		if (w->pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/exe", (long)w->pid);
		if ((n = readlink(path, exe, sizeof(exe) - 1)) <= 0)
			continue;
		exe[n] = '\0';
		json_object_set_new(obj, "exe", json_string(exe));
		return;
	}
}

/*
 * Every key of a section as its row reads it back, the form the file takes
 * ("30s", "auto", "0660"), null for a key with no value: what a reload
 * applied is what STATUS shows.
 */
static json_t *
status_config(enum key_section section, const void *base)
{
	const struct key	*k;
	json_t			*obj = json_object(), *v;
	char			 text[4096];
	size_t			 i;

	for (i = 0; (k = config_key_at(section, i)) != NULL; i++) {
		v = NULL;	/* json_string refuses text that is not UTF-8 */
		if (config_key_text(k, base, text, sizeof(text)) == 0)
			v = json_string(text);
		json_object_set_new(obj, config_key_name(k),
		    v != NULL ? v : json_null());
	}
	return (obj);
}

static json_t *
status_pool(const struct pool *pool)
{
	const struct worker	*w;
	json_t			*obj, *workers, *times;

	workers = json_array();
	TAILQ_FOREACH(w, &pool->workers, entry)
		json_array_append_new(workers, status_worker(w));
	times = json_pack("{s:f, s:f, s:f}",
	    "mean_ms", pool->duration.count == 0 ? 0.0 :
	    pool->duration.sum_us / 1e3 / pool->duration.count,
	    "p99_ms", metrics_quantile_us(&pool->duration, 0.99) / 1e3,
	    "wait_p99_ms", metrics_quantile_us(&pool->wait, 0.99) / 1e3);
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
	    "prefetch", (json_int_t)pool_prefetch(pool));
	if (obj == NULL || times == NULL)
		fatalx("status: json_pack");
	json_object_set_new(obj, "shutting_down",
	    json_integer(pool->shutting_down));
	json_object_set_new(obj, "errors", json_integer(pool->errors));
	json_object_set_new(obj, "bytes_in", json_integer(pool->bytes_in));
	json_object_set_new(obj, "bytes_out", json_integer(pool->bytes_out));
	json_object_set_new(obj, "removed", json_boolean(pool->removed));
	/* Workers it should have and cannot start, and the last reason. */
	json_object_set_new(obj, "missing", json_integer(pool->missing));
	if (pool->missing > 0 || pool->spawn_failures > 0)
		json_object_set_new(obj, "missing_why",
		    json_string(pool->last_error));
	json_object_set_new(obj, "prefetch_auto",
	    json_boolean(pool->conf->prefetch == PREFETCH_AUTO));
	json_object_set_new(obj, "clients_queued",
	    json_integer(pool->nwaiting));
	json_object_set_new(obj, "unavailable",
	    json_boolean(pool->unavailable));
	json_object_set_new(obj, "refused_unavailable",
	    json_integer(pool->refused_unavailable));
	json_object_set_new(obj, "start_timeout_ms",
	    json_integer(pool->conf->start_timeout_ms));
	json_object_set_new(obj, "recycled", json_integer(pool->recycled));
	json_object_set_new(obj, "retried", json_integer(pool->retried));
	json_object_set_new(obj, "quarantined", json_integer(pool->quarantined));
	json_object_set_new(obj, "quarantine", status_quarantine(pool));
	json_object_set_new(obj, "kind", json_string(pool->conf->command !=
	    NULL ? "command" : pool->conf->module != NULL ? "module" :
	    "handler"));
	json_object_set_new(obj, "task_time", times);
	json_object_set_new(obj, "workers", workers);
	json_object_set_new(obj, "config", status_config(KEYS_POOL, pool->conf));
	status_command(obj, pool);
	return (obj);
}

/* The latest reload, for `forkpool reload` to wait on. */
static json_t *
status_reload(void)
{
	unsigned long long	 generation;
	const char		*err = reload_last(&generation);

	return (json_pack("{s:I, s:b, s:s?}", "generation",
	    (json_int_t)generation, "failed", err != NULL, "error", err));
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
	TAILQ_FOREACH(pool, &master->draining, entry)
		json_array_append_new(pools, status_pool(pool));
	doc = json_pack("{s:s, s:I, s:I, s:I, s:b, s:I, s:o}",
	    "version", FORKPOOL_VERSION,
	    "pid", (json_int_t)getpid(),
	    "uptime_ms", (json_int_t)(up.tv_sec * 1000 + up.tv_usec / 1000),
	    "clients", (json_int_t)client_count(),
	    "stopping", master->stopping,
	    "master_rss_bytes", (json_int_t)metrics_master_rss(),
	    "pools", pools);
	if (doc == NULL)
		fatalx("status: json");
	/* What the master holds for its clients, against max_memory. */
	json_object_set_new(doc, "held_bytes", json_integer(master->held));
	json_object_set_new(doc, "max_memory", json_integer(
	    master->conf->max_memory));
	json_object_set_new(doc, "reload", status_reload());
	json_object_set_new(doc, "config", status_config(KEYS_DAEMON,
	    master->conf));
	if ((text = json_dumps(doc, JSON_COMPACT)) == NULL)
		fatalx("status: json");
	json_decref(doc);
	return (text);
}

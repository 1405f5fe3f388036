/*
 * METRICS: the Prometheus text exposition format 0.0.4, built only when a
 * client asks.  The hot path pays for a histogram update (a short scan of
 * fixed integer bounds and three additions) and nothing else: no
 * allocation, no formatting.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"

/* Bucket upper bounds in microseconds: 100 us to 60 s. */
static const uint64_t bounds_us[HISTOGRAM_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
	60000000
};

void
metrics_observe(struct histogram *h, uint64_t us)
{
	unsigned int	i;

	for (i = 0; i < HISTOGRAM_BUCKETS && us > bounds_us[i]; i++)
		;
	h->buckets[i]++;	/* the last slot is +Inf */
	h->count++;
	h->sum_us += us;
}

/* The q-quantile's bucket bound in microseconds (0 with no samples). */
uint64_t
metrics_quantile_us(const struct histogram *h, double q)
{
	uint64_t	want, seen = 0;
	unsigned int	i;

	if (h->count == 0)
		return (0);
	want = (uint64_t)(q * h->count);
	if (want == 0)
		want = 1;
	for (i = 0; i < HISTOGRAM_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= want)
			return (bounds_us[i]);
	}
	return (bounds_us[HISTOGRAM_BUCKETS - 1]);
}

/* A task that ran on a worker ended at now. */
void
metrics_task_ran(struct pool *pool, const struct task *task, uint64_t now_us)
{
	metrics_observe(&pool->duration, now_us - task->started_us);
	metrics_observe(&pool->wait, task->started_us - task->queued_us);
}

static void
metrics_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
metrics_histogram(struct evbuffer *b, const char *name, const char *pool,
    const struct histogram *h)
{
	uint64_t	cum = 0;
	unsigned int	i;

	for (i = 0; i < HISTOGRAM_BUCKETS; i++) {
		cum += h->buckets[i];
		evbuffer_add_printf(b, "%s_bucket{pool=\"%s\",le=\"%g\"} %llu\n",
		    name, pool, bounds_us[i] / 1e6, (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "%s_bucket{pool=\"%s\",le=\"+Inf\"} %llu\n",
	    name, pool, (unsigned long long)h->count);
	evbuffer_add_printf(b, "%s_sum{pool=\"%s\"} %.6f\n", name, pool,
	    h->sum_us / 1e6);
	evbuffer_add_printf(b, "%s_count{pool=\"%s\"} %llu\n", name, pool,
	    (unsigned long long)h->count);
}

static void
metrics_outcomes(struct evbuffer *b, const struct pool *p)
{
	const struct {
		const char	*name;
		uint64_t	 n;
	} out[] = {
		{ "ok", p->completed - p->failed },
		{ "failed", p->failed + p->errors },
		{ "timeout", p->timeouts },
		{ "crashed", p->crashes },
		{ "overloaded", p->overloaded },
		{ "cancelled", p->cancelled },
		{ "quarantined", p->quarantined },
		{ "shutting_down", p->shutting_down },
	};
	size_t	i;

	for (i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		evbuffer_add_printf(b, "forkpool_tasks_total{pool=\"%s\","
		    "outcome=\"%s\"} %llu\n", p->name, out[i].name,
		    (unsigned long long)out[i].n);
}

static void
metrics_workers(struct evbuffer *b, const struct pool *p)
{
	unsigned int		 n[SHOWN_MAX] = { 0 };
	const struct worker	*w;
	int			 s;

	TAILQ_FOREACH(w, &p->workers, entry)
		n[worker_shown(w)]++;
	for (s = SHOWN_STARTING; s < SHOWN_MAX; s++)
		evbuffer_add_printf(b, "forkpool_workers{pool=\"%s\","
		    "state=\"%s\"} %u\n", p->name, worker_shown_name(s), n[s]);
}

long
metrics_master_rss(void)
{
	return (worker_rss(getpid()));
}

static long
metrics_open_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	long		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n - 1);		/* not the one opendir holds */
}

static void
metrics_prefetch(struct evbuffer *b, const struct pool *p)
{
	evbuffer_add_printf(b, "forkpool_prefetch{pool=\"%s\"} %u\n",
	    p->name, pool_prefetch(p));
}

static void
metrics_queue(struct evbuffer *b, const struct pool *p)
{
	evbuffer_add_printf(b, "forkpool_queue_depth{pool=\"%s\"} %u\n",
	    p->name, p->nqueued);
}

static void
metrics_restarts(struct evbuffer *b, const struct pool *p)
{
	evbuffer_add_printf(b, "forkpool_worker_restarts_total{pool=\"%s\"} "
	    "%llu\n", p->name, (unsigned long long)p->restarts);
}

static void
metrics_bytes_in(struct evbuffer *b, const struct pool *p)
{
	evbuffer_add_printf(b, "forkpool_bytes_in_total{pool=\"%s\"} %llu\n",
	    p->name, (unsigned long long)p->bytes_in);
}

static void
metrics_bytes_out(struct evbuffer *b, const struct pool *p)
{
	evbuffer_add_printf(b, "forkpool_bytes_out_total{pool=\"%s\"} %llu\n",
	    p->name, (unsigned long long)p->bytes_out);
}

static void
metrics_duration(struct evbuffer *b, const struct pool *p)
{
	metrics_histogram(b, "forkpool_task_duration_seconds", p->name,
	    &p->duration);
}

static void
metrics_wait(struct evbuffer *b, const struct pool *p)
{
	metrics_histogram(b, "forkpool_task_wait_seconds", p->name, &p->wait);
}

/*
 * One family: its header, then a line (or lines) per pool, serving pools
 * first, then those a reload removed that are still draining (what they
 * finish counts until they are gone).
 */
static void
metrics_family(struct evbuffer *b, const char *name, const char *type,
    const char *help, void (*line)(struct evbuffer *, const struct pool *))
{
	const struct pool	*p;

	metrics_head(b, name, type, help);
	TAILQ_FOREACH(p, &master->pools, entry)
		line(b, p);
	TAILQ_FOREACH(p, &master->draining, entry)
		line(b, p);
}

static void
metrics_pools(struct evbuffer *b)
{
	metrics_family(b, "forkpool_tasks_total", "counter",
	    "Tasks answered, by outcome.", metrics_outcomes);
	metrics_family(b, "forkpool_queue_depth", "gauge",
	    "Tasks waiting in the pool's queue.", metrics_queue);
	metrics_family(b, "forkpool_prefetch", "gauge",
	    "Tasks handed to one worker at once (prefetch = auto: as chosen "
	    "now).", metrics_prefetch);
	metrics_family(b, "forkpool_workers", "gauge",
	    "Worker processes, by state.", metrics_workers);
	metrics_family(b, "forkpool_worker_restarts_total", "counter",
	    "Workers replaced after an exit nobody asked for.",
	    metrics_restarts);
	metrics_family(b, "forkpool_bytes_in_total", "counter",
	    "Payload bytes received in tasks.", metrics_bytes_in);
	metrics_family(b, "forkpool_bytes_out_total", "counter",
	    "Output bytes sent back in results.", metrics_bytes_out);
	metrics_family(b, "forkpool_task_duration_seconds", "histogram",
	    "Time a task ran on its worker.", metrics_duration);
	metrics_family(b, "forkpool_task_wait_seconds", "histogram",
	    "Time a task waited in the queue before a worker took it.",
	    metrics_wait);
}

/* The whole exposition, into b. */
void
metrics_text(struct evbuffer *b)
{
	metrics_pools(b);
	metrics_head(b, "forkpool_clients", "gauge", "Connected clients.");
	evbuffer_add_printf(b, "forkpool_clients %u\n", client_count());
	metrics_head(b, "forkpool_master_rss_bytes", "gauge",
	    "Resident memory of the master process.");
	evbuffer_add_printf(b, "forkpool_master_rss_bytes %ld\n",
	    metrics_master_rss());
	metrics_head(b, "forkpool_held_bytes", "gauge",
	    "Bytes the master holds for its clients: queued payloads, unsent "
	    "replies, partial frames (bounded by max_memory).");
	evbuffer_add_printf(b, "forkpool_held_bytes %llu\n",
	    (unsigned long long)master->held);
	metrics_head(b, "forkpool_max_memory_bytes", "gauge",
	    "The max_memory bound on forkpool_held_bytes.");
	evbuffer_add_printf(b, "forkpool_max_memory_bytes %llu\n",
	    (unsigned long long)master->conf->max_memory);
	metrics_head(b, "forkpool_master_open_fds", "gauge",
	    "Open file descriptors of the master process.");
	evbuffer_add_printf(b, "forkpool_master_open_fds %ld\n",
	    metrics_open_fds());
}

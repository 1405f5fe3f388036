/*
 * Pools: the queued tasks and the workers that serve them.  Each client has
 * its own queue in the pool (a share, share.c); dispatch picks the least
 * loaded worker that has room (up to prefetch tasks each) and fills that
 * room from the share whose turn it is (round robin between shares, first
 * in first out within one).  When a worker exits (worker.c reports
 * how), the pool decides: its tasks are requeued, retried or answered, and
 * it is replaced, throttled by restart intensity so a pool whose workers
 * keep dying backs off instead of fork-looping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"
#include "log.h"

/*
 * prefetch = auto keeps about 150 us of a task's own work queued in each
 * worker: prefetch = clamp(round(AUTO_QUEUE_US / average task time), 1,
 * AUTO_MAX).  The average is what the master sees, the time between a
 * worker's answers, so for tiny tasks it is mostly the protocol's own
 * cost (the worker's read and write per task, its share of the CPU):
 * `make bench` on 2 CPUs measured 4-8 us per echo task whose handler
 * takes about 1 us, and the sanitizer build 11-25 us.  Hence 500 us of
 * measured time: echo gets 64 (40 and more under ASan) and reaches the
 * throughput of an explicit prefetch 16 and more; tasks of 1 ms or more
 * still get prefetch 1 (500 / 1000 rounds to 1) and never wait behind one
 * another in a worker; 200 us tasks get 3.  More than 64 only grows what
 * a crash sends back to the queue and what a second client waits behind.
 */
#define AUTO_QUEUE_US	500
#define AUTO_MAX	64
#define AUTO_WEIGHT	16	/* the moving average's 1/weight per task */
/*
 * A time is what the master saw, so a moment in which the master or the
 * worker had no CPU lands whole on one task: on 2 busy CPUs, gaps of a
 * few ms among 2 us echoes, each of which pulled prefetch down to 2 or 3
 * for a while (the echo benchmark then ran at the speed of prefetch 16,
 * 0.55x that of a pinned 64).  So one time counts for at most AUTO_CLIP
 * times the average (and at least AUTO_CLIP_US): a real change of task
 * still moves the average by 1.4x a task, from echo to 1 ms in about 16.
 */
#define AUTO_CLIP	8
#define AUTO_CLIP_US	50
/*
 * Until tasks have been timed.  Not 1: at prefetch 1 every time includes
 * the worker's round trip through the master, which on a busy machine
 * alone can pass 150 us and would pin tiny tasks at 1; with 2, the second
 * of a worker's tasks is timed from the end of the first, so its own time.
 */
#define AUTO_START	2
/*
 * prefetch_min (1 to 8, default 1) is auto's floor, for pools of long
 * CPU-bound calls where a worker that sleeps between calls (at prefetch 1
 * it waits for the master's round trip) costs more than a call that waits
 * behind another: the sample Python pool keeps 2, and its tiny calls still
 * get 64.
 */
/*
 * Fair share inside the workers: a task of a light connection that meets
 * other connections' queued tasks is handed to a worker behind up to
 * prefetch tasks already sent there, 64 tiny ones under auto, and on a
 * busy machine every one of them costs the worker a write and a share of
 * the CPU.  For AUTO_LIGHT_US after such a task auto keeps at most
 * AUTO_SHARED in each worker, so the next tasks of that connection wait
 * behind few; the bulk connections lose some batching meanwhile.
 * Light means nothing queued now and not more than AUTO_SHARED at any
 * time in the last AUTO_LIGHT_US: a bulk connection whose queue runs dry
 * for a moment (its client slow to read its replies) is not light, nor is
 * one that queues more as it starts.  Counting those held the echo
 * benchmark's 4 connections at 8 for most of their run.  A number still
 * pins it.
 */
#define AUTO_SHARED	8
#define AUTO_LIGHT_US	100000

/* At most this many spawn/exit lines per pool per window, then a summary. */
#define LOG_BURST	20
#define LOG_WINDOW_MS	10000

static void	pool_spawn_cb(evutil_socket_t, short, void *);
static int	pool_spawn(struct pool *);
static void	pool_backoff(struct pool *, unsigned int);
static void	pool_quiet_cb(evutil_socket_t, short, void *);

static void	pool_free_cb(evutil_socket_t, short, void *);
static void	pool_unavail_cb(evutil_socket_t, short, void *);
static void	pool_watch(struct pool *);
static void	pool_worker_gone(struct pool *, struct worker *, int);

/* A pool serving gen (whose reference it takes); not started yet. */
struct pool *
pool_create(struct gen *gen)
{
	struct pool		*pool;
	struct pool_config	*pc = gen->conf;

	pool = xcalloc(1, sizeof(*pool));
	snprintf(pool->name, sizeof(pool->name), "%s", pc->name);
	pool->gen = gen;
	pool->conf = pc;
	pool->auto_prefetch = pc->prefetch_min > AUTO_START ?
	    pc->prefetch_min : AUTO_START;
	TAILQ_INIT(&pool->ring);
	TAILQ_INIT(&pool->shares);
	TAILQ_INIT(&pool->workers);
	pool->intensity = intensity_new(pc->restart_burst,
	    pc->restart_window_ms);
	pool->quarantine = quarantine_new();
	pool->spawn_timer = evtimer_new(master->base, pool_spawn_cb, pool);
	pool->quiet_timer = evtimer_new(master->base, pool_quiet_cb, pool);
	pool->free_ev = event_new(master->base, -1, 0, pool_free_cb, pool);
	pool->unavail_timer = evtimer_new(master->base, pool_unavail_cb, pool);
	if (pool->spawn_timer == NULL || pool->quiet_timer == NULL ||
	    pool->free_ev == NULL || pool->unavail_timer == NULL)
		fatalx("pool: event_new");
	/* It has start_timeout to bring up a first worker. */
	clock_arm_ms(pool->unavail_timer, pc->start_timeout_ms);
	TAILQ_INSERT_TAIL(&master->pools, pool, entry);
	master->npools++;
	return (pool);
}

struct pool *
pool_find(const char *name, size_t len)
{
	struct pool	*pool;

	TAILQ_FOREACH(pool, &master->pools, entry)
		if (strlen(pool->name) == len &&
		    memcmp(pool->name, name, len) == 0)
			return (pool);
	return (NULL);
}

/*
 * Rate-limit a pool's spawn and exit lines so a crash loop cannot fill the
 * disk: 1 when this line may be logged.
 */
static int
pool_log_allowed(struct pool *pool)
{
	uint64_t	now = clock_now_ms();

	if (now - pool->log_window_start >= LOG_WINDOW_MS) {
		if (pool->log_suppressed > 0)
			log_warnx("pool %s: %u worker spawn/exit lines "
			    "suppressed in the last %d s", pool->name,
			    pool->log_suppressed, LOG_WINDOW_MS / 1000);
		pool->log_window_start = now;
		pool->log_lines = 0;
		pool->log_suppressed = 0;
	}
	if (pool->log_lines < LOG_BURST) {
		pool->log_lines++;
		return (1);
	}
	pool->log_suppressed++;
	return (0);
}

/* The worker with the fewest tasks that can take one more, or NULL. */
static struct worker *
pool_pick_worker(struct pool *pool)
{
	struct worker	*w, *best = NULL;
	unsigned int	 prefetch = pool_prefetch(pool);

	TAILQ_FOREACH(w, &pool->workers, entry) {
		if (!worker_can_take(w, prefetch))
			continue;
		if (best == NULL || w->ninflight < best->ninflight) {
			best = w;
			if (w->ninflight == 0)
				break;
		}
	}
	return (best);
}

/* The prefetch in force: the configured number, or what auto chose. */
unsigned int
pool_prefetch(const struct pool *pool)
{
	if (pool->conf->prefetch != PREFETCH_AUTO)
		return (pool->conf->prefetch);
	if (pool->auto_prefetch > AUTO_SHARED && pool->light_us != 0 &&
	    clock_now_us() - pool->light_us < AUTO_LIGHT_US)
		return (AUTO_SHARED);
	return (pool->auto_prefetch);
}

/*
 * A task ran us microseconds (by the loop's clock, so tasks answered in
 * one read share the time of that read between them): fold it into the
 * average and choose prefetch = auto again.
 */
static void
pool_task_timed(struct pool *pool, uint64_t us)
{
	uint64_t	avg, clip, p;

	/* An exponential moving average, in sixteenths of a microsecond. */
	if (pool->task_avg == 0)
		pool->task_avg = us * 16;	/* the first time seeds it */
	else {
		clip = pool->task_avg * AUTO_CLIP / 16;
		if (clip < AUTO_CLIP_US)
			clip = AUTO_CLIP_US;
		if (us > clip)
			us = clip;
		pool->task_avg = pool->task_avg - pool->task_avg /
		    AUTO_WEIGHT + us * 16 / AUTO_WEIGHT;
	}
	avg = pool->task_avg;
	p = avg == 0 ? AUTO_MAX : (AUTO_QUEUE_US * 16 + avg / 2) / avg;
	if (p < pool->conf->prefetch_min)
		p = pool->conf->prefetch_min;
	pool->auto_prefetch = p > AUTO_MAX ? AUTO_MAX : p;
}

/* A task was answered: its time goes to the metrics and to auto prefetch. */
void
pool_task_ran(struct pool *pool, const struct task *task)
{
	uint64_t	now = clock_now_us();

	metrics_task_ran(pool, task, now);
	pool_task_timed(pool, now - task->started_us);
}

/*
 * While the pool holds a quarantine, every task is fingerprinted before it
 * may reach a worker; a quarantined one is answered at once.  With nothing
 * in quarantine (the usual case) this costs one comparison: the test is
 * inlined (pool_refuse_poison) and only a held quarantine calls here.
 */
static int
pool_refuse_held(struct pool *pool, struct task *task)
{
	const struct quarantine_entry	*e;
	struct fp_fingerprint		 fp;
	uint64_t			 now;

	if (quarantine_count(pool->quarantine, now = clock_now_ms()) == 0)
		return (0);
	fp = quarantine_fingerprint(task->body, task->len);
	if ((e = quarantine_check(pool->quarantine, fp, now)) == NULL)
		return (0);
	task_fail(task, FP_ERR_QUARANTINED, "this task crashed %u workers "
	    "since %.0f s ago; refused for %.0f s more (quarantine %016llx"
	    "%016llx)", e->crashes, (now - e->first_ms) / 1000.0,
	    (e->expires_ms - now) / 1000.0, (unsigned long long)fp.hi,
	    (unsigned long long)fp.lo);
	return (1);
}

static inline int
pool_refuse_poison(struct pool *pool, struct task *task)
{
	if (pool->quarantine == NULL || quarantine_empty(pool->quarantine))
		return (0);
	return (pool_refuse_held(pool, task));
}

/*
 * Hand queued tasks to workers while any has room.  A connection's turn
 * fills the room of the worker it meets with its own tasks, in order, then
 * passes: the tasks one worker gets at once then come from one connection,
 * so their replies leave in one write to one client, which reads them in
 * one read.  Handing tasks one connection at a time put every client's
 * tasks in every batch: with 4 clients at prefetch 16, each turn of the
 * loop wrote to and read from all 4, and echo ran at 0.65 of the relay
 * (0.87 with one client).  A light connection's task still waits for one
 * worker's room at most, as before: at prefetch 1 a turn is one task.
 */
void
pool_dispatch(struct pool *pool)
{
	struct share	*share;
	struct task	*task;
	struct worker	*w;
	int		 more;

	while (pool->nqueued > 0) {
		if ((w = pool_pick_worker(pool)) == NULL)
			return;
		if ((task = share_next(pool)) == NULL)
			return;
		share = task->share;
		for (;;) {
			/*
			 * Read before the task may be answered: answering a
			 * closing client's last task frees it, and its share.
			 */
			more = share->nqueued > 0;
			if (!pool_refuse_poison(pool, task))
				worker_send(w, task);
			if (!more || !worker_can_take(w, pool_prefetch(pool)))
				break;
			task = TAILQ_FIRST(&share->queue);
			share_unqueue(task);
		}
	}
}

/*
 * A dead worker's prefetched tasks, which never started, go back to the
 * front of their queues in their order.  Those nobody waits for any more
 * (the client left, or cancelled them) are dropped instead.
 */
static void
pool_requeue(struct pool *pool, struct task_list *tasks)
{
	struct task	*task;

	while ((task = TAILQ_LAST(tasks, task_list)) != NULL) {
		TAILQ_REMOVE(tasks, task, entry);
		if (task->client == NULL) {
			task_free(task);
			continue;
		}
		share_enqueue(pool, task, 1);
	}
}

/* Answer every queued task with code (stop, or a pool that cannot start). */
static void
pool_fail_queued(struct pool *pool, int code, const char *text)
{
	struct task	*task;

	while (pool->nqueued > 0) {
		task = TAILQ_FIRST(&TAILQ_FIRST(&pool->ring)->queue);
		share_unqueue(task);
		task_fail(task, code, "%s", text);
	}
}

/* The text of an UNAVAILABLE answer: for how long, and why. */
static void
pool_unavail_text(struct pool *pool, char *buf, size_t len)
{
	snprintf(buf, len, "pool %s has had no worker able to run tasks for "
	    "%.3f s (start_timeout); nothing was run; last start failure: %s",
	    pool->name, pool->conf->start_timeout_ms / 1000.0,
	    pool->last_error[0] != '\0' ? pool->last_error : "none yet");
}

/* A new task: queued and dispatched, or answered at once. */
void
pool_submit(struct pool *pool, struct task *task)
{
	struct share	*share = task->share;
	char		 text[512];

	if (pool->unavailable) {
		pool_unavail_text(pool, text, sizeof(text));
		task_fail(task, FP_ERR_UNAVAILABLE, "%s", text);
		return;
	}
	if (pool_refuse_poison(pool, task))
		return;
	task->queued_us = clock_now_us();
	/* A light connection's task meets others' queue: see above. */
	if (pool->nqueued > 0 && share->nqueued == 0 &&
	    task->queued_us - share->bulk_us >= AUTO_LIGHT_US) {
		pool->light_us = task->queued_us;
		pool->light_share = share;
	}
	share_enqueue(pool, task, 0);
	if (share->nqueued > AUTO_SHARED) {
		share->bulk_us = task->queued_us;
		if (pool->light_share == share)
			pool->light_us = 0;	/* it was a bulk one starting */
	}
	pool_dispatch(pool);
}

/*
 * Let n workers go: of an old generation (or already due for recycling)
 * when stale is set, of the current one otherwise.  An idle one is retired
 * now; a busy one gets no new task and is retired when idle, so a pool
 * under constant load still shrinks and still finishes a replacement.
 */
static void
pool_shed(struct pool *pool, int n, int stale)
{
	struct worker	*w, *next;

	for (w = TAILQ_FIRST(&pool->workers); w != NULL && n > 0; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (!worker_is_live(w) || worker_is_stale(w) != stale)
			continue;
		n--;
		if (worker_is_idle(w)) {
			log_debug("pool %s: retiring worker %ld", pool->name,
			    (long)w->pid);
			worker_retire(w);
		} else if (worker_was_ready(w))
			worker_recycle(w);
		else
			n++;		/* still starting: not counted as ready */
	}
}

/*
 * Bring the pool's workers to what its configuration asks: as many as
 * workers, all of the current generation.  Missing workers are spawned
 * (unless backing off); stale ones are replaced one at a time, the
 * successor first, and retired only once it is ready and they are idle, so
 * capacity never dips; extra ones retire as they become idle.  A pool
 * removed by a reload keeps its workers while it has queued tasks.
 */
void
pool_reconcile(struct pool *pool)
{
	struct worker	*w;
	unsigned int	 target, live = 0, ready = 0, stale = 0;
	int		 excess;

	if (master->stopping)
		return;
	target = pool->conf->workers;
	if (pool->removed && pool->nqueued == 0)
		target = 0;
	TAILQ_FOREACH(w, &pool->workers, entry) {
		if (!worker_is_live(w))
			continue;
		if (worker_is_stale(w))
			stale++;
		else {
			live++;
			ready += worker_was_ready(w);
		}
	}
	if (!evtimer_pending(pool->spawn_timer, NULL)) {
		while (live + stale < target && pool_spawn(pool))
			live++;
		if (stale > 0 && live == ready && live + stale == target &&
		    pool_spawn(pool))
			live++;		/* the next successor */
	}
	pool->missing = live + stale < target ? target - live - stale : 0;
	/*
	 * A stale worker goes once enough current ones are ready to take its
	 * place; a current one only when the pool is shrinking, never to make
	 * room while a busy stale one finishes.
	 */
	if ((excess = (int)(ready + stale) - (int)target) > 0)
		pool_shed(pool, excess, 1);
	if ((excess = (int)ready - (int)target) > 0)
		pool_shed(pool, excess, 0);
	if (stale == 0 && pool->prev_gen != NULL) {
		log_info("pool %s: every worker runs the new configuration",
		    pool->name);
		gen_unref(pool->prev_gen);
		pool->prev_gen = NULL;
	}
	pool->reshaping = pool->removed || stale > 0 || live != target ||
	    ready != target;
	if (pool->removed && pool->nworkers == 0 && pool->nqueued == 0)
		event_active(pool->free_ev, 0, 0);
}

/* The pause before a failed spawn is tried again, at the least. */
#define SPAWN_RETRY_MS	100

/*
 * Start one worker: 1, or 0 when the spawn itself failed (out of
 * descriptors or processes: worker_spawn logged why and noted it in
 * last_error).  That is retried after the pool's back-off, never left
 * for good: a pool short of a worker stays short only as long as the
 * system is.
 */
static int
pool_spawn(struct pool *pool)
{
	struct worker	*w;
	unsigned int	 delay;

	if ((w = worker_spawn(pool)) != NULL) {
		TAILQ_INSERT_TAIL(&pool->workers, w, entry);
		pool->nworkers++;
		pool->spawn_failures = 0;
		if (pool_log_allowed(pool))
			log_info("pool %s: worker %ld started", pool->name,
			    (long)w->pid);
		return (1);
	}
	pool->spawn_failures++;
	delay = intensity_exit(pool->intensity, clock_now_ms());
	if (delay < SPAWN_RETRY_MS)
		delay = SPAWN_RETRY_MS;
	if (pool_log_allowed(pool))
		log_warnx("pool %s: cannot start a worker (%s); trying again "
		    "in %u ms", pool->name, pool->last_error, delay);
	evtimer_del(pool->spawn_timer);
	clock_arm_ms(pool->spawn_timer, delay);
	return (0);
}

/*
 * No endless wait: while no worker of the pool can take tasks, a timer of
 * start_timeout runs; when it fires the queue is answered UNAVAILABLE, and
 * new tasks too until a worker is ready again.  Looked at whenever a
 * worker becomes ready or goes.
 */
static void
pool_watch(struct pool *pool)
{
	struct worker	*w;

	TAILQ_FOREACH(w, &pool->workers, entry)
		if (worker_is_serving(w))
			break;
	if (w != NULL) {
		evtimer_del(pool->unavail_timer);
		if (pool->unavailable)
			log_info("pool %s: worker %ld is ready; taking tasks "
			    "again", pool->name, (long)w->pid);
		pool->unavailable = 0;
		return;
	}
	if (!pool->unavailable && !master->stopping &&
	    !evtimer_pending(pool->unavail_timer, NULL))
		clock_arm_ms(pool->unavail_timer, pool->conf->start_timeout_ms);
}

static void
pool_unavail_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pool	*pool = arg;
	char		 text[512];

	(void)fd;
	(void)events;
	pool_unavail_text(pool, text, sizeof(text));
	log_warnx("pool %s: no worker able to run tasks for %.3f s; "
	    "answering its %u queued and new tasks UNAVAILABLE (last start "
	    "failure: %s)", pool->name, pool->conf->start_timeout_ms / 1000.0,
	    pool->nqueued, pool->last_error[0] != '\0' ? pool->last_error :
	    "none yet");
	pool->unavailable = 1;
	pool_fail_queued(pool, FP_ERR_UNAVAILABLE, text);
}

/* A worker said PONG: it can take tasks. */
void
pool_worker_ready(struct pool *pool, struct worker *w)
{
	(void)w;
	pool->nready++;
	pool->fresh = 0;
	pool_watch(pool);
	if (master->starting && pool->nready == pool->conf->workers)
		master_pool_ready(pool);
	pool_dispatch(pool);
	if (pool->reshaping)
		pool_reconcile(pool);
}

/*
 * A worker's channel was read: during a stop, one left with nothing to
 * do goes; otherwise what must go is retired before it is handed another
 * task, and the queue is dispatched.
 */
void
pool_worker_answered(struct pool *pool, struct worker *w)
{
	if (master->stopping) {
		if (w->ninflight == 0)
			worker_retire(w);
		return;
	}
	if (pool->reshaping)
		pool_reconcile(pool);
	pool_dispatch(pool);
}

/*
 * Serve from gen from now on (a reload changed the pool's section).  The
 * old generation is kept until its last worker is replaced, to roll back
 * to if the new one's workers cannot start.
 */
void
pool_set_gen(struct pool *pool, struct gen *gen)
{
	if (pool->prev_gen == NULL)
		pool->prev_gen = pool->gen;
	else
		gen_unref(pool->gen);
	pool->gen = gen;
	pool->conf = gen->conf;
	pool->reshaping = 1;
	pool_reconcile(pool);
}

/* The new generation's workers cannot start: go back to the old one. */
static void
pool_rollback(struct pool *pool)
{
	reload_failed(": pool %s: workers of the new configuration cannot "
	    "start (%s); keeping the old configuration", pool->name,
	    pool->last_error);
	gen_unref(pool->gen);
	pool->gen = pool->prev_gen;
	pool->conf = pool->gen->conf;
	pool->prev_gen = NULL;
	pool->reshaping = 1;
}

/*
 * A pool the reload added whose first worker could not start: the reload
 * is undone for it.  Its queue is answered UNAVAILABLE at once (waiting
 * for start_timeout would only delay the same answer), and it goes.
 */
static void
pool_rollback_added(struct pool *pool)
{
	struct worker	*w, *next;
	char		 text[512];

	reload_failed(": pool %s: its workers cannot start (%s); the pool is "
	    "removed again", pool->name, pool->last_error);
	snprintf(text, sizeof(text), "pool %s: its workers cannot start, so "
	    "the reload that added it was undone; nothing was run; last start "
	    "failure: %s", pool->name, pool->last_error);
	pool_fail_queued(pool, FP_ERR_UNAVAILABLE, text);
	pool->fresh = 0;
	pool_remove(pool);
	for (w = TAILQ_FIRST(&pool->workers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		worker_retire(w);
	}
}

/*
 * A reload dropped the pool: it takes no new task (pool_find no longer
 * sees it), finishes its queue and running tasks, then its workers leave.
 */
void
pool_remove(struct pool *pool)
{
	TAILQ_REMOVE(&master->pools, pool, entry);
	master->npools--;
	TAILQ_INSERT_TAIL(&master->draining, pool, entry);
	pool->removed = 1;
	pool->reshaping = 1;
	log_info("pool %s: removed by the reload; finishing %u queued and "
	    "the running tasks", pool->name, pool->nqueued);
	pool_reconcile(pool);
}

static void
pool_free_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pool	*pool = arg;

	(void)fd;
	(void)events;
	if (pool->nworkers > 0 || pool->nqueued > 0)
		return;
	log_info("pool %s: drained and gone", pool->name);
	TAILQ_REMOVE(&master->draining, pool, entry);
	pool_free(pool);
}

/*
 * The running task died with its worker.  It counts toward quarantine;
 * with retries left (and not quarantined) it runs again, first in line;
 * otherwise it is answered WORKER_CRASHED.
 */
static void
pool_task_crashed(struct pool *pool, const struct worker_exit *ex)
{
	struct pool_config	*pc = pool->conf;
	struct task		*task = ex->task;
	const struct rusage	*ru = ex->ru;
	struct fp_fingerprint	 fp;
	char			 note[128] = "";
	int			 poisoned = 0;

	if (pc->quarantine_after > 0) {
		fp = quarantine_fingerprint(task->body, task->len);
		poisoned = quarantine_crash(pool->quarantine, fp,
		    pc->quarantine_after, pc->quarantine_window_ms,
		    clock_now_ms());
		if (poisoned)
			log_warnx("pool %s: task %016llx%016llx crashed %u "
			    "workers; quarantined for %.0f s", pool->name,
			    (unsigned long long)fp.hi,
			    (unsigned long long)fp.lo, pc->quarantine_after,
			    pc->quarantine_window_ms / 1000.0);
	}
	if (!poisoned && task->client != NULL &&
	    task->attempts <= pc->retries) {
		pool->retried++;
		log_info("pool %s: task %llu will run again: worker %ld %s "
		    "(attempt %u of %u)", pool->name,
		    (unsigned long long)task->id, (long)ex->pid, ex->why,
		    task->attempts, pc->retries + 1);
		share_enqueue(pool, task, 1);
		return;
	}
	if (pc->retries > 0)
		snprintf(note, sizeof(note), "; attempt %u of %u, each crashed "
		    "its worker", task->attempts, pc->retries + 1);
	if (poisoned)
		snprintf(note + strlen(note), sizeof(note) - strlen(note),
		    "; this task is now quarantined");
	task_fail(task, FP_ERR_WORKER_CRASHED, "worker %ld %s after %.3f s "
	    "running the task (cpu %.3f s, max rss %ld KiB)%s", (long)ex->pid,
	    ex->why, ex->ran_s, ru->ru_utime.tv_sec + ru->ru_stime.tv_sec +
	    (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e6,
	    ru->ru_maxrss, note);
}

/*
 * A worker exited (worker_reaped): the tasks it had not started go back
 * to the queue; the one it was running is answered with the reason we
 * killed it, or crashed with it; then the pool replaces it if need be.
 */
void
pool_worker_exited(struct pool *pool, struct worker *w,
    const struct worker_exit *ex)
{
	if (pool_log_allowed(pool))
		logit(ex->unexpected ? LOG_WARNING : LOG_INFO,
		    "pool %s: worker %ld %s after %.3f s", pool->name,
		    (long)ex->pid, ex->why, ex->lived_s);
	pool_requeue(pool, ex->unstarted);
	if (ex->task != NULL) {
		metrics_task_ran(pool, ex->task, clock_now_us());
		if (ex->kill_code != 0)
			task_fail(ex->task, ex->kill_code, "%s",
			    ex->kill_reason);
		else
			pool_task_crashed(pool, ex);
	}
	TAILQ_REMOVE(&pool->workers, w, entry);
	pool_worker_gone(pool, w, ex->unexpected);
}

/*
 * A worker is gone.  At start, a pool that could not bring up one worker
 * is fatal; later, an unexpected exit is replaced, after a back-off when
 * the pool's workers die too often.
 */
static void
pool_worker_gone(struct pool *pool, struct worker *w, int unexpected)
{
	unsigned int	delay;

	pool->nworkers--;
	if (worker_was_ready(w))
		pool->nready--;
	if (w->start_error[0] != '\0')
		snprintf(pool->last_error, sizeof(pool->last_error), "%s",
		    w->start_error);
	if (master->starting && !master->stopping && !worker_was_ready(w) &&
	    pool->nready == 0)
		master_fatal("pool %s: no worker could start: %s", pool->name,
		    pool->last_error);
	if (master->stopping) {
		/* Prefetched tasks it gave back cannot run any more. */
		pool_fail_queued(pool, FP_ERR_SHUTTING_DOWN, "the daemon is "
		    "stopping; the task was not run");
		master_check_stopped();
		return;
	}
	if (!worker_was_ready(w) && w->gen == pool->gen &&
	    pool->prev_gen != NULL)
		pool_rollback(pool);
	if (!worker_was_ready(w) && pool->fresh) {
		pool_rollback_added(pool);
		return;
	}
	if (unexpected) {
		pool->restarts++;
		delay = intensity_exit(pool->intensity, clock_now_ms());
		if (delay > 0 || pool->backoff)
			pool_backoff(pool, delay);
	}
	pool_reconcile(pool);
	pool_watch(pool);
	pool_dispatch(pool);
}

/* Delay the next spawns by delay ms; logged once per change. */
static void
pool_backoff(struct pool *pool, unsigned int delay)
{
	if (delay == 0)
		delay = pool->backoff_ms;
	if (!pool->backoff || delay != pool->backoff_ms)
		log_warnx("pool %s: restarting too often, backing off: next "
		    "worker in %u s", pool->name, (delay + 999) / 1000);
	pool->backoff = 1;
	pool->backoff_ms = delay;
	if (!evtimer_pending(pool->spawn_timer, NULL))
		clock_arm_ms(pool->spawn_timer, delay);
	clock_arm_ms(pool->quiet_timer, pool->conf->restart_window_ms);
}

static void
pool_spawn_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	pool_reconcile(arg);
}

/* A whole window passed with no unexpected exit: back-off is over. */
static void
pool_quiet_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pool	*pool = arg;

	(void)fd;
	(void)events;
	if (intensity_delay(pool->intensity, clock_now_ms()) != 0) {
		clock_arm_ms(pool->quiet_timer, pool->conf->restart_window_ms);
		return;
	}
	if (pool->backoff)
		log_info("pool %s: back-off over", pool->name);
	pool->backoff = 0;
	pool->backoff_ms = 0;
	evtimer_del(pool->spawn_timer);
	pool_reconcile(pool);
}

/* At stop: the queue is answered; idle workers are told to finish. */
void
pool_stop(struct pool *pool)
{
	struct worker	*w, *next;

	evtimer_del(pool->spawn_timer);
	evtimer_del(pool->quiet_timer);
	evtimer_del(pool->unavail_timer);
	pool_fail_queued(pool, FP_ERR_SHUTTING_DOWN,
	    "the daemon is stopping; the task was not run");
	for (w = TAILQ_FIRST(&pool->workers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->ninflight == 0)
			worker_retire(w);
	}
}

void
pool_free(struct pool *pool)
{
	struct share	*share;

	while ((share = TAILQ_FIRST(&pool->shares)) != NULL)
		share_free(share);
	event_free(pool->spawn_timer);
	event_free(pool->quiet_timer);
	event_free(pool->free_ev);
	event_free(pool->unavail_timer);
	intensity_free(pool->intensity);
	quarantine_free(pool->quarantine);
	gen_unref(pool->prev_gen);
	gen_unref(pool->gen);
	free(pool);
}

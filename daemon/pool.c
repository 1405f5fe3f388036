/*
 * Pools: a FIFO queue of tasks and the workers that serve it.  Dispatch
 * hands each task to the least loaded worker that has room (up to
 * prefetch tasks each).  Replacements after an unexpected exit are decided
 * here, throttled by restart intensity so a pool whose workers keep dying
 * backs off instead of fork-looping.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"
#include "log.h"

/* At most this many spawn/exit lines per pool per window, then a summary. */
#define LOG_BURST	20
#define LOG_WINDOW_MS	10000

static void	pool_spawn_cb(evutil_socket_t, short, void *);
static void	pool_backoff(struct pool *, unsigned int);
static void	pool_quiet_cb(evutil_socket_t, short, void *);

static void	pool_free_cb(evutil_socket_t, short, void *);

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
	TAILQ_INIT(&pool->queue);
	TAILQ_INIT(&pool->workers);
	pool->intensity = intensity_new(pc->restart_burst,
	    pc->restart_window_ms);
	pool->quarantine = quarantine_new();
	pool->spawn_timer = evtimer_new(master->base, pool_spawn_cb, pool);
	pool->quiet_timer = evtimer_new(master->base, pool_quiet_cb, pool);
	pool->free_ev = event_new(master->base, -1, 0, pool_free_cb, pool);
	if (pool->spawn_timer == NULL || pool->quiet_timer == NULL ||
	    pool->free_ev == NULL)
		fatalx("pool: event_new");
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
int
pool_log_allowed(struct pool *pool)
{
	uint64_t	now = master_now_ms();

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

	TAILQ_FOREACH(w, &pool->workers, entry) {
		/* Not ready, retiring, or dead with its exit not yet reaped. */
		if ((w->state != WORKER_IDLE && w->state != WORKER_BUSY) ||
		    w->conn == NULL || w->exited || w->recycle)
			continue;
		if (w->ninflight >= pool->conf->prefetch)
			continue;
		if (best == NULL || w->ninflight < best->ninflight) {
			best = w;
			if (w->ninflight == 0)
				break;
		}
	}
	return (best);
}

/*
 * While the pool holds a quarantine, every task is fingerprinted before it
 * may reach a worker; a quarantined one is answered at once.  With nothing
 * in quarantine (the usual case) this costs one comparison.
 */
static int
pool_refuse_poison(struct pool *pool, struct task *task)
{
	const struct quarantine_entry	*e;
	struct fp_fingerprint		 fp;
	uint64_t			 now;

	if (pool->quarantine == NULL ||
	    quarantine_count(pool->quarantine, now = master_now_ms()) == 0)
		return (0);
	fp = quarantine_fingerprint(evbuffer_pullup(task->body, -1),
	    evbuffer_get_length(task->body));
	if ((e = quarantine_check(pool->quarantine, fp, now)) == NULL)
		return (0);
	task_fail(task, FP_ERR_QUARANTINED, "this task crashed %u workers "
	    "since %.0f s ago; refused for %.0f s more (quarantine %016llx"
	    "%016llx)", e->crashes, (now - e->first_ms) / 1000.0,
	    (e->expires_ms - now) / 1000.0, (unsigned long long)fp.hi,
	    (unsigned long long)fp.lo);
	return (1);
}

/*
 * The first queued task that may run: a client over max_client_buffer is
 * closed on the next turn of the loop, and none of its tasks may start
 * meanwhile (client_free drops them).
 */
static struct task *
pool_next_task(struct pool *pool)
{
	struct task	*task;

	TAILQ_FOREACH(task, &pool->queue, entry)
		if (task->client == NULL || !client_overflowed(task->client))
			return (task);
	return (NULL);
}

/* Hand queued tasks to workers while any has room. */
void
pool_dispatch(struct pool *pool)
{
	struct task	*task;
	struct worker	*w;

	while ((task = pool_next_task(pool)) != NULL) {
		if ((w = pool_pick_worker(pool)) == NULL)
			return;
		pool_unqueue(task);
		if (pool_refuse_poison(pool, task))
			continue;
		worker_send(w, task);
	}
}

int
pool_submit(struct pool *pool, struct task *task)
{
	if (pool_refuse_poison(pool, task))
		return (-1);
	task->state = TASK_QUEUED;
	evutil_gettimeofday(&task->queued_at, NULL);
	TAILQ_INSERT_TAIL(&pool->queue, task, entry);
	pool->nqueued++;
	pool_dispatch(pool);
	return (0);
}

/* A task that will run again goes back to the front of the queue. */
void
pool_requeue_task(struct pool *pool, struct task *task)
{
	task->worker = NULL;
	task->state = TASK_QUEUED;
	TAILQ_INSERT_HEAD(&pool->queue, task, entry);
	pool->nqueued++;
}

void
pool_unqueue(struct task *task)
{
	TAILQ_REMOVE(&task->pool->queue, task, entry);
	task->pool->nqueued--;
}

/*
 * A dead worker's prefetched tasks, which never started, go back to the
 * front of the queue in their order.  Those nobody waits for any more (the
 * client left, or cancelled them) are dropped instead.
 */
void
pool_requeue(struct pool *pool, struct task_list *tasks)
{
	struct task	*task;

	while ((task = TAILQ_LAST(tasks, task_list)) != NULL) {
		TAILQ_REMOVE(tasks, task, entry);
		task->worker = NULL;
		if (task->client == NULL) {
			task_free(task);
			continue;
		}
		task->state = TASK_QUEUED;
		TAILQ_INSERT_HEAD(&pool->queue, task, entry);
		pool->nqueued++;
	}
}

/* Answer every queued task with code (stop, or a pool that cannot start). */
void
pool_fail_queue(struct pool *pool, int code, const char *text)
{
	struct task	*task;

	while ((task = TAILQ_FIRST(&pool->queue)) != NULL) {
		pool_unqueue(task);
		task_fail(task, code, "%s", text);
	}
}

/* A worker that can take tasks now and holds none. */
static int
pool_worker_idle(const struct worker *w)
{
	return (w->ready && w->ninflight == 0 && w->conn != NULL &&
	    !w->retiring && !w->exited && w->kill_code == 0);
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
		if (w->retiring || w->exited || w->kill_code != 0 ||
		    (w->gen != pool->gen || w->recycle) != stale)
			continue;
		n--;
		if (pool_worker_idle(w)) {
			log_debug("pool %s: retiring worker %ld", pool->name,
			    (long)w->pid);
			worker_retire(w);
		} else if (w->ready)
			w->recycle = 1;
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
		if (w->retiring || w->exited || w->kill_code != 0)
			continue;
		if (w->gen != pool->gen || w->recycle)
			stale++;
		else {
			live++;
			ready += w->ready;
		}
	}
	if (!evtimer_pending(pool->spawn_timer, NULL)) {
		while (live + stale < target && worker_spawn(pool) != NULL)
			live++;
		if (stale > 0 && live == ready && live + stale == target &&
		    worker_spawn(pool) != NULL)
			live++;		/* the next successor */
	}
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

/* A worker said PONG: it can take tasks. */
void
pool_worker_ready(struct pool *pool, struct worker *w)
{
	(void)w;
	pool->nready++;
	if (master->starting && pool->nready == pool->conf->workers)
		master_pool_ready(pool);
	pool_dispatch(pool);
	if (pool->reshaping)
		pool_reconcile(pool);
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
	log_warnx("reload failed: pool %s: workers of the new configuration "
	    "cannot start (%s); keeping the old configuration", pool->name,
	    pool->last_error);
	sdnotify_status("reload failed; see the log");
	reload_failed(": pool %s: workers of the new configuration cannot "
	    "start (%s); kept the old configuration", pool->name,
	    pool->last_error);
	gen_unref(pool->gen);
	pool->gen = pool->prev_gen;
	pool->conf = pool->gen->conf;
	pool->prev_gen = NULL;
	pool->reshaping = 1;
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
 * A worker is gone.  At start, a pool that could not bring up one worker
 * is fatal; later, an unexpected exit is replaced, after a back-off when
 * the pool's workers die too often.
 */
void
pool_worker_gone(struct pool *pool, struct worker *w, int unexpected)
{
	unsigned int	delay;

	pool->nworkers--;
	if (w->ready)
		pool->nready--;
	if (w->start_error[0] != '\0')
		snprintf(pool->last_error, sizeof(pool->last_error), "%s",
		    w->start_error);
	if (master->starting && !master->stopping && !w->ready &&
	    pool->nready == 0)
		master_fatal("pool %s: no worker could start: %s", pool->name,
		    pool->last_error);
	if (master->stopping) {
		/* Prefetched tasks it gave back cannot run any more. */
		pool_fail_queue(pool, FP_ERR_SHUTTING_DOWN, "the daemon is "
		    "stopping; the task was not run");
		master_check_stopped();
		return;
	}
	if (!w->ready && w->gen == pool->gen && pool->prev_gen != NULL)
		pool_rollback(pool);
	if (unexpected) {
		pool->restarts++;
		delay = intensity_exit(pool->intensity, master_now_ms());
		if (delay > 0 || pool->backoff)
			pool_backoff(pool, delay);
	}
	pool_reconcile(pool);
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
		master_arm_ms(pool->spawn_timer, delay);
	master_arm_ms(pool->quiet_timer, pool->conf->restart_window_ms);
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
	if (intensity_delay(pool->intensity, master_now_ms()) != 0) {
		master_arm_ms(pool->quiet_timer, pool->conf->restart_window_ms);
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
	pool_fail_queue(pool, FP_ERR_SHUTTING_DOWN,
	    "the daemon is stopping; the task was not run");
	for (w = TAILQ_FIRST(&pool->workers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->ninflight > 0)
			continue;
		/* One still starting may not read its channel yet. */
		if (!w->ready && w->pid != -1 && !w->exited)
			kill(-w->pid, SIGTERM);
		worker_retire(w);
	}
}

void
pool_free(struct pool *pool)
{
	event_free(pool->spawn_timer);
	event_free(pool->quiet_timer);
	event_free(pool->free_ev);
	intensity_free(pool->intensity);
	quarantine_free(pool->quarantine);
	gen_unref(pool->prev_gen);
	gen_unref(pool->gen);
	free(pool);
}

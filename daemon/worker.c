/*
 * The master's handle on one worker: spawn it, send it tasks, time them,
 * read its results, and bury it.  A worker ends with two events, process
 * exit (reaped in master.c) and channel EOF, in either order; the handle is
 * freed at the exit, after the channel has been drained, because only then
 * is the cause known (tmux job.c keeps the same pair).
 *
 * What a worker sends is read and checked in wframe.c.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"
#include "proto_int.h"

/* Payloads up to this are copied to the worker; larger ones referenced. */
#define COPY_MAX	4096

static void	worker_read_cb(void *);
static void	worker_close_cb(void *, int);
static void	worker_timer_cb(evutil_socket_t, short, void *);
static void	worker_slow_cb(evutil_socket_t, short, void *);
static void	worker_check_quota(struct worker *);
static void	worker_close(struct worker *);
static void	worker_free(struct worker *);

/*
 * Ready, and room for one more task of its pool's prefetch.  A worker
 * forked before a reload raised max_payload would refuse (and die of) a
 * task over its old limit: it takes none, and is replaced (stale).
 */
int
worker_can_take(const struct worker *w, unsigned int prefetch)
{
	return ((w->state == WORKER_IDLE || w->state == WORKER_BUSY) &&
	    w->ninflight < prefetch &&
	    w->max_payload >= master->conf->max_payload);
}

/* Ready, holding no task, and not killed or leaving on its own. */
int
worker_is_idle(const struct worker *w)
{
	return ((w->state == WORKER_IDLE || w->state == WORKER_RETIRING) &&
	    w->ninflight == 0);
}

/* Ready and taking tasks (when it has room). */
int
worker_is_serving(const struct worker *w)
{
	return (w->state == WORKER_IDLE || w->state == WORKER_BUSY);
}

/* Counts toward its pool's size: not on its way out. */
int
worker_is_live(const struct worker *w)
{
	return (w->state == WORKER_STARTING || w->state == WORKER_IDLE ||
	    w->state == WORKER_BUSY || w->state == WORKER_RETIRING);
}

/*
 * Live, but to be replaced: an old generation, due for recycling, or
 * forked with another max_payload than the daemon's now (a reload).
 */
int
worker_is_stale(const struct worker *w)
{
	return (w->gen != w->pool->gen || w->state == WORKER_RETIRING ||
	    w->max_payload != master->conf->max_payload);
}

/* It said PONG once, whatever it has become since. */
int
worker_was_ready(const struct worker *w)
{
	return (w->ready_ms != 0);
}

enum worker_shown
worker_shown(const struct worker *w)
{
	switch (w->state) {
	case WORKER_STARTING:
		return (SHOWN_STARTING);
	case WORKER_IDLE:
		return (SHOWN_IDLE);
	case WORKER_BUSY:
		return (SHOWN_BUSY);
	case WORKER_RETIRING:
		/* Still serving what it holds. */
		return (w->ninflight > 0 ? SHOWN_BUSY : SHOWN_STOPPING);
	case WORKER_STOPPING:
	case WORKER_LOST:
	case WORKER_KILLED:
	case WORKER_EXITED:
		break;
	}
	return (SHOWN_STOPPING);
}

const char *
worker_shown_name(enum worker_shown shown)
{
	static const char	*names[SHOWN_MAX] = { "starting", "idle",
				    "busy", "stopping" };

	return (names[shown]);
}

/* "killed by SIGSEGV (core dumped)" or "exited with status 3". */
static void
worker_status_str(int status, char *buf, size_t len)
{
	const char	*name;

	if (WIFSIGNALED(status)) {
		name = sigabbrev_np(WTERMSIG(status));
		snprintf(buf, len, "killed by %s%s%s", name != NULL ? "SIG" :
		    "signal ", name != NULL ? name : "?",
		    WCOREDUMP(status) ? " (core dumped)" : "");
		if (name == NULL)
			snprintf(buf, len, "killed by signal %d",
			    WTERMSIG(status));
	} else if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else
		snprintf(buf, len, "ended with wait status 0x%x", status);
}

static double
elapsed_s(const struct timeval *since)
{
	struct timeval	now, d;

	evutil_gettimeofday(&now, NULL);
	evutil_timersub(&now, since, &d);
	return (d.tv_sec + d.tv_usec / 1e6);
}

/* Seconds a task has run, by this turn's clock. */
static double
task_ran_s(const struct task *task)
{
	return ((clock_now_us() - task->started_us) / 1e6);
}

/*
 * The worker's channel.  Out of descriptors, the master's reserve is
 * given up so that a worker can still be replaced.
 */
static int
worker_socketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)
		return (0);
	if (errno != EMFILE || !master_fd_reserve_use())
		return (-1);
	return (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
}

/*
 * Fork a worker for pool from its current generation; NULL when that
 * failed (the reason in pool->last_error; the caller logs it).
 */
struct worker *
worker_spawn(struct pool *pool)
{
	struct worker	*w;
	sigset_t	 all, old;
	int		 sv[2], out[2] = { -1, -1 };
	pid_t		 pid, master_pid = getpid();
	int		 program = pool->gen->conf->command != NULL;

	if (worker_socketpair(sv) == -1) {
		snprintf(pool->last_error, sizeof(pool->last_error),
		    "socketpair: %s", strerror(errno));
		return (NULL);
	}
	/*
	 * Every worker's stdout and stderr come back through a pipe, to be
	 * logged with its pool and pid, cut and rate-limited: a module
	 * worker's too, so it cannot reach the master's terminal or forge
	 * lines of the log.
	 */
	if (pipe2(out, O_CLOEXEC | O_NONBLOCK) == -1 &&
	    (errno != EMFILE || !master_fd_reserve_use() ||
	    pipe2(out, O_CLOEXEC | O_NONBLOCK) == -1)) {
		snprintf(pool->last_error, sizeof(pool->last_error),
		    "pipe: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return (NULL);
	}
	w = xcalloc(1, sizeof(*w));
	w->pool = pool;
	w->gen = pool->gen;
	w->max_payload = master->conf->max_payload;
	/*
	 * No signal may run a master handler in the child between fork and
	 * its reset of dispositions: block them all around fork.
	 */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if ((pid = fork()) == -1) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		snprintf(pool->last_error, sizeof(pool->last_error),
		    "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		close(out[0]);
		close(out[1]);
		free(w);
		return (NULL);
	}
	if (pid == 0) {
		close(sv[0]);
		if (program)
			child_exec(w, sv[1], master_pid, out[1]);
		child_main(w, sv[1], master_pid, out[1]);
		/* NOTREACHED */
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	close(out[1]);
	w->out = output_new(master->base, out[0], "pool %s: worker %ld",
	    pool->name, (long)pid);
	/*
	 * No setpgid here: the child makes its own session (setsid), which
	 * a process already made a group leader cannot.  A kill before it
	 * has done so reaches its pid, and it has no children yet.
	 */

	gen_ref(w->gen);
	w->pid = pid;
	/* Jitter, so workers started together do not all retire together. */
	if (pool->conf->max_tasks > 0)
		w->task_limit = pool->conf->max_tasks +
		    arc4random_uniform(pool->conf->max_tasks / 10 + 1);
	w->state = WORKER_STARTING;
	TAILQ_INIT(&w->inflight);
	evutil_gettimeofday(&w->spawned_at, NULL);
	evutil_make_socket_nonblocking(sv[0]);
	w->conn = conn_new(sv[0], worker_read_cb, NULL, worker_close_cb, w);
	w->timer = evtimer_new(master->base, worker_timer_cb, w);
	w->slow_timer = evtimer_new(master->base, worker_slow_cb, w);
	if (w->timer == NULL || w->slow_timer == NULL)
		fatalx("worker: evtimer_new");
	/* It has start_timeout to say PONG. */
	clock_arm_ms(w->timer, w->gen->conf->start_timeout_ms);
	return (w);
}

/*
 * Start the running task's clock: it starts now.  The timers are not
 * moved per task (an event_add and event_del each, every task): one still
 * pending fires at a deadline no later than this task's, and its callback
 * re-arms it for what is left of the task then running.
 */
static void
worker_arm(struct worker *w)
{
	uint64_t	ms = w->pool->conf->task_timeout_ms;
	uint64_t	slow = w->pool->conf->slow_task_ms;
	struct task	*task;

	if ((task = TAILQ_FIRST(&w->inflight)) == NULL) {
		if (w->state == WORKER_BUSY)
			w->state = WORKER_IDLE;
		return;
	}
	task->started_us = clock_now_us();
	task->attempts++;
	if (w->state == WORKER_IDLE)
		w->state = WORKER_BUSY;
	if (slow > 0 && !evtimer_pending(w->slow_timer, NULL))
		clock_arm_ms(w->slow_timer, slow);
	if (ms > 0 && !evtimer_pending(w->timer, NULL))
		clock_arm_ms(w->timer, ms);
}

/*
 * A timer of the running task fired: 1 when task has run limit_ms;
 * otherwise it is armed again for the rest and 0.
 */
static int
worker_task_due(struct event *ev, const struct task *task, uint64_t limit_ms)
{
	uint64_t	ran = clock_now_us() - task->started_us;

	/*
	 * Also covers libevent's coarse clock, which may fire a few ms
	 * early: a task is never timed out before its time by our clock.
	 */
	if (ran >= limit_ms * 1000)
		return (1);
	clock_arm_ms(ev, limit_ms - ran / 1000 + 1);
	return (0);
}

/* Hand a task to the worker: one SUBMIT frame on its channel. */
void
worker_send(struct worker *w, struct task *task)
{
	size_t		 len = task->len;

	task->seq = ++master->next_seq;
	task->worker = w;
	task->state = TASK_SENT;
	/* In the room the client's header left (task_new). */
	fp_hdr_put(task->frame, FP_SUBMIT, task->namelen, task->seq, len);
	/*
	 * The task keeps its body until it is answered: a worker that dies
	 * holding prefetched tasks gives them back to the queue.  Small
	 * bodies are cheaper to copy than to reference.
	 */
	if (len <= COPY_MAX)
		conn_add(w->conn, task->frame, FP_HDR_LEN + len);
	else {
		conn_add(w->conn, task->frame, FP_HDR_LEN);
		evbuffer_add_reference(conn_output(w->conn), task->body, len,
		    NULL, NULL);
	}
	TAILQ_INSERT_TAIL(&w->inflight, task, entry);
	if (w->ninflight++ == 0)
		worker_arm(w);
}

/* Kill the worker's process group; the reap answers its task. */
void
worker_kill(struct worker *w, int code, const char *fmt, ...)
{
	va_list	ap;

	/* Once reaped, its pid may already belong to someone else. */
	if (w->pid == -1 || w->state == WORKER_EXITED)
		return;
	if (w->state != WORKER_KILLED) {
		w->state = WORKER_KILLED;
		w->kill_code = code;
		va_start(ap, fmt);
		vsnprintf(w->kill_reason, sizeof(w->kill_reason), fmt, ap);
		va_end(ap);
	}
	kill(-w->pid, SIGKILL);
	kill(w->pid, SIGKILL);
}

/*
 * CANCEL of a task the worker holds behind the one it runs: tell the
 * worker, which skips the task if it has not started it and then sends
 * nothing for it (lib/wchan.h).  The client has its answer already;
 * whatever comes back for the task is dropped.
 */
void
worker_cancel(struct worker *w, struct task *task)
{
	uint8_t	buf[FP_HDR_LEN];

	task->cancelled = 1;
	if (w->conn == NULL)
		return;
	fp_hdr_put(buf, FP_CANCEL, 0, task->seq, 0);
	conn_add(w->conn, buf, sizeof(buf));
}

/* A process's resident memory in bytes, from /proc (0 when unknown). */
long
worker_rss(pid_t pid)
{
	char	 path[64];
	FILE	*f;
	long	 size, resident = 0;

	snprintf(path, sizeof(path), "/proc/%ld/statm", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (resident * sysconf(_SC_PAGESIZE));
}

/*
 * max_tasks and max_rss: a worker past either is replaced, its successor
 * started first; it takes no new task and leaves once idle.  Counted as
 * recycled, never as a crash.
 */
static void
worker_check_quota(struct worker *w)
{
	struct pool	*pool = w->pool;
	long		 rss;

	if (w->task_limit > 0 && w->tasks >= w->task_limit)
		log_info("pool %s: worker %ld served %llu tasks (max_tasks); "
		    "replacing it", pool->name, (long)w->pid,
		    (unsigned long long)w->tasks);
	else if (pool->conf->max_rss > 0 &&
	    (rss = worker_rss(w->pid)) > (long)pool->conf->max_rss)
		log_info("pool %s: worker %ld uses %ld KiB, over max_rss; "
		    "replacing it", pool->name, (long)w->pid, rss / 1024);
	else
		return;
	worker_recycle(w);
	pool->recycled++;
	pool->reshaping = 1;
}

/* Due for replacement: it ends the tasks it holds and takes no more. */
void
worker_recycle(struct worker *w)
{
	if (w->state == WORKER_IDLE || w->state == WORKER_BUSY)
		w->state = WORKER_RETIRING;
}

/* The running task has been answered: the worker's side of it. */
struct task *
worker_answered(struct worker *w)
{
	struct task	*task = TAILQ_FIRST(&w->inflight);

	TAILQ_REMOVE(&w->inflight, task, entry);
	w->ninflight--;
	w->tasks++;
	pool_task_ran(w->pool, task);
	worker_arm(w);
	if (w->state == WORKER_IDLE || w->state == WORKER_BUSY)
		worker_check_quota(w);
	return (task);
}

/*
 * Take every whole frame the channel holds (wframe.c).  A worker found
 * breaking the protocol has been killed; its channel is closed here.
 */
static int
worker_read_frames(struct worker *w)
{
	if (wframe_read(w) == 0)
		return (0);
	worker_close(w);
	return (-1);
}

static void
worker_read_cb(void *arg)
{
	struct worker	*w = arg;

	if (worker_read_frames(w) == -1)
		return;
	pool_worker_answered(w->pool, w);
}

/* The grace a worker whose channel closed has to exit before it is killed. */
#define LOST_GRACE_MS	200

/*
 * The channel closed on the worker's side.  A worker that exits does so
 * (its reap follows); one that is still there after LOST_GRACE_MS closed
 * it and lives on, useless: it is killed with its group, and its task is
 * answered WORKER_CRASHED (worker_timer_cb).
 */
static void
worker_close_cb(void *arg, int err)
{
	struct worker	*w = arg;

	(void)err;
	worker_close(w);
	if (w->state == WORKER_LOST) {
		evtimer_del(w->slow_timer);
		clock_arm_ms(w->timer, LOST_GRACE_MS);
	}
}

static void
worker_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w = arg;
	struct task	*task = TAILQ_FIRST(&w->inflight);
	double		 ms = (double)w->pool->conf->task_timeout_ms;

	(void)fd;
	(void)events;
	if (w->state == WORKER_KILLED || w->state == WORKER_EXITED)
		return;
	if (w->state == WORKER_LOST) {
		log_warnx("pool %s: worker %ld closed its channel but did not "
		    "exit; killed", w->pool->name, (long)w->pid);
		worker_kill(w, FP_ERR_WORKER_CRASHED, "worker %ld closed its "
		    "channel while holding the task and was killed",
		    (long)w->pid);
		return;
	}
	/*
	 * After a stall of the master (SIGSTOP, a loaded machine) this may
	 * fire late: read what the worker sent first, so that a task that
	 * ended in time is answered with its result, not a TIMEOUT.
	 */
	if (w->conn != NULL && task != NULL) {
		conn_read_now(w->conn);
		if (worker_read_frames(w) == -1)
			return;
		if (TAILQ_FIRST(&w->inflight) != task) {
			pool_worker_answered(w->pool, w);
			return;
		}
	}
	if (!worker_was_ready(w)) {
		log_warnx("pool %s: worker %ld did not say it was ready within "
		    "start_timeout (%.3f s); killed", w->pool->name,
		    (long)w->pid, w->gen->conf->start_timeout_ms / 1000.0);
		snprintf(w->start_error, sizeof(w->start_error), "worker %ld "
		    "did not say it was ready within start_timeout (%.3f s)",
		    (long)w->pid, w->gen->conf->start_timeout_ms / 1000.0);
		worker_kill(w, FP_ERR_INTERNAL, "the worker never started");
		return;
	}
	if (task == NULL || !worker_task_due(w->timer, task,
	    w->pool->conf->task_timeout_ms))
		return;
	log_warnx("pool %s: worker %ld timed out after %.3f s; killed",
	    w->pool->name, (long)w->pid, ms / 1000);
	worker_kill(w, FP_ERR_TIMEOUT, "the task ran past task_timeout "
	    "(%.3f s); its worker %ld was killed", ms / 1000, (long)w->pid);
}

/* slow_task: a task still running past it is logged, once. */
static void
worker_slow_cb(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w = arg;
	struct task	*task = TAILQ_FIRST(&w->inflight);

	(void)fd;
	(void)events;
	if (task == NULL || !worker_task_due(w->slow_timer, task,
	    w->pool->conf->slow_task_ms))
		return;
	log_warnx("pool %s: worker %ld: slow task: id %llu (%zu bytes of "
	    "payload) has run %.3f s", w->pool->name, (long)w->pid,
	    (unsigned long long)task->id, (size_t)(task->len -
	    task->namelen), task_ran_s(task));
}

/*
 * Close the channel; a worker reading it then sees EOF and exits.  A worker
 * still serving whose channel closes takes no task any more.
 */
static void
worker_close(struct worker *w)
{
	if (w->conn == NULL)
		return;
	conn_free(w->conn);
	w->conn = NULL;
	if (worker_is_live(w))
		w->state = WORKER_LOST;
}

/*
 * Ask an idle worker to finish: it exits on the channel's EOF.  One still
 * starting may not read its channel yet, so it is sent SIGTERM as well.
 */
void
worker_retire(struct worker *w)
{
	if (!worker_is_live(w))
		return;
	if (w->state == WORKER_STARTING)
		kill(-w->pid, SIGTERM);
	w->state = WORKER_STOPPING;
	worker_close(w);
}

/*
 * Read what the worker wrote before it died: a result may sit in the socket
 * behind the SIGCHLD that announced the exit.
 */
static void
worker_drain(struct worker *w)
{
	if (w->conn == NULL)
		return;
	conn_read_now(w->conn);
	if (worker_read_frames(w) == 0)
		worker_close(w);
}

/* Why a worker died before it was ready, with its last words if any. */
static void
worker_start_error(struct worker *w, const char *why)
{
	size_t	off;

	off = snprintf(w->start_error, sizeof(w->start_error), "worker %ld "
	    "%s before it was ready", (long)w->pid, why);
	if (off < sizeof(w->start_error))
		output_last_words(w->out, w->start_error + off,
		    sizeof(w->start_error) - off);
}

/*
 * The worker's process has exited: read what it left, then tell its pool,
 * which answers or requeues its tasks and decides what comes next.
 */
void
worker_reaped(struct worker *w, int status, const struct rusage *ru)
{
	struct worker_exit	 ex = { .pid = w->pid, .ru = ru };
	struct task		*task;
	int			 asked;

	asked = w->state == WORKER_STOPPING;
	w->state = WORKER_EXITED;	/* no dispatch to it while drained */
	worker_drain(w);
	/*
	 * Status 0 with no task in hand, after serving at least one, is a
	 * worker that retired itself (a Python worker after
	 * max_tasks_per_child): replaced at once and not held against the
	 * pool's restart intensity (DESIGN.md).  One that served nothing
	 * still counts, so a program that exits at once cannot fork-loop.
	 * Read after the drain, so that its last result is not in flight.
	 */
	ex.unexpected = !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    (!asked && (w->ninflight != 0 || w->tasks == 0));
	evtimer_del(w->timer);
	evtimer_del(w->slow_timer);
	worker_status_str(status, ex.why, sizeof(ex.why));
	output_end(w->out);
	if (!worker_was_ready(w) && w->start_error[0] == '\0')
		worker_start_error(w, ex.why);
	ex.lived_s = elapsed_s(&w->spawned_at);

	/*
	 * Cancelled tasks at the front may have been skipped, and the next
	 * one started: that one is answered as the running task, never
	 * handed out again, so that no task can run twice.
	 */
	while ((task = TAILQ_FIRST(&w->inflight)) != NULL && task->cancelled) {
		TAILQ_REMOVE(&w->inflight, task, entry);
		w->ninflight--;
		task_free(task);
	}
	if (task != NULL) {
		TAILQ_REMOVE(&w->inflight, task, entry);
		ex.task = task;
		ex.ran_s = task_ran_s(task);
	}
	ex.unstarted = &w->inflight;
	ex.kill_code = w->kill_code;
	ex.kill_reason = w->kill_reason;
	w->ninflight = 0;
	w->pid = -1;
	pool_worker_exited(w->pool, w, &ex);
	worker_free(w);
}

static struct worker *
worker_find_in(struct pool_list *pools, pid_t pid)
{
	struct pool	*pool;
	struct worker	*w;

	TAILQ_FOREACH(pool, pools, entry)
		TAILQ_FOREACH(w, &pool->workers, entry)
			if (w->pid == pid)
				return (w);
	return (NULL);
}

struct worker *
worker_find(pid_t pid)
{
	struct worker	*w;

	if ((w = worker_find_in(&master->pools, pid)) != NULL)
		return (w);
	return (worker_find_in(&master->draining, pid));
}

static void
worker_free(struct worker *w)
{
	worker_close(w);
	output_free(w->out);
	event_free(w->timer);
	event_free(w->slow_timer);
	gen_unref(w->gen);
	free(w);
}

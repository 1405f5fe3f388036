/*
 * The master: one thread, one event_base.  It owns the signals (as loop
 * events, never raw handlers), reaps children, and runs start-up and the
 * graceful stop.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"

struct master	*master;

static void	master_reap(void);

static struct event	*sig_events[5];
static struct event	*tick_ev;
static struct event	*start_ev;
static int		 clients_closed;

/* A burst of this many bytes held, once gone, is given back (malloc_trim). */
#define TRIM_BURST	(32ULL * 1024 * 1024)

/*
 * Descriptors held back so that a worker can always be replaced, however
 * many clients took the rest: enough for one spawn (a channel and an
 * output pipe).
 */
#define FD_RESERVE	4
static int		 fd_reserve[FD_RESERVE] = { -1, -1, -1, -1 };
static uint64_t		 fd_reserve_warned;

/* Take the reserve (again); quietly keep what could be had. */
static void
master_fd_reserve_take(void)
{
	size_t	i;

	for (i = 0; i < FD_RESERVE; i++)
		if (fd_reserve[i] == -1)
			fd_reserve[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * Out of descriptors while spawning: give the reserve up for this spawn.
 * 1 when there was some to give; it is taken back at the next tick.
 */
int
master_fd_reserve_use(void)
{
	size_t	i;
	int	freed = 0;

	for (i = 0; i < FD_RESERVE; i++)
		if (fd_reserve[i] != -1) {
			close(fd_reserve[i]);
			fd_reserve[i] = -1;
			freed = 1;
		}
	if (clock_now_ms() - fd_reserve_warned >= 10000) {
		log_warnx("out of descriptors (RLIMIT_NOFILE); using the "
		    "reserve to start a worker: raise the limit or lower "
		    "max_clients");
		fd_reserve_warned = clock_now_ms();
	}
	return (freed);
}

/*
 * At start, every pool has had its start_timeout: one that still lacks
 * workers cannot start them, and a daemon that neither serves nor exits
 * helps nobody.
 */
static void
master_start_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pool	*pool;

	(void)fd;
	(void)events;
	(void)arg;
	if (!master->starting || master->stopping)
		return;
	TAILQ_FOREACH(pool, &master->pools, entry)
		if (pool->nready < pool->conf->workers)
			master_fatal("pool %s: only %u of %u workers started "
			    "within start_timeout (%.3f s): %s", pool->name,
			    pool->nready, pool->conf->workers,
			    pool->conf->start_timeout_ms / 1000.0,
			    pool->last_error[0] != '\0' ? pool->last_error :
			    "they did not say they were ready");
}

/*
 * The loop, one turn at a time: after each turn's callbacks, everything
 * they queued for every connection leaves in one write each (conn.c), and
 * the clock is read afresh in the next turn.
 */
static void
master_loop(void)
{
	for (;;) {
		clock_turn();
		if (event_base_loop(master->base, EVLOOP_ONCE) != 0)
			break;
		conn_flush_all();
		if (event_base_got_exit(master->base) ||
		    event_base_got_break(master->base))
			break;
	}
}

/*
 * A fatal error at start: tell systemd why (ERRNO=), leave no socket file
 * behind, and exit non-zero.  Workers die with us (PR_SET_PDEATHSIG).
 */
void
master_fatal(const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sdnotify_send("STATUS=failed to start: %s\nERRNO=%d", msg,
	    errno != 0 ? errno : EINVAL);
	listen_close();
	fatalx("%s", msg);
}

/* Every pool has all its workers: serve, and tell systemd. */
void
master_pool_ready(struct pool *ready)
{
	struct pool	*pool;

	log_debug("pool %s: all %u workers ready", ready->name,
	    ready->conf->workers);
	TAILQ_FOREACH(pool, &master->pools, entry)
		if (pool->nready < pool->conf->workers)
			return;
	master->starting = 0;
	listen_start();
	log_info("ready: %u pools, serving on %s", master->npools,
	    master->socket_path);
	sdnotify_send("READY=1\nSTATUS=serving %u pools on %s",
	    master->npools, master->socket_path);
}

static unsigned int
master_nworkers(void)
{
	struct pool	*pool;
	unsigned int	 n = 0;

	TAILQ_FOREACH(pool, &master->pools, entry)
		n += pool->nworkers;
	TAILQ_FOREACH(pool, &master->draining, entry)
		n += pool->nworkers;
	return (n);
}

/* Kill every worker left; the reaps answer their tasks with text. */
static void
master_kill_all(const char *text)
{
	struct pool_list	*lists[] = { &master->pools, &master->draining };
	struct pool		*pool;
	struct worker		*w;
	size_t			 i;

	for (i = 0; i < 2; i++)
		TAILQ_FOREACH(pool, lists[i], entry)
			TAILQ_FOREACH(w, &pool->workers, entry)
				worker_kill(w, FP_ERR_SHUTTING_DOWN, "%s",
				    text);
}

/*
 * Once a second: memory back to the system after a big client left, a
 * STATUS= line for `systemctl status` (sent only when it
 * changed), and while a stop drains, EXTEND_TIMEOUT_USEC so systemd waits
 * for the drain we promised rather than its own stop timeout.
 */
static void
master_tick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct pool	*pool;
	uint64_t	 served = 0, left;
	unsigned int	 ready = 0, size = 0, queued = 0;
	char		 line[384], backoff[192] = "";
	size_t		 off = 0;

	(void)fd;
	(void)events;
	(void)arg;
	/*
	 * glibc keeps freed memory for reuse; after a flood from a client
	 * that is gone, give it back so the master's RSS goes down again.
	 */
	/*
	 * Also after a burst of large tasks: once the bytes held fell to
	 * half of their peak (of at least 32 MiB), trim.
	 */
	if (master->held_peak >= TRIM_BURST && master->held <
	    master->held_peak / 2)
		master->trim_wanted = 1;
	if (master->trim_wanted) {
		master->trim_wanted = 0;
		master->held_peak = master->held;
		malloc_trim(0);
	}
	master_fd_reserve_take();
	TAILQ_FOREACH(pool, &master->pools, entry) {
		served += pool->completed;
		ready += pool->nready;
		size += pool->conf->workers;
		queued += pool->nqueued;
		if (pool->backoff && off < sizeof(backoff))
			off += snprintf(backoff + off, sizeof(backoff) - off,
			    "%s%s", off == 0 ? "; backing off: " : ", ",
			    pool->name);
	}
	if (master->stopping) {
		left = master->stop_deadline_ms > clock_now_ms() ?
		    master->stop_deadline_ms - clock_now_ms() : 0;
		sdnotify_send("EXTEND_TIMEOUT_USEC=%llu",
		    (unsigned long long)(left + 5000) * 1000);
		snprintf(line, sizeof(line), "stopping: %u workers left, "
		    "%llu ms until they are killed", master_nworkers(),
		    (unsigned long long)left);
	} else
		snprintf(line, sizeof(line), "%u pools, %u/%u workers ready, "
		    "%u tasks queued, %llu served%s%s%.120s", master->npools,
		    ready, size, queued, (unsigned long long)served, backoff,
		    master->reload_error[0] != '\0' ? "; last " : "",
		    master->reload_error);
	sdnotify_status(line);
}

/* During a stop: leave the loop once no worker and no client remains. */
void
master_check_stopped(void)
{
	if (!master->stopping || master_nworkers() > 0)
		return;
	if (!clients_closed) {
		clients_closed = 1;
		client_stop_all();
	}
	if (client_count() == 0)
		event_base_loopexit(master->base, NULL);
}

/* shutdown_timeout passed: kill what still runs; its tasks are answered. */
static void
master_stop_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	if (master_nworkers() == 0) {
		/* Clients that never read their replies: give up on them. */
		log_warnx("stop: clients still have unsent replies; closing");
		event_base_loopexit(master->base, NULL);
		return;
	}
	log_warnx("stop: shutdown_timeout passed; killing the workers left");
	master_kill_all("the daemon stopped and the task did not finish "
	    "within shutdown_timeout");
}

/*
 * The graceful stop: stop accepting, answer the queues, let running tasks
 * finish within shutdown_timeout.  A second signal stops at once.
 */
static void
master_stop(int sig)
{
	struct pool	*pool;
	uint64_t	 ms = master->conf->shutdown_timeout_ms;

	if (master->stopping) {
		log_warnx("received SIG%s again; stopping now",
		    sigabbrev_np(sig));
		master_kill_all("the daemon was told to stop at once");
		event_base_loopexit(master->base, NULL);
		return;
	}
	log_info("received SIG%s; stopping (running tasks have %.3f s)",
	    sigabbrev_np(sig), ms / 1000.0);
	master->stop_deadline_ms = clock_now_ms() + ms;
	sdnotify_send("STOPPING=1\nSTATUS=stopping\nEXTEND_TIMEOUT_USEC=%llu",
	    (unsigned long long)(ms + 5000) * 1000);
	master->stopping = 1;
	listen_close();
	TAILQ_FOREACH(pool, &master->pools, entry)
		pool_stop(pool);
	TAILQ_FOREACH(pool, &master->draining, entry)
		pool_stop(pool);
	/* After the workers' deadline, one more for unread replies. */
	master->stop_timer = evtimer_new(master->base, master_stop_timer_cb,
	    NULL);
	clock_arm_ms(master->stop_timer, ms);
	master_check_stopped();
}

static void
master_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	(void)events;
	(void)arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		master_stop(sig);
		break;
	case SIGHUP:
		reload_run();
		break;
	case SIGCHLD:
		master_reap();
		break;
	}
}

/*
 * Kill what a dead worker left behind.  Its process group first: the pid
 * cannot have been reused while the worker is an unreaped zombie.  Then
 * any child of ours that is not a worker: a descendant that left the
 * group (setsid, double fork) and was handed to us, the subreaper, when
 * its parent died.
 */
static void
master_kill_leftovers(pid_t pgid)
{
	struct dirent	*de;
	DIR		*proc;
	FILE		*f;
	char		 path[64], comm[64];
	pid_t		 me = getpid();
	long		 pid, ppid;
	char		 state;

	if (pgid > 0)
		kill(-pgid, SIGKILL);
	if ((proc = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(proc)) != NULL) {
		if ((pid = strtol(de->d_name, NULL, 10)) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fscanf(f, "%*d (%63[^)]) %c %ld", comm, &state,
		    &ppid) == 3 && ppid == me && state != 'Z' &&
		    worker_find((pid_t)pid) == NULL) {
			log_warnx("killing process %ld (%s), left behind by a "
			    "worker", pid, comm);
			kill((pid_t)pid, SIGKILL);
		}
		fclose(f);
	}
	closedir(proc);
}

/*
 * Reap every exited child; each worker's pool decides what comes next.
 * Each is looked at before it is reaped, so that its group can be killed
 * while its pid is still ours.
 */
static void
master_reap(void)
{
	struct rusage	 ru;
	struct worker	*w;
	siginfo_t	 si;
	pid_t		 pid;
	int		 status;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				log_warn("waitid");
			return;
		}
		if ((pid = si.si_pid) == 0)
			return;
		w = worker_find(pid);
		if (w != NULL)
			master_kill_leftovers(pid);
		while (wait4(pid, &status, 0, &ru) == -1 && errno == EINTR)
			;
		if (w == NULL) {
			log_debug("reaped process %ld, left behind by a worker",
			    (long)pid);
			continue;
		}
		worker_reaped(w, status, &ru);
	}
}

static void
master_signals(void)
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	size_t			 i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sig_events[i] = evsignal_new(master->base, sigs[i],
		    master_signal_cb, NULL);
		if (sig_events[i] == NULL || evsignal_add(sig_events[i],
		    NULL) == -1)
			fatalx("cannot watch signal %d", sigs[i]);
	}
}

/* After the loop: nothing may be left running or on disk. */
static void
master_cleanup(void)
{
	struct pool_list	*lists[] = { &master->pools, &master->draining };
	struct pool		*pool;
	struct worker		*w;
	struct rusage		 ru;
	size_t			 i;
	int			 status;

	/*
	 * After a second signal the workers were killed and the loop left at
	 * once: bury them here so their tasks are still answered, and give
	 * each client one chance to take its replies.
	 */
	for (i = 0; i < 2; i++)
		TAILQ_FOREACH(pool, lists[i], entry)
			while ((w = TAILQ_FIRST(&pool->workers)) != NULL) {
				kill(-w->pid, SIGKILL);
				if (wait4(w->pid, &status, 0, &ru) == -1)
					fatal("wait4 %ld", (long)w->pid);
				worker_reaped(w, status, &ru);
			}
	/* What escaped the workers' groups: killed, so waited for. */
	master_kill_leftovers(0);
	while (waitpid(-1, &status, 0) > 0 || errno == EINTR)
		;
	client_flush_all();
	client_free_all();
	task_free_all();
	listen_close();
	for (i = 0; i < 2; i++)
		while ((pool = TAILQ_FIRST(lists[i])) != NULL) {
			TAILQ_REMOVE(lists[i], pool, entry);
			pool_free(pool);
		}
	for (i = 0; i < sizeof(sig_events) / sizeof(sig_events[0]); i++)
		if (sig_events[i] != NULL)
			event_free(sig_events[i]);
	if (master->stop_timer != NULL)
		event_free(master->stop_timer);
	event_free(tick_ev);
	event_free(start_ev);
	sdnotify_stop();
	event_base_free(master->base);
}

/* Load the pools, listen, start the workers, serve until stopped. */
int
master_run(struct config *conf, const char *socket_path)
{
	struct pool_config	*pc;
	struct pool		*pool;
	struct gen		*gen;
	struct timeval		 one_second = { 1, 0 };
	char			 err[1024];
	int			 fd;
	uint64_t		 start_ms = 0;

	master = xcalloc(1, sizeof(*master));
	master->conf = conf;
	master->listen_fd = -1;
	master->starting = 1;
	master->socket_path = socket_path;
	TAILQ_INIT(&master->pools);
	TAILQ_INIT(&master->draining);
	evutil_gettimeofday(&master->started_at, NULL);
	if ((master->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");

	sdnotify_init();
	/*
	 * Descendants of a worker that escape its group (setsid, a double
	 * fork) come back to us when their parent dies, to be killed and
	 * reaped (master_kill_leftovers) instead of living on unseen.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		log_warn("PR_SET_CHILD_SUBREAPER");
	/* The pools take their sections; conf keeps the daemon settings. */
	while ((pc = TAILQ_FIRST(&conf->pools)) != NULL) {
		TAILQ_REMOVE(&conf->pools, pc, entry);
		if ((gen = gen_new(pc, err, sizeof(err))) == NULL)
			master_fatal("%s", err);
		pool_create(gen);
	}
	if ((fd = sdnotify_listen_fd()) != -1) {
		if (listen_adopt(fd, err, sizeof(err)) == -1)
			master_fatal("%s", err);
		if (conf->socket != NULL)
			log_info("socket activation: serving on the socket "
			    "systemd passed (fd %d); the socket setting %s is "
			    "ignored", fd, conf->socket);
		else
			log_info("socket activation: serving on the socket "
			    "systemd passed (fd %d)", fd);
	} else if (listen_open(socket_path, conf->socket_mode, err,
	    sizeof(err)) == -1)
		master_fatal("%s", err);
	master_signals();
	sdnotify_start(master->base);
	tick_ev = event_new(master->base, -1, EV_PERSIST, master_tick_cb, NULL);
	if (tick_ev == NULL || event_add(tick_ev, &one_second) == -1)
		fatalx("tick: event_new");
	log_info("forkpoold %s starting: %u pools from %s", FORKPOOL_VERSION,
	    master->npools, conf->path);
	master_fd_reserve_take();
	start_ev = evtimer_new(master->base, master_start_cb, NULL);
	if (start_ev == NULL)
		fatalx("start: evtimer_new");
	TAILQ_FOREACH(pool, &master->pools, entry) {
		if (pool->conf->start_timeout_ms > start_ms)
			start_ms = pool->conf->start_timeout_ms;
		pool_reconcile(pool);
	}
	/* A worker killed at its start_timeout is reaped just after. */
	clock_arm_ms(start_ev, start_ms + 500);
	master_loop();

	master_cleanup();
	log_info("stopped");
	return (0);
}

/*
 * Supervision, live: a real forkpoold and the faulty test module.  A worker
 * that is killed, crashes, exits or hangs costs its own task and nothing
 * else; the pool comes back to full size; a pool that keeps crashing backs
 * off instead of fork-looping; a pool that cannot start stops the daemon at
 * start; workers hold nothing of the master's but their own channel.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

#define WAIT_MS		10000	/* deadline for what should be quick */
#define POLL_MS		20	/* interval between two looks at STATUS */

/* The STATUS entry of worker pid in pool, or NULL (borrowed from st). */
static json_t *
status_worker(json_t *st, const char *pool, pid_t pid)
{
	json_t	*p, *w;
	size_t	 i;

	if ((p = tstatus_pool(st, pool)) == NULL)
		return (NULL);
	json_array_foreach(json_object_get(p, "workers"), i, w) {
		if (json_integer_value(json_object_get(w, "pid")) == pid)
			return (w);
	}
	return (NULL);
}

/* Check that pool is back to its configured size, every worker idle. */
static void
check_full_size(const char *sock, const char *pool, int size, int timeout_ms)
{
	json_t	*st, *p, *w;
	size_t	 i;

	twait_idle(sock, pool, size, timeout_ms);
	st = tstatus(sock);
	p = tstatus_pool(st, pool);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "size")), size);
	ck_assert_int_eq(json_array_size(json_object_get(p, "workers")), size);
	json_array_foreach(json_object_get(p, "workers"), i, w)
		ck_assert_str_eq(json_string_value(json_object_get(w, "state")),
		    "idle");
	json_decref(st);
}

/* Check that a reply is a successful RESULT for id. */
static void
check_result(const struct fp_hdr *hdr, const char *body, uint64_t id)
{
	ck_assert_msg(hdr->type == FP_RESULT && hdr->arg == 0,
	    "id %llu: wanted RESULT 0, got type 0x%x arg %u: %s",
	    (unsigned long long)id, hdr->type, hdr->arg, body);
	ck_assert_uint_eq(hdr->id, id);
}

/* Append one SUBMIT frame to buf at *off (for several in one write). */
static void
frame_submit(uint8_t *buf, size_t cap, size_t *off, uint64_t id,
    const char *pool, const char *payload)
{
	struct fp_hdr	hdr;
	size_t		nlen = strlen(pool), plen = strlen(payload);

	ck_assert_uint_le(*off + FP_HDR_LEN + nlen + plen, cap);
	hdr.len = nlen + plen;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = FP_SUBMIT;
	hdr.arg = nlen;
	hdr.id = id;
	fp_hdr_encode(buf + *off, &hdr);
	memcpy(buf + *off + FP_HDR_LEN, pool, nlen);
	memcpy(buf + *off + FP_HDR_LEN + nlen, payload, plen);
	*off += FP_HDR_LEN + nlen + plen;
}

/*
 * The end of a log, at most TAIL_MAX bytes from a line start: Check's
 * failure message has room for no more.
 */
#define TAIL_MAX	2000
static const char *
tail(const char *log)
{
	size_t		 len = strlen(log);
	const char	*p;

	if (len <= TAIL_MAX)
		return (log);
	p = log + len - TAIL_MAX;
	if (strchr(p, '\n') != NULL && strchr(p, '\n')[1] != '\0')
		p = strchr(p, '\n') + 1;
	return (p);
}

/* Lines of text containing both a and b. */
static int
count_lines2(const char *text, const char *a, const char *b)
{
	const char	*line, *nl;
	char		*copy;
	int		 n = 0;

	for (line = text; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line);
		copy = strndup(line, nl - line);
		if (strstr(copy, a) != NULL && strstr(copy, b) != NULL)
			n++;
		free(copy);
		if (*nl == '\0')
			break;
	}
	return (n);
}

/* The "kill" pool: two workers of the faulty module. */
static const char ini_faulty2[] =
    "[pool:faulty]\n"
    "module = @T/faulty.so\n"
    "workers = 2\n";

/* One worker, so that consecutive tasks share it. */
static const char ini_faulty1[] =
    "[pool:faulty]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n";

START_TEST(test_kill_sigkill)
{
	/*
	 * A worker killed with SIGKILL from outside while it runs a task:
	 * that task is answered WORKER_CRASHED naming SIGKILL, the pool is
	 * back to full size with a new process, and the next task is served.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*body;
	pid_t		 victim, pids[2], next;
	int		 fd, i, n;

	d = fpd_start(ini_faulty2);
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "hang", 4);
	twait_busy(d->sock, "faulty", 1, &victim);
	ck_assert_int_eq(kill(victim, SIGKILL), 0);

	treply(fd, &hdr, &body);
	tcheck_error(&hdr, body, 1, FP_ERR_WORKER_CRASHED);
	ck_assert_msg(strstr(body, "SIGKILL") != NULL,
	    "WORKER_CRASHED text does not name SIGKILL: %s", body);
	free(body);

	ck_assert_int_eq(twait_pid_gone(victim, WAIT_MS), 0);
	check_full_size(d->sock, "faulty", 2, WAIT_MS);
	n = tpool_pids(d->sock, "faulty", pids, 2);
	ck_assert_int_eq(n, 2);
	for (i = 0; i < n; i++)
		ck_assert_int_ne(pids[i], victim);

	next = trun_pid(fd, 2, "faulty", "pid");
	ck_assert_int_ne(next, victim);
	close(fd);
	fpd_stop(d);
}
END_TEST

/*
 * The ways a handler can kill its worker, for test_crash_kinds: the
 * payload that does it, what the WORKER_CRASHED text names, and the
 * daemon's log line after "worker PID ".
 */
static const struct crash_kind {
	const char	*payload;
	const char	*reply;
	const char	*log;
} crash_kinds[] = {
	{ "segv", "SIGSEGV", "killed by SIGSEGV" },
	{ "abort", "SIGABRT", "killed by SIGABRT" },
	{ "exit:3", "exited with status 3", "exited with status 3" },
};

START_TEST(test_crash_kinds)
{
	/*
	 * A handler that crashes its worker (a signal, or _exit) costs only
	 * its task: the reply is WORKER_CRASHED naming the signal or the
	 * exit status, the exit is logged exactly once with the worker's
	 * pid, and a replacement serves the next task.
	 */
	const struct crash_kind	*k = &crash_kinds[_i];
	struct fpd		*d;
	char			*body, line[128];
	pid_t			 old, next;
	int			 fd;

	d = fpd_start(ini_faulty1);
	fd = tconnect(d->sock);
	old = trun_pid(fd, 1, "faulty", "pid");
	body = tsubmit_error(fd, 2, "faulty", k->payload,
	    FP_ERR_WORKER_CRASHED);
	ck_assert_msg(strstr(body, k->reply) != NULL,
	    "%s: WORKER_CRASHED text does not name %s: %s", k->payload,
	    k->reply, body);
	free(body);

	next = trun_pid(fd, 3, "faulty", "pid");
	ck_assert_int_ne(next, old);
	snprintf(line, sizeof(line), "worker %ld %s", (long)old, k->log);
	ck_assert_int_eq(fpd_wait_log(d, line, WAIT_MS), 0);
	check_full_size(d->sock, "faulty", 1, WAIT_MS);
	ck_assert_int_eq(fpd_log_count(d, line), 1);
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_timeout)
{
	/*
	 * A task that runs past task_timeout (500 ms) is answered TIMEOUT,
	 * not before the timeout; its worker is killed (the old pid is
	 * gone) and a new worker serves the next task.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*body, line[128];
	pid_t		 old, next;
	long long	 t0, took;
	int		 fd;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "task_timeout = 500ms\n");
	fd = tconnect(d->sock);
	old = trun_pid(fd, 1, "faulty", "pid");

	t0 = tnow_ms();
	tsend_submit(fd, 2, "faulty", "hang", 4);
	treply(fd, &hdr, &body);
	took = tnow_ms() - t0;
	tcheck_error(&hdr, body, 2, FP_ERR_TIMEOUT);
	ck_assert_msg(took >= 500, "TIMEOUT after %lld ms, before 500 ms",
	    took);
	ck_assert_msg(strstr(body, "0.5") != NULL ||
	    strstr(body, "500") != NULL,
	    "TIMEOUT text does not name the timeout: %s", body);
	free(body);

	ck_assert_int_eq(twait_pid_gone(old, WAIT_MS), 0);
	next = trun_pid(fd, 3, "faulty", "pid");
	ck_assert_int_ne(next, old);
	snprintf(line, sizeof(line), "worker %ld timed out", (long)old);
	ck_assert_int_eq(fpd_log_count(d, line), 1);
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_crash_spares_others)
{
	/*
	 * A worker crash disturbs nothing else: tasks of other connections
	 * running on other workers at that moment complete normally, on
	 * workers that stay alive.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	struct pollfd	 pfd[2];
	char		*body;
	pid_t		 busy[2];
	int		 a, b, c, i;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 3\n");
	a = tconnect(d->sock);
	b = tconnect(d->sock);
	c = tconnect(d->sock);
	tsend_submit(a, 1, "faulty", "sleep:1500", 10);
	tsend_submit(b, 1, "faulty", "sleep:1500", 10);
	twait_busy(d->sock, "faulty", 2, busy);

	tsubmit(c, 1, "faulty", "segv", 4, &hdr, &body);
	tcheck_error(&hdr, body, 1, FP_ERR_WORKER_CRASHED);
	free(body);

	/* The crash was handled while the two others were still running. */
	pfd[0].fd = a;
	pfd[1].fd = b;
	pfd[0].events = pfd[1].events = POLLIN;
	ck_assert_int_eq(poll(pfd, 2, 0), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(kill(busy[i], 0), 0);
		ck_assert(tpool_has_pid(d->sock, "faulty", busy[i]));
	}

	treply(a, &hdr, &body);
	check_result(&hdr, body, 1);
	ck_assert_str_eq(body, "slept");
	free(body);
	treply(b, &hdr, &body);
	check_result(&hdr, body, 1);
	ck_assert_str_eq(body, "slept");
	free(body);
	check_full_size(d->sock, "faulty", 3, WAIT_MS);
	close(a);
	close(b);
	close(c);
	fpd_stop(d);
}
END_TEST

START_TEST(test_prefetch_crash)
{
	/*
	 * With prefetch, only the task that was running when the worker died
	 * is answered WORKER_CRASHED; the tasks prefetched behind it are run
	 * once, on the replacement, and answered RESULT: none is lost,
	 * failed, answered twice or run twice.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	json_t		*st, *w;
	uint8_t		 buf[1024];
	size_t		 off = 0;
	char		*body, *end;
	pid_t		 old, ran[7] = { 0 };
	uint64_t	 id;
	int		 fd, got[7] = { 0 }, i;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "prefetch = 8\n");
	fd = tconnect(d->sock);
	old = trun_pid(fd, 100, "faulty", "pid");

	/* All six in one write: the master hands them over as one batch. */
	frame_submit(buf, sizeof(buf), &off, 1, "faulty", "segv");
	for (id = 2; id <= 6; id++)
		frame_submit(buf, sizeof(buf), &off, id, "faulty", "pid");
	tsend_raw(fd, buf, off);

	for (i = 0; i < 6; i++) {
		treply(fd, &hdr, &body);
		ck_assert_msg(hdr.id >= 1 && hdr.id <= 6,
		    "reply for unknown id %llu", (unsigned long long)hdr.id);
		ck_assert_msg(got[hdr.id] == 0, "id %llu answered twice",
		    (unsigned long long)hdr.id);
		got[hdr.id] = 1;
		if (hdr.id == 1) {
			tcheck_error(&hdr, body, 1, FP_ERR_WORKER_CRASHED);
			ck_assert_msg(strstr(body, "SIGSEGV") != NULL,
			    "crash text: %s", body);
		} else {
			check_result(&hdr, body, hdr.id);
			ran[hdr.id] = strtol(body, &end, 10);
			ck_assert(*end == '\0');
		}
		free(body);
	}
	for (id = 2; id <= 6; id++) {
		ck_assert_int_ne(ran[id], old);
		ck_assert_int_eq(ran[id], ran[2]);
	}

	/* Nothing more comes: the next frame is the answer to a PING. */
	tping(fd, 99);

	/* The replacement ran each of the five exactly once. */
	st = tstatus(d->sock);
	w = status_worker(st, "faulty", ran[2]);
	ck_assert_msg(w != NULL, "replacement %ld not in STATUS",
	    (long)ran[2]);
	ck_assert_int_eq(json_integer_value(json_object_get(w, "tasks")), 5);
	json_decref(st);
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_prefetch_timeout_start)
{
	/*
	 * A prefetched task's task_timeout starts when the task before it
	 * finishes, not when it was handed over: two 500 ms tasks prefetched
	 * together on one worker with an 800 ms timeout both succeed.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	uint8_t		 buf[256];
	size_t		 off = 0;
	char		*body;
	long long	 t0, took;
	int		 fd, got[3] = { 0 }, i;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "prefetch = 2\n"
	    "task_timeout = 800ms\n");
	fd = tconnect(d->sock);
	frame_submit(buf, sizeof(buf), &off, 1, "faulty", "sleep:500");
	frame_submit(buf, sizeof(buf), &off, 2, "faulty", "sleep:500");
	t0 = tnow_ms();
	tsend_raw(fd, buf, off);
	for (i = 0; i < 2; i++) {
		treply(fd, &hdr, &body);
		ck_assert_msg(hdr.id == 1 || hdr.id == 2, "unknown id");
		ck_assert(got[hdr.id] == 0);
		got[hdr.id] = 1;
		check_result(&hdr, body, hdr.id);
		ck_assert_str_eq(body, "slept");
		free(body);
	}
	took = tnow_ms() - t0;
	/* One worker ran them in turn: the second waited past 800 ms total. */
	ck_assert_msg(took >= 1000, "both done in %lld ms", took);
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_killed_takes_nothing)
{
	/*
	 * A worker sent SIGKILL (here at task_timeout, with prefetch 8 and
	 * room left) is never handed another task: the hanging task is
	 * answered TIMEOUT, and every task submitted before and around the
	 * kill is answered RESULT exactly once by another worker.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	uint8_t		 buf[512];
	size_t		 off = 0;
	char		*body, *end;
	pid_t		 hung;
	uint64_t	 id, next = 10;
	int		 a, b, got[64] = { 0 }, done = 0, i;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "prefetch = 8\n"
	    "task_timeout = 300ms\n");
	a = tconnect(d->sock);
	b = tconnect(d->sock);
	hung = trun_pid(a, 1, "faulty", "pid");
	tsend_submit(a, 2, "faulty", "hang", 4);
	/* Three prefetched behind the hanging task: five slots stay free. */
	for (id = next; id < next + 3; id++)
		frame_submit(buf, sizeof(buf), &off, id, "faulty", "pid");
	tsend_raw(b, buf, off);
	next += 3;
	treply(a, &hdr, &body);
	tcheck_error(&hdr, body, 2, FP_ERR_TIMEOUT);
	free(body);
	/* Right after the kill, more tasks; none may reach the dead worker. */
	for (i = 0; i < 3; i++)
		tsend_submit(b, next++, "faulty", "pid", 3);
	while (done < (int)(next - 10)) {
		treply(b, &hdr, &body);
		ck_assert_msg(hdr.id >= 10 && hdr.id < next,
		    "reply for unknown id %llu", (unsigned long long)hdr.id);
		ck_assert_msg(got[hdr.id] == 0, "id %llu answered twice",
		    (unsigned long long)hdr.id);
		got[hdr.id] = 1;
		check_result(&hdr, body, hdr.id);
		ck_assert_int_ne(strtol(body, &end, 10), hung);
		free(body);
		done++;
	}
	ck_assert_int_eq(twait_pid_gone(hung, WAIT_MS), 0);
	tping(b, 99);
	close(a);
	close(b);
	fpd_stop(d);
}
END_TEST

/* 1 when STATUS says pool is backing off. */
static int
pool_backoff(const char *sock, const char *pool)
{
	json_t	*st, *p;
	int	 b;

	st = tstatus(sock);
	p = tstatus_pool(st, pool);
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(json_is_boolean(json_object_get(p, "backoff")),
	    "STATUS pool %s has no boolean \"backoff\"", pool);
	b = json_is_true(json_object_get(p, "backoff"));
	json_decref(st);
	return (b);
}

/*
 * Check the back-off lines of pool in log: at least one, and the delays
 * they announce strictly increasing (no change logged twice).
 */
static void
check_backoff_lines(const char *log, const char *pool)
{
	const char	*p, *q;
	char		 needle[128];
	int		 n = 0, delay, last = 0;

	snprintf(needle, sizeof(needle), "pool %s: restarting too often, "
	    "backing off: next worker in ", pool);
	for (p = log; (q = strstr(p, needle)) != NULL; p = q + 1) {
		ck_assert_msg(sscanf(q + strlen(needle), "%d s", &delay) == 1,
		    "back-off line without a delay:\n%s", tail(log));
		ck_assert_msg(delay > last, "back-off to %d s logged after "
		    "%d s:\n%s", delay, last, tail(log));
		last = delay;
		n++;
	}
	ck_assert_msg(n >= 1, "no back-off line:\n%s", tail(log));
}

START_TEST(test_crash_loop_backoff)
{
	/*
	 * A pool whose workers die as fast as they are spawned, after the
	 * daemon started, backs off instead of fork-looping: STATUS says
	 * backoff, each change of back-off is logged once, few workers are
	 * spawned, the daemon and its other pools keep serving; once the
	 * cause is gone the pool recovers to full size and serves.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		 dir[] = "/tmp/fp-crashloop-XXXXXX";
	char		 trigger[64], ini[512], *body, *log;
	long long	 deadline, t0, restarts;
	uint64_t	 id = 1;
	int		 fd, tfd, started;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(trigger, sizeof(trigger), "%s/trigger", dir);
	snprintf(ini, sizeof(ini), "[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "module_args = crashloop=%s\n"
	    "workers = 2\n"
	    "restart_burst = 3\n"
	    "restart_window = 10s\n"
	    "\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 1\n", trigger);
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	ck_assert_int_eq(pool_backoff(d->sock, "faulty"), 0);

	ck_assert_int_ne(tfd = open(trigger, O_CREAT | O_WRONLY, 0644), -1);
	close(tfd);
	tsubmit(fd, id++, "faulty", "segv", 4, &hdr, &body);
	tcheck_error(&hdr, body, id - 1, FP_ERR_WORKER_CRASHED);
	free(body);

	deadline = tnow_ms() + WAIT_MS;
	while (!pool_backoff(d->sock, "faulty")) {
		if (tnow_ms() >= deadline) {
			log = fpd_log(d);
			ck_abort_msg("no back-off; log:\n%s", tail(log));
		}
		tnap(POLL_MS);
	}
	ck_assert_int_eq(fpd_wait_log(d, "backing off", WAIT_MS), 0);

	/*
	 * Watch it for two seconds: a fork loop would spawn hundreds of
	 * workers in that time.  Meanwhile the daemon and the echo pool
	 * answer as usual.
	 */
	t0 = tnow_ms();
	while (tnow_ms() - t0 < 2000) {
		tping(fd, id++);
		tsubmit(fd, id, "echo", "still here", 10, &hdr, &body);
		check_result(&hdr, body, id++);
		ck_assert_str_eq(body, "still here");
		free(body);
		tnap(100);
	}
	log = fpd_log(d);
	started = count_lines2(log, "pool faulty:", " started");
	ck_assert_msg(started <= 12, "%d workers started in a crash loop:\n%s",
	    started, tail(log));
	/* The log is rate-limited: STATUS counts every restart. */
	restarts = tpool_int(d->sock, "faulty", "restarts");
	ck_assert_msg(restarts <= 10, "%lld restarts in a crash loop",
	    restarts);
	/*
	 * Back-off is logged once per change: on entering it, then each time
	 * the delay grows, so the delays logged only ever increase.
	 */
	check_backoff_lines(log, "faulty");
	free(log);

	/* The cause goes away: the pool comes back and serves. */
	ck_assert_int_eq(unlink(trigger), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	/* Its next spawn may be a few seconds away (30 s at most). */
	check_full_size(d->sock, "faulty", 2, 35000);
	ck_assert(trun_pid(fd, id++, "faulty", "pid") > 0);
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_worker_init_fails)
{
	/*
	 * At start, a pool none of whose workers can run worker_init is a
	 * fatal configuration error: forkpoold exits non-zero and its log
	 * names the pool and the module's reason.
	 */
	struct fpd	*d;
	char		*log;
	int		 st;

	d = fpd_spawn("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "module_args = initfail\n"
	    "workers = 2\n", NULL);
	st = fpd_wait_exit(d, WAIT_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0,
	    "forkpoold ended with wait status 0x%x", st);
	log = fpd_log(d);
	ck_assert_msg(strstr(log, "pool faulty") != NULL &&
	    strstr(log, "initfail") != NULL,
	    "the log does not name the pool and the reason:\n%s",
	    tail(log));
	free(log);
	fpd_stop(d);
}
END_TEST

START_TEST(test_module_init_fails)
{
	/*
	 * A module whose init fails in the master stops the daemon at start:
	 * forkpoold exits non-zero naming the module file.
	 */
	struct fpd	*d;
	const char	*dir;
	char		*log, file[PATH_MAX];
	int		 st;

	d = fpd_spawn("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "module_args = masterfail\n"
	    "workers = 1\n", NULL);
	st = fpd_wait_exit(d, WAIT_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0,
	    "forkpoold ended with wait status 0x%x", st);
	if ((dir = getenv("FORKPOOL_TEST_MODULE_DIR")) != NULL)
		snprintf(file, sizeof(file), "%s/faulty.so", dir);
	else
		snprintf(file, sizeof(file), "faulty.so");
	log = fpd_log(d);
	ck_assert_msg(strstr(log, file) != NULL,
	    "the log does not name the module file %s:\n%s", file,
	    tail(log));
	free(log);
	fpd_stop(d);
}
END_TEST

/*
 * Check that worker pid holds descriptors 0, 1, 2 and 3 only, 3 being a
 * connected socket made by the daemon (its channel), and that its parent is
 * the daemon.
 */
static void
check_worker_fds(pid_t pid, pid_t daemon)
{
	DIR		*dir;
	struct dirent	*de;
	struct ucred	 cred;
	socklen_t	 len;
	char		 path[64];
	long		 n;
	int		 pidfd, fd, seen = 0, v;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	ck_assert_ptr_nonnull(dir = opendir(path));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n = strtol(de->d_name, NULL, 10);
		ck_assert_msg(n >= 0 && n <= 3,
		    "worker %ld holds descriptor %ld", (long)pid, n);
		seen |= 1 << n;
	}
	closedir(dir);
	ck_assert_msg(seen & (1 << 3), "worker %ld has no channel on 3",
	    (long)pid);

	/* Look at its descriptor 3 itself: a socketpair end, not a listener. */
	ck_assert_int_ne(pidfd = syscall(SYS_pidfd_open, pid, 0), -1);
	fd = syscall(SYS_pidfd_getfd, pidfd, 3, 0);
	ck_assert_msg(fd != -1, "pidfd_getfd: %s", strerror(errno));
	len = sizeof(v);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len),
	    0);
	ck_assert_int_eq(v, 0);
	len = sizeof(cred);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len),
	    0);
	ck_assert_int_eq(cred.pid, daemon);
	close(fd);
	close(pidfd);

	ck_assert_int_eq(tparent_of(pid), daemon);
}

START_TEST(test_no_fd_leaks)
{
	/*
	 * No descriptor leaks into workers: a worker, even one forked while
	 * clients are connected and other workers exist, holds only 0, 1, 2
	 * and its own channel on 3 (no listener, no client socket, no other
	 * worker's channel), and its parent is the daemon.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*body;
	pid_t		 before[2], after[2], echo;
	int		 c1, c2, i, j, fresh = 0;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 2\n"
	    "\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 1\n");
	c1 = tconnect(d->sock);
	c2 = tconnect(d->sock);
	tsubmit(c2, 1, "echo", "x", 1, &hdr, &body);
	free(body);
	ck_assert_int_eq(tpool_pids(d->sock, "faulty", before, 2), 2);

	/* A replacement is forked now, with two clients connected. */
	tsubmit(c1, 1, "faulty", "segv", 4, &hdr, &body);
	tcheck_error(&hdr, body, 1, FP_ERR_WORKER_CRASHED);
	free(body);
	check_full_size(d->sock, "faulty", 2, WAIT_MS);
	ck_assert_int_eq(tpool_pids(d->sock, "faulty", after, 2), 2);
	for (i = 0; i < 2; i++) {
		for (j = 0; j < 2 && after[i] != before[j]; j++)
			;
		fresh += j == 2;
		check_worker_fds(after[i], d->pid);
	}
	ck_assert_int_eq(fresh, 1);
	ck_assert_int_eq(tpool_pids(d->sock, "echo", &echo, 1), 1);
	check_worker_fds(echo, d->pid);
	close(c1);
	close(c2);
	fpd_stop(d);
}
END_TEST

START_TEST(test_process_groups)
{
	/*
	 * Each worker leads its own process group, so that killing the group
	 * on a timeout reaches whatever the handler spawned.
	 */
	struct fpd	*d;
	pid_t		 pids[3];
	int		 n, i;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 3\n");
	twait_idle(d->sock, "faulty", 3, WAIT_MS);
	n = tpool_pids(d->sock, "faulty", pids, 3);
	ck_assert_int_eq(n, 3);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(getpgid(pids[i]), pids[i]);
		ck_assert_int_ne(getpgid(pids[i]), getpgid(d->pid));
	}
	fpd_stop(d);
}
END_TEST

Suite *
workers_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("workers");

	tc = tcase_create("crash");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_kill_sigkill);
	tcase_add_loop_test(tc, test_crash_kinds, 0,
	    sizeof(crash_kinds) / sizeof(crash_kinds[0]));
	tcase_add_test(tc, test_crash_spares_others);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeout");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("prefetch");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_prefetch_crash);
	tcase_add_test(tc, test_prefetch_timeout_start);
	tcase_add_test(tc, test_killed_takes_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("backoff");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_crash_loop_backoff);
	suite_add_tcase(s, tc);

	tc = tcase_create("startfail");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_worker_init_fails);
	tcase_add_test(tc, test_module_init_fails);
	suite_add_tcase(s, tc);

	tc = tcase_create("isolation");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_no_fd_leaks);
	tcase_add_test(tc, test_process_groups);
	suite_add_tcase(s, tc);

	return (s);
}

/*
 * One daemon shared by many clients, live: fair share between connections,
 * no endless wait for workers that cannot start (UNAVAILABLE), requests
 * judged from their header, FORBIDDEN read by a client that writes first,
 * and prefetch = auto.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool/client.h"
#include "harness.h"
#include "suites.h"

#define WAIT_MS		10000	/* deadline for what should be quick */
#define CAP_SYS_RESOURCE_BIT	24	/* linux/capability.h */

static const char ini_echo[] =
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 1\n";

/* Rewrite the file as ini_echo plus more, SIGHUP, wait until applied. */
static void
reload_adding(struct fpd *d, const char *more)
{
	char	ini[1024];

	snprintf(ini, sizeof(ini), "%s%s", ini_echo, more);
	fpd_rewrite(d, ini);
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
	ck_assert_int_eq(fpd_wait_log(d, "reload: 1 pools added", WAIT_MS),
	    0);
}

/* The reload was reported failed: log, STATUS, and STATUS= to systemd. */
static void
check_reload_failed(struct fpd *d, const char *why)
{
	json_t	*st, *r;

	ck_assert_int_eq(fpd_wait_log(d, why, WAIT_MS), 0);
	ck_assert_int_eq(fpd_wait_notify(d, "STATUS=reload failed: pool bad",
	    WAIT_MS), 0);
	st = tstatus(d->sock);
	r = json_object_get(st, "reload");
	ck_assert(json_is_true(json_object_get(r, "failed")));
	ck_assert_msg(strstr(json_string_value(json_object_get(r, "error")),
	    "pool bad") != NULL, "reload error in STATUS");
	json_decref(st);
}

/* The pool is gone again and the others still serve. */
static void
check_rolled_back(struct fpd *d, int fd)
{
	struct fp_hdr	 hdr;
	char		*body;

	tsubmit(fd, 90, "bad", "x", 1, &hdr, &body);
	ck_assert_msg(hdr.type == FP_ERROR && hdr.arg == FP_ERR_UNKNOWN_POOL,
	    "after the rollback: %s", body);
	free(body);
	tsubmit(fd, 91, "echo", "x", 1, &hdr, &body);
	ck_assert_msg(hdr.type == FP_RESULT, "echo: %s", body);
	free(body);
	(void)d;
}

/* A whole file, malloc'd and NUL-terminated. */
static char *
read_whole(const char *path)
{
	FILE	*f;
	char	*buf;
	long	 n;

	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	ck_assert_ptr_nonnull(buf = malloc(n + 1));
	ck_assert_int_eq(fread(buf, 1, n, f), n);
	buf[n] = '\0';
	fclose(f);
	return (buf);
}

/* n SUBMITs of payload to pool with ids from first on, in one write. */
static void
send_many(int fd, uint64_t first, unsigned int n, const char *pool,
    const char *payload)
{
	struct fp_hdr	 hdr;
	size_t		 nlen = strlen(pool), plen = strlen(payload);
	size_t		 one = FP_HDR_LEN + nlen + plen, off;
	uint8_t		*buf;
	unsigned int	 i;

	buf = malloc(one * n);
	ck_assert_ptr_nonnull(buf);
	hdr.len = nlen + plen;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = FP_SUBMIT;
	hdr.arg = nlen;
	for (i = 0, off = 0; i < n; i++, off += one) {
		hdr.id = first + i;
		fp_hdr_encode(buf + off, &hdr);
		memcpy(buf + off + FP_HDR_LEN, pool, nlen);
		memcpy(buf + off + FP_HDR_LEN + nlen, payload, plen);
	}
	tsend_raw(fd, buf, one * n);
	free(buf);
}

START_TEST(test_fair_share)
{
	/*
	 * Fair share: a bulk connection with 20,000 queued 1 ms tasks does
	 * not put another connection's next task behind them; it starts
	 * within about one task per busy worker, while the bulk's queue is
	 * still nearly whole.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*body;
	long long	 t0, took, queued;
	int		 bulk, other;

	d = fpd_start("[daemon]\nmax_inflight = 30000\n"
	    "[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 2\n"
	    "prefetch = 1\n"
	    "queue_limit = 30000\n");
	bulk = tconnect(d->sock);
	other = tconnect(d->sock);
	send_many(bulk, 1, 20000, "faulty", "sleep:1");
	twait_pool_int(d->sock, "faulty", "clients_queued", 1, WAIT_MS);
	ck_assert_int_ge(tpool_int(d->sock, "faulty", "queued"), 19000);

	t0 = tnow_ms();
	tsubmit(other, 1, "faulty", "pid", 3, &hdr, &body);
	took = tnow_ms() - t0;
	ck_assert_msg(hdr.type == FP_RESULT, "other client: %s", body);
	free(body);
	queued = tpool_int(d->sock, "faulty", "queued");
	/* Behind the queue it would have waited 10 s and found it empty. */
	ck_assert_msg(took < 500, "the other client waited %lld ms", took);
	ck_assert_msg(queued > 15000, "only %lld of the bulk's tasks left",
	    queued);
	close(bulk);
	close(other);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_too_large_from_header)
{
	/*
	 * The header decides: a SUBMIT whose header announces a payload of
	 * max_payload + 1 is answered TOO_LARGE with not one byte of its
	 * body sent, and the connection closes.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	uint8_t		 buf[FP_HDR_LEN];
	char		*body;
	int		 fd;

	d = fpd_start("[daemon]\nmax_payload = 1024\n"
	    "[pool:echo]\nhandler = echo\nworkers = 1\n");
	fd = tconnect(d->sock);
	hdr.len = 4 + 1025;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = FP_SUBMIT;
	hdr.arg = 4;
	hdr.id = 42;
	fp_hdr_encode(buf, &hdr);
	tsend_raw(fd, buf, sizeof(buf));
	body = texpect(fd, FP_ERROR, FP_ERR_TOO_LARGE, 42, WAIT_MS);
	ck_assert_msg(strstr(body, "1025") != NULL, "text: %s", body);
	free(body);
	texpect_eof(fd, WAIT_MS);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_forbidden_writer_reads_reason)
{
	/*
	 * A client refused FORBIDDEN that writes first (1 MiB of PINGs, more
	 * than the socket buffers hold) does not fail on a broken pipe: the
	 * daemon reads and drops what it sends, and the client then reads
	 * FORBIDDEN and end of file.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	uint8_t		*buf;
	size_t		 len = 1024 * 1024, off;
	ssize_t		 n;
	char		*body;
	int		 fd;

	d = fpd_start("[daemon]\nallow_users = 4242\n"
	    "[pool:echo]\nhandler = echo\nworkers = 1\n");
	buf = calloc(1, len);
	ck_assert_ptr_nonnull(buf);
	hdr.len = 0;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = FP_PING;
	hdr.arg = 0;
	for (off = 0; off + FP_HDR_LEN <= len; off += FP_HDR_LEN) {
		hdr.id = off;
		fp_hdr_encode(buf + off, &hdr);
	}
	fd = tconnect(d->sock);
	/* Blocking writes: each returns once the daemon has read room. */
	for (off = 0; off < len; off += n) {
		n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		ck_assert_msg(n > 0 || errno == EINTR, "send after %zu bytes: "
		    "%s", off, strerror(errno));
		if (n < 0)
			n = 0;
	}
	free(buf);
	body = texpect(fd, FP_ERROR, FP_ERR_FORBIDDEN, 0, WAIT_MS);
	free(body);
	texpect_eof(fd, WAIT_MS);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_added_pool_cannot_start)
{
	/*
	 * No endless wait: a reload adds a pool whose program exits 1 while
	 * starting.  Its queued task is answered UNAVAILABLE, quoting the
	 * start failure, well within start_timeout + 1 s; the pool is
	 * removed again and the reload reported failed (log, STATUS,
	 * STATUS= to systemd).
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*body;
	long long	 t0, took;
	int		 fd;

	d = fpd_start(ini_echo);
	fd = tconnect(d->sock);
	reload_adding(d, "[pool:bad]\n"
	    "command = /bin/sh -c \"sleep 1; exit 1\"\n"
	    "workers = 1\n");
	t0 = tnow_ms();
	tsubmit(fd, 1, "bad", "x", 1, &hdr, &body);
	took = tnow_ms() - t0;
	ck_assert_msg(hdr.type == FP_ERROR && hdr.arg == FP_ERR_UNAVAILABLE,
	    "wanted UNAVAILABLE, got type 0x%x arg %u: %s", hdr.type,
	    hdr.arg, body);
	ck_assert_msg(strstr(body, "exited with status 1") != NULL,
	    "the text does not quote the failure: %s", body);
	ck_assert_msg(took <= 61000, "answered after %lld ms", took);
	free(body);
	check_reload_failed(d, "reload failed: pool bad: its workers cannot "
	    "start");
	check_rolled_back(d, fd);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_added_pool_rlimit_over_hard)
{
	/*
	 * No endless wait: a reload adds a pool with rlimit_nofile over the
	 * hard limit the service got (4096 here, with CAP_SYS_RESOURCE
	 * dropped so root cannot raise it).  The reload is rolled back and
	 * reported, quoting setrlimit; the pool takes no task.
	 */
	struct rlimit	 rl = { 1024, 4096 };
	struct fpd	*d;
	int		 fd;

	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE_BIT, 0, 0, 0) == -1)
		ck_assert_int_eq(errno, EPERM);	/* not root: no need */
	d = fpd_start(ini_echo);
	fd = tconnect(d->sock);
	reload_adding(d, "[pool:bad]\n"
	    "handler = echo\n"
	    "rlimit_nofile = 8192\n"
	    "workers = 1\n");
	check_reload_failed(d, "rlimit_nofile: setrlimit to 8192");
	check_rolled_back(d, fd);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_unavailable_after_start_timeout)
{
	/*
	 * No endless wait: a pool whose workers crash at start (held in
	 * restart back-off) answers its queued task UNAVAILABLE once it has
	 * had no worker for start_timeout (1 s), quoting the start failure,
	 * and new tasks at once while that lasts; once a worker can start
	 * again, tasks run.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		 ini[512], path[128], *body;
	long long	 t0, took, deadline;
	FILE		*f;
	int		 fd;
	uint64_t	 id;

	snprintf(path, sizeof(path), "/tmp/fp-share-crash-%ld",
	    (long)getpid());
	snprintf(ini, sizeof(ini), "[pool:f]\n"
	    "module = @T/faulty.so\n"
	    "module_args = crashloop=%s\n"
	    "workers = 1\n"
	    "start_timeout = 1s\n", path);
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	tsubmit(fd, 1, "f", "segv", 4, &hdr, &body);
	free(body);
	t0 = tnow_ms();
	tsubmit(fd, 2, "f", "pid", 3, &hdr, &body);
	took = tnow_ms() - t0;
	ck_assert_msg(hdr.type == FP_ERROR && hdr.arg == FP_ERR_UNAVAILABLE,
	    "wanted UNAVAILABLE, got type 0x%x arg %u: %s", hdr.type,
	    hdr.arg, body);
	ck_assert_msg(strstr(body, "SIGABRT") != NULL,
	    "the text does not quote the failure: %s", body);
	ck_assert_msg(took >= 900 && took <= 2000, "answered after %lld ms",
	    took);
	free(body);
	t0 = tnow_ms();
	tsubmit(fd, 3, "f", "pid", 3, &hdr, &body);
	ck_assert_msg(hdr.type == FP_ERROR && hdr.arg == FP_ERR_UNAVAILABLE,
	    "a new task: %s", body);
	ck_assert_int_lt(tnow_ms() - t0, 500);
	free(body);

	unlink(path);
	deadline = tnow_ms() + 30000;
	for (id = 4;; id++) {
		tsubmit(fd, id, "f", "pid", 3, &hdr, &body);
		free(body);
		if (hdr.type == FP_RESULT)
			break;
		ck_assert_int_eq(hdr.arg, FP_ERR_UNAVAILABLE);
		ck_assert_msg(tnow_ms() < deadline, "no worker came back");
		tnap(20);
	}
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

/* Read n replies on fd; every one must be a RESULT. */
static void
recv_results(int fd, unsigned int n)
{
	struct fp_hdr	 hdr;
	char		*body;
	unsigned int	 i;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(trecv(fd, &hdr, &body, WAIT_MS), 1);
		ck_assert_msg(hdr.type == FP_RESULT, "reply %u: type 0x%x "
		    "arg %u: %s", i, hdr.type, hdr.arg, body);
		free(body);
	}
}

/* The prefetch in force for pool, from STATUS; auto checked on the way. */
static long long
prefetch_now(const char *sock, const char *pool)
{
	json_t		*st, *p;
	long long	 v;

	st = tstatus(sock);
	p = tstatus_pool(st, pool);
	ck_assert(json_is_true(json_object_get(p, "prefetch_auto")));
	v = json_integer_value(json_object_get(p, "prefetch"));
	json_decref(st);
	return (v);
}

/* Which of fds[0..1] the next reply came on; the reply must be RESULT. */
static int
next_reply_on(const int fds[2])
{
	struct pollfd	 pfd[2];
	struct fp_hdr	 hdr;
	char		*body;
	int		 i;

	pfd[0].fd = fds[0];
	pfd[1].fd = fds[1];
	pfd[0].events = pfd[1].events = POLLIN;
	ck_assert_int_gt(poll(pfd, 2, WAIT_MS), 0);
	i = (pfd[0].revents & POLLIN) ? 0 : 1;
	ck_assert_int_eq(trecv(fds[i], &hdr, &body, WAIT_MS), 1);
	ck_assert_msg(hdr.type == FP_RESULT, "reply: %s", body);
	free(body);
	return (i);
}

START_TEST(test_fair_share_turn_fills_a_worker)
{
	/*
	 * A connection's turn fills the room of the worker it meets with its
	 * own tasks, so their replies leave together.  Both connections'
	 * tasks are queued while the pool's only worker (prefetch 3) is being
	 * replaced, a start that takes 1 s; the new worker then gets a's
	 * three, and runs them (50 ms each) before b's.  Handing tasks one
	 * connection at a time gave it a1 b1 a2, and b's first reply came
	 * second.
	 */
	char		 ini[1024];
	struct fpd	*d;
	pid_t		 pid;
	int		 fds[2], i, order[6];

	snprintf(ini, sizeof(ini), "[pool:p]\ncommand = /bin/sh -c "
	    "\"sleep 1; exec %s/modhost @T/faulty.so\"\nworkers = 1\n"
	    "prefetch = 3\n", tprogram_dir());
	d = fpd_start(ini);
	fds[0] = tconnect(d->sock);
	fds[1] = tconnect(d->sock);
	pid = tworker_pid(d->sock, "p", 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(twait_pid_gone(pid, WAIT_MS), 0);
	send_many(fds[0], 1, 3, "p", "sleep:50");
	twait_pool_int(d->sock, "p", "queued", 3, WAIT_MS);
	send_many(fds[1], 1, 3, "p", "sleep:50");
	/* All six still queued: the replacement is not ready yet. */
	twait_pool_int(d->sock, "p", "queued", 6, WAIT_MS);
	for (i = 0; i < 6; i++)
		order[i] = next_reply_on(fds);
	ck_assert_msg(order[0] == 0 && order[1] == 0 && order[2] == 0,
	    "replies came on %d %d %d %d %d %d", order[0], order[1],
	    order[2], order[3], order[4], order[5]);
	close(fds[0]);
	close(fds[1]);
	fpd_stop_ok(d);
}
END_TEST

/* Raise pool's auto prefetch to want or more with streams of tiny tasks. */
static long long
stream_until(struct fpd *d, int fd, const char *pool, long long want)
{
	long long	 deadline, pf;

	deadline = tnow_ms() + 15000;
	while ((pf = prefetch_now(d->sock, pool)) < want &&
	    tnow_ms() < deadline) {
		send_many(fd, 1, 5000, pool, "x");
		recv_results(fd, 5000);
	}
	ck_assert_msg(pf >= want, "%s: prefetch %lld, wanted %lld", pool, pf,
	    want);
	return (pf);
}

START_TEST(test_prefetch_auto)
{
	/*
	 * prefetch = auto is the default and follows the tasks' time: 32 or
	 * more for echo after a stream of tiny tasks, 1 for 5 ms tasks (so
	 * long tasks never queue behind one another in a worker); STATUS
	 * shows the prefetch in force.  The average follows the last few
	 * dozen tasks, and on a loaded machine a worker that loses the CPU
	 * for a few ms makes one of them look slow: echo streams go on, a
	 * round at a time, until it shows 32 or more (it never does when
	 * auto is wrong), up to a deadline.
	 */
	struct fpd	*d;
	json_t		*st, *p;
	long long	 deadline, pf = 0;
	int		 fd, round;

	d = fpd_start("[daemon]\nmax_inflight = 30000\n"
	    "[pool:echo]\nhandler = echo\nworkers = 2\n"
	    "queue_limit = 30000\n"
	    "[pool:slow]\nmodule = @T/faulty.so\nworkers = 2\n");
	fd = tconnect(d->sock);
	deadline = tnow_ms() + 15000;
	for (round = 0; pf < 32 && tnow_ms() < deadline; round++) {
		send_many(fd, 1, 5000, "echo", "0123456789abcdef");
		recv_results(fd, 5000);
		pf = prefetch_now(d->sock, "echo");
	}
	ck_assert_msg(pf >= 32, "echo: prefetch %lld after %d rounds of "
	    "5,000 tasks", pf, round);
	send_many(fd, 1, 40, "slow", "sleep:5");
	recv_results(fd, 40);
	st = tstatus(d->sock);
	p = tstatus_pool(st, "slow");
	ck_assert(json_is_true(json_object_get(p, "prefetch_auto")));
	ck_assert_int_eq(json_integer_value(json_object_get(p, "prefetch")),
	    1);
	json_decref(st);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_prefetch_min)
{
	/*
	 * prefetch_min is auto's floor: 5 ms tasks get 2 instead of 1, and
	 * tiny tasks still get 32 and more.
	 */
	struct fpd	*d;
	long long	 pf;
	int		 fd;

	d = fpd_start("[daemon]\nmax_inflight = 30000\n"
	    "[pool:f]\nmodule = @T/faulty.so\nworkers = 2\n"
	    "queue_limit = 30000\nprefetch_min = 2\n");
	fd = tconnect(d->sock);
	send_many(fd, 1, 40, "f", "sleep:5");
	recv_results(fd, 40);
	pf = prefetch_now(d->sock, "f");
	ck_assert_msg(pf == 2, "prefetch %lld after 40 tasks of 5 ms", pf);
	stream_until(d, fd, "f", 32);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_prefetch_auto_shared)
{
	/*
	 * Fair share inside the workers: while a bulk connection has tiny
	 * tasks queued, another connection's task would wait behind up to
	 * 64 of them in a worker; after such a task auto holds prefetch at
	 * 8 (STATUS shows it), and goes back up once that connection has
	 * been quiet for 100 ms.  The hold lasts 100 ms, so the other
	 * client's task and STATUS are tried again while the bulk's queue
	 * lasts, until STATUS has shown it.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*body;
	long long	 pf = 0, deadline;
	int		 bulk, other, i;

	d = fpd_start("[daemon]\nmax_inflight = 100000\n"
	    "[pool:echo]\nhandler = echo\nworkers = 2\n"
	    "queue_limit = 100000\n");
	bulk = tconnect(d->sock);
	other = tconnect(d->sock);
	/* A stream first: auto chooses more than 8 for echo. */
	deadline = tnow_ms() + 15000;
	while (prefetch_now(d->sock, "echo") <= 8 && tnow_ms() < deadline) {
		send_many(bulk, 1, 5000, "echo", "x");
		recv_results(bulk, 5000);
	}
	ck_assert_int_gt(prefetch_now(d->sock, "echo"), 8);
	send_many(bulk, 1, 40000, "echo", "x");
	twait_pool_int(d->sock, "echo", "clients_queued", 1, WAIT_MS);
	for (i = 0; i < 50 && pf != 8 &&
	    tpool_int(d->sock, "echo", "queued") > 0; i++) {
		tsubmit(other, i + 1, "echo", "y", 1, &hdr, &body);
		ck_assert_msg(hdr.type == FP_RESULT, "other client: %s", body);
		free(body);
		pf = prefetch_now(d->sock, "echo");
	}
	ck_assert_msg(pf == 8, "prefetch %lld beside the bulk's queue", pf);
	recv_results(bulk, 40000);
	/* Quiet again: auto is free to go back up. */
	deadline = tnow_ms() + 15000;
	while ((pf = prefetch_now(d->sock, "echo")) <= 8 &&
	    tnow_ms() < deadline) {
		send_many(bulk, 1, 5000, "echo", "x");
		recv_results(bulk, 5000);
	}
	ck_assert_msg(pf > 8, "prefetch %lld once alone again", pf);
	close(bulk);
	close(other);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_prefetch_auto_one_slow_task)
{
	/*
	 * One slow task among tiny ones is a moment, not a change: auto
	 * keeps echo's prefetch (an unbounded average went to 1 after a
	 * single 50 ms task, as it did whenever the master lost the CPU for
	 * a few ms).  A run of slow tasks still brings it down to 1.
	 */
	struct fpd	*d;
	char		*body;
	long long	 pf;
	int		 fd;

	d = fpd_start("[daemon]\nmax_inflight = 30000\n"
	    "[pool:f]\nmodule = @T/faulty.so\nworkers = 1\n"
	    "queue_limit = 30000\n");
	fd = tconnect(d->sock);
	stream_until(d, fd, "f", 32);
	body = tsubmit_ok(fd, 7, "f", "sleep:50");
	ck_assert_str_eq(body, "slept");
	free(body);
	pf = prefetch_now(d->sock, "f");
	ck_assert_msg(pf >= 16, "prefetch %lld after one 50 ms task", pf);
	send_many(fd, 1, 40, "f", "sleep:5");
	recv_results(fd, 40);
	pf = prefetch_now(d->sock, "f");
	ck_assert_msg(pf == 1, "prefetch %lld after 40 tasks of 5 ms", pf);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_prefetch_auto_bulk_is_not_light)
{
	/*
	 * The hold at 8 is for a light connection, not for a second bulk
	 * one: a connection that queues a burst beside another's queue
	 * leaves prefetch where auto put it.  STATUS is asked on that
	 * connection, after its burst, so the master has read the burst
	 * when it answers.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	json_error_t	 jerr;
	json_t		*st;
	char		*body;
	long long	 pf = -1;
	unsigned int	 results = 0;
	int		 bulk, other;

	d = fpd_start("[daemon]\nmax_inflight = 100000\n"
	    "[pool:echo]\nhandler = echo\nworkers = 2\n"
	    "queue_limit = 100000\n");
	bulk = tconnect(d->sock);
	other = tconnect(d->sock);
	stream_until(d, bulk, "echo", 16);
	send_many(bulk, 1, 40000, "echo", "x");
	twait_pool_int(d->sock, "echo", "clients_queued", 1, WAIT_MS);
	send_many(other, 1, 5000, "echo", "y");
	tsend(other, FP_STATUS, 0, 99999, NULL, 0);
	while (pf < 0 || results < 5000) {
		ck_assert_int_eq(trecv(other, &hdr, &body, WAIT_MS), 1);
		if (hdr.type == FP_STATUS_REPLY) {
			st = json_loadb(body, hdr.len, 0, &jerr);
			ck_assert_ptr_nonnull(st);
			pf = json_integer_value(json_object_get(
			    tstatus_pool(st, "echo"), "prefetch"));
			json_decref(st);
		} else {
			ck_assert_int_eq(hdr.type, FP_RESULT);
			results++;
		}
		free(body);
	}
	ck_assert_msg(pf > 8, "prefetch %lld beside a second bulk", pf);
	recv_results(bulk, 40000);
	close(bulk);
	close(other);
	fpd_stop_ok(d);
}
END_TEST

/* A pool of one worker whose queue (queue_limit 1) is full: fd holds it. */
static int
fill_queue(struct fpd *d)
{
	int	fd;

	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "f", "sleep:400", 9);
	twait_state(d->sock, "f", "busy", 1, WAIT_MS);
	tsend_submit(fd, 2, "f", "sleep:1", 7);
	twait_pool_int(d->sock, "f", "queued", 1, WAIT_MS);
	return (fd);
}

START_TEST(test_lib_waits_through_overloaded)
{
	/*
	 * libforkpool's fp_submit() treats OVERLOADED as "wait for room,
	 * then submit again": against a full queue it returns the task's
	 * RESULT, never OVERLOADED; with FP_OVERLOADED_RETURN the caller
	 * sees OVERLOADED instead.
	 */
	struct fpd	 *d;
	struct fp_client *c;
	struct fp_reply	  r;
	int		  fd;

	d = fpd_start("[pool:f]\nmodule = @T/faulty.so\nworkers = 1\n"
	    "prefetch = 1\nqueue_limit = 1\n");
	ck_assert_ptr_nonnull(c = fp_connect(d->sock));
	ck_assert_int_eq(fp_client_err(c), 0);

	fd = fill_queue(d);
	fp_client_set_overloaded(c, FP_OVERLOADED_RETURN);
	ck_assert_int_eq(fp_submit(c, "f", "x", 1, &r), 0);
	ck_assert_msg(r.type == FP_ERROR && r.arg == FP_ERR_OVERLOADED,
	    "wanted OVERLOADED, got type 0x%x arg %u", r.type, r.arg);
	fp_reply_free(&r);

	fp_client_set_overloaded(c, FP_OVERLOADED_WAIT);
	ck_assert_int_eq(fp_submit(c, "f", "waited", 6, &r), 0);
	ck_assert_msg(r.type == FP_RESULT && r.arg == 0, "type 0x%x arg %u: "
	    "%s", r.type, r.arg, r.data);
	ck_assert_str_eq(r.data, "waited");
	fp_reply_free(&r);
	ck_assert_int_ge(tpool_int(d->sock, "f", "overloaded"), 2);
	fp_close(c);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

/* Run `forkpool -s sock map POOL` on the file in; its pid. */
static pid_t
map_start(const char *sock, const char *in, const char *out,
    const char *err)
{
	const char	*bin = getenv("FORKPOOL");
	pid_t		 pid;
	int		 fd;

	if (bin == NULL || *bin == '\0')
		bin = "build/forkpool";
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		if ((fd = open(in, O_RDONLY)) == -1 || dup2(fd, 0) == -1 ||
		    (fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) ==
		    -1 || dup2(fd, 1) == -1 || (fd = open(err, O_WRONLY |
		    O_CREAT | O_TRUNC, 0600)) == -1 || dup2(fd, 2) == -1)
			_exit(127);
		execl(bin, bin, "-s", sock, "map", "echo", (char *)NULL);
		_exit(127);
	}
	return (pid);
}

START_TEST(test_maps_share_a_small_queue)
{
	/*
	 * No failed calls under load: two `forkpool map` runs of 20,000
	 * tasks each (256 in flight each) on a pool with queue_limit = 64
	 * both succeed: every output in order, no OVERLOADED reported, and
	 * the pool ran exactly 40,000 tasks (none twice).
	 */
	struct fpd	*d;
	char		 in[512], out[2][512], err[2][512], *text, *want;
	pid_t		 pid[2];
	FILE		*f;
	size_t		 off = 0;
	int		 i, status;

	d = fpd_start("[pool:echo]\nhandler = echo\nworkers = 2\n"
	    "queue_limit = 64\n");
	snprintf(in, sizeof(in), "%s/in", d->dir);
	ck_assert_ptr_nonnull(f = fopen(in, "w"));
	want = malloc(20000 * 16);
	ck_assert_ptr_nonnull(want);
	for (i = 0; i < 20000; i++)
		off += sprintf(want + off, "task %d\n", i);
	ck_assert_uint_eq(fwrite(want, 1, off, f), off);
	fclose(f);
	for (i = 0; i < 2; i++) {
		snprintf(out[i], sizeof(out[i]), "%s/out%d", d->dir, i);
		snprintf(err[i], sizeof(err[i]), "%s/err%d", d->dir, i);
		pid[i] = map_start(d->sock, in, out[i], err[i]);
	}
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
		text = read_whole(err[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "map %d: status 0x%x: %s", i, status, text);
		ck_assert_msg(strstr(text, "OVERLOADED") == NULL,
		    "map %d reported: %s", i, text);
		free(text);
		text = read_whole(out[i]);
		ck_assert_msg(strcmp(text, want) == 0, "map %d: output differs",
		    i);
		free(text);
	}
	free(want);
	ck_assert_int_eq(tpool_int(d->sock, "echo", "completed"), 40000);
	fprintf(stderr, "share: two maps of 20,000 on queue_limit 64: %lld "
	    "OVERLOADED answers, resubmitted\n",
	    tpool_int(d->sock, "echo", "overloaded"));
	fpd_stop_ok(d);
}
END_TEST

Suite *
share_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("share");
	tc = tcase_create("fair");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fair_share);
	tcase_add_test(tc, test_fair_share_turn_fills_a_worker);
	suite_add_tcase(s, tc);

	tc = tcase_create("header");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_too_large_from_header);
	tcase_add_test(tc, test_forbidden_writer_reads_reason);
	suite_add_tcase(s, tc);

	tc = tcase_create("unavailable");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_added_pool_cannot_start);
	tcase_add_test(tc, test_added_pool_rlimit_over_hard);
	tcase_add_test(tc, test_unavailable_after_start_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("prefetch");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_prefetch_auto);
	tcase_add_test(tc, test_prefetch_auto_shared);
	tcase_add_test(tc, test_prefetch_auto_one_slow_task);
	tcase_add_test(tc, test_prefetch_min);
	tcase_add_test(tc, test_prefetch_auto_bulk_is_not_light);
	suite_add_tcase(s, tc);

	tc = tcase_create("overloaded");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_lib_waits_through_overloaded);
	tcase_add_test(tc, test_maps_share_a_small_queue);
	suite_add_tcase(s, tc);
	return (s);
}

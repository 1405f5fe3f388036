/*
 * Program workers (issue 6, the daemon's side), live: pools whose workers
 * are programs from tests/programs/ speaking the frames on descriptor 3.
 * A Python worker round-trips and takes a prefetching pipeline; programs
 * that never say ready, break the protocol, print on stdout, die at start,
 * are killed mid-task or run past task_timeout cost what the spec says and
 * nothing more; the program runs where and with what the pool says, and
 * holds nothing of the master's.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

#define WAIT_MS		10000	/* deadline for what should be quick */
#define POLL_MS		10	/* between two looks at a condition */
#define PIPELINE	1000	/* tasks sent in one write */
#define INI_MAX		2048

/* The absolute path of tests/programs/name in the source tree. */
static void
program_path(const char *name, char *buf, size_t size)
{
	const char	*src = getenv("FORKPOOL_SRCDIR");
	char		 rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/tests/programs/%s",
	    src != NULL && *src != '\0' ? src : ".", name);
	if (realpath(rel, buf) == NULL || strlen(buf) >= size)
		ck_abort_msg("no test program %s: %s", rel, strerror(errno));
}

/*
 * A configuration of one program pool: name runs interp and the program,
 * with more lines of pool keys after.
 */
static void
program_ini(char *ini, size_t size, const char *pool, const char *interp,
    const char *program, const char *more)
{
	char	path[PATH_MAX];

	program_path(program, path, sizeof(path));
	if (snprintf(ini, size, "[pool:%s]\n"
	    "command = %s %s\n"
	    "%s", pool, interp, path, more) >= (int)size)
		ck_abort_msg("the configuration is too long");
}

/* Submit and expect RESULT 0 with exactly want as the output. */
static void
expect_output(int fd, uint64_t id, const char *pool, const char *payload,
    const char *want)
{
	struct fp_hdr	 hdr;
	char		*body;

	tsubmit(fd, id, pool, payload, strlen(payload), &hdr, &body);
	ck_assert_msg(hdr.type == FP_RESULT && hdr.arg == 0, "\"%s\": type "
	    "0x%02x arg %u: %s", payload, hdr.type, hdr.arg, body);
	ck_assert_msg(hdr.len == strlen(want) && strcmp(body, want) == 0,
	    "\"%s\" gave \"%s\", wanted \"%s\"", payload, body, want);
	free(body);
}

/* Submit and expect ERROR code; its text, malloc'd. */
static char *
expect_error(int fd, uint64_t id, const char *pool, const char *payload,
    int code)
{
	struct fp_hdr	 hdr;
	char		*body;

	tsubmit(fd, id, pool, payload, strlen(payload), &hdr, &body);
	ck_assert_msg(hdr.type == FP_ERROR && hdr.arg == code, "\"%s\": type "
	    "0x%02x arg %u (%s); wanted ERROR %s", payload, hdr.type, hdr.arg,
	    body, fp_err_name(code));
	return (body);
}

/* s in upper case, as the worker answers, into buf. */
static void
upper(const char *s, char *buf, size_t size)
{
	size_t	i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		buf[i] = toupper((unsigned char)s[i]);
	buf[i] = '\0';
}

START_TEST(test_program_round_trip)
{
	/*
	 * A Python program worker answers a task (its payload in upper
	 * case), then 1,000 tasks sent in one write to two workers that
	 * prefetch 8 each: every task gets exactly one reply, the right
	 * one, and both workers serve.  STATUS calls the pool a command
	 * pool.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	json_t		*st, *p, *w;
	uint8_t		*buf, *seen;
	char		 ini[INI_MAX], payload[64], want[64], *body;
	size_t		 off = 0, i, plen, nlen = 2;
	int		 fd, n;

	program_ini(ini, sizeof(ini), "py", "python3", "upper.py",
	    "workers = 2\nprefetch = 8\n");
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	expect_output(fd, 1, "py", "hello, forkpool", "HELLO, FORKPOOL");

	if ((buf = malloc(PIPELINE * 64)) == NULL ||
	    (seen = calloc(PIPELINE + 2, 1)) == NULL)
		ck_abort_msg("out of memory");
	for (n = 2; n < PIPELINE + 2; n++) {
		plen = snprintf(payload, sizeof(payload), "task %d of a "
		    "pipeline", n);
		hdr.len = nlen + plen;
		hdr.version = FP_PROTO_VERSION;
		hdr.type = FP_SUBMIT;
		hdr.arg = nlen;
		hdr.id = n;
		fp_hdr_encode(buf + off, &hdr);
		memcpy(buf + off + FP_HDR_LEN, "py", nlen);
		memcpy(buf + off + FP_HDR_LEN + nlen, payload, plen);
		off += FP_HDR_LEN + nlen + plen;
	}
	tsend_raw(fd, buf, off);
	for (i = 0; i < PIPELINE; i++) {
		ck_assert_msg(trecv(fd, &hdr, &body, WAIT_MS) == 1, "end of "
		    "file after %zu replies", i);
		ck_assert_msg(hdr.type == FP_RESULT && hdr.arg == 0 &&
		    hdr.id >= 2 && hdr.id < PIPELINE + 2 && !seen[hdr.id],
		    "reply %zu: type 0x%02x arg %u id %llu: %s", i, hdr.type,
		    hdr.arg, (unsigned long long)hdr.id, body);
		seen[hdr.id] = 1;
		snprintf(payload, sizeof(payload), "task %d of a pipeline",
		    (int)hdr.id);
		upper(payload, want, sizeof(want));
		ck_assert_str_eq(body, want);
		free(body);
	}
	free(buf);
	free(seen);
	tping(fd, 9999);	/* nothing more came */

	st = tstatus(d->sock);
	ck_assert_ptr_nonnull(p = tstatus_pool(st, "py"));
	ck_assert_str_eq(json_string_value(json_object_get(p, "kind")),
	    "command");
	ck_assert_int_eq(json_integer_value(json_object_get(p, "prefetch")),
	    8);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "completed")),
	    PIPELINE + 1);
	json_array_foreach(json_object_get(p, "workers"), i, w)
		ck_assert_msg(json_integer_value(json_object_get(w, "tasks")) >
		    0, "worker %lld served nothing",
		    json_integer_value(json_object_get(w, "pid")));
	ck_assert_uint_eq(json_array_size(json_object_get(p, "workers")), 2);
	json_decref(st);
	close(fd);
	/* At the stop each program sees end of file and leaves by itself. */
	ck_assert_int_eq(fpd_stop(d), 0);
	ck_assert_int_eq(fpd_log_count(d, "exited with status 0 after"), 2);
	ck_assert_int_eq(fpd_log_count(d, "killed by"), 0);
}
END_TEST

START_TEST(test_program_never_ready_at_start)
{
	/*
	 * A program that never sends PONG is killed after start_timeout;
	 * at daemon start, a pool none of whose programs came up makes
	 * forkpoold exit non-zero, saying why.
	 */
	struct fpd	*d;
	char		 ini[INI_MAX];
	long long	 t0, took;
	int		 status;

	program_ini(ini, sizeof(ini), "nr", "/bin/sh", "never_ready.sh",
	    "workers = 1\nstart_timeout = 500ms\n");
	t0 = tnow_ms();
	d = fpd_spawn(ini, NULL);
	status = fpd_wait_exit(d, WAIT_MS);
	took = tnow_ms() - t0;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
	    "forkpoold ended with wait status 0x%x", status);
	ck_assert_msg(took >= 500, "forkpoold gave up after %lld ms; "
	    "start_timeout is 500 ms", took);
	ck_assert_int_eq(fpd_log_count(d, "pool nr: no worker could start: "),
	    1);
	ck_assert_int_eq(fpd_log_count(d, "did not say it was ready within "
	    "start_timeout (0.500 s)"), 2);		/* the kill, the exit */
	ck_assert_int_eq(fpd_log_count(d, "never_ready: loading, this will "
	    "take forever"), 1);
	fpd_stop(d);
}
END_TEST

START_TEST(test_program_never_ready_rolled_back)
{
	/*
	 * After start, a pool added by a reload whose program never says
	 * ready has its worker killed at start_timeout, and the reload is
	 * undone for it: the pool goes, nothing restarts in a loop, and the
	 * daemon and its other pool serve on.
	 */
	struct fpd	*d;
	json_t		*st;
	char		 ini[INI_MAX], second[INI_MAX], path[PATH_MAX];
	int		 fd;

	program_ini(ini, sizeof(ini), "py", "python3", "upper.py",
	    "workers = 1\n");
	program_path("never_ready.sh", path, sizeof(path));
	if (snprintf(second, sizeof(second), "%s\n"
	    "[pool:nr]\n"
	    "command = /bin/sh %s\n"
	    "workers = 1\n"
	    "start_timeout = 500ms\n"
	    "restart_burst = 1\n"
	    "restart_window = 10s\n", ini, path) >= (int)sizeof(second))
		ck_abort_msg("the configuration is too long");
	d = fpd_start(ini);
	fpd_rewrite(d, second);
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
	ck_assert_int_eq(fpd_wait_log(d, "pool nr: added by the reload",
	    WAIT_MS), 0);
	ck_assert_int_eq(fpd_wait_log(d, "reload failed: pool nr: its "
	    "workers cannot start", WAIT_MS), 0);
	ck_assert_int_eq(fpd_wait_log(d, "pool nr: drained and gone",
	    WAIT_MS), 0);
	ck_assert_int_eq(fpd_log_count(d, "did not say it was ready within "
	    "start_timeout (0.500 s); killed"), 1);
	st = tstatus(d->sock);
	ck_assert_ptr_null(tstatus_pool(st, "nr"));
	json_decref(st);
	fd = tconnect(d->sock);
	expect_output(fd, 1, "py", "still serving", "STILL SERVING");
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

/*
 * The ways a program breaks the protocol, for test_program_garbage:
 * garbage on descriptor 3, a RESULT with another task's id, a frame of
 * another type, a frame over max_payload.
 */
static const char *const protocol_breaks[] = { "!garbage", "!wrongid",
    "!pong", "!big:8192" };

START_TEST(test_program_garbage)
{
	/*
	 * A program that breaks the protocol is killed, its task is
	 * answered INTERNAL, the break is logged once, and the pool
	 * recovers with a new worker that serves the next task.  An output
	 * under max_payload is relayed whole.
	 */
	const char	*bad = protocol_breaks[_i];
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		 ini[INI_MAX], pool[INI_MAX], *text, upper_out[64];
	pid_t		 before, after;
	int		 fd;

	program_ini(pool, sizeof(pool), "py", "python3", "upper.py",
	    "workers = 1\n");
	if (snprintf(ini, sizeof(ini), "[daemon]\nmax_payload = 4K\n\n%s",
	    pool) >= (int)sizeof(ini))
		ck_abort_msg("the configuration is too long");
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	tsubmit(fd, 1, "py", "!big:4000", 9, &hdr, &text);
	ck_assert_msg(hdr.type == FP_RESULT && hdr.len == 4000 &&
	    strspn(text, "x") == 4000, "!big:4000: type 0x%02x, %u bytes",
	    hdr.type, hdr.len);
	free(text);

	before = trun_pid(fd, 2, "py", "!pid");
	text = expect_error(fd, 3, "py", bad, FP_ERR_INTERNAL);
	ck_assert_msg(strstr(text, "protocol") != NULL, "%s: the INTERNAL "
	    "text does not say the protocol was broken: %s", bad, text);
	free(text);
	ck_assert_int_eq(twait_pid_gone(before, WAIT_MS), 0);
	upper(bad + 1, upper_out, sizeof(upper_out));
	expect_output(fd, 4, "py", bad + 1, upper_out);
	after = trun_pid(fd, 5, "py", "!pid");
	ck_assert_int_ne(after, before);
	ck_assert_int_eq(fpd_log_count(d, "broke the protocol"), 1);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

/* The number after the first "worker PID: " of a dropped-lines summary. */
static int
dropped_lines(struct fpd *d, pid_t pid)
{
	char	*log, *line, *next, needle[64];
	int	 n = 0;

	snprintf(needle, sizeof(needle), "pool py: worker %ld: ", (long)pid);
	log = fpd_log(d);
	for (line = log; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (strstr(line, needle) != NULL &&
		    strstr(line, " lines of output dropped") != NULL)
			n += atoi(strstr(line, needle) + strlen(needle));
	}
	free(log);
	return (n);
}

START_TEST(test_program_output_rate)
{
	/*
	 * A program's output cannot flood the log: of 2,000 lines printed
	 * at once, at most 100 a second are logged, and the rest are
	 * counted in "lines of output dropped" lines once the second is
	 * over (logged plus dropped is 2,000).  The worker and its channel
	 * are unharmed.
	 */
	struct fpd	*d;
	char		 ini[INI_MAX], line[96];
	pid_t		 pid;
	int		 fd, logged, dropped;

	program_ini(ini, sizeof(ini), "py", "python3", "upper.py",
	    "workers = 1\n");
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	pid = trun_pid(fd, 1, "py", "!pid");
	/* "flood over" comes 1.2 s later, in the next second. */
	expect_output(fd, 2, "py", "!flood:2000:1200", "flooded");
	snprintf(line, sizeof(line), "pool py: worker %ld: flood over",
	    (long)pid);
	ck_assert_int_eq(fpd_wait_log(d, line, WAIT_MS), 0);
	dropped = dropped_lines(d, pid);
	logged = fpd_log_count(d, ": flood line ");
	ck_assert_msg(logged <= 200 && logged + dropped == 2000, "2000 lines "
	    "printed: %d logged, %d said dropped", logged, dropped);
	ck_assert_int_eq(trun_pid(fd, 3, "py", "!pid"), pid);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

START_TEST(test_program_output_dropped_quiet)
{
	/*
	 * Lines dropped by the rate limit are reported even when the
	 * program falls silent after its flood: by the time the worker has
	 * exited, a "lines of output dropped" line accounts for every line
	 * not logged.
	 */
	struct fpd	*d;
	char		 ini[INI_MAX];
	pid_t		 pid;
	int		 fd, logged, dropped;

	program_ini(ini, sizeof(ini), "py", "python3", "upper.py",
	    "workers = 1\n");
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	pid = trun_pid(fd, 1, "py", "!pid");
	expect_output(fd, 2, "py", "!flood:2000:0", "flooded");
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
	dropped = dropped_lines(d, pid);
	logged = fpd_log_count(d, ": flood line ");
	ck_assert_msg(logged <= 200 && logged + dropped == 2000, "2000 lines "
	    "printed: %d logged, %d said dropped", logged, dropped);
}
END_TEST

START_TEST(test_program_output_long_line)
{
	/*
	 * A line of output longer than 1 KiB is cut there: one log line of
	 * its first 1,024 bytes, the rest not logged, however the pipe
	 * delivered it.
	 */
	struct fpd	*d;
	char		 ini[INI_MAX], line[96], *log, *at, *end;
	pid_t		 pid;
	int		 fd;

	program_ini(ini, sizeof(ini), "py", "python3", "upper.py",
	    "workers = 1\n");
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	pid = trun_pid(fd, 1, "py", "!pid");
	expect_output(fd, 2, "py", "!long:3000", "printed");
	expect_output(fd, 3, "py", "!print:after the long line", "printed");
	snprintf(line, sizeof(line), "pool py: worker %ld: after the long "
	    "line", (long)pid);
	ck_assert_int_eq(fpd_wait_log(d, line, WAIT_MS), 0);
	snprintf(line, sizeof(line), "pool py: worker %ld: yyy", (long)pid);
	ck_assert_int_eq(fpd_log_count(d, line), 1);
	log = fpd_log(d);
	at = strstr(log, line) + strlen(line) - 3;
	end = strchr(at, '\n');
	ck_assert_msg(end != NULL && end - at == 1024 &&
	    strspn(at, "y") == 1024, "a line of 3000 bytes was logged as %d",
	    end != NULL ? (int)(end - at) : -1);
	free(log);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

START_TEST(test_program_stdout)
{
	/*
	 * What a program prints on standard output goes to the daemon's
	 * log, marked with the pool and the worker's pid, and does not
	 * touch the channel: the task is answered, the worker lives on and
	 * serves the next task.
	 */
	struct fpd	*d;
	char		 ini[INI_MAX], line[160];
	pid_t		 pid;
	int		 fd;

	program_ini(ini, sizeof(ini), "py", "python3", "upper.py",
	    "workers = 1\n");
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	pid = trun_pid(fd, 1, "py", "!pid");
	expect_output(fd, 2, "py", "!print:a line on stdout, 4242",
	    "printed");
	snprintf(line, sizeof(line), "pool py: worker %ld: a line on stdout, "
	    "4242", (long)pid);
	ck_assert_int_eq(fpd_wait_log(d, line, WAIT_MS), 0);
	ck_assert_int_eq(fpd_log_count(d, "a line on stdout, 4242"), 1);
	expect_output(fd, 3, "py", "unharmed", "UNHARMED");
	ck_assert_int_eq(trun_pid(fd, 4, "py", "!pid"), pid);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

START_TEST(test_program_exit_at_start)
{
	/*
	 * A program that exits while starting, at daemon start: forkpoold
	 * exits non-zero and its message quotes the program's exit status
	 * and last line on stderr.
	 */
	struct fpd	*d;
	char		 ini[INI_MAX], *log, *fatal, *end;
	int		 status;

	program_ini(ini, sizeof(ini), "ex", "/bin/sh", "exit_at_start.sh",
	    "workers = 1\n");
	d = fpd_spawn(ini, NULL);
	status = fpd_wait_exit(d, WAIT_MS);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
	    "forkpoold ended with wait status 0x%x", status);
	log = fpd_log(d);
	fatal = strstr(log, "pool ex: no worker could start: ");
	ck_assert_msg(fatal != NULL, "no fatal message:\n%s", log);
	if ((end = strchr(fatal, '\n')) != NULL)
		*end = '\0';
	ck_assert_msg(strstr(fatal, "exited with status 3") != NULL &&
	    strstr(fatal, "exit_at_start: cannot open /nonexistent/model.bin: "
	    "No such file or directory") != NULL, "the message does not quote "
	    "the exit status and the last line: %s", fatal);
	free(log);
	fpd_stop(d);
}
END_TEST

START_TEST(test_program_killed_mid_task)
{
	/*
	 * A program worker killed with SIGKILL while it runs a task costs
	 * that task, answered WORKER_CRASHED naming SIGKILL; the next task
	 * is served by a new worker.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		 ini[INI_MAX], *body;
	pid_t		 victim;
	int		 fd;

	program_ini(ini, sizeof(ini), "py", "python3", "upper.py",
	    "workers = 1\n");
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	victim = trun_pid(fd, 1, "py", "!pid");
	tsend_submit(fd, 2, "py", "!sleep:20000", 12);
	twait_state(d->sock, "py", "busy", 1, WAIT_MS);
	ck_assert_int_eq(kill(victim, SIGKILL), 0);
	ck_assert_int_eq(trecv(fd, &hdr, &body, WAIT_MS), 1);
	ck_assert_msg(hdr.type == FP_ERROR && hdr.arg ==
	    FP_ERR_WORKER_CRASHED && hdr.id == 2, "type 0x%02x arg %u id "
	    "%llu: %s", hdr.type, hdr.arg, (unsigned long long)hdr.id, body);
	ck_assert_msg(strstr(body, "SIGKILL") != NULL, "WORKER_CRASHED does "
	    "not name SIGKILL: %s", body);
	free(body);
	expect_output(fd, 3, "py", "next", "NEXT");
	ck_assert_int_ne(trun_pid(fd, 4, "py", "!pid"), victim);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

START_TEST(test_program_retires_itself)
{
	/*
	 * DESIGN.md, Supervision: a program worker that exits with status 0
	 * while idle has retired itself (a Python worker after
	 * max_tasks_per_child): it is replaced at once and does not count
	 * toward the restart throttle.  Six retirements in a row on a pool
	 * whose restart_burst is 2 leave restarts at 0 and no back-off.
	 */
	struct fpd	*d;
	char		 ini[INI_MAX];
	pid_t		 pid, prev = -1;
	int		 fd, i;

	program_ini(ini, sizeof(ini), "py", "python3", "upper.py",
	    "workers = 1\nrestart_burst = 2\nrestart_window = 60s\n");
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	for (i = 0; i < 6; i++) {
		pid = trun_pid(fd, 10 * i + 1, "py", "!pid");
		ck_assert_int_ne(pid, prev);
		expect_output(fd, 10 * i + 2, "py", "!retire", "retiring");
		ck_assert_msg(twait_pid_gone(pid, WAIT_MS) == 0, "worker %ld did "
		    "not exit", (long)pid);
		prev = pid;
	}
	ck_assert_int_eq(tpool_int(d->sock, "py", "restarts"), 0);
	ck_assert_int_eq(fpd_log_count(d, "backing off"), 0);
	expect_output(fd, 100, "py", "still", "STILL");
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

/* Read a pid the worker wrote to path; waits for the file. */
static pid_t
read_pid_file(const char *path)
{
	long long	 deadline = tnow_ms() + WAIT_MS;
	FILE		*f;
	long		 pid = -1;

	while ((f = fopen(path, "r")) == NULL) {
		ck_assert_msg(tnow_ms() < deadline, "%s never appeared", path);
		tnap(POLL_MS);
	}
	ck_assert_int_eq(fscanf(f, "%ld", &pid), 1);
	fclose(f);
	return ((pid_t)pid);
}

START_TEST(test_program_timeout_group)
{
	/*
	 * A program task that runs past task_timeout is answered TIMEOUT
	 * and the program's whole process group is killed: a child it
	 * started (sleep 100) dies with it, of SIGKILL.  The next task is
	 * served.
	 */
	struct fpd	*d;
	char		 ini[INI_MAX], dir[] = "/tmp/fpd-prog.XXXXXX";
	char		 path[64], payload[96], *text;
	long long	 deadline;
	pid_t		 child, r;
	int		 fd, status;

	/* The orphaned child comes to us, so we can see how it died. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/child.pid", dir);
	snprintf(payload, sizeof(payload), "!spawn:%s", path);
	program_ini(ini, sizeof(ini), "py", "python3", "upper.py",
	    "workers = 1\ntask_timeout = 500ms\n");
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	text = expect_error(fd, 1, "py", payload, FP_ERR_TIMEOUT);
	ck_assert_msg(strstr(text, "task_timeout") != NULL, "the TIMEOUT text "
	    "does not name task_timeout: %s", text);
	free(text);
	child = read_pid_file(path);
	unlink(path);
	rmdir(dir);

	deadline = tnow_ms() + WAIT_MS;
	for (;;) {
		r = waitpid(child, &status, WNOHANG);
		if (r == child) {
			ck_assert_msg(WIFSIGNALED(status) &&
			    WTERMSIG(status) == SIGKILL, "the program's child "
			    "ended with wait status 0x%x", status);
			break;
		}
		/* Not ours to reap after all: it must simply be gone. */
		if (r == -1 && errno == ECHILD && kill(child, 0) == -1 &&
		    errno == ESRCH)
			break;
		ck_assert_msg(tnow_ms() < deadline, "the program's child %ld "
		    "outlived the timeout", (long)child);
		tnap(POLL_MS);
	}
	expect_output(fd, 2, "py", "next", "NEXT");
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

START_TEST(test_program_environment)
{
	/*
	 * The program runs in command_dir with command_env added to its
	 * environment, FORKPOOL_FD=3 and FORKPOOL_POOL set, and none of the
	 * master's systemd variables (NOTIFY_SOCKET above all); its stdin
	 * is /dev/null, its stdout and stderr a pipe to the daemon, fd 3 a
	 * socket, and it holds no other descriptor; it leads its own
	 * process group.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	json_error_t	 jerr;
	json_t		*doc, *env, *fds, *v;
	const char	*key, *target;
	char		 ini[INI_MAX], more[512];
	char		 dir[] = "/tmp/fpd-prog.XXXXXX";
	char		 real[PATH_MAX], *body;
	int		 fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_ptr_nonnull(realpath(dir, real));
	if (snprintf(more, sizeof(more), "workers = 1\n"
	    "command_dir = %s\n"
	    "command_env = FP_TEST_GREETING=hello-from-the-ini "
	    "FP_TEST_QUOTED=\"two words\"\n", real) >= (int)sizeof(more))
		ck_abort_msg("the configuration is too long");
	program_ini(ini, sizeof(ini), "py", "python3", "upper.py", more);
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	tsubmit(fd, 1, "py", "!info", 5, &hdr, &body);
	ck_assert_msg(hdr.type == FP_RESULT && hdr.arg == 0, "!info: %s",
	    body);
	doc = json_loads(body, 0, &jerr);
	ck_assert_msg(doc != NULL, "!info is not JSON: %s: %s", jerr.text,
	    body);
	free(body);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
	rmdir(dir);

	ck_assert_str_eq(json_string_value(json_object_get(doc, "cwd")), real);
	env = json_object_get(doc, "env");
	ck_assert_str_eq(json_string_value(json_object_get(env,
	    "FP_TEST_GREETING")), "hello-from-the-ini");
	ck_assert_str_eq(json_string_value(json_object_get(env,
	    "FP_TEST_QUOTED")), "two words");
	ck_assert_str_eq(json_string_value(json_object_get(env,
	    "FORKPOOL_FD")), "3");
	ck_assert_str_eq(json_string_value(json_object_get(env,
	    "FORKPOOL_POOL")), "py");
	json_object_foreach(env, key, v)
		ck_assert_msg(strncmp(key, "NOTIFY_", 7) != 0 &&
		    strncmp(key, "LISTEN_", 7) != 0 &&
		    strncmp(key, "WATCHDOG_", 9) != 0, "the program has %s=%s",
		    key, json_string_value(v));
	ck_assert_str_eq(json_string_value(json_object_get(doc, "stdin")),
	    "/dev/null");
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "pgid")),
	    json_integer_value(json_object_get(doc, "pid")));

	fds = json_object_get(doc, "fds");
	json_object_foreach(fds, key, v) {
		target = json_string_value(v);
		if (strcmp(key, "0") == 0)
			ck_assert_str_eq(target, "/dev/null");
		else if (strcmp(key, "1") == 0 || strcmp(key, "2") == 0)
			ck_assert_msg(strncmp(target, "pipe:", 5) == 0,
			    "fd %s is %s, not a pipe to the daemon", key,
			    target);
		else if (strcmp(key, "3") == 0)
			ck_assert_msg(strncmp(target, "socket:", 7) == 0,
			    "fd 3 is %s, not the channel", target);
		else
			/* The directory the listing itself has open. */
			ck_assert_msg(strncmp(target, "/proc/", 6) == 0,
			    "the program holds fd %s: %s", key, target);
	}
	ck_assert_ptr_nonnull(json_object_get(fds, "3"));
	json_decref(doc);
}
END_TEST

Suite *
program_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("program");
	tc = tcase_create("serve");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_program_round_trip);
	tcase_add_test(tc, test_program_stdout);
	tcase_add_test(tc, test_program_output_rate);
	tcase_add_test(tc, test_program_output_dropped_quiet);
	tcase_add_test(tc, test_program_output_long_line);
	tcase_add_test(tc, test_program_environment);
	tcase_add_test(tc, test_program_retires_itself);
	suite_add_tcase(s, tc);

	tc = tcase_create("start");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_program_never_ready_at_start);
	tcase_add_test(tc, test_program_never_ready_rolled_back);
	tcase_add_test(tc, test_program_exit_at_start);
	suite_add_tcase(s, tc);

	tc = tcase_create("failure");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_program_garbage, 0,
	    sizeof(protocol_breaks) / sizeof(protocol_breaks[0]));
	tcase_add_test(tc, test_program_killed_mid_task);
	tcase_add_test(tc, test_program_timeout_group);
	suite_add_tcase(s, tc);
	return (s);
}

/*
 * The forkpool command, live: the real binary (env FORKPOOL, default
 * build/forkpool) run against a real forkpoold started by the harness.
 * Each run feeds the command its standard input and collects standard
 * output, standard error and the exit status under a deadline, so what is
 * checked is exactly what a shell user sees.
 */
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "harness.h"
#include "suites.h"

#define DEFAULT_FORKPOOL	"build/forkpool"
#define RUN_MS			20000	/* a command's deadline */

#define INI_CLI								\
	"[pool:echo]\nhandler = echo\nworkers = 2\nqueue_limit = 77\n"	\
	"[pool:faulty]\nmodule = @T/faulty.so\nworkers = 3\n"

/* What one run of the command did. */
struct run {
	int	 status;	/* exit status; -1 when killed by a signal */
	char	*out;		/* standard output, NUL-terminated */
	size_t	 outlen;
	char	*err;		/* standard error, NUL-terminated */
	size_t	 errlen;
};

/* The binary under test, made absolute. */
static char *
cli_path(void)
{
	const char	*p = getenv("FORKPOOL");
	char		*abs;

	if (p == NULL || *p == '\0')
		p = DEFAULT_FORKPOOL;
	if ((abs = realpath(p, NULL)) == NULL || access(abs, X_OK) != 0)
		ck_abort_msg("cannot run the forkpool command %s (set "
		    "FORKPOOL): %s", p, strerror(errno));
	return (abs);
}

/* Append what fd has to a growing buffer; 0 at end of file. */
static int
drain(int fd, char **buf, size_t *len)
{
	char	chunk[65536];
	ssize_t	n;

	if ((n = read(fd, chunk, sizeof(chunk))) == -1)
		return (errno == EINTR || errno == EAGAIN ? 1 : 0);
	if (n == 0)
		return (0);
	ck_assert_ptr_nonnull(*buf = realloc(*buf, *len + (size_t)n + 1));
	memcpy(*buf + *len, chunk, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
	return (1);
}

/*
 * Run forkpool with args (NULL-terminated) and in on its standard input;
 * fail the test if it has not finished by the deadline.
 */
static void
cli_run(struct run *r, const char *in, size_t inlen,
    const char *const *args)
{
	struct pollfd	 pfd[3];
	char		*argv[32], *bin;
	int		 pin[2], pout[2], perr[2], status, i, open_fds;
	size_t		 off = 0;
	long long	 deadline;
	ssize_t		 n;
	pid_t		 pid;

	memset(r, 0, sizeof(*r));
	ck_assert_ptr_nonnull(r->out = strdup(""));
	ck_assert_ptr_nonnull(r->err = strdup(""));
	bin = cli_path();
	argv[0] = bin;
	for (i = 0; args[i] != NULL; i++) {
		ck_assert_int_lt(i + 1, 31);
		argv[i + 1] = (char *)(uintptr_t)args[i];
	}
	argv[i + 1] = NULL;

	/* The command may exit before reading all its input. */
	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(pipe2(pin, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(perr, O_CLOEXEC), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (dup2(pin[0], STDIN_FILENO) == -1 ||
		    dup2(pout[1], STDOUT_FILENO) == -1 ||
		    dup2(perr[1], STDERR_FILENO) == -1)
			_exit(126);
		execv(bin, argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	if (in == NULL || inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	}

	deadline = tnow_ms() + RUN_MS;
	open_fds = 2;
	while (open_fds > 0 || pin[1] != -1) {
		pfd[0].fd = pout[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = perr[0];
		pfd[1].events = POLLIN;
		pfd[2].fd = pin[1];
		pfd[2].events = POLLOUT;
		if (tnow_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			ck_abort_msg("forkpool %s did not finish in %d ms; its "
			    "stderr: %s", args[0] != NULL ? args[0] : "",
			    RUN_MS, r->err);
		}
		if (poll(pfd, 3, (int)(deadline - tnow_ms())) == -1) {
			ck_assert_int_eq(errno, EINTR);
			continue;
		}
		if (pfd[0].fd != -1 && pfd[0].revents != 0 &&
		    drain(pout[0], &r->out, &r->outlen) == 0) {
			close(pout[0]);
			pout[0] = -1;
			open_fds--;
		}
		if (pfd[1].fd != -1 && pfd[1].revents != 0 &&
		    drain(perr[0], &r->err, &r->errlen) == 0) {
			close(perr[0]);
			perr[0] = -1;
			open_fds--;
		}
		if (pin[1] != -1 && pfd[2].revents != 0) {
			n = write(pin[1], in + off, inlen - off);
			if (n > 0)
				off += (size_t)n;
			if ((n == -1 && errno != EAGAIN && errno != EINTR) ||
			    off == inlen) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	ck_assert_msg(r->status != 126 && r->status != 127, "cannot run %s",
	    bin);
	free(bin);
}

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* The run must have exited with want; say what it printed otherwise. */
static void
expect_status(const struct run *r, int want)
{
	ck_assert_msg(r->status == want, "exit status %d, not %d; stdout "
	    "\"%s\", stderr \"%s\"", r->status, want, r->out, r->err);
}

START_TEST(test_submit_arg)
{
	/*
	 * submit POOL DATA: the handler's output on stdout exactly, no
	 * newline added, nothing on stderr, exit 0.
	 */
	struct fpd	*d;
	struct run	 r;

	d = fpd_start(INI_CLI);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "submit",
	    "echo", "hello, forkpool", NULL });
	expect_status(&r, 0);
	ck_assert_uint_eq(r.outlen, strlen("hello, forkpool"));
	ck_assert_str_eq(r.out, "hello, forkpool");
	ck_assert_uint_eq(r.errlen, 0);
	run_free(&r);

	/* An empty DATA is an empty task, not "read stdin". */
	cli_run(&r, "ignored", 7, (const char *[]){ "-s", d->sock, "submit",
	    "echo", "", NULL });
	expect_status(&r, 0);
	ck_assert_uint_eq(r.outlen, 0);
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_submit_stdin)
{
	/*
	 * submit POOL with no DATA takes stdin as the payload, byte for
	 * byte: every byte value, NULs, a trailing newline, 1 MiB of it;
	 * and an empty stdin is an empty payload.
	 */
	struct fpd	*d;
	struct run	 r;
	char		*in;
	size_t		 i, len = 1024 * 1024;

	ck_assert_ptr_nonnull(in = malloc(len));
	for (i = 0; i < len; i++)
		in[i] = (char)(i % 256 ^ i / 256);
	in[len - 1] = '\n';
	d = fpd_start(INI_CLI);
	cli_run(&r, in, len, (const char *[]){ "-s", d->sock, "submit",
	    "echo", NULL });
	expect_status(&r, 0);
	ck_assert_uint_eq(r.outlen, len);
	ck_assert(memcmp(r.out, in, len) == 0);
	run_free(&r);

	cli_run(&r, "\0\x01\xff\n", 4, (const char *[]){ "-s", d->sock,
	    "submit", "echo", NULL });
	expect_status(&r, 0);
	ck_assert_uint_eq(r.outlen, 4);
	ck_assert(memcmp(r.out, "\0\x01\xff\n", 4) == 0);
	run_free(&r);

	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "submit",
	    "echo", NULL });
	expect_status(&r, 0);
	ck_assert_uint_eq(r.outlen, 0);
	ck_assert_uint_eq(r.errlen, 0);
	run_free(&r);
	fpd_stop(d);
	free(in);
}
END_TEST

/* got must be want; else name the first line that differs (short). */
static void
expect_same_lines(const char *got, const char *want)
{
	const char	*g = got, *w = want;
	int		 line = 1;

	while (*g != '\0' && *g == *w) {
		if (*g == '\n')
			line++;
		g++;
		w++;
	}
	ck_assert_msg(*g == '\0' && *w == '\0', "output line %d is "
	    "\"%.40s\", not \"%.40s\"", line, g, w);
}

START_TEST(test_map_order)
{
	/*
	 * map POOL: 1,000 lines, each a task; outputs come out in input
	 * order, one per line, even though the slow ones (sleep:40 on a
	 * pool of three workers) finish after later quick ones.
	 */
	struct fpd	*d;
	struct run	 r;
	char		*in, *want, line[64];
	size_t		 inlen = 0, wantlen = 0;
	int		 i, n;

	ck_assert_ptr_nonnull(in = malloc(64 * 1000));
	ck_assert_ptr_nonnull(want = malloc(64 * 1000 + 1));
	for (i = 0; i < 1000; i++) {
		if (i % 97 == 5)
			n = snprintf(line, sizeof(line), "sleep:40");
		else
			n = snprintf(line, sizeof(line), "line %d of 1000", i);
		memcpy(in + inlen, line, (size_t)n);
		inlen += (size_t)n;
		/* The last line goes without its newline: still a task. */
		if (i < 999)
			in[inlen++] = '\n';
		if (i % 97 == 5)
			n = snprintf(line, sizeof(line), "slept");
		memcpy(want + wantlen, line, (size_t)n);
		wantlen += (size_t)n;
		want[wantlen++] = '\n';
	}
	want[wantlen] = '\0';

	d = fpd_start(INI_CLI);
	cli_run(&r, in, inlen, (const char *[]){ "-s", d->sock, "map",
	    "faulty", NULL });
	expect_status(&r, 0);
	expect_same_lines(r.out, want);
	ck_assert_uint_eq(r.outlen, wantlen);
	ck_assert_uint_eq(r.errlen, 0);
	run_free(&r);

	/* No input, no tasks, no output. */
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "map",
	    "echo", NULL });
	expect_status(&r, 0);
	ck_assert_uint_eq(r.outlen, 0);
	run_free(&r);
	fpd_stop(d);
	free(in);
	free(want);
}
END_TEST

START_TEST(test_map_failures)
{
	/*
	 * map keeps going past a task that fails or is refused: a failed
	 * task's output still takes its line (exit 1), a refused one leaves
	 * an empty line (exit 3), each is named by its line on stderr.
	 */
	static const char	 in[] = "a\nfail:3:nope\nsegv\nb\n";
	static const char	 in1[] = "a\nfail:2:x\n";
	struct fpd		*d;
	struct run		 r;

	d = fpd_start(INI_CLI);
	cli_run(&r, in, strlen(in), (const char *[]){ "-s", d->sock, "map",
	    "faulty", NULL });
	expect_status(&r, 3);
	ck_assert_str_eq(r.out, "a\nnope\n\nb\n");
	ck_assert_ptr_nonnull(strstr(r.err,
	    "line 2: task failed with status 3"));
	ck_assert_ptr_nonnull(strstr(r.err, "line 3: WORKER_CRASHED: "));
	run_free(&r);

	cli_run(&r, in1, strlen(in1), (const char *[]){ "-s", d->sock, "map",
	    "faulty", NULL });
	expect_status(&r, 1);
	ck_assert_str_eq(r.out, "a\nx\n");
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_ping)
{
	/*
	 * ping prints "pong from SOCKET in X ms"; the socket comes from -s
	 * or, without it, from $FORKPOOL_SOCKET.
	 */
	struct fpd	*d;
	struct run	 r;
	char		 prefix[400], *end;
	double		 ms;

	d = fpd_start(INI_CLI);
	snprintf(prefix, sizeof(prefix), "pong from %s in ", d->sock);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "ping", NULL });
	expect_status(&r, 0);
	ck_assert_msg(strncmp(r.out, prefix, strlen(prefix)) == 0,
	    "\"%s\"", r.out);
	ms = strtod(r.out + strlen(prefix), &end);
	ck_assert(end != r.out + strlen(prefix));
	ck_assert_str_eq(end, " ms\n");
	ck_assert(ms >= 0 && ms < RUN_MS);
	run_free(&r);

	setenv("FORKPOOL_SOCKET", d->sock, 1);
	cli_run(&r, NULL, 0, (const char *[]){ "ping", NULL });
	expect_status(&r, 0);
	ck_assert_msg(strncmp(r.out, prefix, strlen(prefix)) == 0,
	    "\"%s\"", r.out);
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_reload)
{
	/*
	 * reload waits for the daemon's outcome: exit 0 once a good file is
	 * applied (the new pool serves at once), exit 3 with the daemon's
	 * reason, file and line, when it refused a broken one and kept
	 * serving the old configuration; STATUS counts both.
	 */
	struct fpd	*d;
	struct run	 r;
	char		 want[400];

	d = fpd_start(INI_CLI);
	fpd_rewrite(d, INI_CLI "[pool:more]\nhandler = echo\nworkers = 1\n");
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "reload",
	    NULL });
	expect_status(&r, 0);
	snprintf(want, sizeof(want), "forkpoold (pid %ld) reloaded its "
	    "configuration\n", (long)d->pid);
	ck_assert_str_eq(r.out, want);
	run_free(&r);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "submit",
	    "more", "added", NULL });
	expect_status(&r, 0);
	ck_assert_str_eq(r.out, "added");
	run_free(&r);

	fpd_rewrite(d, INI_CLI "[pool:more]\nhandler = echo\nworkers = lots\n");
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "reload",
	    "-w", "30", NULL });
	expect_status(&r, 3);
	ck_assert_str_eq(r.out, "");
	ck_assert_msg(strstr(r.err, "reload failed, nothing changed: ") !=
	    NULL && strstr(r.err, ":10: workers") != NULL &&
	    strstr(r.err, "lots") != NULL, "stderr: %s", r.err);
	run_free(&r);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "submit",
	    "more", "kept", NULL });
	expect_status(&r, 0);
	ck_assert_str_eq(r.out, "kept");
	run_free(&r);

	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "status",
	    "--json", NULL });
	expect_status(&r, 0);
	ck_assert_msg(strstr(r.out, "\"generation\": 2") != NULL &&
	    strstr(r.out, "\"failed\": true") != NULL, "%s", r.out);
	run_free(&r);
	fpd_stop(d);
}
END_TEST

/* The line of text that contains every one of the words, or NULL. */
static const char *
find_line(const char *text, const char *const *words)
{
	const char	*line, *nl;
	char		 buf[512];
	size_t		 len, i;

	for (line = text; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		len = nl != NULL ? (size_t)(nl - line) : strlen(line);
		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, line, len);
		buf[len] = '\0';
		for (i = 0; words[i] != NULL; i++)
			if (strstr(buf, words[i]) == NULL)
				break;
		if (words[i] == NULL)
			return (line);
		if (nl == NULL)
			break;
	}
	return (NULL);
}

START_TEST(test_status_table)
{
	/*
	 * status: a table naming the daemon's version and pid, a row per
	 * pool with its queue and limit, and a row per worker with its pool,
	 * pid and state -- the workers STATUS reports.
	 */
	struct fpd	*d;
	struct run	 r;
	json_t		*st, *p, *w;
	char		 pid[32], state[32];
	size_t		 i, j;

	d = fpd_start(INI_CLI);
	twait_idle(d->sock, "faulty", 3, 10000);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "status",
	    NULL });
	expect_status(&r, 0);
	snprintf(pid, sizeof(pid), "pid %ld,", (long)d->pid);
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){
	    "forkpoold", "0.", NULL }));
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ pid,
	    NULL }));
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){
	    "echo", "0/77", NULL }));
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){
	    "faulty", "0/1024", NULL }));

	/* Idle workers do not change between the two looks. */
	st = tstatus(d->sock);
	json_array_foreach(json_object_get(st, "pools"), i, p) {
		ck_assert_uint_gt(json_array_size(json_object_get(p,
		    "workers")), 0);
		json_array_foreach(json_object_get(p, "workers"), j, w) {
			snprintf(pid, sizeof(pid), " %lld ", (long long)
			    json_integer_value(json_object_get(w, "pid")));
			snprintf(state, sizeof(state), " %s ",
			    json_string_value(json_object_get(w, "state")));
			ck_assert_msg(find_line(r.out, (const char *[]){
			    json_string_value(json_object_get(p, "name")),
			    pid, state, NULL }) != NULL, "no row for worker"
			    "%s in:\n%s", pid, r.out);
		}
	}
	json_decref(st);
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_status_json)
{
	/*
	 * status --json: the STATUS document, indented, still valid JSON
	 * with the daemon's pid and both pools.
	 */
	struct fpd	*d;
	struct run	 r;
	json_t		*doc, *p;
	json_error_t	 jerr;
	size_t		 i;
	int		 seen = 0;

	d = fpd_start(INI_CLI);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "status",
	    "--json", NULL });
	expect_status(&r, 0);
	doc = json_loads(r.out, 0, &jerr);
	ck_assert_msg(doc != NULL, "%s: %s", jerr.text, r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "\n  \"pools\""));
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "pid")),
	    d->pid);
	json_array_foreach(json_object_get(doc, "pools"), i, p) {
		if (strcmp(json_string_value(json_object_get(p, "name")),
		    "echo") == 0)
			seen |= 1;
		if (strcmp(json_string_value(json_object_get(p, "name")),
		    "faulty") == 0)
			seen |= 2;
	}
	ck_assert_int_eq(seen, 3);
	json_decref(doc);
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_metrics)
{
	/* metrics: the daemon's Prometheus text, as it is. */
	struct fpd	*d;
	struct run	 r;

	d = fpd_start(INI_CLI);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "submit",
	    "echo", "x", NULL });
	expect_status(&r, 0);
	run_free(&r);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "metrics",
	    NULL });
	expect_status(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "forkpool_tasks_total"));
	ck_assert_ptr_nonnull(strstr(r.out, "pool=\"echo\""));
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_task_failed)
{
	/*
	 * Exit 1 when the handler reports failure: its output still on
	 * stdout, "task failed with status N" on stderr.
	 */
	struct fpd	*d;
	struct run	 r;

	d = fpd_start(INI_CLI);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "submit",
	    "faulty", "fail:3:nope", NULL });
	expect_status(&r, 1);
	ck_assert_str_eq(r.out, "nope");
	ck_assert_str_eq(r.err, "forkpool: task failed with status 3\n");
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_daemon_error)
{
	/*
	 * Exit 3 when the daemon answers ERROR, its code and text on
	 * stderr: UNKNOWN_POOL for a pool nobody configured,
	 * WORKER_CRASHED naming SIGSEGV for a handler that crashes.
	 */
	struct fpd	*d;
	struct run	 r;

	d = fpd_start(INI_CLI);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "submit",
	    "nosuch", "x", NULL });
	expect_status(&r, 3);
	ck_assert_uint_eq(r.outlen, 0);
	ck_assert_msg(strncmp(r.err, "forkpool: UNKNOWN_POOL: ", 24) == 0,
	    "%s", r.err);
	run_free(&r);

	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "submit",
	    "faulty", "segv", NULL });
	expect_status(&r, 3);
	ck_assert_uint_eq(r.outlen, 0);
	ck_assert_msg(strncmp(r.err, "forkpool: WORKER_CRASHED: ", 26) == 0,
	    "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "SIGSEGV"));
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_no_daemon)
{
	/*
	 * Exit 2 when nothing listens: the message names the socket and
	 * says what to do, for every command that talks to the daemon.
	 */
	static const char	*cmds[][3] = { { "ping", NULL, NULL },
	    { "status", NULL, NULL }, { "metrics", NULL, NULL },
	    { "submit", "echo", "x" }, { "map", "echo", NULL },
	    { "top", NULL, NULL }, { "bench", "echo", NULL } };
	struct run		 r;
	char			 dir[64], sock[128];
	size_t			 i;

	snprintf(dir, sizeof(dir), "/tmp/fpcli.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/nobody.sock", dir);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cli_run(&r, "x\n", 2, (const char *[]){ "-s", sock, cmds[i][0],
		    cmds[i][1], cmds[i][2], NULL });
		expect_status(&r, 2);
		ck_assert_uint_eq(r.outlen, 0);
		ck_assert_msg(strstr(r.err, sock) != NULL &&
		    strstr(r.err, "is forkpoold running?") != NULL,
		    "%s: \"%s\"", cmds[i][0], r.err);
		run_free(&r);
	}
	rmdir(dir);
}
END_TEST

START_TEST(test_usage)
{
	/*
	 * Usage errors exit 2 with a message before any connection is
	 * tried; -h lists every command and exits 0; -V prints the version.
	 */
	static const char	*bad[][4] = { { NULL }, { "frob", NULL },
	    { "submit", NULL }, { "submit", "bad name", "x", NULL },
	    { "submit", "echo", "x", "y" }, { "map", NULL },
	    { "map", "echo", "extra", NULL }, { "status", "--bogus", NULL },
	    { "ping", "extra", NULL }, { "-Q", NULL } };
	static const char	*cmds[] = { "submit POOL", "map POOL", "ping",
	    "status", "--json", "metrics", "top [-n COUNT] [-d SECONDS]",
	    "bench [-n TASKS] [-c CONNECTIONS] [-P PIPELINE]", "-f FILE" };
	const char		*args[8];
	struct run		 r;
	size_t			 i, j;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* A socket that cannot exist: a usage error comes first. */
		args[0] = "-s";
		args[1] = "/nonexistent/forkpool.sock";
		for (j = 0; j < 4 && bad[i][j] != NULL; j++)
			args[2 + j] = bad[i][j];
		args[2 + j] = NULL;
		cli_run(&r, NULL, 0, args);
		expect_status(&r, 2);
		ck_assert_uint_eq(r.outlen, 0);
		ck_assert_uint_gt(r.errlen, 0);
		ck_assert_msg(strstr(r.err, "cannot connect") == NULL,
		    "case %zu connected: %s", i, r.err);
		run_free(&r);
	}

	cli_run(&r, NULL, 0, (const char *[]){ "-h", NULL });
	expect_status(&r, 0);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		ck_assert_msg(strstr(r.out, cmds[i]) != NULL, "-h lacks %s",
		    cmds[i]);
	ck_assert_ptr_nonnull(strstr(r.out, "-s SOCKET"));
	run_free(&r);

	cli_run(&r, NULL, 0, (const char *[]){ "-V", NULL });
	expect_status(&r, 0);
	ck_assert_msg(strncmp(r.out, "forkpool ", 9) == 0 &&
	    r.out[9] >= '0' && r.out[9] <= '9' &&
	    r.out[r.outlen - 1] == '\n', "\"%s\"", r.out);
	run_free(&r);
}
END_TEST

/* The JSON object bench --json printed; fails the test unless it is one. */
static json_t *
bench_json(const struct run *r)
{
	json_t		*doc;
	json_error_t	 jerr;

	doc = json_loads(r->out, 0, &jerr);
	ck_assert_msg(doc != NULL && json_is_object(doc), "bench --json "
	    "printed no JSON object (%s): \"%s\"; stderr \"%s\"",
	    doc == NULL ? jerr.text : "another type", r->out, r->err);
	return (doc);
}

/* An integer member of a JSON object; fails the test when absent. */
static long long
jint(const json_t *obj, const char *key)
{
	const json_t	*v = json_object_get(obj, key);

	ck_assert_msg(json_is_integer(v), "no integer \"%s\"", key);
	return ((long long)json_integer_value(v));
}

/* A number member of a JSON object; fails the test when absent. */
static double
jnum(const json_t *obj, const char *key)
{
	const json_t	*v = json_object_get(obj, key);

	ck_assert_msg(json_is_number(v), "no number \"%s\"", key);
	return (json_number_value(v));
}

/* Write text to the file name in the daemon's directory; its path. */
static void
bench_file(char *path, size_t size, const struct fpd *d, const char *name,
    const char *text)
{
	FILE	*f;

	snprintf(path, size, "%s/%s", d->dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_bench_count)
{
	/*
	 * bench -n 2000 -c 2 -P 16 --json: one JSON object on stdout that
	 * reports 2000 tasks, all answered with status 0, no error, ordered
	 * latency percentiles; exit 0; and the daemon's STATUS completed
	 * grew by exactly 2000: every task was sent once, none was lost.
	 */
	struct fpd	*d;
	struct run	 r;
	json_t		*doc, *lat;
	long long	 before, after;

	d = fpd_start(INI_CLI);
	before = tpool_int(d->sock, "echo", "completed");
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "bench",
	    "--json", "-n", "2000", "-c", "2", "-P", "16", "echo", NULL });
	expect_status(&r, 0);
	doc = bench_json(&r);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "pool")),
	    "echo");
	ck_assert_int_eq(jint(doc, "tasks"), 2000);
	ck_assert_int_eq(jint(doc, "replies"), 2000);
	ck_assert_int_eq(jint(doc, "ok"), 2000);
	ck_assert_int_eq(jint(doc, "failed"), 0);
	ck_assert_int_eq(jint(doc, "unmatched"), 0);
	ck_assert_int_eq(jint(doc, "connections"), 2);
	ck_assert_int_eq(jint(doc, "pipeline"), 16);
	ck_assert_int_eq(jint(doc, "payload_bytes"), 16);
	ck_assert_int_eq(jint(doc, "bytes_in"), 2000 * 16);
	ck_assert_int_eq(jint(doc, "bytes_out"), 2000 * 16);
	ck_assert(json_is_object(json_object_get(doc, "errors")));
	ck_assert_uint_eq(json_object_size(json_object_get(doc, "errors")), 0);
	ck_assert(jnum(doc, "seconds") > 0);
	ck_assert(jnum(doc, "tasks_per_s") > 0);
	lat = json_object_get(doc, "latency_ms");
	ck_assert(jnum(lat, "p50") > 0);
	ck_assert(jnum(lat, "p50") <= jnum(lat, "p90"));
	ck_assert(jnum(lat, "p90") <= jnum(lat, "p99"));
	ck_assert(jnum(lat, "p99") <= jnum(lat, "p99.9"));
	ck_assert(jnum(lat, "p99.9") <= jnum(lat, "max"));
	/* Not a terminal: no progress line. */
	ck_assert_msg(r.errlen == 0, "stderr \"%s\"", r.err);
	after = tpool_int(d->sock, "echo", "completed");
	ck_assert_int_eq(after - before, 2000);
	json_decref(doc);
	run_free(&r);

	/* The report for a person says the same. */
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "bench",
	    "-n", "300", "-P", "8", "echo", NULL });
	expect_status(&r, 0);
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ "bench echo",
	    "300 tasks of 16 bytes", "4 connections", "8 in flight", NULL }));
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ "tasks/s",
	    NULL }));
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ "MB/s",
	    NULL }));
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ "p50",
	    "p90", "p99", "p99.9", "max", NULL }));
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ "300 ok",
	    "0 failed", NULL }));
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ "errors",
	    "none", NULL }));
	ck_assert_int_eq(tpool_int(d->sock, "echo", "completed") - after, 300);
	run_free(&r);
	fpd_stop(d);
}
END_TEST

/* Quarantine off and restarts unthrottled: every segv crashes a worker. */
#define INI_CRASH							\
	"[pool:faulty]\nmodule = @T/faulty.so\nworkers = 2\n"		\
	"quarantine_after = 0\nrestart_burst = 1000\n"

START_TEST(test_bench_errors)
{
	/*
	 * Errors by code: bench -f FILE with "segv" in FILE, -n 5 -c 1 -P 1,
	 * reports 5 WORKER_CRASHED errors by name, in JSON and for a person,
	 * and exits 3; a handler's failure status is counted as failed, not
	 * as an error, and exits 1.
	 */
	struct fpd	*d;
	struct run	 r;
	json_t		*doc, *errs;
	char		 file[400];

	d = fpd_start(INI_CRASH);
	bench_file(file, sizeof(file), d, "payload", "segv");
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "bench",
	    "--json", "-f", file, "-n", "5", "-c", "1", "-P", "1", "faulty",
	    NULL });
	expect_status(&r, 3);
	doc = bench_json(&r);
	errs = json_object_get(doc, "errors");
	ck_assert_uint_eq(json_object_size(errs), 1);
	ck_assert_int_eq(jint(errs, "WORKER_CRASHED"), 5);
	ck_assert_int_eq(jint(doc, "replies"), 5);
	ck_assert_int_eq(jint(doc, "ok"), 0);
	ck_assert_int_eq(jint(doc, "payload_bytes"), 4);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "crashes"), 5);
	json_decref(doc);
	run_free(&r);

	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "bench", "-f",
	    file, "-n", "5", "-c", "1", "-P", "1", "faulty", NULL });
	expect_status(&r, 3);
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ "errors",
	    "5 WORKER_CRASHED", NULL }));
	run_free(&r);

	bench_file(file, sizeof(file), d, "payload", "fail:4:no");
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "bench",
	    "--json", "-f", file, "-n", "7", "faulty", NULL });
	expect_status(&r, 1);
	doc = bench_json(&r);
	ck_assert_int_eq(jint(doc, "failed"), 7);
	ck_assert_int_eq(jint(doc, "ok"), 0);
	ck_assert_uint_eq(json_object_size(json_object_get(doc, "errors")), 0);
	json_decref(doc);
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_bench_warmup)
{
	/*
	 * bench --warmup 30 -n 100 -c 2: the daemon completes 100 + 2 x 30
	 * tasks, but the report counts only the 100 of the timed part, and
	 * says how many warm-up tasks each connection ran.  A warm-up larger
	 * than a connection's share is cut to it: -n 10 -c 2 --warmup 50
	 * runs 5 + 5 warm-up tasks.
	 */
	struct fpd	*d;
	struct run	 r;
	json_t		*doc;
	long long	 before, after;

	d = fpd_start(INI_CLI);
	before = tpool_int(d->sock, "echo", "completed");
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "bench",
	    "--json", "-n", "100", "-c", "2", "-P", "4", "--warmup", "30",
	    "echo", NULL });
	expect_status(&r, 0);
	doc = bench_json(&r);
	ck_assert_int_eq(jint(doc, "tasks"), 100);
	ck_assert_int_eq(jint(doc, "replies"), 100);
	ck_assert_int_eq(jint(doc, "ok"), 100);
	ck_assert_int_eq(jint(doc, "bytes_in"), 100 * 16);
	ck_assert_int_eq(jint(doc, "bytes_out"), 100 * 16);
	ck_assert_int_eq(jint(doc, "warmup"), 30);
	after = tpool_int(d->sock, "echo", "completed");
	ck_assert_int_eq(after - before, 100 + 2 * 30);
	json_decref(doc);
	run_free(&r);

	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "bench",
	    "-n", "10", "-c", "2", "--warmup", "50", "echo", NULL });
	expect_status(&r, 0);
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ "warm-up",
	    "50 tasks per connection", "not counted", NULL }));
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ "10 ok",
	    NULL }));
	ck_assert_int_eq(tpool_int(d->sock, "echo", "completed") - after,
	    10 + 5 + 5);
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_bench_slices)
{
	/*
	 * --slice 8 of a 16-byte file "okokokokfail:1:x": task i's payload
	 * starts at (8 i) mod 9, so of tasks 0..9 only task 1 (offset 8)
	 * is "fail:1:x", numbered across both connections.  9 tasks echo 8
	 * bytes and one fails with "x": 73 bytes out.  --stride 9 puts
	 * every slice at offset 0: no task fails.
	 */
	struct fpd	*d;
	struct run	 r;
	json_t		*doc;
	char		 file[400];

	d = fpd_start(INI_CLI);
	bench_file(file, sizeof(file), d, "corpus", "okokokokfail:1:x");
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "bench",
	    "--json", "-f", file, "--slice", "8", "-n", "10", "-c", "2",
	    "-P", "1", "faulty", NULL });
	expect_status(&r, 1);
	doc = bench_json(&r);
	ck_assert_int_eq(jint(doc, "payload_bytes"), 8);
	ck_assert_int_eq(jint(doc, "ok"), 9);
	ck_assert_int_eq(jint(doc, "failed"), 1);
	ck_assert_int_eq(jint(doc, "bytes_in"), 10 * 8);
	ck_assert_int_eq(jint(doc, "bytes_out"), 9 * 8 + 1);
	json_decref(doc);
	run_free(&r);

	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "bench",
	    "--json", "-f", file, "--slice", "8", "--stride", "9", "-n", "10",
	    "faulty", NULL });
	expect_status(&r, 0);
	doc = bench_json(&r);
	ck_assert_int_eq(jint(doc, "ok"), 10);
	ck_assert_int_eq(jint(doc, "bytes_out"), 10 * 8);
	json_decref(doc);
	run_free(&r);
	fpd_stop(d);
}
END_TEST

START_TEST(test_bench_unknown_pool)
{
	/*
	 * bench on a pool the daemon does not have exits 3 with
	 * UNKNOWN_POOL on stderr, prints no report, and sends no task: the
	 * pools that exist served nothing.
	 */
	struct fpd	*d;
	struct run	 r;

	d = fpd_start(INI_CLI);
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "bench", "-n",
	    "50", "nosuch", NULL });
	expect_status(&r, 3);
	ck_assert_uint_eq(r.outlen, 0);
	ck_assert_msg(strncmp(r.err, "forkpool: UNKNOWN_POOL: ", 24) == 0 &&
	    strstr(r.err, "\"nosuch\"") != NULL, "%s", r.err);
	run_free(&r);
	ck_assert_int_eq(tpool_int(d->sock, "echo", "completed"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "completed"), 0);
	fpd_stop(d);
}
END_TEST

/* The line of a top block that starts with word, split into fields. */
static int
top_row(const char *block, const char *word, char fields[][32], int max)
{
	const char	*line, *nl, *p;
	int		 n = 0;
	size_t		 len;

	for (line = block; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		len = strlen(word);
		if (strncmp(line, word, len) == 0 && line[len] == ' ')
			break;
		if (nl == NULL || strncmp(nl + 1, "forkpoold ", 10) == 0)
			return (0);
	}
	if (*line == '\0')
		return (0);
	for (p = line; n < max && *p != '\n' && *p != '\0'; n++) {
		while (*p == ' ')
			p++;
		if (*p == '\n' || *p == '\0')
			break;
		len = strcspn(p, " \n");
		snprintf(fields[n], 32, "%.*s", (int)len, p);
		p += len;
	}
	return (n);
}

START_TEST(test_top_plain)
{
	/*
	 * top with standard output a pipe: -n 2 -d 0.2 prints two blocks of
	 * plain lines, no escape byte anywhere, 0.2 s or more apart; each
	 * names the daemon and has a row per pool with its ready/size
	 * workers (echo 2/2, faulty 3/3) and queue/limit, and a row per
	 * worker; the first block has no rate yet, the second has one.
	 * Without -n, one block.
	 */
	struct fpd	*d;
	struct run	 r;
	const char	*b2, *p;
	char		 f[12][32];
	long long	 t0;
	int		 blocks;

	d = fpd_start(INI_CLI);
	twait_idle(d->sock, "echo", 2, 10000);
	twait_idle(d->sock, "faulty", 3, 10000);
	t0 = tnow_ms();
	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "top", "-n",
	    "2", "-d", "0.2", NULL });
	ck_assert_int_ge(tnow_ms() - t0, 200);
	expect_status(&r, 0);
	ck_assert_msg(memchr(r.out, '\033', r.outlen) == NULL, "escape byte "
	    "in \"%s\"", r.out);
	for (blocks = 0, p = r.out; (p = strstr(p, "forkpoold ")) != NULL;
	    p++)
		if (p == r.out || p[-1] == '\n')
			blocks++;
	ck_assert_msg(blocks == 2, "%d blocks in:\n%s", blocks, r.out);
	ck_assert_ptr_nonnull(b2 = strstr(r.out, "\n\nforkpoold "));
	b2 += 2;

	ck_assert_int_eq(top_row(r.out, "echo", f, 12), 11);
	ck_assert_str_eq(f[1], "2/2");
	ck_assert_str_eq(f[3], "0/77");
	ck_assert_str_eq(f[4], "-");
	ck_assert_int_eq(top_row(r.out, "faulty", f, 12), 11);
	ck_assert_str_eq(f[1], "3/3");
	ck_assert_str_eq(f[3], "0/1024");
	ck_assert_int_eq(top_row(b2, "echo", f, 12), 11);
	ck_assert_str_eq(f[1], "2/2");
	ck_assert_str_eq(f[4], "0.0");
	ck_assert_int_eq(top_row(b2, "faulty", f, 12), 11);
	ck_assert_str_eq(f[1], "3/3");
	/* Worker rows: the pool, a pid, a state. */
	ck_assert_ptr_nonnull(find_line(b2, (const char *[]){ "faulty",
	    " idle ", NULL }));
	ck_assert_ptr_nonnull(find_line(r.out, (const char *[]){ "pid",
	    "up ", NULL }));
	run_free(&r);

	cli_run(&r, NULL, 0, (const char *[]){ "-s", d->sock, "top", NULL });
	expect_status(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "forkpoold "));
	ck_assert_ptr_null(strstr(r.out + 1, "\nforkpoold "));
	ck_assert_int_eq(top_row(r.out, "echo", f, 12), 11);
	run_free(&r);
	fpd_stop(d);
}
END_TEST

/* A forkpool command on a new pseudo-terminal, 120 x 40. */
struct ptyrun {
	pid_t	 pid;
	int	 master;
	int	 slave;		/* kept open: its termios outlive the child */
	struct termios initial;	/* its modes before the command ran */
	char	*out;		/* what the terminal got so far */
	size_t	 outlen;
};

static void
pty_start(struct ptyrun *p, const char *const *args)
{
	struct winsize	 ws = { .ws_row = 40, .ws_col = 120 };
	char		*argv[16], *bin;
	int		 i;

	memset(p, 0, sizeof(*p));
	ck_assert_ptr_nonnull(p->out = strdup(""));
	ck_assert_int_ne(p->master = posix_openpt(O_RDWR | O_NOCTTY), -1);
	ck_assert_int_eq(grantpt(p->master), 0);
	ck_assert_int_eq(unlockpt(p->master), 0);
	ck_assert_int_ne(p->slave = open(ptsname(p->master),
	    O_RDWR | O_NOCTTY), -1);
	ck_assert_int_eq(ioctl(p->master, TIOCSWINSZ, &ws), 0);
	ck_assert_int_eq(tcgetattr(p->slave, &p->initial), 0);
	bin = cli_path();
	argv[0] = bin;
	for (i = 0; args[i] != NULL; i++)
		argv[i + 1] = (char *)(uintptr_t)args[i];
	argv[i + 1] = NULL;
	ck_assert_int_ne(p->pid = fork(), -1);
	if (p->pid == 0) {
		setsid();
		if (dup2(p->slave, STDIN_FILENO) == -1 ||
		    dup2(p->slave, STDOUT_FILENO) == -1 ||
		    dup2(p->slave, STDERR_FILENO) == -1)
			_exit(126);
		execv(bin, argv);
		_exit(127);
	}
	free(bin);
}

/* Read what the terminal shows until it holds needle; fail at the deadline. */
static void
pty_wait(struct ptyrun *p, const char *needle, int timeout_ms)
{
	long long	 deadline = tnow_ms() + timeout_ms;
	struct pollfd	 pfd;

	while (memmem(p->out, p->outlen, needle, strlen(needle)) == NULL) {
		ck_assert_msg(tnow_ms() < deadline, "the terminal never showed "
		    "\"%s\"; it got \"%s\"", needle, p->out);
		pfd.fd = p->master;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) > 0 && drain(p->master, &p->out,
		    &p->outlen) == 0)
			ck_abort_msg("the terminal closed before showing "
			    "\"%s\"; it got \"%s\"", needle, p->out);
	}
}

/* Wait for the child, reading its terminal meanwhile; its wait status. */
static int
pty_exit(struct ptyrun *p, int timeout_ms)
{
	long long	 deadline = tnow_ms() + timeout_ms;
	struct pollfd	 pfd;
	int		 status;
	pid_t		 r;

	while ((r = waitpid(p->pid, &status, WNOHANG)) == 0) {
		if (tnow_ms() >= deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
			ck_abort_msg("forkpool top did not exit; the terminal "
			    "got \"%s\"", p->out);
		}
		pfd.fd = p->master;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 50) > 0)
			drain(p->master, &p->out, &p->outlen);
	}
	ck_assert_int_eq(r, p->pid);
	/* What it wrote last may still wait in the terminal. */
	pfd.fd = p->master;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, 0) > 0 && drain(p->master, &p->out,
	    &p->outlen) == 1)
		;
	return (status);
}

static void
pty_free(struct ptyrun *p)
{
	close(p->master);
	close(p->slave);
	free(p->out);
}

START_TEST(test_top_terminal)
{
	/*
	 * top on a terminal: the alternate screen, a frame with the pools
	 * and "q quits"; q exits 0, leaves the alternate screen and gives
	 * the terminal back its modes (canonical input, echo) exactly as
	 * they were.  SIGTERM does the same, and then kills it.
	 */
	struct fpd	*d;
	struct ptyrun	 p;
	struct termios	 before, after;
	int		 status;

	d = fpd_start(INI_CLI);
	pty_start(&p, (const char *[]){ "-s", d->sock, "top", NULL });
	before = p.initial;
	ck_assert(before.c_lflag & ICANON);
	ck_assert(before.c_lflag & ECHO);
	pty_wait(&p, "q quits", 10000);
	pty_wait(&p, "faulty", 10000);
	ck_assert_ptr_nonnull(memmem(p.out, p.outlen, "\033[?1049h", 8));
	ck_assert_int_eq(tcgetattr(p.slave, &after), 0);
	ck_assert(!(after.c_lflag & ICANON));
	ck_assert(!(after.c_lflag & ECHO));
	ck_assert_int_eq(write(p.master, "q", 1), 1);
	status = pty_exit(&p, 10000);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status 0x%x", status);
	ck_assert_ptr_nonnull(memmem(p.out, p.outlen, "\033[?1049l", 8));
	ck_assert_int_eq(tcgetattr(p.slave, &after), 0);
	ck_assert_int_eq(after.c_lflag, before.c_lflag);
	ck_assert_int_eq(after.c_iflag, before.c_iflag);
	ck_assert_int_eq(after.c_cc[VMIN], before.c_cc[VMIN]);
	pty_free(&p);

	pty_start(&p, (const char *[]){ "-s", d->sock, "top", NULL });
	before = p.initial;
	pty_wait(&p, "q quits", 10000);
	ck_assert_int_eq(kill(p.pid, SIGTERM), 0);
	status = pty_exit(&p, 10000);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
	    "status 0x%x", status);
	ck_assert_ptr_nonnull(memmem(p.out, p.outlen, "\033[?1049l", 8));
	ck_assert_int_eq(tcgetattr(p.slave, &after), 0);
	ck_assert_int_eq(after.c_lflag, before.c_lflag);
	pty_free(&p);
	fpd_stop(d);
}
END_TEST

START_TEST(test_usage_top_bench)
{
	/*
	 * top and bench: a bad option, value or argument is a usage error,
	 * exit 2 before any connection is tried.
	 */
	static const char	*bad[][7] = {
	    { "top", "extra", NULL }, { "top", "-n", NULL },
	    { "top", "-n", "x", NULL }, { "top", "-n", "-1", NULL },
	    { "top", "-d", "0", NULL }, { "top", "-d", "abc", NULL },
	    { "top", "-d", "nan", NULL }, { "top", "-z", NULL },
	    { "bench", NULL }, { "bench", "echo", "extra", NULL },
	    { "bench", "bad name", NULL }, { "bench", "-n", "0", "echo", NULL },
	    { "bench", "-n", "x", "echo", NULL },
	    { "bench", "-c", "0", "echo", NULL },
	    { "bench", "-P", "0", "echo", NULL },
	    { "bench", "-P", "1000000", "echo", NULL },
	    { "bench", "-d", "-1", "echo", NULL },
	    { "bench", "-d", "4", "-f", "/etc/hostname", "echo", NULL },
	    { "bench", "-f", "/nonexistent/payload", "echo", NULL },
	    { "bench", "--bogus", "echo", NULL },
	    { "bench", "-z", "echo", NULL },
	    { "bench", "echo", "-n", NULL },
	    { "bench", "--warmup", "x", "echo", NULL },
	    { "bench", "--slice", "4", "echo", NULL },
	    { "bench", "-d", "4", "--slice", "4", "echo", NULL },
	    { "bench", "-f", "/etc/hostname", "--slice", "0", "echo", NULL },
	    { "bench", "-f", "/etc/hostname", "--stride", "4", "echo", NULL },
	    { "bench", "-f", "/etc/hostname", "--slice", "100000", "echo",
	    NULL } };
	const char		*args[10];
	struct run		 r;
	size_t			 i, j;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		args[0] = "-s";
		args[1] = "/nonexistent/forkpool.sock";
		for (j = 0; j < 7 && bad[i][j] != NULL; j++)
			args[2 + j] = bad[i][j];
		args[2 + j] = NULL;
		cli_run(&r, NULL, 0, args);
		expect_status(&r, 2);
		ck_assert_uint_eq(r.outlen, 0);
		ck_assert_uint_gt(r.errlen, 0);
		ck_assert_msg(strstr(r.err, "cannot connect") == NULL,
		    "case %zu connected: %s", i, r.err);
		run_free(&r);
	}
}
END_TEST

Suite *
cli_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("cli");
	tc = tcase_create("usage");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_no_daemon);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_usage_top_bench);
	suite_add_tcase(s, tc);

	tc = tcase_create("live");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_submit_arg);
	tcase_add_test(tc, test_submit_stdin);
	tcase_add_test(tc, test_map_order);
	tcase_add_test(tc, test_map_failures);
	tcase_add_test(tc, test_ping);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_status_table);
	tcase_add_test(tc, test_status_json);
	tcase_add_test(tc, test_metrics);
	tcase_add_test(tc, test_task_failed);
	tcase_add_test(tc, test_daemon_error);
	tcase_add_test(tc, test_bench_count);
	tcase_add_test(tc, test_bench_errors);
	tcase_add_test(tc, test_bench_warmup);
	tcase_add_test(tc, test_bench_slices);
	tcase_add_test(tc, test_bench_unknown_pool);
	tcase_add_test(tc, test_top_plain);
	tcase_add_test(tc, test_top_terminal);
	suite_add_tcase(s, tc);
	return (s);
}

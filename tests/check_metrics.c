/*
 * Seeing inside (issue 4), live: METRICS after a run with every outcome,
 * parsed by a real Prometheus parser (Debian's python3-prometheus-client)
 * and checked against what the test did; STATUS's keys and values; the
 * slow-task log; one log line per lifecycle event; journald's <N>
 * priority prefixes; log_level.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
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
#define PYTHON		"/usr/bin/python3"

/*
 * Parse Prometheus text from stdin with the client library's own parser
 * and print every family ("F name type") and sample ("S name{labels}
 * value", labels sorted) for the test to look up.  Any exception fails.
 */
static const char parse_script[] =
    "import sys\n"
    "from prometheus_client.parser import text_string_to_metric_families\n"
    "text = sys.stdin.read()\n"
    "for fam in text_string_to_metric_families(text):\n"
    "    print('F %s %s' % (fam.name, fam.type))\n"
    "    for s in fam.samples:\n"
    "        labels = ','.join('%s=\"%s\"' % kv\n"
    "                          for kv in sorted(s.labels.items()))\n"
    "        print('S %s{%s} %r' % (s.name, labels, s.value))\n";

/* Write all of buf to fd (a pipe); fails the test on an error. */
static void
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			ck_abort_msg("write to the parser: %s",
			    strerror(errno));
		}
		buf += n;
		len -= n;
	}
}

/*
 * Run the Prometheus parser on text through a pipe.  Its output (or, when
 * it fails, its traceback) goes in *out, malloc'd; returns its wait status.
 */
static int
prom_run(const char *text, char **out)
{
	int	 in[2], pout[2], status;
	char	*buf = NULL;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;
	pid_t	 pid;

	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(pout), 0);
	if ((pid = fork()) == -1)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(pout[1], STDOUT_FILENO);
		dup2(pout[1], STDERR_FILENO);
		close(in[0]);
		close(in[1]);
		close(pout[0]);
		close(pout[1]);
		execl(PYTHON, PYTHON, "-c", parse_script, (char *)NULL);
		dprintf(STDERR_FILENO, "cannot run %s: %s\n", PYTHON,
		    strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(pout[1]);
	/* It reads everything before it prints: no deadlock. */
	write_all(in[1], text, strlen(text));
	close(in[1]);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 65536 : cap * 2;
			if ((buf = realloc(buf, cap + 1)) == NULL)
				ck_abort_msg("out of memory");
		}
		n = read(pout[0], buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	close(pout[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	*out = buf;
	return (status);
}

/* The parser's output for text; fails the test unless it parsed. */
static char *
prom_parse(const char *text)
{
	char	*out;
	int	 status;

	status = prom_run(text, &out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the Prometheus parser failed on METRICS:\n%.3000s\n--- the text "
	    "---\n%.1500s", out, text);
	return (out);
}

/*
 * The value of sample key ("name{label=\"v\",...}", labels sorted) in the
 * parser's output; fails the test when it is not there.
 */
static double
prom_value(const char *parsed, const char *key)
{
	const char	*p = parsed;
	size_t		 klen = strlen(key);

	while ((p = strstr(p, key)) != NULL) {
		if (p >= parsed + 2 && p[-2] == 'S' && p[-1] == ' ' &&
		    (p - 2 == parsed || p[-3] == '\n') && p[klen] == ' ')
			return (strtod(p + klen + 1, NULL));
		p += klen;
	}
	ck_abort_msg("METRICS has no sample %s", key);
	return (0);
}

/* A pool's sample of family name, with one more label or none. */
static double
pool_value(const char *parsed, const char *name, const char *pool,
    const char *label, const char *value)
{
	char	key[256];

	/* The parser's output has the labels sorted by name. */
	if (label != NULL && strcmp(label, "pool") < 0)
		snprintf(key, sizeof(key), "%s{%s=\"%s\",pool=\"%s\"}", name,
		    label, value, pool);
	else if (label != NULL)
		snprintf(key, sizeof(key), "%s{pool=\"%s\",%s=\"%s\"}", name,
		    pool, label, value);
	else
		snprintf(key, sizeof(key), "%s{pool=\"%s\"}", name, pool);
	return (prom_value(parsed, key));
}

/* Check that the parser saw family name with type. */
static void
prom_family(const char *parsed, const char *name, const char *type)
{
	char	line[160];

	snprintf(line, sizeof(line), "F %s %s\n", name, type);
	ck_assert_msg(strstr(parsed, line) != NULL, "METRICS has no %s "
	    "family %s", type, name);
}

/* METRICS on an open connection: the text, malloc'd. */
static char *
metrics_on(int fd, uint64_t id)
{
	tsend(fd, FP_METRICS, 0, id, NULL, 0);
	return (texpect(fd, FP_METRICS_REPLY, 0, id, WAIT_MS));
}

/* The replies a test expects, by id, in whatever order they come. */
struct want {
	uint64_t	 id;
	uint8_t		 type;
	uint16_t	 arg;
	const char	*text;		/* in the body; NULL: anything */
	int		 got;
};

/* Read n replies and match each to its entry of want. */
static void
expect_replies(int fd, struct want *want, int n)
{
	struct fp_hdr	 hdr;
	char		*body;
	int		 i, k;

	for (k = 0; k < n; k++) {
		ck_assert_msg(trecv(fd, &hdr, &body, WAIT_MS) == 1,
		    "end of file with %d replies still due", n - k);
		for (i = 0; i < n && want[i].id != hdr.id; i++)
			;
		ck_assert_msg(i < n && !want[i].got, "an unexpected reply: "
		    "type 0x%02x id %llu: %s", hdr.type,
		    (unsigned long long)hdr.id, body);
		ck_assert_msg(hdr.type == want[i].type && hdr.arg ==
		    want[i].arg, "id %llu: type 0x%02x arg %u (%s), wanted "
		    "type 0x%02x arg %u", (unsigned long long)hdr.id, hdr.type,
		    hdr.arg, body, want[i].type, want[i].arg);
		if (want[i].text != NULL)
			ck_assert_msg(strstr(body, want[i].text) != NULL,
			    "id %llu: \"%s\" does not say \"%s\"",
			    (unsigned long long)hdr.id, body, want[i].text);
		want[i].got = 1;
		free(body);
	}
}

/* What the test sent to one pool and got back, to check the counters. */
struct tally {
	const char	*pool;
	double		 outcome[8];	/* in outcome_names order */
	double		 ran;		/* tasks that reached a worker */
	double		 bytes_in;
	double		 bytes_out;
	double		 restarts;
};

static const char *const outcome_names[8] = {
	"ok", "failed", "timeout", "crashed", "overloaded", "cancelled",
	"quarantined", "shutting_down"
};
enum {
	O_OK, O_FAILED, O_TIMEOUT, O_CRASHED, O_OVERLOADED, O_CANCELLED,
	O_QUARANTINED, O_SHUTTING_DOWN
};

/*
 * Submit payload to pool, wait for its reply, and count it: the reply must
 * be type/arg (RESULT and the status, or ERROR and the code).
 */
static void
run_task(int fd, uint64_t id, struct tally *t, const char *payload,
    uint8_t type, uint16_t arg, int outcome, int ran)
{
	struct fp_hdr	 hdr;
	char		*body;

	tsubmit(fd, id, t->pool, payload, strlen(payload), &hdr, &body);
	ck_assert_msg(hdr.type == type && hdr.arg == arg, "%s on %s: type "
	    "0x%02x arg %u (%s); wanted type 0x%02x arg %u", payload, t->pool,
	    hdr.type, hdr.arg, body, type, arg);
	t->outcome[outcome]++;
	t->ran += ran;
	t->bytes_in += strlen(payload);
	if (type == FP_RESULT)
		t->bytes_out += hdr.len;
	free(body);
}

/*
 * Check the buckets of histogram name for pool, in the parser's order:
 * bounds rising from 100 us to 60 s, then +Inf; counts cumulative; the
 * +Inf bucket equal to want.
 */
static void
check_buckets(const char *parsed, const char *name, const char *pool,
    double want)
{
	char		 prefix[160], suffix[96], le[32];
	const char	*line, *end;
	double		 bound, prev_bound = -1, v, prev = 0;
	int		 n = 0, inf = 0;

	snprintf(prefix, sizeof(prefix), "S %s_bucket{le=\"", name);
	snprintf(suffix, sizeof(suffix), "\",pool=\"%s\"} ", pool);
	for (line = parsed; *line != '\0'; line = end + 1) {
		if ((end = strchr(line, '\n')) == NULL)
			break;
		if (strncmp(line, prefix, strlen(prefix)) != 0 ||
		    sscanf(line + strlen(prefix), "%31[^\"]", le) != 1 ||
		    strncmp(line + strlen(prefix) + strlen(le), suffix,
		    strlen(suffix)) != 0)
			continue;
		v = strtod(line + strlen(prefix) + strlen(le) +
		    strlen(suffix), NULL);
		ck_assert_msg(!inf, "pool %s: %s: a bucket after +Inf", pool,
		    name);
		if (strcmp(le, "+Inf") == 0) {
			inf = 1;
			ck_assert_msg(prev_bound == 60, "pool %s: %s: the last "
			    "finite bound is %g, not 60 s", pool, name,
			    prev_bound);
		} else {
			bound = strtod(le, NULL);
			ck_assert_msg(n > 0 || bound == 0.0001, "pool %s: %s: "
			    "the first bound is %s, not 100 us", pool, name,
			    le);
			ck_assert_msg(bound > prev_bound, "pool %s: %s: bound "
			    "%s after %g", pool, name, le, prev_bound);
			prev_bound = bound;
		}
		ck_assert_msg(v >= prev, "pool %s: %s{le=\"%s\"} %g is below "
		    "the bucket before it (%g)", pool, name, le, v, prev);
		prev = v;
		n++;
	}
	ck_assert_msg(inf, "pool %s: %s has no +Inf bucket", pool, name);
	ck_assert_msg(prev == want, "pool %s: %s{le=\"+Inf\"} is %g; %g tasks "
	    "ran", pool, name, prev, want);
}

/* Check one pool's counters and histograms against its tally. */
static void
check_tally(const char *parsed, const struct tally *t)
{
	const char	*hist[2] = { "forkpool_task_duration_seconds",
	    "forkpool_task_wait_seconds" };
	char		 name[96];
	double		 v;
	int		 i, h;

	for (i = 0; i < 8; i++) {
		v = pool_value(parsed, "forkpool_tasks_total", t->pool,
		    "outcome", outcome_names[i]);
		ck_assert_msg(v == t->outcome[i], "pool %s: outcome=\"%s\" is "
		    "%g; the test had %g", t->pool, outcome_names[i], v,
		    t->outcome[i]);
	}
	v = pool_value(parsed, "forkpool_worker_restarts_total", t->pool,
	    NULL, NULL);
	ck_assert_msg(v == t->restarts, "pool %s: %g restarts, wanted %g",
	    t->pool, v, t->restarts);
	v = pool_value(parsed, "forkpool_bytes_in_total", t->pool, NULL,
	    NULL);
	ck_assert_msg(v == t->bytes_in, "pool %s: bytes in %g, wanted %g",
	    t->pool, v, t->bytes_in);
	v = pool_value(parsed, "forkpool_bytes_out_total", t->pool, NULL,
	    NULL);
	ck_assert_msg(v == t->bytes_out, "pool %s: bytes out %g, wanted %g",
	    t->pool, v, t->bytes_out);
	ck_assert_double_eq(pool_value(parsed, "forkpool_queue_depth",
	    t->pool, NULL, NULL), 0);

	/* Histograms: _count = the +Inf bucket = the tasks that ran. */
	for (h = 0; h < 2; h++) {
		snprintf(name, sizeof(name), "%s_count", hist[h]);
		v = pool_value(parsed, name, t->pool, NULL, NULL);
		ck_assert_msg(v == t->ran, "pool %s: %s is %g; %g tasks ran",
		    t->pool, name, v, t->ran);
		check_buckets(parsed, hist[h], t->pool, t->ran);
	}
}

static const char ini_outcomes[] =
    "[daemon]\n"
    "shutdown_timeout = 20s\n"
    "\n"
    "; ok, failed, timeout, crashed\n"
    "[pool:f]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n"
    "task_timeout = 300ms\n"
    "quarantine_after = 0\n"
    "restart_burst = 50\n"
    "\n"
    "; crashed twice, then quarantined\n"
    "[pool:q]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n"
    "quarantine_after = 2\n"
    "restart_burst = 50\n"
    "\n"
    "; overloaded, cancelled\n"
    "[pool:o]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n"
    "prefetch = 1\n"
    "queue_limit = 2\n"
    "\n"
    "; shutting_down\n"
    "[pool:s]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n"
    "prefetch = 1\n";

START_TEST(test_metrics_every_outcome)
{
	/*
	 * After a run with every outcome (ok, failed, timeout, crashed,
	 * overloaded, cancelled, quarantined, shutting_down), METRICS parses
	 * with the real Prometheus parser and its counters are exactly what
	 * the test did: tasks by outcome, restarts, bytes in and out per
	 * pool; each histogram's buckets are cumulative and its count is
	 * the number of tasks that ran on a worker.
	 */
	struct tally	 f = { .pool = "f" }, q = { .pool = "q" };
	struct tally	 o = { .pool = "o" }, s = { .pool = "s" };
	struct want	 ow[4] = {
		{ 100, FP_RESULT, 0, "slept", 0 },
		{ 101, FP_RESULT, 0, "slept", 0 },
		{ 102, FP_ERROR, FP_ERR_CANCELLED, NULL, 0 },
		{ 103, FP_ERROR, FP_ERR_OVERLOADED, NULL, 0 },
	};
	struct want	 sw[3] = {
		{ 201, FP_ERROR, FP_ERR_SHUTTING_DOWN, NULL, 0 },
		{ 202, FP_ERROR, FP_ERR_SHUTTING_DOWN, NULL, 0 },
		{ 203, FP_ERROR, FP_ERR_SHUTTING_DOWN, NULL, 0 },
	};
	struct fpd	*d;
	long long	 deadline;
	char		*text, *parsed, *body, payload[32];
	int		 fd, fd2, i;

	d = fpd_start(ini_outcomes);
	fd = tconnect(d->sock);

	/* f: 5 ok, 2 failed (fail:), 1 timeout, 3 crashes. */
	for (i = 0; i < 5; i++) {
		snprintf(payload, sizeof(payload), "hello %d", i);
		run_task(fd, 1 + i, &f, payload, FP_RESULT, 0, O_OK, 1);
	}
	run_task(fd, 10, &f, "fail:3:bad input", FP_RESULT, 3, O_FAILED, 1);
	run_task(fd, 11, &f, "fail:4:worse", FP_RESULT, 4, O_FAILED, 1);
	run_task(fd, 12, &f, "hang", FP_ERROR, FP_ERR_TIMEOUT, O_TIMEOUT, 1);
	run_task(fd, 13, &f, "segv", FP_ERROR, FP_ERR_WORKER_CRASHED,
	    O_CRASHED, 1);
	run_task(fd, 14, &f, "abort", FP_ERROR, FP_ERR_WORKER_CRASHED,
	    O_CRASHED, 1);
	run_task(fd, 15, &f, "exit:3", FP_ERROR, FP_ERR_WORKER_CRASHED,
	    O_CRASHED, 1);
	f.restarts = 4;

	/* q: one ok; "segv" crashes twice, then is quarantined. */
	run_task(fd, 20, &q, "fine", FP_RESULT, 0, O_OK, 1);
	run_task(fd, 21, &q, "segv", FP_ERROR, FP_ERR_WORKER_CRASHED,
	    O_CRASHED, 1);
	run_task(fd, 22, &q, "segv", FP_ERROR, FP_ERR_WORKER_CRASHED,
	    O_CRASHED, 1);
	run_task(fd, 23, &q, "segv", FP_ERROR, FP_ERR_QUARANTINED,
	    O_QUARANTINED, 0);
	q.restarts = 2;

	/*
	 * o: one running, two queued (the queue_limit), the fourth refused;
	 * then one of the queued is cancelled.
	 */
	tsend_submit(fd, 100, "o", "sleep:300", 9);
	tsend_submit(fd, 101, "o", "sleep:1", 7);
	tsend_submit(fd, 102, "o", "sleep:2", 7);
	tsend_submit(fd, 103, "o", "sleep:3", 7);
	tsend(fd, FP_CANCEL, 0, 102, NULL, 0);
	expect_replies(fd, ow, 4);
	o.outcome[O_OK] = 2;
	o.outcome[O_OVERLOADED] = 1;
	o.outcome[O_CANCELLED] = 1;
	o.ran = 2;
	o.bytes_in = 9 + 7 + 7;
	o.bytes_out = 5 + 5;
	close(fd);

	/*
	 * s: one task runs, two wait; SIGTERM answers the two, and a task
	 * sent during the stop, SHUTTING_DOWN.  The running one holds the
	 * stop open long enough to ask for METRICS on this connection.
	 */
	fd2 = tconnect(d->sock);
	tsend_submit(fd2, 200, "s", "sleep:3000", 10);
	tsend_submit(fd2, 201, "s", "one", 3);
	tsend_submit(fd2, 202, "s", "two", 3);
	deadline = tnow_ms() + WAIT_MS;
	while (tpool_int(d->sock, "s", "queued") != 2) {
		ck_assert_msg(tnow_ms() < deadline, "pool s never had 2 tasks "
		    "queued");
		tnap(POLL_MS);
	}
	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
	expect_replies(fd2, sw, 2);
	tsend_submit(fd2, 203, "s", "three", 5);
	expect_replies(fd2, sw + 2, 1);
	s.outcome[O_SHUTTING_DOWN] = 3;
	s.bytes_in = 10 + 3 + 3;

	text = metrics_on(fd2, 204);
	parsed = prom_parse(text);
	prom_family(parsed, "forkpool_tasks", "counter");
	prom_family(parsed, "forkpool_queue_depth", "gauge");
	prom_family(parsed, "forkpool_workers", "gauge");
	prom_family(parsed, "forkpool_worker_restarts", "counter");
	prom_family(parsed, "forkpool_bytes_in", "counter");
	prom_family(parsed, "forkpool_bytes_out", "counter");
	prom_family(parsed, "forkpool_task_duration_seconds", "histogram");
	prom_family(parsed, "forkpool_task_wait_seconds", "histogram");
	prom_family(parsed, "forkpool_clients", "gauge");
	prom_family(parsed, "forkpool_master_rss_bytes", "gauge");
	prom_family(parsed, "forkpool_master_open_fds", "gauge");
	check_tally(parsed, &f);
	check_tally(parsed, &q);
	check_tally(parsed, &o);
	check_tally(parsed, &s);

	/* The timed-out task ran 300 ms; task 101 waited behind 100. */
	ck_assert_double_ge(pool_value(parsed,
	    "forkpool_task_duration_seconds_sum", "f", NULL, NULL), 0.3);
	ck_assert_double_le(pool_value(parsed,
	    "forkpool_task_duration_seconds_bucket", "f", "le", "0.25"),
	    f.ran - 1);
	ck_assert_double_ge(pool_value(parsed,
	    "forkpool_task_wait_seconds_sum", "o", NULL, NULL), 0.25);
	ck_assert_double_eq(pool_value(parsed, "forkpool_workers", "s",
	    "state", "busy"), 1);
	ck_assert_double_ge(prom_value(parsed, "forkpool_clients{}"), 1);
	ck_assert_double_gt(prom_value(parsed, "forkpool_master_rss_bytes{}"),
	    1024 * 1024);
	ck_assert_double_ge(prom_value(parsed, "forkpool_master_open_fds{}"),
	    4);
	printf("metrics: every outcome counted: f ok %g failed %g timeout %g "
	    "crashed %g; q crashed %g quarantined %g; o ok %g overloaded %g "
	    "cancelled %g; s shutting_down %g\n", f.outcome[O_OK],
	    f.outcome[O_FAILED], f.outcome[O_TIMEOUT], f.outcome[O_CRASHED],
	    q.outcome[O_CRASHED], q.outcome[O_QUARANTINED], o.outcome[O_OK],
	    o.outcome[O_OVERLOADED], o.outcome[O_CANCELLED],
	    s.outcome[O_SHUTTING_DOWN]);
	free(parsed);
	free(text);

	body = texpect(fd2, FP_RESULT, 0, 200, WAIT_MS);
	ck_assert_str_eq(body, "slept");
	free(body);
	close(fd2);
	ck_assert_int_eq(fpd_wait_exit(d, WAIT_MS), 0);
	fpd_stop(d);
}
END_TEST

START_TEST(test_metrics_parser_rejects)
{
	/*
	 * The parser the tests trust does fail on broken exposition text
	 * (an unclosed label set), so a METRICS that did not parse would
	 * fail them.
	 */
	char	*out;
	int	 status;

	status = prom_run("# TYPE forkpool_x counter\n"
	    "forkpool_x_total{pool=\"a\" 1\n", &out);
	ck_assert_msg(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
	    "the parser accepted broken text: %s", out);
	free(out);
	status = prom_run("# TYPE forkpool_x counter\n"
	    "forkpool_x_total{pool=\"a\"} 1\n", &out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the parser rejected good text: %s", out);
	ck_assert_ptr_nonnull(strstr(out, "S forkpool_x_total{pool=\"a\"} "
	    "1.0\n"));
	free(out);
}
END_TEST

START_TEST(test_metrics_parse_idle)
{
	/*
	 * A daemon that has run nothing still exposes every family, every
	 * pool and every outcome (at 0), and the text parses.
	 */
	struct fpd	*d;
	char		*text, *parsed;
	int		 fd, i;

	d = fpd_start(ini_outcomes);
	fd = tconnect(d->sock);
	text = metrics_on(fd, 1);
	parsed = prom_parse(text);
	for (i = 0; i < 8; i++)
		ck_assert_double_eq(pool_value(parsed, "forkpool_tasks_total",
		    "q", "outcome", outcome_names[i]), 0);
	ck_assert_double_eq(pool_value(parsed, "forkpool_workers", "f",
	    "state", "idle"), 1);
	ck_assert_double_eq(pool_value(parsed,
	    "forkpool_task_duration_seconds_count", "o", NULL, NULL), 0);
	free(parsed);
	free(text);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

/* A number of a JSON object, which must be there and be one. */
static double
jnum(json_t *obj, const char *key)
{
	json_t	*v = json_object_get(obj, key);

	ck_assert_msg(json_is_number(v), "STATUS: \"%s\" is missing or not a "
	    "number", key);
	return (json_number_value(v));
}

/* Check that obj has every key of a NULL-terminated list. */
static void
has_keys(json_t *obj, const char *what, const char *const *keys)
{
	for (; *keys != NULL; keys++)
		ck_assert_msg(json_object_get(obj, *keys) != NULL, "STATUS: %s "
		    "has no \"%s\"", what, *keys);
}

static const char ini_status[] =
    "[pool:st]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n";

START_TEST(test_status_values)
{
	/*
	 * STATUS has every key of PROTOCOL.md and the richer ones, with
	 * values that match what ran: counters, bytes in and out, the mean
	 * and p99 of task and wait times, a worker's tasks and its RSS (a
	 * task that keeps 32 MiB shows), and, only while busy, how long the
	 * current task has run.
	 */
	static const char *const top_keys[] = { "version", "pid",
	    "uptime_ms", "clients", "stopping", "master_rss_bytes", "pools",
	    NULL };
	static const char *const pool_keys[] = { "name", "size", "queued",
	    "queue_limit", "restarts", "completed", "timeouts", "crashes",
	    "overloaded", "workers", "failed", "errors", "shutting_down",
	    "bytes_in", "bytes_out", "removed", "kind", "recycled", "retried",
	    "quarantined", "quarantine", "task_time", "backoff", "backoff_ms",
	    "prefetch", "cancelled", NULL };
	static const char *const worker_keys[] = { "pid", "state", "tasks",
	    "rss_bytes", "inflight", "current", NULL };
	struct fpd	*d;
	struct fp_hdr	 hdr;
	json_t		*st, *p, *w, *tt;
	long long	 deadline, bytes_in = 0, bytes_out = 0;
	char		*body;
	const char	*payloads[] = { "sleep:50", "sleep:50", "sleep:50",
	    "sleep:50", "alloc:33554432", "hello", "pid" };
	pid_t		 pid = -1;
	int		 fd, i;

	d = fpd_start(ini_status);
	fd = tconnect(d->sock);
	/* Four 50 ms tasks at once on one worker: they wait 0..150 ms. */
	for (i = 0; i < 4; i++)
		tsend_submit(fd, 1 + i, "st", payloads[i], 8);
	for (i = 0; i < 4; i++) {
		body = texpect(fd, FP_RESULT, 0, 1 + i, WAIT_MS);
		bytes_out += strlen(body);
		free(body);
	}
	for (i = 4; i < 7; i++) {
		tsubmit(fd, 1 + i, "st", payloads[i], strlen(payloads[i]),
		    &hdr, &body);
		ck_assert_msg(hdr.type == FP_RESULT && hdr.arg == 0, "%s: %s",
		    payloads[i], body);
		bytes_out += hdr.len;
		if (i == 6)
			pid = atoi(body);
		free(body);
	}
	for (i = 0; i < 7; i++)
		bytes_in += strlen(payloads[i]);

	tsend_submit(fd, 10, "st", "sleep:700", 9);
	twait_state(d->sock, "st", "busy", 1, WAIT_MS);
	st = tstatus(d->sock);
	has_keys(st, "the document", top_keys);
	ck_assert_str_eq(json_string_value(json_object_get(st, "version")),
	    "0.1.0");
	ck_assert_int_eq(jnum(st, "pid"), d->pid);
	ck_assert_double_gt(jnum(st, "uptime_ms"), 0);
	ck_assert_double_ge(jnum(st, "clients"), 2);	/* fd, and STATUS's */
	ck_assert(json_is_false(json_object_get(st, "stopping")));
	ck_assert_double_gt(jnum(st, "master_rss_bytes"), 1024 * 1024);

	ck_assert_ptr_nonnull(p = tstatus_pool(st, "st"));
	has_keys(p, "pool st", pool_keys);
	ck_assert_str_eq(json_string_value(json_object_get(p, "kind")),
	    "module");
	ck_assert_double_eq(jnum(p, "size"), 1);
	ck_assert_double_eq(jnum(p, "queued"), 0);
	ck_assert_double_eq(jnum(p, "queue_limit"), 1024);
	ck_assert_double_eq(jnum(p, "completed"), 7);
	ck_assert_double_eq(jnum(p, "failed"), 0);
	ck_assert_double_eq(jnum(p, "restarts"), 0);
	ck_assert_double_eq(jnum(p, "crashes"), 0);
	ck_assert_double_eq(jnum(p, "timeouts"), 0);
	ck_assert_double_eq(jnum(p, "errors"), 0);
	ck_assert_double_eq(jnum(p, "recycled"), 0);
	ck_assert_double_eq(jnum(p, "prefetch"), 1);
	ck_assert_double_eq(jnum(p, "backoff_ms"), 0);
	ck_assert(json_is_false(json_object_get(p, "backoff")));
	ck_assert(json_is_false(json_object_get(p, "removed")));
	ck_assert_uint_eq(json_array_size(json_object_get(p, "quarantine")),
	    0);
	/* The running task's payload counts in; its output not yet. */
	ck_assert_double_eq(jnum(p, "bytes_in"), bytes_in + 9);
	ck_assert_double_eq(jnum(p, "bytes_out"), bytes_out);

	/* 4 x 50 ms among 7 tasks; waits of 50, 100 and 150 ms. */
	ck_assert_ptr_nonnull(tt = json_object_get(p, "task_time"));
	ck_assert_msg(jnum(tt, "mean_ms") >= 200.0 / 7 &&
	    jnum(tt, "mean_ms") < 2000, "mean_ms %g", jnum(tt, "mean_ms"));
	ck_assert_msg(jnum(tt, "p99_ms") >= 50 && jnum(tt, "p99_ms") <= 5000,
	    "p99_ms %g", jnum(tt, "p99_ms"));
	ck_assert_msg(jnum(tt, "wait_p99_ms") >= 100, "wait_p99_ms %g",
	    jnum(tt, "wait_p99_ms"));

	ck_assert_uint_eq(json_array_size(json_object_get(p, "workers")), 1);
	w = json_array_get(json_object_get(p, "workers"), 0);
	has_keys(w, "the worker", worker_keys);
	ck_assert_int_eq(jnum(w, "pid"), pid);
	ck_assert_str_eq(json_string_value(json_object_get(w, "state")),
	    "busy");
	ck_assert_double_eq(jnum(w, "tasks"), 7);
	ck_assert_double_eq(jnum(w, "inflight"), 1);
	ck_assert(json_is_true(json_object_get(w, "current")));
	ck_assert_msg(jnum(w, "rss_bytes") >= 32.0 * 1024 * 1024, "the worker "
	    "holds 32 MiB, STATUS says rss_bytes %g", jnum(w, "rss_bytes"));
	ck_assert_double_ge(jnum(w, "running_ms"), 0);
	json_decref(st);

	/* running_ms grows while the task runs. */
	deadline = tnow_ms() + WAIT_MS;
	for (;;) {
		st = tstatus(d->sock);
		w = json_array_get(json_object_get(tstatus_pool(st, "st"),
		    "workers"), 0);
		if (json_integer_value(json_object_get(w, "running_ms")) >=
		    200)
			break;
		ck_assert_msg(json_object_get(w, "running_ms") != NULL &&
		    tnow_ms() < deadline, "running_ms never reached 200");
		json_decref(st);
		tnap(POLL_MS);
	}
	json_decref(st);

	body = texpect(fd, FP_RESULT, 0, 10, WAIT_MS);
	free(body);
	st = tstatus(d->sock);
	p = tstatus_pool(st, "st");
	w = json_array_get(json_object_get(p, "workers"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(w, "state")),
	    "idle");
	ck_assert_ptr_null(json_object_get(w, "running_ms"));
	ck_assert_double_eq(jnum(w, "inflight"), 0);
	ck_assert_double_eq(jnum(w, "tasks"), 8);
	ck_assert_double_eq(jnum(p, "completed"), 8);
	ck_assert_double_eq(jnum(p, "bytes_out"), bytes_out + 5);
	json_decref(st);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

/*
 * The log's lines as messages: the text after "LEVEL: " (plain format) or
 * after "<N>" (journal format), each with its level.  Returns the number of
 * lines whose message equals msg (exact) or starts with it (prefix).
 */
static int
msg_count(struct fpd *d, const char *msg, int prefix, const char *level)
{
	char	*log, *line, *next, *m, lv[16];
	int	 n = 0;

	log = fpd_log(d);
	for (line = log; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if ((m = strstr(line, "] ")) == NULL)
			continue;
		m += 2;
		if (sscanf(m, "%15[a-z]: ", lv) != 1 ||
		    (m = strstr(m, ": ")) == NULL)
			continue;
		m += 2;
		if (level != NULL && strcmp(level, lv) != 0)
			continue;
		if (prefix ? strncmp(m, msg, strlen(msg)) == 0 :
		    strcmp(m, msg) == 0)
			n++;
	}
	free(log);
	return (n);
}

/* A number in text after the first occurrence of after; -1 if none. */
static long
num_after(const char *text, const char *after)
{
	const char	*p = strstr(text, after);

	return (p == NULL ? -1 : strtol(p + strlen(after), NULL, 10));
}

static const char ini_slow[] =
    "[pool:sl]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n"
    "slow_task = 200ms\n";

START_TEST(test_slow_task_log)
{
	/*
	 * slow_task: a task still running past it is logged exactly once
	 * (not again however long it goes on), at warning level, with the
	 * pool, the worker's pid, the task's id, its payload size and the
	 * time it has run; a quick task is not logged.
	 */
	struct fpd	*d;
	char		 line[160], *log, *at;
	const char	*payloads[3] = { "sleep:700", "sleep:10", "sleep:450" };
	double		 ran;
	pid_t		 pid;
	int		 fd, i;

	d = fpd_start(ini_slow);
	pid = tworker_pid(d->sock, "sl", 0);
	fd = tconnect(d->sock);
	for (i = 0; i < 3; i++)
		tsend_submit(fd, 7 + i, "sl", payloads[i], strlen(payloads[i]));
	for (i = 0; i < 3; i++)
		free(texpect(fd, FP_RESULT, 0, 7 + i, WAIT_MS));

	ck_assert_int_eq(fpd_log_count(d, "slow task"), 2);
	for (i = 0; i < 3; i += 2) {
		snprintf(line, sizeof(line), "pool sl: worker %ld: slow task: "
		    "id %d (%zu bytes of payload) has run ", (long)pid, 7 + i,
		    strlen(payloads[i]));
		ck_assert_msg(msg_count(d, line, 1, "warning") == 1, "not "
		    "exactly one warning \"%s...\"", line);
		log = fpd_log(d);
		at = strstr(log, line);
		ran = strtod(at + strlen(line), NULL);
		free(log);
		ck_assert_msg(ran >= 0.2 && ran < 0.45, "task %d: logged "
		    "after %.3f s; slow_task is 0.2 s", 7 + i, ran);
	}
	ck_assert_int_eq(fpd_log_count(d, "slow task: id 8 "), 0);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

static const char ini_lifecycle[] =
    "[pool:lc]\n"
    "module = @T/faulty.so\n"
    "workers = 2\n"
    "task_timeout = 300ms\n";

/* Add pid to the set pids of *n, unless it is there already. */
static void
add_pid(pid_t *pids, int *n, pid_t pid)
{
	int	i;

	for (i = 0; i < *n; i++)
		if (pids[i] == pid)
			return;
	pids[(*n)++] = pid;
}

START_TEST(test_lifecycle_log)
{
	/*
	 * A run with one crash and one timeout logs each lifecycle event
	 * exactly once, at its level: start, ready, every worker's spawn,
	 * every worker's exit (the crash naming SIGSEGV, the timed-out one
	 * SIGKILL), the timeout, the stop and "stopped"; nothing backs off.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	pid_t		 pids[6], last[2];
	char		*body, line[160];
	long		 crashed, timed_out;
	int		 fd, i, n = 0;

	d = fpd_start(ini_lifecycle);
	add_pid(pids, &n, tworker_pid(d->sock, "lc", 0));
	add_pid(pids, &n, tworker_pid(d->sock, "lc", 1));
	fd = tconnect(d->sock);
	tsubmit(fd, 1, "lc", "segv", 4, &hdr, &body);
	ck_assert_msg(hdr.type == FP_ERROR && hdr.arg ==
	    FP_ERR_WORKER_CRASHED, "segv: %s", body);
	crashed = num_after(body, "worker ");
	free(body);
	tsubmit(fd, 2, "lc", "hang", 4, &hdr, &body);
	ck_assert_msg(hdr.type == FP_ERROR && hdr.arg == FP_ERR_TIMEOUT,
	    "hang: %s", body);
	timed_out = num_after(body, "its worker ");
	free(body);
	close(fd);
	ck_assert_msg(crashed > 0 && timed_out > 0, "the error texts name no "
	    "worker");
	twait_idle(d->sock, "lc", 2, WAIT_MS);
	for (i = 0; i < 2; i++) {
		last[i] = tworker_pid(d->sock, "lc", i);
		add_pid(pids, &n, last[i]);
	}
	add_pid(pids, &n, crashed);
	add_pid(pids, &n, timed_out);
	/* Two at start, and a replacement for each of the two that died. */
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(fpd_stop(d), 0);

	ck_assert_int_eq(msg_count(d, "forkpoold 0.1.0 starting: 1 pools "
	    "from ", 1, "info"), 1);
	ck_assert_int_eq(msg_count(d, "ready: 1 pools, serving on ", 1,
	    "info"), 1);
	ck_assert_int_eq(fpd_log_count(d, " started"), 4);
	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "pool lc: worker %ld started",
		    (long)pids[i]);
		ck_assert_msg(msg_count(d, line, 0, "info") == 1, "not exactly "
		    "one \"%s\"", line);
		snprintf(line, sizeof(line), "pool lc: worker %ld ",
		    (long)pids[i]);
		/* Its start, its exit, and for the timed-out one the kill. */
		ck_assert_msg(fpd_log_count(d, line) == (pids[i] == timed_out ?
		    3 : 2), "worker %ld: %d lines", (long)pids[i],
		    fpd_log_count(d, line));
	}
	snprintf(line, sizeof(line), "pool lc: worker %ld killed by SIGSEGV "
	    "after ", crashed);
	ck_assert_int_eq(msg_count(d, line, 1, "warning"), 1);
	ck_assert_int_eq(fpd_log_count(d, "killed by SIGSEGV"), 1);
	snprintf(line, sizeof(line), "pool lc: worker %ld timed out after "
	    "0.300 s; killed", timed_out);
	ck_assert_int_eq(msg_count(d, line, 0, "warning"), 1);
	ck_assert_int_eq(fpd_log_count(d, "timed out"), 1);
	snprintf(line, sizeof(line), "pool lc: worker %ld killed by SIGKILL "
	    "after ", timed_out);
	ck_assert_int_eq(msg_count(d, line, 1, "warning"), 1);
	for (i = 0; i < 2; i++) {
		snprintf(line, sizeof(line), "pool lc: worker %ld exited with "
		    "status 0 after ", (long)last[i]);
		ck_assert_int_eq(msg_count(d, line, 1, "info"), 1);
	}
	ck_assert_int_eq(msg_count(d, "received SIGTERM; stopping", 1,
	    "info"), 1);
	ck_assert_int_eq(msg_count(d, "stopped", 0, "info"), 1);
	ck_assert_int_eq(fpd_log_count(d, "backing off"), 0);
}
END_TEST

static const char ini_one[] =
    "[pool:j]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n";

/* Crash the pool's worker once; its pid. */
static long
crash_one(struct fpd *d, const char *pool)
{
	struct fp_hdr	 hdr;
	char		*body;
	long		 pid;
	int		 fd;

	fd = tconnect(d->sock);
	tsubmit(fd, 1, pool, "segv", 4, &hdr, &body);
	ck_assert_msg(hdr.type == FP_ERROR && hdr.arg ==
	    FP_ERR_WORKER_CRASHED, "segv: %s", body);
	pid = num_after(body, "worker ");
	free(body);
	close(fd);
	twait_idle(d->sock, pool, 1, WAIT_MS);
	return (pid);
}

/*
 * Make forkpoold run as journald would run it: a wrapper that sets
 * JOURNAL_STREAM to the device and inode of its stderr (the run's log),
 * as systemd does for a service whose output goes to the journal, then
 * execs the real daemon.  FORKPOOLD names the wrapper for this test only;
 * dir receives the wrapper's directory, to remove.
 */
static void
journal_wrapper(char *dir, size_t size)
{
	const char	*daemon = getenv("FORKPOOLD");
	char		 real[PATH_MAX], path[PATH_MAX + 32];
	FILE		*f;

	if (realpath(daemon != NULL ? daemon : "build/forkpoold", real) ==
	    NULL)
		ck_abort_msg("no forkpoold: %s", strerror(errno));
	snprintf(dir, size, "/tmp/fpd-journal.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/forkpoold", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "#!/bin/sh\n"
	    "JOURNAL_STREAM=$(stat -L -c %%d:%%i /proc/self/fd/2) || exit 127\n"
	    "export JOURNAL_STREAM\n"
	    "exec '%s' \"$@\"\n", real);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
	setenv("FORKPOOLD", path, 1);
}

/* Remove the wrapper of journal_wrapper. */
static void
journal_wrapper_rm(const char *dir)
{
	char	path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/forkpoold", dir);
	unlink(path);
	rmdir(dir);
}

START_TEST(test_journal_prefixes)
{
	/*
	 * When journald reads its stderr (JOURNAL_STREAM names stderr's
	 * device and inode), every log line starts with a <N> priority
	 * prefix, <6> for info and <4> for a warning, and carries no time
	 * stamp of its own.
	 */
	struct fpd	*d;
	char		*log, *line, *next, want[128], dir[64];
	long		 pid;
	int		 lines = 0;

	journal_wrapper(dir, sizeof(dir));
	d = fpd_start(ini_one);
	pid = crash_one(d, "j");
	ck_assert_int_eq(fpd_stop(d), 0);
	journal_wrapper_rm(dir);

	log = fpd_log(d);
	for (line = log; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		ck_assert_msg(line[0] == '<' && line[1] >= '0' &&
		    line[1] <= '7' && line[2] == '>', "a line without a "
		    "priority prefix: \"%s\"", line);
		ck_assert_msg(strstr(line, "forkpoold[") == NULL, "a line with "
		    "a time stamp and pid: \"%s\"", line);
		lines++;
	}
	free(log);
	ck_assert_int_ge(lines, 5);
	ck_assert_int_eq(fpd_log_count(d, "<6>forkpoold 0.1.0 starting"), 1);
	ck_assert_int_eq(fpd_log_count(d, "<6>ready: 1 pools"), 1);
	snprintf(want, sizeof(want), "<4>pool j: worker %ld killed by SIGSEGV",
	    pid);
	ck_assert_int_eq(fpd_log_count(d, want), 1);
	snprintf(want, sizeof(want), "<6>pool j: worker %ld started", pid);
	ck_assert_int_eq(fpd_log_count(d, want), 1);
	ck_assert_int_eq(fpd_log_count(d, "<6>stopped"), 1);
}
END_TEST

START_TEST(test_journal_stream_elsewhere)
{
	/*
	 * JOURNAL_STREAM inherited from a service while stderr goes
	 * elsewhere (here, a file that is not the stream it names) is not
	 * journald reading: lines stay plain, with their time stamp and
	 * level in words, as systemd.exec(5) says a program should check.
	 */
	struct fpd	*d;

	setenv("JOURNAL_STREAM", "8:4242", 1);
	d = fpd_start(ini_one);
	unsetenv("JOURNAL_STREAM");
	ck_assert_int_eq(fpd_stop(d), 0);
	ck_assert_int_eq(fpd_log_count(d, "<6>"), 0);
	ck_assert_int_eq(msg_count(d, "forkpoold 0.1.0 starting: ", 1,
	    "info"), 1);
}
END_TEST

static const char ini_warning[] =
    "[daemon]\n"
    "log_level = warning\n"
    "\n"
    "[pool:j]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n";

START_TEST(test_log_level_warning)
{
	/*
	 * log_level = warning suppresses info lines (start, ready, spawns,
	 * a clean stop) and keeps warnings (a worker killed by SIGSEGV).
	 */
	struct fpd	*d;
	char		*log, *line, *next, want[128];
	long		 pid;

	d = fpd_start(ini_warning);
	pid = crash_one(d, "j");
	ck_assert_int_eq(fpd_stop(d), 0);

	snprintf(want, sizeof(want), "pool j: worker %ld killed by SIGSEGV "
	    "after ", pid);
	ck_assert_int_eq(msg_count(d, want, 1, "warning"), 1);
	log = fpd_log(d);
	for (line = log; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		ck_assert_msg(strstr(line, "] info: ") == NULL &&
		    strstr(line, "] debug: ") == NULL, "log_level = warning, "
		    "yet: \"%s\"", line);
	}
	free(log);
	ck_assert_int_eq(fpd_log_count(d, "started"), 0);
	ck_assert_int_eq(fpd_log_count(d, "ready: "), 0);
	ck_assert_int_eq(fpd_log_count(d, "stopped"), 0);
}
END_TEST

Suite *
metrics_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("metrics");
	tc = tcase_create("metrics");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_metrics_every_outcome);
	tcase_add_test(tc, test_metrics_parse_idle);
	tcase_add_test(tc, test_metrics_parser_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("status");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_status_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("logs");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_slow_task_log);
	tcase_add_test(tc, test_lifecycle_log);
	tcase_add_test(tc, test_journal_prefixes);
	tcase_add_test(tc, test_journal_stream_elsewhere);
	tcase_add_test(tc, test_log_level_warning);
	suite_add_tcase(s, tc);
	return (s);
}

/*
 * forkpool bench POOL: a load generator, in the spirit of redis-benchmark.
 *
 *	forkpool bench [-n TASKS] [-c CONNECTIONS] [-P PIPELINE]
 *	    [-d SIZE | -f FILE [--slice SIZE [--stride BYTES]]]
 *	    [--warmup TASKS] [--json] POOL
 *
 * One thread per connection, each with its own libforkpool handle, keeps
 * PIPELINE tasks in flight with the pipelined API: it queues tasks until
 * the window is full, writes them with one fp_flush(), takes every reply
 * that has come and refills the window before waiting again.  Each task's
 * latency runs from the moment its batch was written to the moment its
 * reply was taken, and goes into a per-thread log-linear histogram: memory
 * stays constant however many tasks run, and percentiles are within 1%.
 *
 * With --slice, task i of the run is SIZE bytes of FILE starting at
 * (i * STRIDE) mod (file size - SIZE + 1), so a large file of real data
 * gives every task a different payload.  --warmup runs that many tasks on
 * each connection before the timed part (the first tasks' payloads) and
 * counts none of them.
 *
 * The timed part starts when every connection is open and warmed up and
 * ends with the last reply.  Exit status: 0 every task succeeded, 1 a
 * handler reported a failure, 3 the daemon answered ERROR (also for a
 * pool it does not have, which is checked with STATUS before any task is
 * sent), 2 a usage or connection error.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "forkpool.h"

#define BENCH_TASKS_MAX		(1ULL << 40)
#define BENCH_CONNS_MAX		256
#define BENCH_PIPELINE_MAX	65536
#define BENCH_PROGRESS_MS	250

/*
 * A task's id carries its window slot in the low bits, so a reply finds
 * its send time at once, and its sequence number above them, so a reply
 * for a slot's earlier task is not mistaken for the current one.
 */
#define BENCH_SLOT_BITS		16
#define BENCH_SLOT_MASK		((1ULL << BENCH_SLOT_BITS) - 1)

/* What every connection shares: the run's settings. */
struct bench {
	const char	*sock;
	const char	*pool;
	unsigned long long tasks;
	unsigned long long conns;
	unsigned long long pipeline;
	const char	*payload;	/* the whole payload, or the file */
	size_t		 payload_len;	/* of one task */
	size_t		 file_len;	/* of payload, when sliced */
	size_t		 stride;	/* between slices; 0: not sliced */
	unsigned long long warmup;	/* untimed tasks per connection */
	int		 json;
	int		 progress;	/* a progress line on stderr */

	pthread_barrier_t barrier;
	pthread_mutex_t	 lock;		/* guards finished, for cond */
	pthread_cond_t	 cond;
	unsigned int	 finished;	/* threads done */
};

/* One connection and what it saw. */
struct conn {
	struct bench	*b;
	pthread_t	 thread;
	struct fp_client *c;
	uint64_t	 n;		/* tasks to run on it */
	uint64_t	 first;		/* index in the run of its first task */
	uint64_t	 done;		/* replies taken; read for progress */

	int64_t		*sent_ns;	/* per slot */
	uint64_t	*slot_id;	/* per slot: the id in flight, or 0 */
	uint32_t	*free_slots;	/* a stack of free slots */
	size_t		 nfree;

	struct timespec	 start, end;
	struct hist	 lat;
	uint64_t	 ok;		/* RESULT, status 0 */
	uint64_t	 failed;	/* RESULT, another status */
	uint64_t	 errors[FP_ERR_MAX + 2]; /* by code; the last: others */
	uint64_t	 bad;		/* a reply for no task in flight */
	uint64_t	 bytes_in;	/* payload bytes sent */
	uint64_t	 bytes_out;	/* output bytes received */
	char		 fatal[600];	/* why it stopped early, or "" */
};

static int64_t
bench_ns(const struct timespec *ts)
{
	return ((int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec);
}

static int64_t
bench_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (bench_ns(&ts));
}

/* Stop the connection's run, saying why. */
static int
conn_fail(struct conn *cn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
conn_fail(struct conn *cn, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(cn->fatal, sizeof(cn->fatal), fmt, ap);
	va_end(ap);
	return (-1);
}

/* Count one reply against the task in flight that it answers. */
static int
conn_take(struct conn *cn, struct fp_reply *r, int64_t now)
{
	uint64_t	slot = r->id & BENCH_SLOT_MASK;

	if (slot >= cn->b->pipeline || cn->slot_id[slot] != r->id ||
	    r->id == 0) {
		/* id 0: the daemon's word on the whole connection. */
		if (r->type == FP_ERROR && r->id == 0)
			return (conn_fail(cn, "%s: %.*s", fp_err_name(r->arg),
			    (int)r->len, r->data));
		cn->bad++;
		return (0);
	}
	hist_add(&cn->lat, (uint64_t)(now - cn->sent_ns[slot]));
	cn->slot_id[slot] = 0;
	cn->free_slots[cn->nfree++] = (uint32_t)slot;
	if (r->type == FP_RESULT) {
		if (r->arg == 0)
			cn->ok++;
		else
			cn->failed++;
		cn->bytes_out += r->len;
	} else if (r->type == FP_ERROR)
		cn->errors[r->arg >= 1 && r->arg <= FP_ERR_MAX ? r->arg :
		    FP_ERR_MAX + 1]++;
	else
		cn->bad++;
	__atomic_store_n(&cn->done, cn->done + 1, __ATOMIC_RELAXED);
	return (0);
}

/*
 * The payload of task i of the run: the same bytes, or its slice.  Both
 * factors are taken modulo the span first (at most 2^30), so that their
 * product cannot wrap.
 */
static const char *
bench_payload(const struct bench *b, uint64_t i)
{
	uint64_t	span;

	if (b->stride == 0)
		return (b->payload);
	span = b->file_len - b->payload_len + 1;
	return (b->payload + (size_t)((i % span) * (b->stride % span) %
	    span));
}

/*
 * Run n of the connection's tasks, PIPELINE in flight.  0, or -1 with
 * cn->fatal set.
 */
static int
conn_run(struct conn *cn, uint64_t n)
{
	struct bench	*b = cn->b;
	struct fp_reply	 r;
	struct pollfd	 pfd;
	uint64_t	 sent = 0, id, got;
	uint32_t	 slot;
	int64_t		 t;
	int		 pending = 0, rc;

	while (cn->done < n) {
		if (sent < n && cn->nfree > 0) {
			t = bench_now_ns();
			while (sent < n && cn->nfree > 0) {
				slot = cn->free_slots[--cn->nfree];
				id = ((sent + 1) << BENCH_SLOT_BITS) | slot;
				if (fp_send_submit(cn->c, id, b->pool,
				    bench_payload(b, cn->first + sent),
				    b->payload_len) == -1)
					return (conn_fail(cn, "%s",
					    fp_client_errstr(cn->c)));
				cn->slot_id[slot] = id;
				cn->sent_ns[slot] = t;
				cn->bytes_in += b->payload_len;
				sent++;
			}
			pending = fp_flush(cn->c);
		} else if (pending == 1)
			pending = fp_flush(cn->c);
		if (pending == -1)
			return (conn_fail(cn, "%s", fp_client_errstr(cn->c)));

		/* Take every reply already here, then refill first. */
		got = 0;
		while ((rc = fp_recv(cn->c, &r, 0)) == 1) {
			rc = conn_take(cn, &r, bench_now_ns());
			fp_reply_free(&r);
			if (rc == -1)
				return (-1);
			got++;
		}
		if (rc == -1)
			return (conn_fail(cn, "%s", fp_client_errstr(cn->c)));
		if (got > 0)
			continue;

		pfd.fd = fp_client_fd(cn->c);
		pfd.events = POLLIN | (pending == 1 ? POLLOUT : 0);
		pfd.revents = 0;
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			return (conn_fail(cn, "poll: %s", strerror(errno)));
	}
	return (0);
}

/*
 * The warm-up: tasks that fill caches and wake workers, then forgotten.
 * Every one was answered, so every slot is free again.  0, or -1 with
 * cn->fatal set.
 */
static int
conn_warm_up(struct conn *cn)
{
	uint64_t	n = cn->b->warmup < cn->n ? cn->b->warmup : cn->n;

	if (n == 0)
		return (0);
	if (conn_run(cn, n) == -1)
		return (-1);
	memset(&cn->lat, 0, sizeof(cn->lat));
	cn->ok = cn->failed = cn->bad = 0;
	cn->bytes_in = cn->bytes_out = 0;
	memset(cn->errors, 0, sizeof(cn->errors));
	__atomic_store_n(&cn->done, 0, __ATOMIC_RELAXED);
	return (0);
}

/*
 * A connection's thread: warm up, wait for the others, run, say it is
 * done.  A failed warm-up still meets the others at the barrier, which
 * would wait for it forever.
 */
static void *
conn_main(void *arg)
{
	struct conn	*cn = arg;
	struct bench	*b = cn->b;
	int		 warm;

	warm = conn_warm_up(cn);
	pthread_barrier_wait(&b->barrier);
	clock_gettime(CLOCK_MONOTONIC, &cn->start);
	if (warm == 0)
		conn_run(cn, cn->n);
	clock_gettime(CLOCK_MONOTONIC, &cn->end);

	pthread_mutex_lock(&b->lock);
	b->finished++;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	return (NULL);
}

/* Set up connection i; 0, or -1 having said why. */
static int
conn_init(struct bench *b, struct conn *cn, unsigned int i)
{
	uint64_t	k;

	cn->b = b;
	cn->n = b->tasks / b->conns + (i < b->tasks % b->conns ? 1 : 0);
	cn->first = i * (b->tasks / b->conns) +
	    (i < b->tasks % b->conns ? i : b->tasks % b->conns);
	cn->sent_ns = calloc(b->pipeline, sizeof(*cn->sent_ns));
	cn->slot_id = calloc(b->pipeline, sizeof(*cn->slot_id));
	cn->free_slots = calloc(b->pipeline, sizeof(*cn->free_slots));
	if (cn->sent_ns == NULL || cn->slot_id == NULL ||
	    cn->free_slots == NULL) {
		cli_warnx("out of memory");
		return (-1);
	}
	/* Lowest slot on top: the first tasks get ids 1, 2, 3... of slots. */
	for (k = 0; k < b->pipeline; k++)
		cn->free_slots[k] = (uint32_t)(b->pipeline - 1 - k);
	cn->nfree = b->pipeline;
	if ((cn->c = cli_connect(b->sock)) == NULL)
		return (-1);
	return (0);
}

static void
conn_free(struct conn *cn)
{
	if (cn->c != NULL)
		fp_close(cn->c);
	free(cn->sent_ns);
	free(cn->slot_id);
	free(cn->free_slots);
}

/*
 * The pool must exist: ask STATUS before sending anything, so a mistyped
 * name costs one line, not TASKS errors.  A pool that a reload removed
 * answers UNKNOWN_POOL too.  0, or the exit status.
 */
static int
bench_check_pool(struct bench *b)
{
	struct fp_client	*c;
	const json_t		*p;
	json_t			*root;
	const char		*name;
	size_t			 i;
	int			 rc, found = 0;

	if ((c = cli_connect(b->sock)) == NULL)
		return (EXIT_USAGE);
	root = cli_status(c, &rc);
	fp_close(c);
	if (root == NULL)
		return (rc);
	json_array_foreach(json_object_get(root, "pools"), i, p) {
		name = json_string_value(json_object_get(p, "name"));
		if (name != NULL && strcmp(name, b->pool) == 0 &&
		    !json_is_true(json_object_get(p, "removed")))
			found = 1;
	}
	json_decref(root);
	if (found)
		return (0);
	cli_warnx("%s: no pool is named \"%s\"; no task was sent",
	    fp_err_name(FP_ERR_UNKNOWN_POOL), b->pool);
	return (EXIT_DAEMON_ERROR);
}

/* The progress line on stderr, rewritten in place. */
static void
bench_progress(struct bench *b, struct conn *conns, int64_t start,
    uint64_t *last, int64_t *last_at)
{
	uint64_t	done = 0;
	int64_t		now = bench_now_ns();
	unsigned int	i;
	double		rate;

	for (i = 0; i < b->conns; i++)
		done += __atomic_load_n(&conns[i].done, __ATOMIC_RELAXED);
	rate = now > *last_at ? (double)(done - *last) * 1e9 /
	    (double)(now - *last_at) : 0;
	fprintf(stderr, "\r%s: %llu of %llu tasks (%.0f%%), %.0f tasks/s, "
	    "%.1f s" TERM_CLEAR_EOL, b->pool, (unsigned long long)done,
	    b->tasks, 100.0 * (double)done / (double)b->tasks, rate,
	    (double)(now - start) / 1e9);
	fflush(stderr);
	*last = done;
	*last_at = now;
}

/* Wait for every connection's thread, with a progress line if asked. */
static void
bench_wait(struct bench *b, struct conn *conns)
{
	struct timespec	ts;
	uint64_t	last = 0;
	int64_t		start = bench_now_ns(), last_at = start;
	unsigned int	i;

	pthread_mutex_lock(&b->lock);
	while (b->finished < b->conns) {
		if (!b->progress) {
			pthread_cond_wait(&b->cond, &b->lock);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += BENCH_PROGRESS_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&b->cond, &b->lock, &ts) ==
		    ETIMEDOUT) {
			pthread_mutex_unlock(&b->lock);
			bench_progress(b, conns, start, &last, &last_at);
			pthread_mutex_lock(&b->lock);
		}
	}
	pthread_mutex_unlock(&b->lock);
	if (b->progress) {
		fputs("\r" TERM_CLEAR_EOL, stderr);
		fflush(stderr);
	}
	for (i = 0; i < b->conns; i++)
		pthread_join(conns[i].thread, NULL);
}

/* User and system CPU seconds this process has used. */
static double
bench_cpu(void)
{
	struct rusage	ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return (0);
	return ((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

/* Everything the connections saw, added up. */
struct bench_total {
	struct hist	lat;
	uint64_t	replies, ok, failed, bad, bytes_in, bytes_out;
	uint64_t	errors[FP_ERR_MAX + 2];
	uint64_t	nerrors;
	double		seconds;
	double		cpu_seconds;	/* bench's own, user and system */
	int		fatal;
};

static void
bench_add_up(struct bench *b, struct conn *conns, struct bench_total *tot)
{
	struct conn	*cn;
	int64_t		 start = 0, end = 0;
	unsigned int	 i;
	int		 e;

	for (i = 0; i < b->conns; i++) {
		cn = &conns[i];
		hist_merge(&tot->lat, &cn->lat);
		tot->replies += cn->done;
		tot->ok += cn->ok;
		tot->failed += cn->failed;
		tot->bad += cn->bad;
		tot->bytes_in += cn->bytes_in;
		tot->bytes_out += cn->bytes_out;
		for (e = 0; e <= FP_ERR_MAX + 1; e++) {
			tot->errors[e] += cn->errors[e];
			tot->nerrors += cn->errors[e];
		}
		if (i == 0 || bench_ns(&cn->start) < start)
			start = bench_ns(&cn->start);
		if (bench_ns(&cn->end) > end)
			end = bench_ns(&cn->end);
		if (cn->fatal[0] != '\0')
			tot->fatal = 1;
	}
	tot->seconds = (double)(end - start) / 1e9;
}

/* The name an error code is reported under. */
static const char *
bench_err_name(int e)
{
	return (e <= FP_ERR_MAX ? fp_err_name(e) : "UNKNOWN");
}

/* The report for a person. */
static void
bench_print(const struct bench *b, const struct bench_total *tot)
{
	double	secs = tot->seconds > 0 ? tot->seconds : 1e-9;
	int	e, first = 1;

	printf("bench %s: %llu tasks of %zu bytes, %llu connection%s x "
	    "%llu in flight\n", b->pool, b->tasks, b->payload_len, b->conns,
	    b->conns == 1 ? "" : "s", b->pipeline);
	if (b->warmup > 0)
		printf("  warm-up   %llu tasks per connection, not counted\n",
		    b->warmup);
	if (tot->seconds >= 1)
		printf("  time      %.3f s\n", tot->seconds);
	else
		printf("  time      %.3f ms\n", tot->seconds * 1e3);
	printf("  rate      %.0f tasks/s\n", (double)tot->replies / secs);
	printf("  payload   %.2f MB/s in, %.2f MB/s out\n",
	    (double)tot->bytes_in / secs / 1e6,
	    (double)tot->bytes_out / secs / 1e6);
	printf("  latency   p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, "
	    "p99.9 %.3f ms, max %.3f ms\n",
	    hist_quantile(&tot->lat, 0.50) / 1e6,
	    hist_quantile(&tot->lat, 0.90) / 1e6,
	    hist_quantile(&tot->lat, 0.99) / 1e6,
	    hist_quantile(&tot->lat, 0.999) / 1e6, (double)tot->lat.max / 1e6);
	printf("  results   %llu ok, %llu failed (a non-zero status)\n",
	    (unsigned long long)tot->ok, (unsigned long long)tot->failed);
	printf("  errors    ");
	for (e = 1; e <= FP_ERR_MAX + 1; e++) {
		if (tot->errors[e] == 0)
			continue;
		printf("%s%llu %s", first ? "" : ", ",
		    (unsigned long long)tot->errors[e], bench_err_name(e));
		first = 0;
	}
	printf("%s\n", first ? "none" : "");
	if (tot->bad > 0)
		printf("  unmatched %llu replies for no task in flight\n",
		    (unsigned long long)tot->bad);
	if (tot->replies < b->tasks)
		printf("  missing   %llu tasks got no reply\n",
		    (unsigned long long)(b->tasks - tot->replies));
}

/* The report for a script: one JSON object. */
static int
bench_print_json(const struct bench *b, const struct bench_total *tot)
{
	json_t	*doc, *lat, *errs;
	double	 secs = tot->seconds > 0 ? tot->seconds : 1e-9;
	int	 e;

	errs = json_object();
	for (e = 1; e <= FP_ERR_MAX + 1; e++)
		if (tot->errors[e] > 0)
			json_object_set_new(errs, bench_err_name(e),
			    json_integer((json_int_t)tot->errors[e]));
	lat = json_pack("{s:f, s:f, s:f, s:f, s:f}",
	    "p50", hist_quantile(&tot->lat, 0.50) / 1e6,
	    "p90", hist_quantile(&tot->lat, 0.90) / 1e6,
	    "p99", hist_quantile(&tot->lat, 0.99) / 1e6,
	    "p99.9", hist_quantile(&tot->lat, 0.999) / 1e6,
	    "max", (double)tot->lat.max / 1e6);
	doc = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, "
	    "s:I, s:I, s:o, s:I, s:I, s:o, s:I, s:f, s:I}",
	    "pool", b->pool,
	    "tasks", (json_int_t)b->tasks,
	    "replies", (json_int_t)tot->replies,
	    "connections", (json_int_t)b->conns,
	    "pipeline", (json_int_t)b->pipeline,
	    "payload_bytes", (json_int_t)b->payload_len,
	    "seconds", tot->seconds,
	    "tasks_per_s", (double)tot->replies / secs,
	    "mb_per_s_in", (double)tot->bytes_in / secs / 1e6,
	    "mb_per_s_out", (double)tot->bytes_out / secs / 1e6,
	    "bytes_in", (json_int_t)tot->bytes_in,
	    "bytes_out", (json_int_t)tot->bytes_out,
	    "latency_ms", lat,
	    "ok", (json_int_t)tot->ok,
	    "failed", (json_int_t)tot->failed,
	    "errors", errs,
	    "unmatched", (json_int_t)tot->bad,
	    "cpu_seconds", tot->cpu_seconds,
	    "warmup", (json_int_t)b->warmup);
	if (doc == NULL) {
		cli_warnx("out of memory");
		return (-1);
	}
	json_dumpf(doc, stdout, JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(9));
	fputc('\n', stdout);
	json_decref(doc);
	return (0);
}

/* The whole of a payload file, malloc'd; NULL having said why. */
static char *
bench_read_file(const char *path, size_t *lenp)
{
	struct stat	 st;
	char		*buf;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		cli_warnx("%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (NULL);
	}
	if (!S_ISREG(st.st_mode) || (unsigned long long)st.st_size >
	    CLI_MAX_PAYLOAD) {
		cli_warnx("%s: %s", path, S_ISREG(st.st_mode) ?
		    "larger than any payload the daemon takes" :
		    "not a regular file");
		close(fd);
		return (NULL);
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		cli_warnx("out of memory");
		close(fd);
		return (NULL);
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			cli_warnx("%s: %s", path, n == 0 ? "shorter than "
			    "its size" : strerror(errno));
			free(buf);
			close(fd);
			return (NULL);
		}
		off += (size_t)n;
	}
	close(fd);
	*lenp = off;
	return (buf);
}

/* Parse the command line into b; 0, or the exit status of a usage error. */
static int
bench_args(struct bench *b, int argc, char **argv, const char **file,
    unsigned long long *size, int *size_set, unsigned long long *slice,
    unsigned long long *stride)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "slice", required_argument, NULL, 'S' },
		{ "stride", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned long long	*v;
	const char		*what;
	unsigned long long	 max;
	int			 ch, zero_ok;

	opterr = 0;
	optind = 0;	/* glibc: start afresh on the command's own words */
	while ((ch = getopt_long(argc, argv, ":n:c:P:d:f:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'n':
			v = &b->tasks;
			what = "-n takes a number of tasks";
			max = BENCH_TASKS_MAX;
			break;
		case 'c':
			v = &b->conns;
			what = "-c takes a number of connections";
			max = BENCH_CONNS_MAX;
			break;
		case 'P':
			v = &b->pipeline;
			what = "-P takes a number of tasks in flight";
			max = BENCH_PIPELINE_MAX;
			break;
		case 'd':
			v = size;
			what = "-d takes a payload size in bytes";
			max = CLI_MAX_PAYLOAD;
			*size_set = 1;
			break;
		case 'W':
			v = &b->warmup;
			what = "--warmup takes a number of tasks";
			max = BENCH_TASKS_MAX;
			break;
		case 'S':
			v = slice;
			what = "--slice takes a payload size in bytes";
			max = CLI_MAX_PAYLOAD;
			break;
		case 'K':
			v = stride;
			what = "--stride takes a number of bytes";
			max = CLI_MAX_PAYLOAD;
			break;
		case 'f':
			*file = optarg;
			continue;
		case 'j':
			b->json = 1;
			continue;
		case ':':
			return (cli_usage_error("bench -%c needs a value",
			    optopt));
		default:
			if (optopt != 0)
				return (cli_usage_error("bench has no option "
				    "-%c", optopt));
			return (cli_usage_error("bench has no option %s",
			    argv[optind - 1]));
		}
		zero_ok = ch == 'd' || ch == 'W';
		if (cli_parse_uint(optarg, max, v) == -1 ||
		    (*v == 0 && !zero_ok))
			return (cli_usage_error("bench %s from %s to %llu, "
			    "not \"%s\"", what, zero_ok ? "0" : "1", max,
			    optarg));
	}
	if (optind + 1 != argc)
		return (cli_usage_error("bench takes one pool name: bench "
		    "[-n TASKS] [-c CONNECTIONS] [-P PIPELINE] [-d SIZE | "
		    "-f FILE [--slice SIZE [--stride BYTES]]] "
		    "[--warmup TASKS] [--json] POOL"));
	b->pool = argv[optind];
	if (!fp_pool_name_valid(b->pool, strlen(b->pool)))
		return (cli_usage_error("invalid pool name \"%s\": use 1 to "
		    "%d characters of A-Z a-z 0-9 _ . -", b->pool,
		    FP_POOL_NAME_MAX));
	if (*file != NULL && *size_set)
		return (cli_usage_error("bench takes -d SIZE or -f FILE, not "
		    "both"));
	if (*slice == 0 && *stride != 0)
		return (cli_usage_error("bench --stride needs --slice"));
	if (*file == NULL && *slice != 0)
		return (cli_usage_error("bench --slice needs -f FILE"));
	return (0);
}

/* Open the connections, run them, report; the exit status. */
static int
bench_go(struct bench *b)
{
	struct conn		*conns;
	struct bench_total	*tot;
	unsigned int		 i, started = 0;
	double			 cpu = bench_cpu();
	int			 rc = EXIT_USAGE;

	conns = calloc(b->conns, sizeof(*conns));
	tot = calloc(1, sizeof(*tot));
	if (conns == NULL || tot == NULL) {
		cli_warnx("out of memory");
		goto out;
	}
	for (i = 0; i < b->conns; i++)
		if (conn_init(b, &conns[i], i) == -1)
			goto out;
	pthread_barrier_init(&b->barrier, NULL, (unsigned int)b->conns);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	for (i = 0; i < b->conns; i++) {
		if (pthread_create(&conns[i].thread, NULL, conn_main,
		    &conns[i]) != 0) {
			/* The barrier would wait for it forever. */
			cli_warnx("cannot start a thread for connection %u", i);
			exit(EXIT_USAGE);
		}
		started++;
	}
	bench_wait(b, conns);

	bench_add_up(b, conns, tot);
	tot->cpu_seconds = bench_cpu() - cpu;
	if (b->json) {
		if (bench_print_json(b, tot) == -1)
			goto out;
	} else
		bench_print(b, tot);
	if ((rc = cli_flush_stdout()) != EXIT_OK)
		goto out;
	for (i = 0; i < b->conns; i++)
		if (conns[i].fatal[0] != '\0')
			cli_warnx("connection %u: %s", i + 1, conns[i].fatal);
	if (tot->fatal)
		rc = EXIT_USAGE;
	else if (tot->nerrors > 0)
		rc = EXIT_DAEMON_ERROR;
	else if (tot->failed > 0 || tot->bad > 0)
		rc = EXIT_TASK_FAILED;
	else
		rc = EXIT_OK;
out:
	if (started > 0) {
		pthread_barrier_destroy(&b->barrier);
		pthread_mutex_destroy(&b->lock);
		pthread_cond_destroy(&b->cond);
	}
	if (conns != NULL)
		for (i = 0; i < b->conns; i++)
			conn_free(&conns[i]);
	free(conns);
	free(tot);
	return (rc);
}

/*
 * Tasks as slices of the file just read: SIZE bytes each, STRIDE apart
 * (by default, end to end).  0, or -1 having said why.
 */
static int
bench_slice(struct bench *b, const char *file, unsigned long long size,
    unsigned long long stride)
{
	if (size == 0)
		return (0);
	if (size > b->payload_len) {
		cli_warnx("%s: %zu bytes, fewer than one --slice of %llu",
		    file, b->payload_len, size);
		return (-1);
	}
	b->file_len = b->payload_len;
	b->payload_len = (size_t)size;
	b->stride = (size_t)(stride != 0 ? stride : size);
	return (0);
}

/* bench [-n TASKS] [-c CONNECTIONS] [-P PIPELINE] [-d SIZE | -f FILE] */
int
bench_run(const char *sock, int argc, char **argv)
{
	struct bench		 b;
	const char		*file = NULL;
	char			*payload;
	unsigned long long	 size = 16, slice = 0, stride = 0;
	int			 size_set = 0, rc;

	memset(&b, 0, sizeof(b));
	b.sock = sock;
	b.tasks = 100000;
	b.conns = 4;
	b.pipeline = 64;
	if ((rc = bench_args(&b, argc, argv, &file, &size, &size_set, &slice,
	    &stride)) != 0)
		return (rc);
	/* Fewer tasks than connections: the others would idle. */
	if (b.conns > b.tasks)
		b.conns = b.tasks;

	if (file != NULL) {
		if ((payload = bench_read_file(file, &b.payload_len)) == NULL)
			return (EXIT_USAGE);
		if (bench_slice(&b, file, slice, stride) == -1) {
			free(payload);
			return (EXIT_USAGE);
		}
	} else {
		if ((payload = malloc((size_t)size + 1)) == NULL) {
			cli_warnx("out of memory");
			return (EXIT_USAGE);
		}
		memset(payload, 'x', (size_t)size);
		b.payload_len = (size_t)size;
	}
	b.payload = payload;
	b.progress = isatty(STDERR_FILENO);

	if ((rc = bench_check_pool(&b)) == 0)
		rc = bench_go(&b);
	free(payload);
	return (rc);
}

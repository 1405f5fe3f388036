/*
 * SIGHUP under load (issue 3).  A client thread pipelines thousands of
 * tasks while the test rewrites the configuration and sends SIGHUP: a
 * broken file, a pool added, a pool removed with tasks queued and running,
 * a pool resized up and down, a pool's module arguments changed, a module
 * that cannot load, a new configuration whose workers cannot start.
 * Whatever the file says, every task gets exactly one reply and none is an
 * error the reload caused; a reload that cannot be applied changes nothing.
 * Each test prints its figures: "reload under load (...): sent N answered
 * N errors 0".
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "harness.h"
#include "key_values.h"
#include "suites.h"

#define WAIT_MS		10000	/* deadline for what should be quick */
#define LOAD_WAIT_MS	20000	/* deadline for a load to make progress */
#define POLL_MS		10	/* between two looks at a condition */
#define LOAD_CAP	1000000	/* ids one load may use */
#define LOAD_STALL_MS	15000	/* no reply this long: the load gives up */
#define LOAD_BEFORE	1000	/* tasks answered before a reload */
#define LOAD_AFTER	1000	/* and after it */
#define PAYLOAD_MAX	1024
#define SHAPE_MAX	4096

enum load_kind {
	LOAD_ECHO,		/* the output is the payload */
	LOAD_SLEEP,		/* faulty's sleep:MS; the output is "slept" */
	LOAD_DEFLATE		/* the output inflates to the payload */
};

/*
 * One pipelining client on its own connection and thread.  It keeps
 * window tasks outstanding until told to stop, then waits for every reply.
 * The counters the test polls are atomic; the rest is the thread's until
 * it is joined.
 */
struct load {
	const char	*what;		/* for the figures */
	char		 pool[FP_POOL_NAME_MAX + 1];
	enum load_kind	 kind;
	int		 sleep_ms;
	int		 window;
	int		 unknown_ok;	/* UNKNOWN_POOL is expected */
	int		 fd;
	pthread_t	 thread;
	atomic_int	 stop;
	atomic_int	 gave_up;
	atomic_llong	 sent;
	atomic_llong	 answered;	/* first replies to ids we sent */
	atomic_llong	 unknown;	/* of which UNKNOWN_POOL */
	unsigned char	*seen;		/* per id: 1 sent, 2 answered */
	long long	 ok;
	long long	 wrong;		/* a RESULT that is not the one due */
	long long	 dup;		/* a second reply to an id */
	long long	 stray;		/* a reply to no id of ours */
	long long	 codes[FP_ERR_MAX + 1];
	long long	 first_unknown;	/* lowest id answered UNKNOWN_POOL */
	long long	 last_ok;	/* highest id answered well */
	char		 first_error[320];
	char		 failure[320];	/* why the thread gave up */
};

/* The payload of task id: a function of the id, so it need not be kept. */
static size_t
load_payload(const struct load *l, long long id, char *buf, size_t size)
{
	static const char	*words[] = { "forkpool", "reload", "under",
	    "load", "every", "task", "one", "reply" };
	size_t			 n = 0;
	int			 i = 0;

	switch (l->kind) {
	case LOAD_SLEEP:
		return (snprintf(buf, size, "sleep:%d", l->sleep_ms));
	case LOAD_ECHO:
		return (snprintf(buf, size, "task %lld of the load on %s", id,
		    l->pool));
	case LOAD_DEFLATE:
		n = snprintf(buf, size, "task %lld:", id);
		while (n + 32 < size && n < 600) {
			n += snprintf(buf + n, size - n, " %s %lld",
			    words[(id + i) % 8], (id * 7 + i) % 100);
			i++;
		}
		return (n);
	}
	return (0);
}

/* 1 when out is the right RESULT for task id. */
static int
load_output_ok(const struct load *l, long long id, const uint8_t *out,
    size_t len)
{
	char	want[PAYLOAD_MAX];
	Bytef	plain[PAYLOAD_MAX];
	uLongf	plen = sizeof(plain);
	size_t	wlen;

	wlen = load_payload(l, id, want, sizeof(want));
	switch (l->kind) {
	case LOAD_SLEEP:
		return (len == 5 && memcmp(out, "slept", 5) == 0);
	case LOAD_ECHO:
		return (len == wlen && memcmp(out, want, wlen) == 0);
	case LOAD_DEFLATE:
		return (uncompress(plain, &plen, out, len) == Z_OK &&
		    plen == wlen && memcmp(plain, want, wlen) == 0);
	}
	return (0);
}

/* Take one reply; 1 when it is the first reply to an id we sent. */
static int
load_reply(struct load *l, const struct fp_hdr *hdr, const uint8_t *body,
    long long sent)
{
	long long	id = (long long)hdr->id;

	if (id < 1 || id > sent || (hdr->type != FP_RESULT &&
	    hdr->type != FP_ERROR)) {
		if (l->stray++ == 0 && l->first_error[0] == '\0')
			snprintf(l->first_error, sizeof(l->first_error),
			    "a stray frame: type 0x%02x id %llu", hdr->type,
			    (unsigned long long)hdr->id);
		return (0);
	}
	if (l->seen[id] == 2) {
		if (l->dup++ == 0 && l->first_error[0] == '\0')
			snprintf(l->first_error, sizeof(l->first_error),
			    "id %lld answered twice", id);
		return (0);
	}
	l->seen[id] = 2;
	if (hdr->type == FP_RESULT) {
		if (hdr->arg == 0 && load_output_ok(l, id, body, hdr->len)) {
			l->ok++;
			if (id > l->last_ok)
				l->last_ok = id;
		} else if (l->wrong++ == 0 && l->first_error[0] == '\0')
			snprintf(l->first_error, sizeof(l->first_error),
			    "id %lld: RESULT %u with a wrong output of %u "
			    "bytes: %.*s", id, hdr->arg, hdr->len,
			    (int)(hdr->len < 100 ? hdr->len : 100), body);
		return (1);
	}
	l->codes[hdr->arg <= FP_ERR_MAX ? hdr->arg : 0]++;
	if (hdr->arg == FP_ERR_UNKNOWN_POOL) {
		atomic_fetch_add(&l->unknown, 1);
		if (l->first_unknown == 0 || id < l->first_unknown)
			l->first_unknown = id;
	}
	if (l->first_error[0] == '\0')
		snprintf(l->first_error, sizeof(l->first_error),
		    "id %lld: ERROR %s: %.*s", id, fp_err_name(hdr->arg),
		    (int)(hdr->len < 200 ? hdr->len : 200), body);
	return (1);
}

/* Append task id's SUBMIT frame to *out. */
static void
load_frame(struct load *l, long long id, uint8_t **out, size_t *len,
    size_t *cap)
{
	struct fp_hdr	hdr;
	char		payload[PAYLOAD_MAX];
	size_t		plen, nlen = strlen(l->pool), need;

	plen = load_payload(l, id, payload, sizeof(payload));
	need = FP_HDR_LEN + nlen + plen;
	if (*len + need > *cap) {
		*cap = (*len + need) * 2;
		if ((*out = realloc(*out, *cap)) == NULL)
			abort();
	}
	hdr.len = nlen + plen;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = FP_SUBMIT;
	hdr.arg = nlen;
	hdr.id = id;
	fp_hdr_encode(*out + *len, &hdr);
	memcpy(*out + *len + FP_HDR_LEN, l->pool, nlen);
	memcpy(*out + *len + FP_HDR_LEN + nlen, payload, plen);
	*len += need;
}

static void	load_give_up(struct load *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* The thread stops: say why (the test reads it after the join). */
static void
load_give_up(struct load *l, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(l->failure, sizeof(l->failure), fmt, ap);
	va_end(ap);
	atomic_store(&l->gave_up, 1);
}

/*
 * The load's thread: keep window tasks outstanding until stop, then take
 * the replies still due.  Plain non-blocking I/O and poll; nothing here
 * may call Check, which belongs to the test's own thread.
 */
static void *
load_run(void *arg)
{
	struct load	*l = arg;
	struct fp_reader r;
	struct fp_hdr	 hdr;
	struct pollfd	 pfd;
	const uint8_t	*body;
	uint8_t		*out = NULL, buf[65536];
	size_t		 olen = 0, ooff = 0, ocap = 0;
	long long	 sent = 0, answered = 0, progress = tnow_ms();
	ssize_t		 n;
	int		 rc;

	fp_reader_init(&r, 64 * 1024 * 1024);
	for (;;) {
		if (!atomic_load(&l->stop)) {
			while (sent - answered < l->window &&
			    sent < LOAD_CAP) {
				sent++;
				l->seen[sent] = 1;
				load_frame(l, sent, &out, &olen, &ocap);
			}
			atomic_store(&l->sent, sent);
		}
		if (atomic_load(&l->stop) && answered == sent && ooff == olen)
			break;
		pfd.fd = l->fd;
		pfd.events = POLLIN | (ooff < olen ? POLLOUT : 0);
		if (poll(&pfd, 1, 50) == -1 && errno != EINTR) {
			load_give_up(l, "poll: %s", strerror(errno));
			break;
		}
		if (ooff < olen) {
			n = send(l->fd, out + ooff, olen - ooff,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				ooff += n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR) {
				load_give_up(l, "send: %s, after %lld answers",
				    strerror(errno), answered);
				break;
			}
			if (ooff == olen)
				ooff = olen = 0;
		}
		n = recv(l->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
			load_give_up(l, "the daemon closed the connection: "
			    "%lld of %lld tasks answered", answered, sent);
			break;
		}
		if (n > 0) {
			if (fp_reader_feed(&r, buf, n) == -1)
				abort();
			while ((rc = fp_reader_next(&r, &hdr, &body)) == 1) {
				if (load_reply(l, &hdr, body, sent)) {
					answered++;
					progress = tnow_ms();
				}
			}
			if (rc == -1) {
				load_give_up(l, "a malformed reply (%s) after "
				    "%lld answers", fp_err_name(r.err),
				    answered);
				break;
			}
			atomic_store(&l->answered, answered);
		}
		if (answered < sent && tnow_ms() - progress > LOAD_STALL_MS) {
			load_give_up(l, "no reply for 15 s: %lld of %lld tasks "
			    "answered", answered, sent);
			break;
		}
	}
	atomic_store(&l->answered, answered);
	fp_reader_free(&r);
	free(out);
	return (NULL);
}

/*
 * Start a load of kind on pool, window tasks outstanding; sleep_ms is the
 * length of a LOAD_SLEEP task.
 */
static void
load_start(struct load *l, struct fpd *d, const char *what, const char *pool,
    enum load_kind kind, int window, int sleep_ms)
{
	memset(l, 0, sizeof(*l));
	l->what = what;
	snprintf(l->pool, sizeof(l->pool), "%s", pool);
	l->kind = kind;
	l->sleep_ms = sleep_ms;
	l->window = window;
	if ((l->seen = calloc(LOAD_CAP + 1, 1)) == NULL)
		ck_abort_msg("out of memory");
	l->fd = tconnect(d->sock);
	ck_assert_int_eq(pthread_create(&l->thread, NULL, load_run, l), 0);
}

/* Wait until the load has had n tasks answered in all. */
static void
load_wait(struct load *l, long long n)
{
	long long	deadline = tnow_ms() + LOAD_WAIT_MS;

	while (atomic_load(&l->answered) < n) {
		ck_assert_msg(!atomic_load(&l->gave_up), "the load on %s "
		    "gave up after %lld answers (see its figures)", l->pool,
		    (long long)atomic_load(&l->answered));
		ck_assert_msg(tnow_ms() < deadline, "the load on %s had %lld "
		    "of %lld tasks answered after %d ms", l->pool,
		    (long long)atomic_load(&l->answered), n, LOAD_WAIT_MS);
		tnap(POLL_MS);
	}
}

/* Let the load have n more tasks answered. */
static void
load_more(struct load *l, long long n)
{
	load_wait(l, atomic_load(&l->answered) + n);
}

/* Stop sending, take the replies due, print the figures. */
static void
load_finish(struct load *l)
{
	long long	sent, answered, unknown;
	char		refused[96] = "";

	atomic_store(&l->stop, 1);
	ck_assert_int_eq(pthread_join(l->thread, NULL), 0);
	close(l->fd);
	sent = atomic_load(&l->sent);
	answered = atomic_load(&l->answered);
	unknown = l->unknown_ok ? atomic_load(&l->unknown) : 0;
	if (unknown > 0)
		snprintf(refused, sizeof(refused), " (and %lld refused "
		    "UNKNOWN_POOL once the pool was gone)", unknown);
	printf("reload under load (%s): sent %lld answered %lld errors %lld"
	    "%s%s%s\n", l->what, sent, answered, answered - l->ok - unknown,
	    refused, answered - l->ok - unknown > 0 ? "; first: " : "",
	    answered - l->ok - unknown > 0 ? l->first_error : "");
	fflush(stdout);
	ck_assert_msg(l->failure[0] == '\0', "load on %s: %s", l->pool,
	    l->failure);
	ck_assert_msg(answered == sent, "load on %s: %lld tasks sent, %lld "
	    "answered", l->pool, sent, answered);
	ck_assert_msg(l->dup == 0 && l->stray == 0, "load on %s: %lld "
	    "duplicate and %lld stray replies: %s", l->pool, l->dup, l->stray,
	    l->first_error);
}

/* Every task answered, exactly once, and well. */
static void
load_finish_clean(struct load *l)
{
	load_finish(l);
	ck_assert_msg(l->ok == atomic_load(&l->answered), "load on %s: "
	    "%lld errors or wrong outputs among %lld replies; first: %s",
	    l->pool, atomic_load(&l->answered) - l->ok,
	    (long long)atomic_load(&l->answered), l->first_error);
	free(l->seen);
}

/*
 * SIGHUP with ini in place: RELOADING=1 then READY=1 (waited for in that
 * order), and done, a log line the reload ends with, one more time than
 * before.  The daemon logs before it says READY=1.
 */
static void
reload(struct fpd *d, const char *ini, const char *ready, const char *done)
{
	int	before = fpd_log_count(d, done);

	fpd_rewrite(d, ini);
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
	ck_assert_msg(fpd_wait_notify(d, "RELOADING=1", WAIT_MS) == 0,
	    "no RELOADING=1 after SIGHUP");
	ck_assert_msg(fpd_wait_notify(d, ready, WAIT_MS) == 0,
	    "no \"%s\" after RELOADING=1", ready);
	ck_assert_msg(fpd_log_count(d, done) == before + 1,
	    "the reload did not log \"%s\" once", done);
}

/* Order two pids, for qsort. */
static int
cmp_pid(const void *a, const void *b)
{
	long long	x = *(const long long *)a, y = *(const long long *)b;

	return (x < y ? -1 : x > y);
}

/* A pool's prefetch setting: "auto" (whatever it chose now), or its number. */
static const char *
prefetch_str(json_t *p, char *buf, size_t len)
{
	if (json_is_true(json_object_get(p, "prefetch_auto")))
		return ("auto");
	snprintf(buf, len, "%lld",
	    json_integer_value(json_object_get(p, "prefetch")));
	return (buf);
}

/*
 * What a reload may change, from STATUS, as text: each pool's name, kind,
 * size, limits and its workers' pids (sorted).
 */
static void
shape(const char *sock, char *buf, size_t size)
{
	json_t		*st, *p, *w;
	long long	 pids[256];
	size_t		 i, j, n, off = 0;
	char		 num[24];

	st = tstatus(sock);
	buf[0] = '\0';
	json_array_foreach(json_object_get(st, "pools"), i, p) {
		n = 0;
		json_array_foreach(json_object_get(p, "workers"), j, w)
			if (n < 256)
				pids[n++] = json_integer_value(
				    json_object_get(w, "pid"));
		qsort(pids, n, sizeof(pids[0]), cmp_pid);
		off += snprintf(buf + off, size - off, "%s%s (%s) size %lld "
		    "queue_limit %lld prefetch %s removed %d pids",
		    i == 0 ? "" : "; ",
		    json_string_value(json_object_get(p, "name")),
		    json_string_value(json_object_get(p, "kind")),
		    json_integer_value(json_object_get(p, "size")),
		    json_integer_value(json_object_get(p, "queue_limit")),
		    prefetch_str(p, num, sizeof(num)),
		    json_is_true(json_object_get(p, "removed")));
		for (j = 0; j < n && off < size; j++)
			off += snprintf(buf + off, size - off, " %lld",
			    pids[j]);
		ck_assert_uint_lt(off, size);
	}
	json_decref(st);
}

/* Wait until pool lists exactly n workers, every one ready and current. */
static void
wait_workers(const char *sock, const char *pool, int n)
{
	json_t		*st, *p, *w;
	long long	 deadline = tnow_ms() + WAIT_MS;
	const char	*state;
	size_t		 i;
	int		 have, good;

	for (;;) {
		st = tstatus(sock);
		p = tstatus_pool(st, pool);
		ck_assert_msg(p != NULL, "STATUS has no pool %s", pool);
		have = json_array_size(json_object_get(p, "workers"));
		good = 0;
		json_array_foreach(json_object_get(p, "workers"), i, w) {
			state = json_string_value(json_object_get(w, "state"));
			if (state != NULL && (strcmp(state, "idle") == 0 ||
			    strcmp(state, "busy") == 0) &&
			    json_is_true(json_object_get(w, "current")))
				good++;
		}
		ck_assert_int_eq(json_integer_value(json_object_get(p,
		    "size")), n);
		json_decref(st);
		if (have == n && good == n)
			return;
		ck_assert_msg(tnow_ms() < deadline, "pool %s: %d workers, %d of "
		    "them ready and current, after %d ms; waited for %d",
		    pool, have, good, WAIT_MS, n);
		tnap(POLL_MS);
	}
}

/* Submit payload to pool and return its RESULT's body (status 0). */
static char *
submit_ok(int fd, uint64_t id, const char *pool, const void *payload,
    size_t len, uint32_t *outlen)
{
	struct fp_hdr	 hdr;
	char		*body;

	tsubmit(fd, id, pool, payload, len, &hdr, &body);
	ck_assert_msg(hdr.type == FP_RESULT && hdr.arg == 0, "task %llu on "
	    "%s: type 0x%02x arg %u: %s", (unsigned long long)id, pool,
	    hdr.type, hdr.arg, body);
	*outlen = hdr.len;
	return (body);
}

/* A text that zlib's levels 1 and 9 compress differently. */
static size_t
probe_text(char *buf, size_t size)
{
	size_t	n = 0;
	int	i;

	for (i = 0; n + 64 < size; i++)
		n += snprintf(buf + n, size - n, "%d reload probe %d %s ",
		    i * 37 % 101, i % 13, i % 3 == 0 ? "alpha" : "omega");
	return (n);
}

/*
 * Check that the deflate pool compresses the probe exactly as zlib does
 * at level (deflate.so runs deflateInit at the configured level).
 */
static void
check_level(int fd, uint64_t id, const char *pool, int level)
{
	char		 text[8192];
	Bytef		 want[16384];
	uLongf		 wlen = sizeof(want);
	size_t		 len;
	uint32_t	 got;
	char		*out;

	len = probe_text(text, sizeof(text));
	ck_assert_int_eq(compress2(want, &wlen, (Bytef *)text, len, level),
	    Z_OK);
	out = submit_ok(fd, id, pool, text, len, &got);
	ck_assert_msg(got == wlen && memcmp(out, want, wlen) == 0,
	    "pool %s does not compress at level %d: %u bytes, zlib says %lu",
	    pool, level, got, (unsigned long)wlen);
	free(out);
}

static const char ini_echo[] =
    "[daemon]\n"
    "log_level = info\n"
    "\n"
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 2\n";

/* Line 7 is the error the log must cite. */
static const char ini_broken[] =
    "[daemon]\n"
    "log_level = info\n"
    "\n"
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 3\n"
    "queue_limit = lots\n";

START_TEST(test_reload_broken_file)
{
	/*
	 * A file that fails to parse changes nothing: the error is logged
	 * with the file and line, RELOADING=1 then READY=1 are notified
	 * (saying the reload failed), STATUS shows the same pools and the
	 * same workers, and the load running through it gets every reply
	 * and no error.
	 */
	struct fpd	*d;
	struct load	 l;
	char		 before[SHAPE_MAX], after[SHAPE_MAX], want[512];

	d = fpd_start(ini_echo);
	load_start(&l, d, "broken file", "echo", LOAD_ECHO, 64, 0);
	load_wait(&l, LOAD_BEFORE);
	shape(d->sock, before, sizeof(before));

	reload(d, ini_broken, "READY=1\nSTATUS=reload failed",
	    "reload failed, nothing changed: ");
	snprintf(want, sizeof(want), "reload failed, nothing changed: %s:7: "
	    "queue_limit: ", d->conf);
	ck_assert_msg(fpd_log_count(d, want) == 1, "the log does not say "
	    "\"%s\"", want);
	ck_assert_int_eq(fpd_log_count(d, "reload: "), 0);

	load_more(&l, LOAD_AFTER);
	shape(d->sock, after, sizeof(after));
	ck_assert_str_eq(after, before);
	load_finish_clean(&l);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

static const char ini_added[] =
    "[daemon]\n"
    "log_level = info\n"
    "\n"
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 2\n"
    "\n"
    "[pool:added]\n"
    "module = @T/faulty.so\n"
    "workers = 2\n";

START_TEST(test_reload_add_pool)
{
	/*
	 * A pool added by a reload starts and serves (its own load of
	 * pipelined tasks is answered in full), while the pool already
	 * there keeps its workers and loses no task.
	 */
	struct fpd	*d;
	struct load	 l, la;
	char		 before[SHAPE_MAX], after[SHAPE_MAX], *echo_part;

	d = fpd_start(ini_echo);
	load_start(&l, d, "add a pool: the old pool", "echo", LOAD_ECHO, 64,
	    0);
	load_wait(&l, LOAD_BEFORE);
	shape(d->sock, before, sizeof(before));

	reload(d, ini_added, "READY=1", "reload: 1 pools added, 0 removed, "
	    "0 changed");
	ck_assert_int_eq(fpd_log_count(d, "pool added: added by the reload"),
	    1);
	wait_workers(d->sock, "added", 2);

	load_start(&la, d, "add a pool: the new pool", "added", LOAD_ECHO,
	    32, 0);
	load_wait(&la, LOAD_AFTER);
	load_more(&l, LOAD_AFTER);
	load_finish_clean(&la);
	load_finish_clean(&l);

	/* The echo pool is described first, and exactly as before. */
	shape(d->sock, after, sizeof(after));
	ck_assert_ptr_nonnull(echo_part = strstr(after, "; added (module)"));
	*echo_part = '\0';
	ck_assert_str_eq(after, before);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

static const char ini_two[] =
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 2\n"
    "\n"
    "[pool:old]\n"
    "module = @T/faulty.so\n"
    "workers = 2\n";

static const char ini_one[] =
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 2\n";

START_TEST(test_reload_remove_pool)
{
	/*
	 * A pool removed by a reload takes no new task (UNKNOWN_POOL), but
	 * every task it had queued or running completes; once drained its
	 * workers leave and "drained and gone" is logged once.  The replies
	 * of the removed pool's load are RESULTs up to the reload and
	 * UNKNOWN_POOL after it, nothing else; the other pool's load loses
	 * nothing.
	 */
	struct fpd	*d;
	struct load	 l, lo;
	json_t		*st, *p;
	pid_t		 pids[2];
	long long	 deadline;
	char		*log, *at;
	int		 n, i, queued;

	d = fpd_start(ini_two);
	load_start(&l, d, "remove a pool: the pool kept", "echo", LOAD_ECHO,
	    64, 0);
	load_start(&lo, d, "remove a pool: the pool removed", "old",
	    LOAD_SLEEP, 40, 50);
	lo.unknown_ok = 1;	/* for the figures; the thread never reads it */
	load_wait(&l, LOAD_BEFORE);
	load_wait(&lo, 4);
	deadline = tnow_ms() + WAIT_MS;
	while (tpool_int(d->sock, "old", "queued") < 10) {
		ck_assert_msg(tnow_ms() < deadline, "pool old never had 10 "
		    "tasks queued");
		tnap(POLL_MS);
	}
	ck_assert_int_eq(tpool_pids(d->sock, "old", pids, 2), 2);

	reload(d, ini_one, "READY=1", "reload: 0 pools added, 1 removed, "
	    "0 changed");
	log = fpd_log(d);
	at = strstr(log, "pool old: removed by the reload; finishing ");
	ck_assert_msg(at != NULL, "no \"removed by the reload\" line");
	queued = atoi(at + strlen("pool old: removed by the reload; "
	    "finishing "));
	free(log);
	ck_assert_msg(queued >= 4, "the removed pool had %d tasks queued",
	    queued);

	/* Still there, marked removed, while it finishes its queue. */
	st = tstatus(d->sock);
	ck_assert_ptr_nonnull(p = tstatus_pool(st, "old"));
	ck_assert(json_is_true(json_object_get(p, "removed")));
	json_decref(st);

	/* New submits are refused; keep the load on until 100 have been. */
	deadline = tnow_ms() + LOAD_WAIT_MS;
	while (atomic_load(&lo.unknown) < 100) {
		ck_assert_msg(!atomic_load(&lo.gave_up), "the load on old "
		    "gave up");
		ck_assert_msg(tnow_ms() < deadline, "only %lld UNKNOWN_POOL "
		    "replies after the pool was removed",
		    (long long)atomic_load(&lo.unknown));
		tnap(POLL_MS);
	}
	load_finish(&lo);
	ck_assert_int_eq(fpd_wait_log(d, "pool old: drained and gone",
	    WAIT_MS), 0);
	ck_assert_int_eq(fpd_log_count(d, "pool old: drained and gone"), 1);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(twait_pid_gone(pids[i], WAIT_MS), 0);
	st = tstatus(d->sock);
	ck_assert_ptr_null(tstatus_pool(st, "old"));
	json_decref(st);

	n = (int)(lo.codes[FP_ERR_UNKNOWN_POOL]);
	ck_assert_msg(lo.ok + n == atomic_load(&lo.answered), "the removed "
	    "pool's load had %lld replies that were neither RESULT nor "
	    "UNKNOWN_POOL; first: %s", atomic_load(&lo.answered) - lo.ok - n,
	    lo.first_error);
	ck_assert_msg(lo.last_ok < lo.first_unknown, "task %lld was answered "
	    "UNKNOWN_POOL, yet the later task %lld ran", lo.first_unknown,
	    lo.last_ok);
	ck_assert_int_ge(lo.ok, queued);
	printf("reload under load (remove a pool): %d tasks queued at the "
	    "reload; %lld ran in all, %d later ones refused UNKNOWN_POOL\n",
	    queued, lo.ok, n);
	free(lo.seen);

	load_more(&l, LOAD_AFTER);
	load_finish_clean(&l);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

static const char ini_sz2[] =
    "[pool:sz]\n"
    "module = @T/faulty.so\n"
    "workers = 2\n";

static const char ini_sz4[] =
    "[pool:sz]\n"
    "module = @T/faulty.so\n"
    "workers = 4\n";

static const char ini_sz1[] =
    "[pool:sz]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n";

START_TEST(test_reload_resize)
{
	/*
	 * A pool whose size a reload changes grows and shrinks under load:
	 * STATUS's size and its list of workers follow, no busy worker is
	 * touched (the workers that go leave with status 0 once idle, none
	 * is killed, no restart is counted), and no task is lost.
	 */
	struct fpd	*d;
	struct load	 l;
	pid_t		 pids[4], left;
	char		 line[128];
	int		 i, n;

	d = fpd_start(ini_sz2);
	/*
	 * sleep:5 with 64 outstanding: the queue never empties, so no
	 * worker is idle for long; the pool must shrink all the same.
	 */
	load_start(&l, d, "resize 2 -> 4 -> 1", "sz", LOAD_SLEEP, 64, 5);
	load_wait(&l, LOAD_BEFORE / 2);

	reload(d, ini_sz4, "READY=1", "reload: 0 pools added, 0 removed, "
	    "1 changed");
	ck_assert_int_eq(fpd_log_count(d, "pool sz: 4 workers, was 2"), 1);
	wait_workers(d->sock, "sz", 4);
	load_more(&l, LOAD_AFTER / 2);
	ck_assert_int_eq(tpool_pids(d->sock, "sz", pids, 4), 4);

	reload(d, ini_sz1, "READY=1", "reload: 0 pools added, 0 removed, "
	    "1 changed");
	ck_assert_int_eq(fpd_log_count(d, "pool sz: 1 workers, was 4"), 1);
	wait_workers(d->sock, "sz", 1);
	load_more(&l, LOAD_AFTER / 4);
	load_finish_clean(&l);

	ck_assert_int_eq(tpool_pids(d->sock, "sz", &left, 1), 1);
	for (i = n = 0; i < 4; i++) {
		if (pids[i] == left)
			continue;
		n++;
		snprintf(line, sizeof(line), "pool sz: worker %ld exited with "
		    "status 0 after", (long)pids[i]);
		ck_assert_msg(fpd_log_count(d, line) == 1, "no \"%s\" line",
		    line);
	}
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(fpd_log_count(d, "killed by"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "sz", "restarts"), 0);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

static const char ini_z1[] =
    "[pool:z]\n"
    "module = deflate.so\n"
    "module_args = level=1\n"
    "workers = 2\n";

static const char ini_z9[] =
    "[pool:z]\n"
    "module = deflate.so\n"
    "module_args = level=9\n"
    "workers = 2\n";

START_TEST(test_reload_module_args)
{
	/*
	 * Changed module arguments (deflate level=1 -> level=9) replace the
	 * pool's workers one by one under load: every output still inflates
	 * with zlib to its payload, every worker pid is replaced, "every
	 * worker runs the new configuration" is logged once, and the pool
	 * then compresses exactly as zlib does at level 9.
	 */
	struct fpd	*d;
	struct load	 l;
	Bytef		 a[16384], b[16384];
	uLongf		 alen = sizeof(a), blen = sizeof(b);
	char		 text[8192], line[128];
	pid_t		 old[2], now[2];
	size_t		 len;
	int		 fd, i, j;

	/* The test can only tell the levels apart if zlib does. */
	len = probe_text(text, sizeof(text));
	ck_assert_int_eq(compress2(a, &alen, (Bytef *)text, len, 1), Z_OK);
	ck_assert_int_eq(compress2(b, &blen, (Bytef *)text, len, 9), Z_OK);
	ck_assert(alen != blen || memcmp(a, b, alen) != 0);

	d = fpd_start(ini_z1);
	fd = tconnect(d->sock);
	check_level(fd, 1, "z", 1);
	ck_assert_int_eq(tpool_pids(d->sock, "z", old, 2), 2);
	load_start(&l, d, "module_args level=1 -> level=9", "z",
	    LOAD_DEFLATE, 32, 0);
	load_wait(&l, LOAD_BEFORE);

	reload(d, ini_z9, "READY=1", "reload: 0 pools added, 0 removed, "
	    "1 changed");
	ck_assert_int_eq(fpd_log_count(d, "pool z: handler settings changed; "
	    "replacing its workers as they become idle"), 1);
	ck_assert_int_eq(fpd_wait_log(d, "pool z: every worker runs the new "
	    "configuration", LOAD_WAIT_MS), 0);
	load_more(&l, LOAD_AFTER);
	load_finish_clean(&l);

	ck_assert_int_eq(fpd_log_count(d, "pool z: every worker runs the new "
	    "configuration"), 1);
	wait_workers(d->sock, "z", 2);
	ck_assert_int_eq(tpool_pids(d->sock, "z", now, 2), 2);
	for (i = 0; i < 2; i++) {
		for (j = 0; j < 2; j++)
			ck_assert_int_ne(now[j], old[i]);
		snprintf(line, sizeof(line), "pool z: worker %ld exited with "
		    "status 0 after", (long)old[i]);
		ck_assert_msg(fpd_log_count(d, line) == 1, "no \"%s\" line",
		    line);
	}
	check_level(fd, 2, "z", 9);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

static const char ini_echo_z1[] =
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 1\n"
    "\n"
    "[pool:z]\n"
    "module = deflate.so\n"
    "module_args = level=1\n"
    "workers = 2\n";

static const char ini_nonexistent[] =
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 2\n"
    "\n"
    "[pool:z]\n"
    "module = nonexistent.so\n"
    "module_args = level=9\n"
    "workers = 2\n"
    "\n"
    "[pool:extra]\n"
    "handler = echo\n"
    "workers = 1\n";

START_TEST(test_reload_bad_module)
{
	/*
	 * A reload whose new handler cannot be loaded (module =
	 * nonexistent.so) changes nothing, not even the parts of the file
	 * that were fine: no pool is added or resized, the pool keeps its
	 * workers and its old handler, the failure is logged and notified,
	 * and the load through it loses nothing.
	 */
	struct fpd	*d;
	struct load	 l;
	char		 before[SHAPE_MAX], after[SHAPE_MAX];
	int		 fd;

	d = fpd_start(ini_echo_z1);
	load_start(&l, d, "module = nonexistent.so", "z", LOAD_DEFLATE, 32,
	    0);
	load_wait(&l, LOAD_BEFORE);
	shape(d->sock, before, sizeof(before));

	reload(d, ini_nonexistent, "READY=1\nSTATUS=reload failed",
	    "reload failed, nothing changed: ");
	ck_assert_int_eq(fpd_log_count(d, "reload failed, nothing changed: "),
	    1);
	ck_assert_msg(fpd_log_count(d, "nonexistent.so") >= 1, "the log "
	    "does not name nonexistent.so");
	ck_assert_int_eq(fpd_log_count(d, "reload: "), 0);

	load_more(&l, LOAD_AFTER);
	shape(d->sock, after, sizeof(after));
	ck_assert_str_eq(after, before);
	fd = tconnect(d->sock);
	check_level(fd, 1, "z", 1);
	close(fd);
	load_finish_clean(&l);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

static const char ini_f[] =
    "[pool:f]\n"
    "module = @T/faulty.so\n"
    "workers = 2\n";

static const char ini_f_initfail[] =
    "[pool:f]\n"
    "module = @T/faulty.so\n"
    "module_args = initfail\n"
    "workers = 2\n";

START_TEST(test_reload_rollback)
{
	/*
	 * A reload whose new workers cannot start (worker_init fails) is
	 * rolled back: the pool keeps its old workers, the failure is
	 * logged, and the load through it loses nothing.
	 */
	struct fpd	*d;
	struct load	 l;
	pid_t		 old[2], now[2];
	int		 i;

	d = fpd_start(ini_f);
	ck_assert_int_eq(tpool_pids(d->sock, "f", old, 2), 2);
	load_start(&l, d, "workers that cannot start", "f", LOAD_ECHO, 32,
	    0);
	load_wait(&l, LOAD_BEFORE);

	reload(d, ini_f_initfail, "READY=1", "reload: 0 pools added, 0 "
	    "removed, 1 changed");
	ck_assert_int_eq(fpd_wait_log(d, "reload failed: pool f: workers of "
	    "the new configuration cannot start", WAIT_MS), 0);
	load_more(&l, LOAD_AFTER);
	load_finish_clean(&l);

	wait_workers(d->sock, "f", 2);
	ck_assert_int_eq(tpool_pids(d->sock, "f", now, 2), 2);
	for (i = 0; i < 2; i++)
		ck_assert_msg(now[i] == old[0] || now[i] == old[1],
		    "worker %ld is new: the pool did not keep its workers",
		    (long)now[i]);
	ck_assert_int_eq(fpd_log_count(d, "every worker runs the new "
	    "configuration"), 0);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

static const char ini_f_other[] =
    "[pool:f]\n"
    "module = @T/faulty.so\n"
    "module_args = crashloop=/nonexistent/forkpool-reload-test\n"
    "workers = 2\n";

START_TEST(test_reload_busy_worker)
{
	/*
	 * A worker busy when a reload changes its pool's handler settings
	 * is not touched: its task completes, and it is replaced once idle.
	 * The whole replacement starts exactly one new worker per old one:
	 * none is started and retired over and over while the busy one
	 * runs.
	 */
	struct fpd	*d;
	char		*body, line[128];
	pid_t		 old[2];
	int		 fd, started, i;

	d = fpd_start(ini_f);
	ck_assert_int_eq(tpool_pids(d->sock, "f", old, 2), 2);
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "f", "sleep:1500", 10);
	twait_state(d->sock, "f", "busy", 1, WAIT_MS);
	started = fpd_log_count(d, " started");

	reload(d, ini_f_other, "READY=1", "reload: 0 pools added, 0 removed, "
	    "1 changed");
	body = texpect(fd, FP_RESULT, 0, 1, WAIT_MS);
	ck_assert_str_eq(body, "slept");
	free(body);
	ck_assert_int_eq(fpd_wait_log(d, "pool f: every worker runs the new "
	    "configuration", WAIT_MS), 0);
	wait_workers(d->sock, "f", 2);
	ck_assert_msg(fpd_log_count(d, " started") - started == 2, "%d workers "
	    "were started to replace 2", fpd_log_count(d, " started") -
	    started);
	for (i = 0; i < 2; i++) {
		snprintf(line, sizeof(line), "pool f: worker %ld exited with "
		    "status 0 after", (long)old[i]);
		ck_assert_msg(fpd_log_count(d, line) == 1, "no \"%s\" line",
		    line);
	}
	ck_assert_int_eq(fpd_log_count(d, "killed by"), 0);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

/*
 * SIGHUP with ini in place, waited for as systemd would (RELOADING=1,
 * then READY=1); the reload must have applied.  Waits on no log line: a
 * test value may be log_level.
 */
static void
reload_quiet(struct fpd *d, const char *ini)
{
	json_t	*st;

	fpd_rewrite(d, ini);
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
	ck_assert_msg(fpd_wait_notify(d, "RELOADING=1", WAIT_MS) == 0,
	    "no RELOADING=1 after SIGHUP");
	ck_assert_msg(fpd_wait_notify(d, "READY=1", WAIT_MS) == 0,
	    "no READY=1 after RELOADING=1");
	st = tstatus(d->sock);
	ck_assert_msg(!json_is_true(json_object_get(json_object_get(st,
	    "reload"), "failed")), "the reload failed: %s\n--- ini:\n%s",
	    json_string_value(json_object_get(json_object_get(st, "reload"),
	    "error")), ini);
	json_decref(st);
}

/* A key's value in STATUS's config object, malloc'd; NULL for null. */
static char *
status_key(const char *sock, enum key_section section, const char *name)
{
	json_t		*st, *conf;
	const char	*v;
	char		*copy;

	st = tstatus(sock);
	conf = json_object_get(section == KEYS_POOL ? tstatus_pool(st, "p") :
	    st, "config");
	ck_assert_msg(json_object_get(conf, name) != NULL, "STATUS's config "
	    "has no key %s", name);
	v = json_string_value(json_object_get(conf, name));
	copy = v != NULL ? strdup(v) : NULL;
	json_decref(st);
	return (copy);
}

/* Wait until pool p no longer lists pid: a newer worker took its place. */
static void
wait_replaced(const char *sock, pid_t pid, const char *key)
{
	long long	deadline = tnow_ms() + WAIT_MS;

	while (tpool_has_pid(sock, "p", pid)) {
		ck_assert_msg(tnow_ms() < deadline, "%s changed, but worker "
		    "%ld is still there after %d ms", key, (long)pid, WAIT_MS);
		tnap(POLL_MS);
	}
}

/*
 * One key through a reload: from the file without it to the file with
 * its test value, and STATUS says what its row promises.
 */
static void
key_through_reload(struct fpd *d, const struct key *k,
    enum key_section section)
{
	const struct key_value	*kv;
	char			 ini[2048], want[1024], line[256];
	char			*before, *after;
	pid_t			 old;
	int			 n, warned;

	kv = key_value_find(section, config_key_name(k));
	ck_assert_msg(kv != NULL, "key %s has no test value in "
	    "tests/key_values.c", config_key_name(k));
	key_value_ini(kv, 0, ini, sizeof(ini));
	reload_quiet(d, ini);
	/* One worker, but auto when workers itself is the key. */
	wait_workers(d->sock, "p", (int)tpool_int(d->sock, "p", "size"));
	ck_assert_int_ge(tpool_pids(d->sock, "p", &old, 1), 1);
	before = status_key(d->sock, section, kv->name);
	snprintf(line, sizeof(line), "reload: %s changed; it takes a restart",
	    kv->name);
	warned = fpd_log_count(d, line);

	key_value_ini(kv, 1, ini, sizeof(ini));
	reload_quiet(d, ini);
	key_value_shown(kv, want, sizeof(want));
	n = strcmp(kv->name, "workers") == 0 ? atoi(want) : 1;
	switch (config_key_reload(k)) {
	case RELOAD_RESTART:
		ck_assert_msg(fpd_log_count(d, line) == warned + 1, "no "
		    "\"%s\" warning", line);
		want[0] = '\0';
		if (before != NULL)
			snprintf(want, sizeof(want), "%s", before);
		break;
	case RELOAD_WORKERS:
		wait_replaced(d->sock, old, kv->name);
		break;
	case RELOAD_LIVE:
		break;
	}
	wait_workers(d->sock, "p", n);
	if (config_key_reload(k) == RELOAD_LIVE)
		ck_assert_msg(tpool_has_pid(d->sock, "p", old), "%s applies in "
		    "place, but worker %ld was replaced", kv->name, (long)old);
	after = status_key(d->sock, section, kv->name);
	ck_assert_msg((after == NULL && want[0] == '\0' && before == NULL) ||
	    (after != NULL && strcmp(after, want) == 0), "%s after the "
	    "reload: STATUS shows %s, not %s", kv->name, after != NULL ?
	    after : "null", want);
	free(before);
	free(after);
}

START_TEST(test_reload_every_key)
{
	/*
	 * Promise (issue 13): every key of the configuration's table goes
	 * through a reload as its row says: a live key is applied in place
	 * (STATUS shows it, the worker stays), a workers key replaces the
	 * workers, a restart key is not applied and the log names it.  A
	 * key without a test value fails here.
	 */
	const struct key	*k;
	struct fpd		*d;
	size_t			 i;

	d = fpd_start("[pool:p]\nhandler = echo\nworkers = 1\n");
	for (i = 0; (k = config_key_at(KEYS_POOL, i)) != NULL; i++)
		key_through_reload(d, k, KEYS_POOL);
	for (i = 0; (k = config_key_at(KEYS_DAEMON, i)) != NULL; i++)
		key_through_reload(d, k, KEYS_DAEMON);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

Suite *
reload_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("reload");
	tc = tcase_create("under_load");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reload_broken_file);
	tcase_add_test(tc, test_reload_add_pool);
	tcase_add_test(tc, test_reload_remove_pool);
	tcase_add_test(tc, test_reload_resize);
	tcase_add_test(tc, test_reload_module_args);
	tcase_add_test(tc, test_reload_bad_module);
	tcase_add_test(tc, test_reload_rollback);
	tcase_add_test(tc, test_reload_busy_worker);
	suite_add_tcase(s, tc);
	tc = tcase_create("keys");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_reload_every_key);
	suite_add_tcase(s, tc);
	return (s);
}

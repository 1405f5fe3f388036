/*
 * Poison-task quarantine.  First daemon/quarantine.c alone, with time
 * passed in: fingerprints, the count of crashes that quarantines, the
 * window, the bound on entries.  Then live, through a real forkpoold and
 * the faulty module: a quarantined task is refused without touching a
 * worker, other payloads and other pools still run, and `retries` reruns
 * crashed tasks only (never timed-out ones), with STATUS counting both.
 */
#include <sys/types.h>

#include <check.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "harness.h"
#include "suites.h"

#define WAIT_MS		10000	/* deadline for what should be quick */
#define WINDOW_MS	60000	/* a quarantine_window for the unit tests */

/* The fingerprint of a NUL-terminated string. */
static struct fp_fingerprint
fp_of(const char *s)
{
	return (quarantine_fingerprint(s, strlen(s)));
}

static int
fp_eq(struct fp_fingerprint a, struct fp_fingerprint b)
{
	return (a.hi == b.hi && a.lo == b.lo);
}

/* A distinct fingerprint for each i (the payload "task i"). */
static struct fp_fingerprint
fp_num(unsigned int i)
{
	char	buf[32];

	snprintf(buf, sizeof(buf), "faultytask %u", i);
	return (fp_of(buf));
}

/* The listed entry holding fp, or NULL. */
static const struct quarantine_entry *
listed(const struct quarantine *q, struct fp_fingerprint fp)
{
	const struct quarantine_entry	*e;
	unsigned int			 i;

	for (i = 0; (e = quarantine_entry(q, i)) != NULL; i++)
		if (fp_eq(e->fp, fp))
			return (e);
	return (NULL);
}

START_TEST(test_fingerprint)
{
	/*
	 * A fingerprint depends on the bytes only, and on every one of them:
	 * the same pool+payload from another buffer gives the same one;
	 * changing, adding or removing a byte, or another pool name, gives
	 * another.
	 */
	static const char *const others[] = {
		"faultysegw", "faultysegv\n", "faultyseg", "otherssegv",
		"Faultysegv", "segvfaulty", ""
	};
	struct fp_fingerprint	 a, b, seen[256];
	char			 copy[16], *big1, *big2;
	size_t			 i, j;

	a = fp_of("faultysegv");
	memcpy(copy, "faultysegv", 11);
	b = quarantine_fingerprint(copy, 10);
	ck_assert(fp_eq(a, b));
	ck_assert(a.hi != 0 || a.lo != 0);
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		ck_assert_msg(!fp_eq(a, fp_of(others[i])),
		    "\"faultysegv\" and \"%s\" share a fingerprint", others[i]);
	/* An embedded NUL counts like any byte. */
	ck_assert(!fp_eq(a, quarantine_fingerprint("faultysegv\0", 11)));

	/* Every one-byte payload differs from every other. */
	for (i = 0; i < 256; i++) {
		copy[0] = (char)i;
		seen[i] = quarantine_fingerprint(copy, 1);
		for (j = 0; j < i; j++)
			ck_assert_msg(!fp_eq(seen[i], seen[j]),
			    "bytes %zu and %zu share a fingerprint", i, j);
	}

	/* One byte in the middle of a megabyte is seen. */
	big1 = malloc(1 << 20);
	big2 = malloc(1 << 20);
	ck_assert(big1 != NULL && big2 != NULL);
	memset(big1, 'x', 1 << 20);
	memcpy(big2, big1, 1 << 20);
	ck_assert(fp_eq(quarantine_fingerprint(big1, 1 << 20),
	    quarantine_fingerprint(big2, 1 << 20)));
	big2[(1 << 20) / 2] = 'y';
	ck_assert(!fp_eq(quarantine_fingerprint(big1, 1 << 20),
	    quarantine_fingerprint(big2, 1 << 20)));
	free(big1);
	free(big2);
}
END_TEST

START_TEST(test_after_crashes)
{
	/*
	 * A fingerprint is quarantined exactly at its `after`-th crash
	 * within the window, not one crash before; quarantine_crash says so
	 * once (the crash that did it), and another fingerprint is not
	 * touched.
	 */
	const struct quarantine_entry	*e;
	struct quarantine		*q;
	struct fp_fingerprint		 fp = fp_of("faultysegv");
	struct fp_fingerprint		 other = fp_of("faultyabort");
	unsigned int			 after, i;
	uint64_t			 now;

	for (after = 1; after <= 5; after++) {
		q = quarantine_new();
		now = 5000;
		ck_assert_int_eq(quarantine_crash(q, other, after, WINDOW_MS,
		    now), after == 1);
		for (i = 1; i < after; i++) {
			ck_assert_int_eq(quarantine_crash(q, fp, after,
			    WINDOW_MS, now), 0);
			ck_assert_msg(quarantine_check(q, fp, now) == NULL,
			    "after = %u: quarantined after %u crashes",
			    after, i);
			now += 100;
		}
		ck_assert_int_eq(quarantine_crash(q, fp, after, WINDOW_MS,
		    now), 1);
		e = quarantine_check(q, fp, now);
		ck_assert_ptr_nonnull(e);
		ck_assert(fp_eq(e->fp, fp));
		ck_assert_uint_eq(e->crashes, after);
		ck_assert(e->quarantined);
		ck_assert_uint_eq(e->first_ms, 5000);
		ck_assert_uint_eq(e->expires_ms, 5000 + WINDOW_MS);

		/* A further crash counts but does not announce it again. */
		ck_assert_int_eq(quarantine_crash(q, fp, after, WINDOW_MS,
		    now + 1), 0);
		ck_assert_uint_eq(quarantine_check(q, fp, now + 1)->crashes,
		    after + 1);

		/* The other fingerprint crashed once only. */
		e = quarantine_check(q, other, now);
		if (after == 1)
			ck_assert_ptr_nonnull(e);
		else
			ck_assert_ptr_null(e);
		ck_assert_uint_eq(quarantine_count(q, now), 2);
		quarantine_free(q);
	}
}
END_TEST

START_TEST(test_window)
{
	/*
	 * Crashes count only within quarantine_window of the first: two
	 * crashes a window apart never quarantine with after = 2; two within
	 * it do, and the quarantine lasts until the window from the first
	 * crash is over, then the entry is forgotten.
	 */
	struct quarantine	*q;
	struct fp_fingerprint	 fp = fp_of("faultysegv");
	uint64_t		 t0 = 1000;

	q = quarantine_new();
	ck_assert_int_eq(quarantine_crash(q, fp, 2, WINDOW_MS, t0), 0);
	/* The second crash comes just as the first one's window ends. */
	ck_assert_int_eq(quarantine_crash(q, fp, 2, WINDOW_MS,
	    t0 + WINDOW_MS), 0);
	ck_assert_ptr_null(quarantine_check(q, fp, t0 + WINDOW_MS));
	ck_assert_uint_eq(quarantine_entry(q, 0)->crashes, 1);
	ck_assert_uint_eq(quarantine_entry(q, 0)->first_ms, t0 + WINDOW_MS);
	quarantine_free(q);

	q = quarantine_new();
	ck_assert_int_eq(quarantine_crash(q, fp, 2, WINDOW_MS, t0), 0);
	ck_assert_int_eq(quarantine_crash(q, fp, 2, WINDOW_MS,
	    t0 + WINDOW_MS - 1), 1);
	ck_assert_ptr_nonnull(quarantine_check(q, fp, t0 + WINDOW_MS - 1));
	ck_assert_uint_eq(quarantine_count(q, t0 + WINDOW_MS - 1), 1);
	/* Over at the end of the window: refused no more, not listed. */
	ck_assert_ptr_null(quarantine_check(q, fp, t0 + WINDOW_MS));
	ck_assert_uint_eq(quarantine_count(q, t0 + WINDOW_MS), 0);
	ck_assert_ptr_null(quarantine_entry(q, 0));
	/* A crash after that starts over from one. */
	ck_assert_int_eq(quarantine_crash(q, fp, 2, WINDOW_MS,
	    t0 + WINDOW_MS + 5), 0);
	ck_assert_ptr_null(quarantine_check(q, fp, t0 + WINDOW_MS + 5));
	quarantine_free(q);
}
END_TEST

START_TEST(test_after_zero)
{
	/*
	 * quarantine_after = 0 turns quarantine off: no number of crashes
	 * quarantines, and nothing is even held.
	 */
	struct quarantine	*q;
	struct fp_fingerprint	 fp = fp_of("faultysegv");
	unsigned int		 i;

	q = quarantine_new();
	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(quarantine_crash(q, fp, 0, WINDOW_MS, i), 0);
		ck_assert_ptr_null(quarantine_check(q, fp, i));
	}
	ck_assert_uint_eq(quarantine_count(q, 1000), 0);
	ck_assert_ptr_null(quarantine_entry(q, 0));
	quarantine_free(q);
}
END_TEST

START_TEST(test_bound)
{
	/*
	 * At most QUARANTINE_MAX fingerprints are held: a new one past that
	 * evicts the entry that expires soonest (wherever it sits), every
	 * other entry stays quarantined, and a flood of distinct crashes
	 * allocates nothing.
	 */
	struct quarantine	*q;
	struct mallinfo2	 before, after;
	unsigned int		 i, soonest = QUARANTINE_MAX / 2;
	uint64_t		 window;

	q = quarantine_new();
	/* Entry i expires at 1000 + window; the soonest is in the middle. */
	for (i = 0; i < QUARANTINE_MAX; i++) {
		window = 100000 + ((i + QUARANTINE_MAX - soonest) %
		    QUARANTINE_MAX) * 10;
		ck_assert_int_eq(quarantine_crash(q, fp_num(i), 1, window,
		    1000), 1);
	}
	ck_assert_uint_eq(quarantine_count(q, 1001), QUARANTINE_MAX);

	/* The newcomers expire last, so they are never the ones evicted. */
	ck_assert_int_eq(quarantine_crash(q, fp_num(QUARANTINE_MAX), 1,
	    1000000, 1002), 1);
	ck_assert_uint_eq(quarantine_count(q, 1002), QUARANTINE_MAX);
	ck_assert_ptr_null(quarantine_check(q, fp_num(soonest), 1002));
	ck_assert_ptr_null(listed(q, fp_num(soonest)));
	for (i = 0; i <= QUARANTINE_MAX; i++)
		if (i != soonest)
			ck_assert_msg(quarantine_check(q, fp_num(i), 1002) !=
			    NULL, "entry %u was evicted, not entry %u", i,
			    soonest);

	/* The next one evicts the next soonest. */
	ck_assert_int_eq(quarantine_crash(q, fp_num(QUARANTINE_MAX + 1), 1,
	    1000000, 1003), 1);
	ck_assert_ptr_null(quarantine_check(q, fp_num(soonest + 1), 1003));
	ck_assert_ptr_nonnull(quarantine_check(q, fp_num(QUARANTINE_MAX),
	    1003));
	ck_assert_uint_eq(quarantine_count(q, 1003), QUARANTINE_MAX);

	/* 100,000 distinct poison tasks: no allocation, no growth. */
	before = mallinfo2();
	for (i = 0; i < 100000; i++) {
		quarantine_crash(q, fp_num(1000 + i), 2, WINDOW_MS, 2000 + i);
		ck_assert_uint_le(quarantine_count(q, 2000 + i),
		    QUARANTINE_MAX);
	}
	after = mallinfo2();
	ck_assert_uint_eq(after.uordblks, before.uordblks);
	ck_assert_uint_eq(after.hblkhd, before.hblkhd);
	quarantine_free(q);
}
END_TEST

START_TEST(test_listing)
{
	/*
	 * Every fingerprint that crashed a worker within its window is
	 * listed, quarantined or not, with its crash count, and nothing
	 * else; the list ends with NULL.
	 */
	const struct quarantine_entry	*e;
	struct quarantine		*q;
	unsigned int			 i, n;

	q = quarantine_new();
	ck_assert_ptr_null(quarantine_entry(q, 0));
	for (i = 1; i <= 3; i++)
		for (n = 0; n < i; n++)
			quarantine_crash(q, fp_num(i), 3, WINDOW_MS, 100);
	ck_assert_uint_eq(quarantine_count(q, 100), 3);
	for (i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(quarantine_entry(q, i));
	ck_assert_ptr_null(quarantine_entry(q, 3));
	for (i = 1; i <= 3; i++) {
		e = listed(q, fp_num(i));
		ck_assert_msg(e != NULL, "fingerprint %u is not listed", i);
		ck_assert_uint_eq(e->crashes, i);
		ck_assert_int_eq(e->quarantined != 0, i == 3);
		ck_assert_uint_eq(e->expires_ms, 100 + WINDOW_MS);
	}
	ck_assert_ptr_null(listed(q, fp_num(4)));
	quarantine_free(q);
}
END_TEST

/*
 * The pool's workers from STATUS, sorted by pid: pids and tasks served.
 * Returns how many.
 */
static int
worker_table(const char *sock, const char *pool, long long *pids,
    long long *tasks, int max)
{
	json_t		*st, *p, *w;
	long long	 t;
	size_t		 i;
	int		 n = 0, j;

	st = tstatus(sock);
	p = tstatus_pool(st, pool);
	ck_assert_msg(p != NULL, "STATUS has no pool %s", pool);
	json_array_foreach(json_object_get(p, "workers"), i, w) {
		if (n == max)
			break;
		pids[n] = json_integer_value(json_object_get(w, "pid"));
		tasks[n] = json_integer_value(json_object_get(w, "tasks"));
		for (j = n; j > 0 && pids[j - 1] > pids[j]; j--) {
			t = pids[j - 1], pids[j - 1] = pids[j], pids[j] = t;
			t = tasks[j - 1], tasks[j - 1] = tasks[j];
			tasks[j] = t;
		}
		n++;
	}
	json_decref(st);
	return (n);
}

/* The pool's "quarantine" list from a fresh STATUS (a new reference). */
static json_t *
status_quarantine(const char *sock, const char *pool)
{
	json_t	*st, *list;

	st = tstatus(sock);
	ck_assert_ptr_nonnull(tstatus_pool(st, pool));
	list = json_object_get(tstatus_pool(st, pool), "quarantine");
	ck_assert_msg(json_is_array(list), "STATUS pool %s: no quarantine "
	    "list", pool);
	json_incref(list);
	json_decref(st);
	return (list);
}

/* Nothing more is waiting on fd: a PING's PONG is the very next frame. */
static void
check_no_more_replies(int fd, uint64_t ping_id)
{
	tping(fd, ping_id);
}

START_TEST(test_live_poison)
{
	/*
	 * With the default quarantine_after (2), a payload that crashed two
	 * workers is answered QUARANTINED at once afterwards, on any
	 * connection, without a worker being spawned, used or killed (the
	 * same pids, each with the same tasks served; restarts and crashes
	 * unchanged); STATUS lists it with its crashes and counts the
	 * refusals; another payload still runs, and the same payload in
	 * another pool still reaches a worker.
	 */
	struct fpd	*d;
	json_t		*list, *e;
	const char	*hex;
	long long	 pids[2], tasks[2], pids2[2], tasks2[2];
	long long	 restarts, crashes, t0;
	char		*text;
	int		 fd, fd2, segv_lines, started, i;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 2\n"
	    "restart_burst = 100\n"
	    "[pool:other]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n");
	fd = tconnect(d->sock);

	text = tsubmit_error(fd, 1, "faulty", "segv", FP_ERR_WORKER_CRASHED);
	ck_assert_msg(strstr(text, "SIGSEGV") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "quarantine") == NULL, "quarantined "
	    "after one crash: %s", text);
	free(text);
	list = status_quarantine(d->sock, "faulty");
	ck_assert_uint_eq(json_array_size(list), 1);
	e = json_array_get(list, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "crashes")), 1);
	ck_assert(json_is_false(json_object_get(e, "quarantined")));
	json_decref(list);

	twait_idle(d->sock, "faulty", 2, WAIT_MS);
	text = tsubmit_error(fd, 2, "faulty", "segv", FP_ERR_WORKER_CRASHED);
	ck_assert_msg(strstr(text, "quarantined") != NULL, "the crash that "
	    "quarantines does not say so: %s", text);
	free(text);
	fpd_wait_log(d, "crashed 2 workers; quarantined", WAIT_MS);

	/* From here on, no worker may be touched. */
	twait_idle(d->sock, "faulty", 2, WAIT_MS);
	ck_assert_int_eq(worker_table(d->sock, "faulty", pids, tasks, 2), 2);
	restarts = tpool_int(d->sock, "faulty", "restarts");
	crashes = tpool_int(d->sock, "faulty", "crashes");
	ck_assert_int_eq(restarts, 2);
	ck_assert_int_eq(crashes, 2);
	segv_lines = fpd_log_count(d, "killed by SIGSEGV after");
	ck_assert_int_eq(segv_lines, 2);
	started = fpd_log_count(d, " started");

	list = status_quarantine(d->sock, "faulty");
	ck_assert_uint_eq(json_array_size(list), 1);
	e = json_array_get(list, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "crashes")), 2);
	ck_assert(json_is_true(json_object_get(e, "quarantined")));
	ck_assert_int_gt(json_integer_value(json_object_get(e,
	    "expires_in_ms")), 0);
	ck_assert_int_le(json_integer_value(json_object_get(e,
	    "expires_in_ms")), 10 * 60 * 1000);
	hex = json_string_value(json_object_get(e, "fingerprint"));
	ck_assert_msg(hex != NULL && strlen(hex) == 32, "fingerprint %s",
	    hex != NULL ? hex : "(none)");

	fd2 = tconnect(d->sock);
	for (i = 0; i < 5; i++) {
		t0 = tpool_int(d->sock, "faulty", "quarantined");
		text = tsubmit_error(i % 2 == 0 ? fd : fd2, 10 + i, "faulty",
		    "segv", FP_ERR_QUARANTINED);
		ck_assert_msg(strstr(text, hex) != NULL, "QUARANTINED text "
		    "does not name fingerprint %s: %s", hex, text);
		free(text);
		ck_assert_int_eq(tpool_int(d->sock, "faulty", "quarantined"),
		    t0 + 1);
	}
	json_decref(list);

	ck_assert_int_eq(worker_table(d->sock, "faulty", pids2, tasks2, 2), 2);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pids2[i], pids[i]);
		ck_assert_int_eq(tasks2[i], tasks[i]);
		ck_assert_int_eq(kill((pid_t)pids[i], 0), 0);
	}
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "restarts"), restarts);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "crashes"), crashes);
	ck_assert_int_eq(fpd_log_count(d, "killed by SIGSEGV after"),
	    segv_lines);
	ck_assert_int_eq(fpd_log_count(d, " started"), started);

	/* Another payload runs; the same one in another pool is not refused. */
	text = tsubmit_ok(fd, 20, "faulty", "segv please");
	ck_assert_str_eq(text, "segv please");
	free(text);
	text = tsubmit_error(fd2, 21, "other", "segv", FP_ERR_WORKER_CRASHED);
	free(text);
	ck_assert_int_eq(tpool_int(d->sock, "other", "quarantined"), 0);
	check_no_more_replies(fd, 30);
	check_no_more_replies(fd2, 31);
	close(fd);
	close(fd2);
	fpd_stop(d);
}
END_TEST

START_TEST(test_live_retries)
{
	/*
	 * retries = 2 (quarantine off): a task whose worker crashes runs
	 * again twice, each time logged as "will run again", and then gets
	 * exactly one reply, WORKER_CRASHED naming the signal and the
	 * attempts; STATUS counts 2 retried, 1 crashed task, 3 restarts.
	 */
	struct fpd	*d;
	json_t		*list;
	char		*text;
	int		 fd;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "retries = 2\n"
	    "quarantine_after = 0\n"
	    "restart_burst = 100\n");
	fd = tconnect(d->sock);
	text = tsubmit_error(fd, 7, "faulty", "segv", FP_ERR_WORKER_CRASHED);
	ck_assert_msg(strstr(text, "SIGSEGV") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "attempt 3 of 3, each crashed its worker")
	    != NULL, "the reply does not count the attempts: %s", text);
	free(text);
	check_no_more_replies(fd, 8);

	ck_assert_int_eq(fpd_log_count(d, "task 7 will run again"), 2);
	ck_assert_int_eq(fpd_log_count(d, "(attempt 1 of 3)"), 1);
	ck_assert_int_eq(fpd_log_count(d, "(attempt 2 of 3)"), 1);
	ck_assert_int_eq(fpd_log_count(d, "killed by SIGSEGV after"), 3);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "retried"), 2);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "crashes"), 1);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "restarts"), 3);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "quarantined"), 0);
	list = status_quarantine(d->sock, "faulty");
	ck_assert_uint_eq(json_array_size(list), 0);
	json_decref(list);

	/* Still no quarantine: the same task runs (and crashes) again. */
	text = tsubmit_error(fd, 9, "faulty", "segv", FP_ERR_WORKER_CRASHED);
	free(text);
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_live_retries_quarantine)
{
	/*
	 * retries = 2 with quarantine_after = 2: the second crash
	 * quarantines the task, which stops its retries there: one rerun,
	 * then exactly one reply, WORKER_CRASHED saying "attempt 2 of 3"
	 * and that it is now quarantined; the next submit of it is
	 * QUARANTINED.  STATUS: retried 1, quarantined 1.
	 */
	struct fpd	*d;
	json_t		*list;
	char		*text;
	int		 fd;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "retries = 2\n"
	    "quarantine_after = 2\n"
	    "restart_burst = 100\n");
	fd = tconnect(d->sock);
	text = tsubmit_error(fd, 1, "faulty", "segv", FP_ERR_WORKER_CRASHED);
	ck_assert_msg(strstr(text, "attempt 2 of 3, each crashed its worker")
	    != NULL, "%s", text);
	ck_assert_msg(strstr(text, "quarantined") != NULL, "%s", text);
	free(text);
	check_no_more_replies(fd, 2);
	ck_assert_int_eq(fpd_log_count(d, "task 1 will run again"), 1);
	ck_assert_int_eq(fpd_log_count(d, "killed by SIGSEGV after"), 2);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "retried"), 1);

	text = tsubmit_error(fd, 3, "faulty", "segv", FP_ERR_QUARANTINED);
	free(text);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "quarantined"), 1);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "crashes"), 1);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "restarts"), 2);
	ck_assert_int_eq(fpd_log_count(d, "killed by SIGSEGV after"), 2);
	list = status_quarantine(d->sock, "faulty");
	ck_assert_uint_eq(json_array_size(list), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(
	    json_array_get(list, 0), "crashes")), 2);
	json_decref(list);
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_live_timeout_not_retried)
{
	/*
	 * retries reruns crashed tasks only: a task that timed out is
	 * answered TIMEOUT once and never runs again (one worker, FIFO: a
	 * rerun would come before the next task and time out a second
	 * time); a timeout does not feed the quarantine either.
	 */
	struct fpd	*d;
	json_t		*list;
	char		*text;
	int		 fd;

	d = fpd_start("[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "retries = 2\n"
	    "task_timeout = 300ms\n"
	    "restart_burst = 100\n");
	fd = tconnect(d->sock);
	text = tsubmit_error(fd, 1, "faulty", "hang", FP_ERR_TIMEOUT);
	ck_assert_msg(strstr(text, "attempt") == NULL, "%s", text);
	free(text);
	text = tsubmit_ok(fd, 2, "faulty", "after");
	ck_assert_str_eq(text, "after");
	free(text);
	/* The same task again: timed out twice, still no retry, no poison. */
	text = tsubmit_error(fd, 3, "faulty", "hang", FP_ERR_TIMEOUT);
	free(text);
	text = tsubmit_ok(fd, 4, "faulty", "after");
	free(text);
	check_no_more_replies(fd, 5);

	ck_assert_int_eq(fpd_log_count(d, "will run again"), 0);
	ck_assert_int_eq(fpd_log_count(d, "timed out after"), 2);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "retried"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "timeouts"), 2);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "quarantined"), 0);
	list = status_quarantine(d->sock, "faulty");
	ck_assert_uint_eq(json_array_size(list), 0);
	json_decref(list);
	close(fd);
	fpd_stop(d);
}
END_TEST

Suite *
quarantine_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("quarantine");
	tc = tcase_create("unit");
	tcase_add_test(tc, test_fingerprint);
	tcase_add_test(tc, test_after_crashes);
	tcase_add_test(tc, test_window);
	tcase_add_test(tc, test_after_zero);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_listing);
	suite_add_tcase(s, tc);

	tc = tcase_create("live");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_live_poison);
	tcase_add_test(tc, test_live_retries);
	tcase_add_test(tc, test_live_retries_quarantine);
	tcase_add_test(tc, test_live_timeout_not_retried);
	suite_add_tcase(s, tc);
	return (s);
}

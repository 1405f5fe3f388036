/*
 * The worker loop (lib/wloop.c) through fp_worker_serve(), the C program
 * workers' entry: the spec's "Program workers" side of the protocol,
 * driven directly over a socketpair, then served for real by forkpoold,
 * where a module worker and a program worker serving the same handler
 * must answer alike.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "forkpool/worker.h"
#include "harness.h"
#include "proto_int.h"
#include "suites.h"

static int
upper(void *arg, const void *payload, size_t len, struct fp_out *out)
{
	const char	*p = payload;
	char		 c;
	size_t		 i;

	(void)arg;
	if (len == 4 && memcmp(p, "huge", 4) == 0) {
		for (i = 0; i <= out->max; i++)
			if (fp_out_write(out, "x", 1) == -1)
				return (FP_HANDLE_TOO_LARGE);
		return (0);
	}
	if (len == 3 && memcmp(p, "bad", 3) == 0)
		return (-7);
	if (len == 4 && memcmp(p, "fail", 4) == 0) {
		fp_out_write(out, "no", 2);
		return (3);
	}
	for (i = 0; i < len; i++) {
		c = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i]);
		if (fp_out_write(out, &c, 1) == -1)
			return (FP_HANDLE_TOO_LARGE);
	}
	return (0);
}

/* Encode one frame (body a string) at p; its length. */
static size_t
put_frame(uint8_t *p, uint8_t type, uint16_t arg, uint64_t id,
    const char *body)
{
	size_t	len = strlen(body);

	fp_hdr_put(p, type, arg, id, (uint32_t)len);
	memcpy(p + FP_HDR_LEN, body, len);
	return (FP_HDR_LEN + len);
}

/* A child serving on one end of a socketpair; returns our end. */
static int
serve_child(pid_t *pid, const char *max_payload)
{
	int	sv[2];
	char	fd[16];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if ((*pid = fork()) == 0) {
		close(sv[0]);
		snprintf(fd, sizeof(fd), "%d", sv[1]);
		setenv("FORKPOOL_FD", fd, 1);
		setenv("FORKPOOL_MAX_PAYLOAD", max_payload, 1);
		_exit(fp_worker_serve(upper, NULL) == 0 ? 0 : 1);
	}
	close(sv[1]);
	return (sv[0]);
}

static void
expect_result(int fd, uint64_t id, uint16_t status, const char *body)
{
	struct fp_hdr	 hdr;
	char		*got;

	ck_assert_int_eq(trecv(fd, &hdr, &got, 5000), 1);
	ck_assert_uint_eq(hdr.type, FP_RESULT);
	ck_assert_uint_eq(hdr.id, id);
	ck_assert_uint_eq(hdr.arg, status);
	ck_assert_msg(strstr(got, body) != NULL, "body \"%s\" lacks \"%s\"",
	    got, body);
	free(got);
}

START_TEST(test_pong_then_results_by_id)
{
	/*
	 * "Once initialised, it sends PONG with id 0 ... answers each, in
	 * order, with one RESULT carrying the same id ... When descriptor 3
	 * reaches end of file, it exits."
	 */
	struct fp_hdr	 hdr;
	char		*body;
	pid_t		 pid;
	int		 fd, status;

	fd = serve_child(&pid, "100");
	ck_assert_int_eq(trecv(fd, &hdr, &body, 5000), 1);
	ck_assert_uint_eq(hdr.type, FP_PONG);
	ck_assert_uint_eq(hdr.id, 0);
	free(body);
	tsend_submit(fd, 7, "p", "hello", 5);
	tsend_submit(fd, 9, "p", "", 0);
	tsend_submit(fd, 8, "p", "fail", 4);
	expect_result(fd, 7, 0, "HELLO");
	expect_result(fd, 9, 0, "");
	expect_result(fd, 8, 3, "no");
	close(fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

START_TEST(test_output_over_max_payload_is_too_large)
{
	/*
	 * "If its output would be over max_payload (given in
	 * FORKPOOL_MAX_PAYLOAD), it answers ERROR with arg 3 (TOO_LARGE) and
	 * a one-line explanation instead; ... the worker lives on."  The
	 * oversized frame is never sent; a status outside 0..65535 is a
	 * failed RESULT that says so.
	 */
	struct fp_hdr	 hdr;
	char		*body;
	pid_t		 pid;
	int		 fd, status;

	fd = serve_child(&pid, "100");
	ck_assert_int_eq(trecv(fd, &hdr, &body, 5000), 1);
	free(body);
	tsend_submit(fd, 1, "p", "huge", 4);
	ck_assert_int_eq(trecv(fd, &hdr, &body, 5000), 1);
	ck_assert_uint_eq(hdr.type, FP_ERROR);
	ck_assert_uint_eq(hdr.arg, FP_ERR_TOO_LARGE);
	ck_assert_uint_eq(hdr.id, 1);
	ck_assert_msg(strstr(body, "over max_payload (100 bytes)") != NULL &&
	    strchr(body, '\n') == NULL, "%s", body);
	free(body);
	tsend_submit(fd, 2, "p", "bad", 3);
	expect_result(fd, 2, 1, "the handler returned -7, which is not a "
	    "status (0..65535)");
	tsend_submit(fd, 3, "p", "after", 5);
	expect_result(fd, 3, 0, "AFTER");
	close(fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

START_TEST(test_cancel_skips_queued)
{
	/*
	 * Issue 14 item 4, the program worker's loop: a CANCEL naming a
	 * SUBMIT still queued behind another makes fp_worker_serve skip it
	 * and send nothing for it; a CANCEL for a task already answered, or
	 * for no task, is ignored.
	 */
	struct fp_hdr	 hdr;
	uint8_t		 frames[6 * (FP_HDR_LEN + 8)], *p = frames;
	char		*body;
	pid_t		 pid;
	int		 fd, status;

	fd = serve_child(&pid, "100");
	ck_assert_int_eq(trecv(fd, &hdr, &body, 5000), 1);
	free(body);
	/* One write: the loop has them all before it runs the first. */
	p += put_frame(p, FP_SUBMIT, 1, 1, "pone");
	p += put_frame(p, FP_SUBMIT, 1, 2, "ptwo");
	p += put_frame(p, FP_CANCEL, 0, 2, "");
	p += put_frame(p, FP_CANCEL, 0, 99, "");
	p += put_frame(p, FP_SUBMIT, 1, 3, "pthree");
	tsend_raw(fd, frames, p - frames);
	expect_result(fd, 1, 0, "ONE");
	expect_result(fd, 3, 0, "THREE");
	tsend_submit(fd, 4, "p", "four", 4);
	expect_result(fd, 4, 0, "FOUR");
	tsend(fd, FP_CANCEL, 0, 4, NULL, 0);
	tsend_submit(fd, 5, "p", "five", 4);
	expect_result(fd, 5, 0, "FIVE");
	close(fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

START_TEST(test_garbage_from_the_daemon_side_ends_the_loop)
{
	/* A frame that is not a SUBMIT is a broken channel: serve returns -1. */
	struct fp_hdr	 hdr;
	char		*body;
	pid_t		 pid;
	int		 fd, status;

	fd = serve_child(&pid, "100");
	ck_assert_int_eq(trecv(fd, &hdr, &body, 5000), 1);
	free(body);
	tsend(fd, FP_PING, 0, 1, NULL, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	close(fd);
}
END_TEST

START_TEST(test_served_by_forkpoold)
{
	/* A C program built on fp_worker_serve serves a real pool. */
	char		 ini[512], *body;
	struct fp_hdr	 hdr;
	struct fpd	*d;
	pid_t		 pid, pid2;
	int		 fd, i;

	snprintf(ini, sizeof(ini), "[daemon]\nmax_payload = 1K\n"
	    "[pool:c]\ncommand = %s/cupper\nworkers = 2\nprefetch = 4\n",
	    tprogram_dir());
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	tsubmit(fd, 1, "c", "make me loud", 12, &hdr, &body);
	ck_assert_uint_eq(hdr.type, FP_RESULT);
	ck_assert_str_eq(body, "MAKE ME LOUD");
	free(body);
	pid = tworker_pid(d->sock, "c", 0);
	pid2 = tworker_pid(d->sock, "c", 1);
	/* Issue 10: relayed as TOO_LARGE; the worker lives, no back-off. */
	for (i = 0; i < 12; i++) {
		tsubmit(fd, 100 + i, "c", "huge", 4, &hdr, &body);
		ck_assert_uint_eq(hdr.type, FP_ERROR);
		ck_assert_uint_eq(hdr.arg, FP_ERR_TOO_LARGE);
		ck_assert_msg(strstr(body, "over max_payload (1024 bytes)") !=
		    NULL, "%s", body);
		free(body);
	}
	ck_assert_int_eq(tworker_pid(d->sock, "c", 0), pid);
	ck_assert_int_eq(tworker_pid(d->sock, "c", 1), pid2);
	ck_assert_int_eq(tpool_int(d->sock, "c", "crashes"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "c", "restarts"), 0);
	ck_assert_int_eq(fpd_log_count(d, "broke the protocol"), 0);
	tsubmit(fd, 3, "c", "fail", 4, &hdr, &body);
	ck_assert_uint_eq(hdr.type, FP_RESULT);
	ck_assert_uint_eq(hdr.arg, 3);
	free(body);
	close(fd);
	ck_assert_int_eq(WEXITSTATUS(fpd_stop(d)), 0);
}
END_TEST

/* The tasks both kinds of worker get, ids 1 to TWIN_TASKS. */
static const char *const twin_tasks[] = {
	"hello",		/* echoed */
	"",			/* an empty output */
	"fail:3:nope",		/* a failure the handler reports */
	"fail:70000:x",		/* not a status: RESULT 1 that says so */
	"big:1024",		/* exactly max_payload */
	"big:1025",		/* over it: ERROR TOO_LARGE */
	"after",		/* the worker lives on */
};
#define TWIN_TASKS	(sizeof(twin_tasks) / sizeof(twin_tasks[0]))

/* Submit the twin tasks to pool; the replies, indexed by id - 1. */
static void
twin_run(int fd, const char *pool, struct fp_hdr *hdrs, char **bodies)
{
	struct fp_hdr	 hdr;
	char		*body;
	size_t		 i;

	for (i = 0; i < TWIN_TASKS; i++)
		tsend_submit(fd, i + 1, pool, twin_tasks[i],
		    strlen(twin_tasks[i]));
	for (i = 0; i < TWIN_TASKS; i++) {
		ck_assert_int_eq(trecv(fd, &hdr, &body, 10000), 1);
		ck_assert(hdr.id >= 1 && hdr.id <= TWIN_TASKS);
		ck_assert_ptr_null(bodies[hdr.id - 1]);
		hdrs[hdr.id - 1] = hdr;
		bodies[hdr.id - 1] = body;
	}
}

/*
 * Send "sleep:MS", then "mark:PATH" with a CANCEL for it, then "hello":
 * the mark waits in the worker behind the sleep (prefetch), so the
 * worker must skip it.  The client is answered CANCELLED, and the file
 * is never written.
 */
static void
twin_cancel(int fd, const char *pool, const char *path)
{
	char		 mark[300];
	struct fp_hdr	 hdr;
	char		*body;
	int		 i, seen = 0;

	snprintf(mark, sizeof(mark), "mark:%s", path);
	tsend_submit(fd, 101, pool, "sleep:1000", 10);
	tsend_submit(fd, 102, pool, mark, strlen(mark));
	tsend(fd, FP_CANCEL, 0, 102, NULL, 0);
	tsend_submit(fd, 103, pool, "hello", 5);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(trecv(fd, &hdr, &body, 10000), 1);
		if (hdr.id == 102) {
			ck_assert_uint_eq(hdr.type, FP_ERROR);
			ck_assert_uint_eq(hdr.arg, FP_ERR_CANCELLED);
		} else {
			ck_assert_uint_eq(hdr.type, FP_RESULT);
			ck_assert_str_eq(body, hdr.id == 101 ? "slept" :
			    "hello");
		}
		seen |= 1 << (hdr.id - 101);
		free(body);
	}
	ck_assert_int_eq(seen, 7);
	/* 103 was answered after the mark would have run: it did not. */
	ck_assert_msg(access(path, F_OK) == -1, "pool %s ran a cancelled "
	    "task", pool);
}

START_TEST(test_module_and_program_answer_alike)
{
	/*
	 * Issue 13: one worker loop.  The same handler (the faulty module),
	 * served by a module worker and by a program worker (modhost, on
	 * fp_worker_serve), gets the same tasks and gives the same answers,
	 * TOO_LARGE and a bad status included; both skip a prefetched task
	 * cancelled before it started.
	 */
	struct fp_hdr	 mh[TWIN_TASKS], ph[TWIN_TASKS];
	char		*mb[TWIN_TASKS] = { NULL }, *pb[TWIN_TASKS] = { NULL };
	char		 ini[1024], path[300];
	struct fpd	*d;
	size_t		 i;
	int		 fd;

	snprintf(ini, sizeof(ini), "[daemon]\nmax_payload = 1K\n"
	    "[pool:m]\nmodule = @T/faulty.so\nworkers = 1\nprefetch = 4\n"
	    "[pool:p]\ncommand = %s/modhost @T/faulty.so\nworkers = 1\n"
	    "prefetch = 4\n", tprogram_dir());
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	twin_run(fd, "m", mh, mb);
	twin_run(fd, "p", ph, pb);
	for (i = 0; i < TWIN_TASKS; i++) {
		ck_assert_msg(mh[i].type == ph[i].type &&
		    mh[i].arg == ph[i].arg && mh[i].len == ph[i].len &&
		    strcmp(mb[i], pb[i]) == 0, "\"%s\": module 0x%02x %u "
		    "\"%s\", program 0x%02x %u \"%s\"", twin_tasks[i],
		    mh[i].type, mh[i].arg, mb[i], ph[i].type, ph[i].arg,
		    pb[i]);
	}
	ck_assert_uint_eq(mh[3].type, FP_RESULT);
	ck_assert_uint_eq(mh[3].arg, 1);
	ck_assert_str_eq(mb[3], "the handler returned 70000, which is not a "
	    "status (0..65535)");
	ck_assert_uint_eq(mh[5].type, FP_ERROR);
	ck_assert_uint_eq(mh[5].arg, FP_ERR_TOO_LARGE);
	ck_assert_ptr_nonnull(strstr(mb[5], "over max_payload (1024 bytes)"));
	ck_assert_str_eq(mb[6], "after");
	for (i = 0; i < TWIN_TASKS; i++) {
		free(mb[i]);
		free(pb[i]);
	}

	snprintf(path, sizeof(path), "%s/mark-m", d->dir);
	twin_cancel(fd, "m", path);
	snprintf(path, sizeof(path), "%s/mark-p", d->dir);
	twin_cancel(fd, "p", path);
	ck_assert_int_eq(tpool_int(d->sock, "m", "crashes"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "p", "crashes"), 0);
	ck_assert_int_eq(fpd_log_count(d, "broke the protocol"), 0);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_prefetch_under_seccomp)
{
	/*
	 * Workers are contained with sandbox = seccomp, and a prefetching
	 * worker looks at its channel (poll) before a task that waited
	 * behind another: that look is allowed, so several tasks held at
	 * once all run, and no worker dies of SIGSYS.
	 */
	struct fp_hdr	 hdr;
	struct fpd	*d;
	char		*body, want[16];
	int		 fd, i;

	d = fpd_start("[pool:jail]\nmodule = @T/faulty.so\nworkers = 1\n"
	    "prefetch = 4\nsandbox = seccomp\n");
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "jail", "sleep:200", 9);
	for (i = 2; i <= 8; i++) {
		snprintf(want, sizeof(want), "task %d", i);
		tsend_submit(fd, i, "jail", want, strlen(want));
	}
	for (i = 1; i <= 8; i++) {
		ck_assert_int_eq(trecv(fd, &hdr, &body, 10000), 1);
		ck_assert_msg(hdr.type == FP_RESULT, "task %llu: 0x%02x %u %s",
		    (unsigned long long)hdr.id, hdr.type, hdr.arg, body);
		ck_assert_uint_eq(hdr.id, (uint64_t)i);
		free(body);
	}
	ck_assert_int_eq(tpool_int(d->sock, "jail", "crashes"), 0);
	ck_assert_int_eq(fpd_log_count(d, "SIGSYS"), 0);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

Suite *
worker_lib_suite(void)
{
	Suite	*s = suite_create("worker_lib");
	TCase	*tc = tcase_create("serve");

	tcase_add_test(tc, test_pong_then_results_by_id);
	tcase_add_test(tc, test_output_over_max_payload_is_too_large);
	tcase_add_test(tc, test_cancel_skips_queued);
	tcase_add_test(tc, test_garbage_from_the_daemon_side_ends_the_loop);
	tcase_add_test(tc, test_served_by_forkpoold);
	tcase_add_test(tc, test_module_and_program_answer_alike);
	tcase_add_test(tc, test_prefetch_under_seccomp);
	suite_add_tcase(s, tc);
	return (s);
}

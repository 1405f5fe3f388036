/*
 * Every error code the core produces, against a real forkpoold, with
 * PROTOCOL.md's rule for the connection: stays open (proved by a PING
 * answered next) or closes (proved by end of file, after the replies of the
 * tasks already in flight).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "forkpool/proto.h"
#include "harness.h"
#include "suites.h"

#define T_MS		5000		/* a reply that should come promptly */

#define POOLS								\
	"[pool:echo]\nhandler = echo\nworkers = 1\n"			\
	"[pool:faulty]\nmodule = @T/faulty.so\nworkers = 1\n"

/* The next frame is ERROR code for id, with one line of text. */
static void
expect_error(int fd, int code, uint64_t id)
{
	char	*text;

	text = texpect(fd, FP_ERROR, code, id, T_MS);
	ck_assert_msg(*text != '\0', "ERROR %s without a text",
	    fp_err_name(code));
	ck_assert_msg(strchr(text, '\n') == NULL, "ERROR %s text is not one "
	    "line: \"%s\"", fp_err_name(code), text);
	free(text);
}

/*
 * Send two tasks to the one worker of faulty: one running (id 1), one
 * queued behind it (id 2).  Both are in flight when what follows is sent.
 */
static void
send_in_flight(int fd)
{
	tsend_submit(fd, 1, "faulty", "sleep:300", 9);
	tsend_submit(fd, 2, "faulty", "queued", 6);
}

/*
 * Read replies until end of file: the RESULTs of the tasks of
 * send_in_flight(), in order, and an ERROR code for bad_id anywhere among
 * them; nothing else.
 */
static void
expect_flush_then_eof(int fd, int code, uint64_t bad_id)
{
	static const char	*want[] = { "slept", "queued" };
	struct fp_hdr		 h;
	char			*body;
	unsigned int		 results = 0;
	int			 error = 0;

	while (trecv(fd, &h, &body, T_MS) == 1) {
		if (h.type == FP_RESULT && results < 2 &&
		    h.id == results + 1) {
			ck_assert_uint_eq(h.arg, 0);
			ck_assert_str_eq(body, want[results]);
			results++;
		} else if (h.type == FP_ERROR && h.id == bad_id && !error) {
			ck_assert_msg(h.arg == code, "ERROR %s for id %llu, "
			    "expected %s", fp_err_name(h.arg),
			    (unsigned long long)h.id, fp_err_name(code));
			ck_assert(*body != '\0' && strchr(body, '\n') == NULL);
			error = 1;
		} else
			ck_abort_msg("unexpected frame type 0x%02x arg %u id "
			    "%llu \"%s\" (after %u RESULTs)", h.type, h.arg,
			    (unsigned long long)h.id, body, results);
		free(body);
	}
	ck_assert_msg(error, "end of file without ERROR %s",
	    fp_err_name(code));
	ck_assert_msg(results == 2, "end of file after %u of the 2 in-flight "
	    "tasks' RESULTs", results);
}

static const uint8_t	bad_types[] = { 0x00, 0x06, 0x7f, 0x81, 0x84, 0xff };

START_TEST(test_unknown_type)
{
	/*
	 * PROTOCOL.md, error codes: BAD_REQUEST for an "unknown type", and
	 * the connection "stays open".
	 */
	struct fpd	*d;
	uint64_t	 id = 0x7700 + _i;
	int		 fd;

	d = fpd_start(POOLS);
	fd = tconnect(d->sock);
	tsend(fd, bad_types[_i], 0, id, NULL, 0);
	expect_error(fd, FP_ERR_BAD_REQUEST, id);
	tping(fd, id + 1);
	tsend_submit(fd, id + 2, "echo", "still here", 10);
	texpect_result(fd, id + 2, "still here");
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

/* Pool names PROTOCOL.md rules out: empty, 65 bytes, bytes outside the set. */
static const struct {
	const char	*name;
	size_t		 len;
} bad_names[] = {
	{ "", 0 },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    65 },
	{ "ec ho", 5 },
	{ "echo/", 5 },
	{ "ec\0o", 4 },
	{ "\xc3\xa9" "cho", 5 },
	{ "echo:", 5 },
};

START_TEST(test_bad_pool_name)
{
	/*
	 * PROTOCOL.md: "A pool name is 1 to 64 bytes of A-Z a-z 0-9 _ . -";
	 * BAD_REQUEST for a "bad pool name" (not UNKNOWN_POOL), and the
	 * connection "stays open".
	 */
	struct fpd	*d;
	char		 body[128];
	size_t		 len = bad_names[_i].len;
	uint64_t	 id = 0x6600 + _i;
	int		 fd;

	memcpy(body, bad_names[_i].name, len);
	memcpy(body + len, "hello", 5);
	d = fpd_start(POOLS);
	fd = tconnect(d->sock);
	tsend(fd, FP_SUBMIT, (uint16_t)len, id, body, len + 5);
	expect_error(fd, FP_ERR_BAD_REQUEST, id);
	tping(fd, id + 1);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_arg_beyond_len)
{
	/*
	 * PROTOCOL.md: SUBMIT's arg is the "length of the pool name" within
	 * the body; one larger than the body is a bad request (BAD_REQUEST),
	 * and the connection "stays open".
	 */
	struct fpd	*d;
	int		 fd;

	d = fpd_start(POOLS);
	fd = tconnect(d->sock);
	tsend(fd, FP_SUBMIT, 5, 1, "echo", 4);
	expect_error(fd, FP_ERR_BAD_REQUEST, 1);
	tsend(fd, FP_SUBMIT, 0xffff, 2, "echohello", 9);
	expect_error(fd, FP_ERR_BAD_REQUEST, 2);
	tsend(fd, FP_SUBMIT, 4, 3, NULL, 0);
	expect_error(fd, FP_ERR_BAD_REQUEST, 3);
	tping(fd, 4);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_duplicate_id)
{
	/*
	 * PROTOCOL.md: BAD_REQUEST for "an id already in flight on this
	 * connection"; it "stays open", the first task is answered as usual
	 * and the duplicate is never run.
	 */
	struct fpd	*d;
	int		 fd;

	d = fpd_start(POOLS);
	fd = tconnect(d->sock);
	tsend_submit(fd, 5, "faulty", "sleep:500", 9);
	tsend_submit(fd, 5, "faulty", "duplicate", 9);
	expect_error(fd, FP_ERR_BAD_REQUEST, 5);
	texpect_result(fd, 5, "slept");
	tping(fd, 6);
	ck_assert_int_eq(tpool_tasks(d->sock, "faulty"), 1);
	/* Answered, the id is free again. */
	tsend_submit(fd, 5, "faulty", "again", 5);
	texpect_result(fd, 5, "again");
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

/* Bad versions, each with a len that must not be trusted. */
static const struct {
	uint8_t		version;
	uint32_t	len;
} bad_versions[] = {
	{ 0, 0 },
	{ 2, 0xffffffffU },
};

START_TEST(test_protocol_version)
{
	/*
	 * PROTOCOL.md: PROTOCOL when "version is not 1", checked "before it
	 * trusts len"; the connection closes: "the daemon reads nothing more
	 * from that connection, still sends the replies of the tasks already
	 * in flight on it, then closes it. id of such an error is the
	 * offending frame's id."
	 */
	struct fpd	*d;
	struct fp_hdr	 h;
	uint8_t		 raw[2 * FP_HDR_LEN];
	uint64_t	 bad_id = 0xbad0000000000000ULL + _i;
	int		 fd, other;

	d = fpd_start(POOLS);
	other = tconnect(d->sock);
	fd = tconnect(d->sock);
	send_in_flight(fd);

	/* The bad header, then a good PING that must go unread. */
	h.len = bad_versions[_i].len;
	h.version = bad_versions[_i].version;
	h.type = FP_PING;
	h.arg = 0;
	h.id = bad_id;
	fp_hdr_encode(raw, &h);
	h.len = 0;
	h.version = FP_PROTO_VERSION;
	h.id = 3;
	fp_hdr_encode(raw + FP_HDR_LEN, &h);
	tsend_raw(fd, raw, sizeof(raw));

	expect_flush_then_eof(fd, FP_ERR_PROTOCOL, bad_id);
	close(fd);
	/* One bad client hurts nobody else. */
	tping(other, 3);
	close(other);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_too_large_request)
{
	/*
	 * PROTOCOL.md: TOO_LARGE for "a request body over the limit"
	 * (max_payload), and the connection "closes for a request": the
	 * tasks in flight, one running and one queued, are still answered,
	 * then end of file.
	 */
	struct fpd	*d;
	struct fp_hdr	 h;
	uint8_t		*raw;
	char		*under, *body;
	size_t		 off;
	int		 fd;

	d = fpd_start("[daemon]\nmax_payload = 1K\n" POOLS);
	fd = tconnect(d->sock);

	/* Under the limit passes. */
	under = malloc(1000 + 1);
	ck_assert_ptr_nonnull(under);
	memset(under, 'p', 1000);
	under[1000] = '\0';
	tsubmit(fd, 10, "echo", under, 1000, &h, &body);
	ck_assert_uint_eq(h.type, FP_RESULT);
	ck_assert_str_eq(body, under);
	free(body);

	send_in_flight(fd);
	/* 2,004 bytes of body, then a PING that must go unread. */
	raw = malloc(2 * FP_HDR_LEN + 4 + 2000);
	ck_assert_ptr_nonnull(raw);
	h.len = 4 + 2000;
	h.version = FP_PROTO_VERSION;
	h.type = FP_SUBMIT;
	h.arg = 4;
	h.id = 3;
	fp_hdr_encode(raw, &h);
	memcpy(raw + FP_HDR_LEN, "echo", 4);
	memset(raw + FP_HDR_LEN + 4, 'q', 2000);
	off = FP_HDR_LEN + 4 + 2000;
	h.len = 0;
	h.type = FP_PING;
	h.arg = 0;
	h.id = 4;
	fp_hdr_encode(raw + off, &h);
	tsend_raw(fd, raw, off + FP_HDR_LEN);

	expect_flush_then_eof(fd, FP_ERR_TOO_LARGE, 3);
	close(fd);
	free(raw);
	free(under);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_too_large_output)
{
	/*
	 * PROTOCOL.md: TOO_LARGE for "a handler's output over max_payload",
	 * and the connection "stays open for an output".
	 */
	struct fpd	*d;
	char		*body, want[1001];
	int		 fd;

	d = fpd_start("[daemon]\nmax_payload = 1K\n" POOLS);
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "big:2000", 8);
	expect_error(fd, FP_ERR_TOO_LARGE, 1);
	tping(fd, 2);
	/* An output under the limit still comes back whole. */
	tsend_submit(fd, 3, "faulty", "big:1000", 8);
	body = texpect(fd, FP_RESULT, 0, 3, T_MS);
	memset(want, 'x', 1000);
	want[1000] = '\0';
	ck_assert_str_eq(body, want);
	free(body);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_unknown_pool)
{
	/*
	 * PROTOCOL.md: UNKNOWN_POOL when "no pool has that name", for any
	 * valid name up to 64 bytes, and the connection "stays open".
	 */
	static const char	*names[] = { "nosuch", "Az09_.-", "echo.",
				    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				    "aaaaaaaaaaaaaaaaaaaaaaaa" };
	struct fpd		*d;
	size_t			 i;
	int			 fd;

	ck_assert_uint_eq(strlen(names[3]), 64);
	d = fpd_start(POOLS);
	fd = tconnect(d->sock);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tsend_submit(fd, 10 + i, names[i], "hello", 5);
		expect_error(fd, FP_ERR_UNKNOWN_POOL, 10 + i);
	}
	tping(fd, 1);
	tsend_submit(fd, 2, "echo", "hello", 5);
	texpect_result(fd, 2, "hello");
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_overloaded)
{
	/*
	 * PROTOCOL.md: "A pool whose queue holds queue_limit tasks answers
	 * OVERLOADED at once"; "nothing was run", and the connection "stays
	 * open".
	 */
	struct fpd	*d;
	int		 fd;

	d = fpd_start("[pool:faulty]\nmodule = @T/faulty.so\nworkers = 1\n"
	    "queue_limit = 2\nprefetch = 1\n");
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "sleep:500", 9);
	twait_state(d->sock, "faulty", "busy", 1, T_MS);
	tsend_submit(fd, 2, "faulty", "a", 1);
	tsend_submit(fd, 3, "faulty", "b", 1);
	twait_pool_int(d->sock, "faulty", "queued", 2, T_MS);
	tsend_submit(fd, 4, "faulty", "c", 1);
	/* At once: before the sleeping task is done. */
	expect_error(fd, FP_ERR_OVERLOADED, 4);
	texpect_result(fd, 1, "slept");
	texpect_result(fd, 2, "a");
	texpect_result(fd, 3, "b");
	tping(fd, 5);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "overloaded"), 1);
	ck_assert_int_eq(tpool_tasks(d->sock, "faulty"), 3);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_metrics_one_reply)
{
	/*
	 * PROTOCOL.md: METRICS is answered with a METRICS reply in
	 * "Prometheus text exposition format" -- or, until it lands,
	 * BAD_REQUEST; either way exactly one frame carrying the request's
	 * id, and the connection stays open.
	 */
	struct fpd	*d;
	struct fp_hdr	 h;
	char		*body;
	int		 fd;

	d = fpd_start(POOLS);
	fd = tconnect(d->sock);
	tsend(fd, FP_METRICS, 0, 42, NULL, 0);
	ck_assert_int_eq(trecv(fd, &h, &body, T_MS), 1);
	ck_assert_msg(h.id == 42, "reply id %llu", (unsigned long long)h.id);
	if (h.type == FP_METRICS_REPLY) {
		ck_assert_uint_eq(h.arg, 0);
		ck_assert_msg(strstr(body, "forkpool_") != NULL,
		    "METRICS has no forkpool_ metric: \"%.200s\"", body);
	} else {
		ck_assert_msg(h.type == FP_ERROR &&
		    h.arg == FP_ERR_BAD_REQUEST, "METRICS answered with type "
		    "0x%02x arg %u", h.type, h.arg);
	}
	free(body);
	tping(fd, 43);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

Suite *
errors_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("errors");
	tc = tcase_create("codes");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_unknown_type, 0,
	    sizeof(bad_types) / sizeof(bad_types[0]));
	tcase_add_loop_test(tc, test_bad_pool_name, 0,
	    sizeof(bad_names) / sizeof(bad_names[0]));
	tcase_add_test(tc, test_arg_beyond_len);
	tcase_add_test(tc, test_duplicate_id);
	tcase_add_loop_test(tc, test_protocol_version, 0,
	    sizeof(bad_versions) / sizeof(bad_versions[0]));
	tcase_add_test(tc, test_too_large_request);
	tcase_add_test(tc, test_too_large_output);
	tcase_add_test(tc, test_unknown_pool);
	tcase_add_test(tc, test_overloaded);
	tcase_add_test(tc, test_metrics_one_reply);
	suite_add_tcase(s, tc);
	return (s);
}

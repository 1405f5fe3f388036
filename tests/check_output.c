/*
 * A worker's output (daemon/output.c): what reaches the log from its
 * stdout and stderr.  Each line under its pool and pid, long lines cut at
 * 1 KiB however the pipe delivers them, at most 100 lines a second with
 * the rest counted, and its last lines kept for a start error.  Driven
 * through a real pipe and an event_base of the test's own; the log is
 * stderr, sent to a file the test reads back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "forkpoold.h"
#include "suites.h"

#define PREFIX	"pool p: worker 42"

static struct event_base	*base;
static struct output		*out;
static int			 wfd = -1;	/* the worker's end */
static FILE			*log_file;
static int			 saved_stderr = -1;
static char			 logged_text[64 * 1024];

static void
setup(void)
{
	int	p[2];

	ck_assert_ptr_nonnull(log_file = tmpfile());
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ne(dup2(fileno(log_file), STDERR_FILENO), -1);
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	wfd = p[1];
	out = output_new(base, p[0], "pool %s: worker %d", "p", 42);
}

static void
teardown(void)
{
	output_free(out);
	if (wfd != -1)
		close(wfd);
	event_base_free(base);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fclose(log_file);
}

/* Everything logged so far. */
static const char *
logged(void)
{
	size_t	n;

	n = pread(fileno(log_file), logged_text, sizeof(logged_text) - 1, 0);
	logged_text[n == (size_t)-1 ? 0 : n] = '\0';
	return (logged_text);
}

static unsigned int
count(const char *s, const char *what)
{
	unsigned int	n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return (n);
}

static void
say(const char *s)
{
	ck_assert_int_eq(write(wfd, s, strlen(s)), (ssize_t)strlen(s));
}

/* One turn of the loop, as the master's: the clock read afresh. */
static void
turn(void)
{
	clock_turn();
	ck_assert_int_ne(event_base_loop(base, EVLOOP_ONCE), -1);
}

/* Turn the loop until what is logged (the test's timeout bounds it). */
static void
turn_until(const char *what)
{
	while (strstr(logged(), what) == NULL)
		turn();
}

static void
say_lines(unsigned int n)
{
	char		line[32];
	unsigned int	i;

	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "line %03u\n", i);
		say(line);
	}
}

START_TEST(test_lines_prefixed)
{
	say("hello\nworld\n");
	turn_until("world");
	ck_assert_ptr_nonnull(strstr(logged(), PREFIX ": hello\n"));
	ck_assert_ptr_nonnull(strstr(logged(), PREFIX ": world\n"));
}
END_TEST

START_TEST(test_partial_line_waits)
{
	/* Half a line is not logged until its newline comes. */
	say("par");
	turn();
	ck_assert_ptr_null(strstr(logged(), "par"));
	say("tial\n");
	turn_until("partial");
	ck_assert_ptr_nonnull(strstr(logged(), PREFIX ": partial\n"));
}
END_TEST

START_TEST(test_long_line_cut)
{
	char	x[2048];

	/* 3000 bytes in two writes, the cut falling in the second. */
	memset(x, 'x', sizeof(x));
	x[1000] = '\0';
	say(x);
	turn();
	ck_assert_ptr_null(strstr(logged(), PREFIX));
	x[1000] = 'x';
	x[2000] = '\0';
	say(x);
	say("\nafter\n");
	turn_until("after");
	/* Once, 1 KiB of it, and nothing of the rest. */
	ck_assert_uint_eq(count(logged(), "x"), 1024);
	x[1024] = '\0';
	ck_assert_ptr_nonnull(strstr(logged(), x));
	ck_assert_ptr_nonnull(strstr(logged(), PREFIX ": after\n"));
}
END_TEST

START_TEST(test_rate_limited)
{
	/* 100 a second; the rest are counted when the second is up. */
	say_lines(150);
	turn_until("lines of output dropped");
	ck_assert_uint_eq(count(logged(), PREFIX ": line "), 100);
	ck_assert_ptr_nonnull(strstr(logged(), PREFIX ": line 099\n"));
	ck_assert_ptr_null(strstr(logged(), "line 100"));
	ck_assert_ptr_nonnull(strstr(logged(),
	    PREFIX ": 50 lines of output dropped"));
}
END_TEST

START_TEST(test_dropped_told_at_end)
{
	/* A worker that exits within the second: counted at its end. */
	say_lines(150);
	turn_until("line 099");
	ck_assert_ptr_null(strstr(logged(), "dropped"));
	output_end(out);
	ck_assert_ptr_nonnull(strstr(logged(),
	    PREFIX ": 50 lines of output dropped"));
}
END_TEST

START_TEST(test_end_reads_the_rest)
{
	char	words[256];

	/* Written just before it died, never read: logged at the end. */
	say("one\ntwo\nthree\nfour");
	output_end(out);
	ck_assert_ptr_nonnull(strstr(logged(), PREFIX ": one\n"));
	ck_assert_ptr_nonnull(strstr(logged(), PREFIX ": four\n"));
	output_last_words(out, words, sizeof(words));
	ck_assert_str_eq(words, "; its last output: two | three | four");
}
END_TEST

START_TEST(test_last_words_cut)
{
	char	y[501], words[256], want[256];

	memset(y, 'y', 500);
	y[500] = '\0';
	say(y);
	say("\n");
	output_end(out);
	output_last_words(out, words, sizeof(words));
	snprintf(want, sizeof(want), "; its last output: %.159s", y);
	ck_assert_str_eq(words, want);
	/* And to what the caller has room for. */
	output_last_words(out, words, 30);
	ck_assert_str_eq(words, "; its last output: yyyyyyyyyy");
}
END_TEST

START_TEST(test_no_words)
{
	char	words[64] = "stale";

	output_end(out);
	output_last_words(out, words, sizeof(words));
	ck_assert_str_eq(words, "");
	ck_assert_ptr_null(strstr(logged(), PREFIX));
}
END_TEST

START_TEST(test_eof_before_end)
{
	char	words[64];

	/* The pipe closes before the exit: its last line is logged then. */
	say("bye");
	close(wfd);
	wfd = -1;
	turn_until("bye");
	output_end(out);
	ck_assert_uint_eq(count(logged(), "bye"), 1);
	output_last_words(out, words, sizeof(words));
	ck_assert_str_eq(words, "; its last output: bye");
}
END_TEST

Suite *
output_suite(void)
{
	Suite	*s = suite_create("output");
	TCase	*tc = tcase_create("output");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lines_prefixed);
	tcase_add_test(tc, test_partial_line_waits);
	tcase_add_test(tc, test_long_line_cut);
	tcase_add_test(tc, test_rate_limited);
	tcase_add_test(tc, test_dropped_told_at_end);
	tcase_add_test(tc, test_end_reads_the_rest);
	tcase_add_test(tc, test_last_words_cut);
	tcase_add_test(tc, test_no_words);
	tcase_add_test(tc, test_eof_before_end);
	suite_add_tcase(s, tc);
	return (s);
}

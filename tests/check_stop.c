/*
 * Stopping and starting, live: SIGTERM and SIGINT drain gracefully within
 * shutdown_timeout, a second signal stops at once, -t checks a file and
 * exits, a second daemon never steals a live socket but a stale one is
 * replaced, and the socket file goes when the daemon does.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

#define WAIT_MS		10000	/* deadline for what should be quick */
#define POLL_MS		20	/* interval between two looks at STATUS */

/*
 * One worker, so a running task holds the pool and the rest queue (at
 * prefetch 1: none waits inside the worker).
 */
static const char ini_faulty1[] =
    "[pool:faulty]\n"
    "module = @T/faulty.so\n"
    "workers = 1\n"
    "prefetch = 1\n";

/* Poll STATUS until pool has n tasks queued. */
static void
wait_queued(const char *sock, const char *pool, int n)
{
	long long	deadline = tnow_ms() + WAIT_MS, queued;

	while ((queued = tpool_int(sock, pool, "queued")) != n) {
		ck_assert_msg(tnow_ms() < deadline, "pool %s: %lld queued, "
		    "never %d", pool, queued, n);
		tnap(POLL_MS);
	}
}

/* 1 when path exists (of any type). */
static int
path_exists(const char *path)
{
	struct stat	sb;

	if (lstat(path, &sb) == 0)
		return (1);
	ck_assert_int_eq(errno, ENOENT);
	return (0);
}

/*
 * The start of a file, malloc'd and NUL-terminated ("" if none): at most
 * what a Check failure message has room for.
 */
#define SLURP_MAX	2000
static char *
slurp(const char *path)
{
	FILE	*f;
	char	*text;
	size_t	 len = 0, n;

	ck_assert_ptr_nonnull(text = malloc(SLURP_MAX + 1));
	if ((f = fopen(path, "r")) != NULL) {
		while (len < SLURP_MAX &&
		    (n = fread(text + len, 1, SLURP_MAX - len, f)) > 0)
			len += n;
		fclose(f);
	}
	text[len] = '\0';
	return (text);
}

/* Write text to path. */
static void
write_text(const char *path, const char *text)
{
	FILE	*f;

	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * Start forkpoold ourselves with args (after argv[0], NULL-terminated),
 * stdout and stderr into errpath and no systemd variables: for runs the
 * harness does not describe (a second daemon, a chosen socket, -t).
 */
static pid_t
spawn_forkpoold(const char *const *args, const char *errpath)
{
	const char	*bin;
	char		*argv[16];
	pid_t		 pid;
	int		 i, fd;

	if ((bin = getenv("FORKPOOLD")) == NULL)
		bin = "build/forkpoold";
	argv[0] = (char *)(uintptr_t)bin;
	for (i = 0; args[i] != NULL; i++) {
		ck_assert_int_lt(i + 1, 15);
		argv[i + 1] = (char *)(uintptr_t)args[i];
	}
	argv[i + 1] = NULL;

	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		if ((fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC,
		    0644)) == -1)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
		unsetenv("NOTIFY_SOCKET");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		execv(bin, argv);
		_exit(127);
	}
	return (pid);
}

/* Wait for a child we spawned; its wait status.  Fails past the deadline. */
static int
wait_child(pid_t pid, int timeout_ms)
{
	long long	deadline = tnow_ms() + timeout_ms;
	pid_t		r;
	int		st;

	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		ck_assert_int_ne(r, -1);
		if (r == pid)
			return (st);
		if (tnow_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			ck_abort_msg("forkpoold %ld still running after %d ms",
			    (long)pid, timeout_ms);
		}
		tnap(POLL_MS);
	}
}

/* Connect to a Unix socket; the descriptor, or -1 with errno. */
static int
try_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	ck_assert_int_ne(fd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/* Check that the daemon on sock answers a PING and an echo task. */
static void
check_serving(const char *sock)
{
	struct fp_hdr	 hdr;
	char		*body;
	int		 fd;

	fd = tconnect(sock);
	tping(fd, 1);
	tsubmit(fd, 2, "echo", "alive", 5, &hdr, &body);
	ck_assert_int_eq(hdr.type, FP_RESULT);
	ck_assert_str_eq(body, "alive");
	free(body);
	close(fd);
}

/*
 * A graceful stop by sig: a running task finishes and gets its RESULT,
 * queued tasks get SHUTTING_DOWN, STOPPING=1 is sent, the daemon exits 0
 * and its socket file is gone.
 */
static void
check_graceful_stop(int sig)
{
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*body;
	pid_t		 worker;
	uint64_t	 id;
	int		 fd, i, st, got[5] = { 0 };

	d = fpd_start(ini_faulty1);
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "sleep:1000", 10);
	twait_busy(d->sock, "faulty", 1, &worker);
	for (id = 2; id <= 4; id++)
		tsend_submit(fd, id, "faulty", "pid", 3);
	wait_queued(d->sock, "faulty", 3);

	ck_assert_int_eq(kill(d->pid, sig), 0);
	for (i = 0; i < 4; i++) {
		treply(fd, &hdr, &body);
		ck_assert_msg(hdr.id >= 1 && hdr.id <= 4, "unknown id %llu",
		    (unsigned long long)hdr.id);
		ck_assert_msg(got[hdr.id] == 0, "id %llu answered twice",
		    (unsigned long long)hdr.id);
		got[hdr.id] = 1;
		if (hdr.id == 1) {
			ck_assert_msg(hdr.type == FP_RESULT && hdr.arg == 0,
			    "the running task got 0x%x %u: %s", hdr.type,
			    hdr.arg, body);
			ck_assert_str_eq(body, "slept");
		} else
			ck_assert_msg(hdr.type == FP_ERROR &&
			    hdr.arg == FP_ERR_SHUTTING_DOWN,
			    "queued task %llu got 0x%x %u: %s",
			    (unsigned long long)hdr.id, hdr.type, hdr.arg,
			    body);
		free(body);
	}

	st = fpd_wait_exit(d, WAIT_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "forkpoold ended with wait status 0x%x", st);
	ck_assert_int_eq(path_exists(d->sock), 0);
	ck_assert_int_eq(fpd_wait_notify(d, "STOPPING=1", WAIT_MS), 0);
	ck_assert_int_eq(twait_pid_gone(worker, WAIT_MS), 0);
	close(fd);
	fpd_stop(d);
}

START_TEST(test_sigterm_drains)
{
	/*
	 * SIGTERM is a graceful stop: the running task gets its RESULT, the
	 * queued ones SHUTTING_DOWN, STOPPING=1 is sent, exit status 0, the
	 * socket file is gone.
	 */
	check_graceful_stop(SIGTERM);
}
END_TEST

START_TEST(test_sigint_drains)
{
	/* SIGINT stops exactly as SIGTERM does. */
	check_graceful_stop(SIGINT);
}
END_TEST

START_TEST(test_shutdown_timeout)
{
	/*
	 * A task still running when shutdown_timeout (300 ms) passes is
	 * killed and answered SHUTTING_DOWN; the daemon exits 0 soon after
	 * and leaves no worker behind.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*body;
	pid_t		 worker;
	long long	 t0, took;
	int		 fd, st;

	d = fpd_start("[daemon]\n"
	    "shutdown_timeout = 300ms\n"
	    "\n"
	    "[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n");
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "hang", 4);
	twait_busy(d->sock, "faulty", 1, &worker);

	t0 = tnow_ms();
	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
	treply(fd, &hdr, &body);
	took = tnow_ms() - t0;
	ck_assert_msg(hdr.type == FP_ERROR && hdr.arg == FP_ERR_SHUTTING_DOWN,
	    "the hung task got 0x%x %u: %s", hdr.type, hdr.arg, body);
	ck_assert_uint_eq(hdr.id, 1);
	free(body);
	/* It was given its shutdown_timeout to finish, no less. */
	ck_assert_msg(took >= 300, "killed after %lld ms", took);

	st = fpd_wait_exit(d, 5000);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "forkpoold ended with wait status 0x%x", st);
	ck_assert_int_eq(twait_pid_gone(worker, WAIT_MS), 0);
	ck_assert_int_eq(path_exists(d->sock), 0);
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_second_signal)
{
	/*
	 * A second SIGTERM during the drain stops at once, without waiting
	 * for the running task or shutdown_timeout (30 s), and leaves no
	 * worker behind; the task is never answered RESULT.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*body;
	pid_t		 worker;
	int		 fd;

	d = fpd_start("[daemon]\n"
	    "shutdown_timeout = 30s\n"
	    "\n"
	    "[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n");
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "hang", 4);
	twait_busy(d->sock, "faulty", 1, &worker);

	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
	ck_assert_int_eq(fpd_wait_notify(d, "STOPPING=1", WAIT_MS), 0);
	ck_assert_int_eq(kill(worker, 0), 0);	/* still draining */
	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
	fpd_wait_exit(d, 3000);
	ck_assert_int_eq(twait_pid_gone(worker, WAIT_MS), 0);

	if (trecv(fd, &hdr, &body, WAIT_MS) == 1) {
		ck_assert_msg(hdr.type == FP_ERROR &&
		    hdr.arg == FP_ERR_SHUTTING_DOWN,
		    "the hung task got 0x%x %u: %s", hdr.type, hdr.arg, body);
		free(body);
	}
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_check_good)
{
	/*
	 * forkpoold -t on a valid file checks it and exits 0, without
	 * listening.
	 */
	char	 dir[] = "/tmp/fp-check-XXXXXX", ini[PATH_MAX], sock[PATH_MAX];
	char	 err[PATH_MAX], text[PATH_MAX + 256], *out;
	pid_t	 pid;
	int	 st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(ini, sizeof(ini), "%s/good.ini", dir);
	snprintf(sock, sizeof(sock), "%s/x.sock", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	snprintf(text, sizeof(text), "[daemon]\n"
	    "socket = %s\n"
	    "shutdown_timeout = 5s\n"
	    "\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 2\n", sock);
	write_text(ini, text);

	pid = spawn_forkpoold((const char *[]){ "-t", "-c", ini, NULL }, err);
	st = wait_child(pid, WAIT_MS);
	out = slurp(err);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "-t on a good file: wait status 0x%x:\n%s", st, out);
	ck_assert_int_eq(path_exists(sock), 0);
	free(out);
	unlink(ini);
	unlink(err);
	rmdir(dir);
}
END_TEST

/*
 * forkpoold -t -c on a file holding text, in a scratch directory removed
 * afterwards: its standard error (malloc'd) and wait status; the file's
 * path, for messages, in ini.
 */
static char *
check_text(const char *text, char *ini, size_t inilen, int *st)
{
	char	 dir[] = "/tmp/fp-check-XXXXXX", err[PATH_MAX], *out;
	pid_t	 pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(ini, inilen, "%s/check.ini", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	write_text(ini, text);
	pid = spawn_forkpoold((const char *[]){ "-t", "-c", ini, NULL }, err);
	*st = wait_child(pid, WAIT_MS);
	out = slurp(err);
	unlink(ini);
	unlink(err);
	rmdir(dir);
	return (out);
}

START_TEST(test_check_bad)
{
	/*
	 * forkpoold -t on a file with an unknown key exits 1 and names the
	 * file and the line on stderr as FILE:LINE:.
	 */
	char	 ini[PATH_MAX], where[PATH_MAX + 16], *out;
	int	 st;

	out = check_text("[daemon]\n"
	    "shutdown_timeout = 5s\n"
	    "\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "no_such_key = 1\n"
	    "workers = 1\n", ini, sizeof(ini), &st);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1,
	    "-t on a bad file: wait status 0x%x:\n%s", st, out);
	snprintf(where, sizeof(where), "%s:6:", ini);
	ck_assert_msg(strstr(out, where) != NULL,
	    "stderr does not say %s:\n%s", where, out);
	free(out);
}
END_TEST

START_TEST(test_check_pool_user)
{
	/*
	 * forkpoold -t on a pool with user = nobody: as root it passes but
	 * warns that the daemon must run as root for it (the shipped unit
	 * does not) and points to the drop-in; as anyone else it fails, as
	 * the daemon itself would.
	 */
	char	 ini[PATH_MAX], *out;
	int	 st;

	out = check_text("[pool:asnobody]\n"
	    "handler = echo\n"
	    "workers = 1\n"
	    "user = nobody\n", ini, sizeof(ini), &st);
	if (geteuid() == 0)
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
		    strstr(out, "warning: pool asnobody sets user or group")
		    != NULL && strstr(out, "forkpoold(8)") != NULL,
		    "-t as root: wait status 0x%x:\n%s", st, out);
	else
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
		    strstr(out, "to run as root") != NULL,
		    "-t as uid %u: wait status 0x%x:\n%s",
		    (unsigned)geteuid(), st, out);
	free(out);
}
END_TEST

static const char ini_echo[] =
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 1\n";

START_TEST(test_second_daemon_refused)
{
	/*
	 * A second forkpoold on the socket of a running one is refused: it
	 * exits non-zero saying another forkpoold is listening, and the first
	 * keeps its socket and keeps serving.
	 */
	struct fpd	*d;
	char		 err[PATH_MAX], *out;
	pid_t		 pid;
	int		 st;

	d = fpd_start(ini_echo);
	snprintf(err, sizeof(err), "%s/second.stderr", d->dir);
	pid = spawn_forkpoold((const char *[]){ "-c", d->conf, "-s", d->sock,
	    NULL }, err);
	st = wait_child(pid, WAIT_MS);
	out = slurp(err);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0,
	    "the second daemon: wait status 0x%x:\n%s", st, out);
	ck_assert_msg(strcasestr(out, "another forkpoold") != NULL,
	    "the refusal does not say another forkpoold is listening:\n%s",
	    out);
	free(out);

	ck_assert_int_eq(kill(d->pid, 0), 0);
	ck_assert_int_eq(path_exists(d->sock), 1);
	check_serving(d->sock);
	ck_assert_int_eq(fpd_stop(d), 0);
}
END_TEST

START_TEST(test_stale_socket)
{
	/*
	 * A socket file nobody listens on (left by a crash) is replaced: the
	 * daemon starts on that path and serves.
	 */
	struct sockaddr_un	 sun;
	char			 dir[] = "/tmp/fp-stale-XXXXXX";
	char			 ini[PATH_MAX], sock[PATH_MAX], err[PATH_MAX];
	char			*out;
	long long		 deadline;
	pid_t			 pid;
	int			 fd, st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(ini, sizeof(ini), "%s/echo.ini", dir);
	snprintf(sock, sizeof(sock), "%s/forkpool.sock", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	write_text(ini, ini_echo);

	/* Bound, then closed without unlinking: a stale socket file. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sock);
	ck_assert_int_ne(fd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	ck_assert_int_eq(path_exists(sock), 1);
	ck_assert_int_eq(try_connect(sock), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);

	pid = spawn_forkpoold((const char *[]){ "-c", ini, "-s", sock, NULL },
	    err);
	deadline = tnow_ms() + WAIT_MS;
	while ((fd = try_connect(sock)) == -1) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			out = slurp(err);
			ck_abort_msg("forkpoold exited (wait status 0x%x) on "
			    "a stale socket:\n%s", st, out);
		}
		if (tnow_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			out = slurp(err);
			ck_abort_msg("forkpoold never listened:\n%s", out);
		}
		tnap(POLL_MS);
	}
	close(fd);
	check_serving(sock);

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	st = wait_child(pid, WAIT_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "wait status 0x%x", st);
	ck_assert_int_eq(path_exists(sock), 0);
	unlink(ini);
	unlink(err);
	rmdir(dir);
}
END_TEST

START_TEST(test_socket_removed)
{
	/* The daemon removes its socket file when it exits. */
	struct fpd	*d;
	struct stat	 sb;
	int		 st;

	d = fpd_start(ini_echo);
	ck_assert_int_eq(stat(d->sock, &sb), 0);
	ck_assert(S_ISSOCK(sb.st_mode));
	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
	st = fpd_wait_exit(d, WAIT_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "forkpoold ended with wait status 0x%x", st);
	ck_assert_int_eq(path_exists(d->sock), 0);
	fpd_stop(d);
}
END_TEST

Suite *
stop_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("stop");

	tc = tcase_create("signals");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sigterm_drains);
	tcase_add_test(tc, test_sigint_drains);
	tcase_add_test(tc, test_shutdown_timeout);
	tcase_add_test(tc, test_second_signal);
	suite_add_tcase(s, tc);

	tc = tcase_create("check");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_check_good);
	tcase_add_test(tc, test_check_bad);
	tcase_add_test(tc, test_check_pool_user);
	suite_add_tcase(s, tc);

	tc = tcase_create("socket");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_second_daemon_refused);
	tcase_add_test(tc, test_stale_socket);
	tcase_add_test(tc, test_socket_removed);
	suite_add_tcase(s, tc);

	return (s);
}

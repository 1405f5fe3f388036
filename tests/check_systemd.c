/*
 * forkpoold under systemd, proved without systemd as PID 1: the notify
 * protocol on a datagram socket of our own (READY=1, STOPPING=1,
 * RELOADING=1, ERRNO=, WATCHDOG=1 and WATCHDOG_PID), the systemd variables
 * kept from the workers, socket activation through systemd's own
 * systemd-socket-activate, the unit files through systemd-analyze verify
 * and security, and make install / uninstall with a client built against
 * the installed library through pkg-config.
 *
 * Where the daemon must be started in an unusual way (an abstract
 * NOTIFY_SOCKET, WATCHDOG_PID naming itself, under systemd-socket-activate)
 * the test points FORKPOOLD at a small shell script that sets it up and
 * execs the real forkpoold: exec keeps the pid, so the harness still
 * watches, signals and reaps the daemon itself.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

#define WAIT_MS		10000	/* deadline for what should be quick */
#define RUN_MS		60000	/* deadline for a command (make, cc) */
#define WD_USEC		200000	/* WATCHDOG_USEC: a ping every 100 ms */
#define WD_WINDOW_MS	1000	/* how long watchdog pings are counted */
#define MAX_STAMPS	256

/* The variables only the master may see. */
static const char *const sd_vars[] = {
	"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID",
	"LISTEN_FDS", "LISTEN_FDNAMES", NULL
};

static const char ini_echo[] =
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 2\n";

/*
 * Scratch directories: the runner (parent) process makes one base per
 * test case and removes it, whatever happened, after the case has run; a
 * test makes its own directory inside.  A test process cannot clean up
 * after itself: a failed assertion ends it with _exit(), without atexit()
 * handlers.
 */
static char	scratch_base[128];
static char	tmpdir[256];		/* this test's scratch directory */

/* Unchecked fixture, in the runner: the case's scratch base. */
static void
scratch_setup(void)
{
	snprintf(scratch_base, sizeof(scratch_base), "/tmp/fpsd.XXXXXX");
	if (mkdtemp(scratch_base) == NULL)
		scratch_base[0] = '\0';
}

/* Unchecked fixture, in the runner: remove it and all in it. */
static void
scratch_teardown(void)
{
	trm_dir(scratch_base);
	scratch_base[0] = '\0';
}

/* A fresh scratch directory for this test (short: socket paths). */
static const char *
tmpdir_make(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/t.XXXXXX",
	    scratch_base[0] != '\0' ? scratch_base : "/tmp");
	ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp %s: %s", tmpdir,
	    strerror(errno));
	return (tmpdir);
}

/* A path in the scratch directory, in a static buffer per slot. */
static const char *
tmppath(int slot, const char *name)
{
	static char	buf[8][384];

	snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", tmpdir, name);
	return (buf[slot]);
}

/* Write text to path with mode. */
static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	*f;

	ck_assert_msg((f = fopen(path, "w")) != NULL, "%s: %s", path,
	    strerror(errno));
	fputs(text, f);
	ck_assert_msg(fclose(f) == 0, "%s: %s", path, strerror(errno));
	ck_assert_msg(chmod(path, mode) == 0, "chmod %s: %s", path,
	    strerror(errno));
}

/* A program under test ($var, else dflt), as an absolute path. */
static char *
binary_path(const char *var, const char *dflt)
{
	const char	*v = getenv(var);
	char		*abs;

	if (v == NULL || *v == '\0')
		v = dflt;
	abs = realpath(v, NULL);
	ck_assert_msg(abs != NULL, "no %s at %s (set %s)", dflt, v, var);
	return (abs);
}

static char *
forkpoold_path(void)
{
	return (binary_path("FORKPOOLD", "build/forkpoold"));
}

static char *
forkpool_path(void)
{
	return (binary_path("FORKPOOL", "build/forkpool"));
}

/* The source tree, for make and the unit files, as an absolute path. */
static const char *
srcdir(void)
{
	static char	 buf[PATH_MAX];
	const char	*v = getenv("FORKPOOL_SRCDIR");

	if (buf[0] == '\0') {
		if (v == NULL || *v == '\0')
			v = ".";
		ck_assert_msg(realpath(v, buf) != NULL, "FORKPOOL_SRCDIR %s: "
		    "%s", v, strerror(errno));
	}
	return (buf);
}

/*
 * Make the harness start forkpoold through a shell script whose body sets
 * things up and ends in "exec", replacing "@D" with the real forkpoold.
 */
static void
wrap_daemon(const char *body)
{
	char		*daemon = forkpoold_path(), *text;
	const char	*path = tmppath(7, "forkpoold.sh"), *p, *at;
	size_t		 cap = strlen(body) * 2 + 4096, len;

	ck_assert((text = malloc(cap)) != NULL);
	len = snprintf(text, cap, "#!/bin/sh\n");
	for (p = body; (at = strstr(p, "@D")) != NULL; p = at + 2)
		len += snprintf(text + len, cap - len, "%.*s%s",
		    (int)(at - p), p, daemon);
	snprintf(text + len, cap - len, "%s\n", p);
	write_file(path, text, 0755);
	setenv("FORKPOOLD", path, 1);
	free(text);
	free(daemon);
}

/*
 * Run cmd with /bin/sh; its stdout and stderr together in *out (malloc'd).
 * Returns the wait status; fails the test past timeout_ms.
 */
static int
run(char **out, int timeout_ms, const char *fmt, ...)
{
	char		 cmd[4096], *buf;
	size_t		 len = 0, cap = 8192;
	long long	 deadline = tnow_ms() + timeout_ms, left;
	struct pollfd	 pfd;
	va_list		 ap;
	ssize_t		 n;
	pid_t		 pid, parent = getpid();
	int		 fds[2], status, nullfd;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert(pipe2(fds, O_CLOEXEC) == 0);
	ck_assert((pid = fork()) != -1);
	if (pid == 0) {
		/* Its own group, killed whole at the deadline. */
		setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
		    getppid() != parent)
			_exit(127);
		if ((nullfd = open("/dev/null", O_RDONLY)) == -1 ||
		    dup2(nullfd, STDIN_FILENO) == -1 ||
		    dup2(fds[1], STDOUT_FILENO) == -1 ||
		    dup2(fds[1], STDERR_FILENO) == -1)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	ck_assert((buf = malloc(cap + 1)) != NULL);
	for (;;) {
		if ((left = deadline - tnow_ms()) <= 0) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			buf[len] = '\0';
			ck_abort_msg("\"%.300s\" did not finish within %d ms; "
			    "its output ends:\n%s", cmd, timeout_ms,
			    len > 1500 ? buf + len - 1500 : buf);
		}
		pfd.fd = fds[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (cap - len < 4096)
			ck_assert((buf = realloc(buf, (cap *= 2) + 1)) != NULL);
		if ((n = read(fds[0], buf + len, cap - len)) == 0)
			break;
		if (n > 0)
			len += n;
	}
	close(fds[0]);
	buf[len] = '\0';
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (out != NULL)
		*out = buf;
	else
		free(buf);
	return (status);
}

/* Is cmd a program on PATH? */
static int
have_cmd(const char *cmd)
{
	return (run(NULL, RUN_MS, "command -v '%s' >/dev/null", cmd) == 0);
}

/* The end of a long text, for a message that must fit Check's buffer. */
static const char *
tail(const char *s)
{
	size_t	len = strlen(s);

	return (len > 1500 ? s + len - 1500 : s);
}

/* The last lines of the daemon's log, for messages. */
static const char *
log_tail(struct fpd *d)
{
	/* Leaked: a test process is short-lived and this is for failures. */
	return (tail(fpd_log(d)));
}

/*
 * The next datagram on fd within timeout_ms into buf: its length, or -1
 * at the deadline.  FORKPOOL_TEST_VERBOSE shows each one on stderr.
 */
static ssize_t
notify_next(int fd, char *buf, size_t size, int timeout_ms)
{
	long long	 deadline = tnow_ms() + timeout_ms, left;
	struct pollfd	 pfd;
	ssize_t		 n;

	for (;;) {
		n = recv(fd, buf, size - 1, MSG_DONTWAIT);
		if (n >= 0) {
			buf[n] = '\0';
			if (getenv("FORKPOOL_TEST_VERBOSE") != NULL)
				fprintf(stderr, "notify %lld: \"%s\"\n",
				    tnow_ms() % 100000, buf);
			return (n);
		}
		if ((left = deadline - tnow_ms()) <= 0)
			return (-1);
		pfd.fd = fd;
		pfd.events = POLLIN;
		poll(&pfd, 1, (int)left);
	}
}

/* Does the datagram msg hold the line line ("READY=1")? */
static int
has_line(const char *msg, const char *line)
{
	size_t		 len = strlen(line);
	const char	*p;

	for (p = msg; p != NULL; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, line, len) == 0 &&
		    (p[len] == '\n' || p[len] == '\0'))
			return (1);
	}
	return (0);
}

/* Wait for a datagram holding the line line; 0, or -1 at the deadline. */
static int
notify_wait_line(int fd, const char *line, char *buf, size_t size,
    int timeout_ms)
{
	long long	deadline = tnow_ms() + timeout_ms;
	int		left;

	while ((left = (int)(deadline - tnow_ms())) > 0) {
		if (notify_next(fd, buf, size, left) == -1)
			return (-1);
		if (has_line(buf, line))
			return (0);
	}
	return (-1);
}

/*
 * Count the WATCHDOG=1 datagrams on fd during window_ms; their arrival
 * times go to stamps.
 */
static int
watchdog_count(int fd, int window_ms, long long *stamps)
{
	long long	end = tnow_ms() + window_ms;
	char		buf[4096];
	int		n = 0, left;

	while ((left = (int)(end - tnow_ms())) > 0) {
		if (notify_next(fd, buf, sizeof(buf), left) == -1)
			break;
		if (has_line(buf, "WATCHDOG=1") && n < MAX_STAMPS)
			stamps[n++] = tnow_ms();
	}
	return (n);
}

/* WATCHDOG=1 every WD_USEC / 2, counted with generous slack. */
static void
assert_watchdog_rate(struct fpd *d)
{
	long long	stamps[MAX_STAMPS], mean;
	int		n, expect = WD_WINDOW_MS / (WD_USEC / 2000);

	n = watchdog_count(d->notify_fd, WD_WINDOW_MS, stamps);
	ck_assert_msg(n >= expect / 2 && n <= expect * 3 / 2,
	    "%d WATCHDOG=1 in %d ms with WATCHDOG_USEC=%d; expected about "
	    "%d\n%s", n, WD_WINDOW_MS, WD_USEC, expect, log_tail(d));
	mean = (stamps[n - 1] - stamps[0]) / (n - 1);
	ck_assert_msg(mean >= WD_USEC / 2000 * 6 / 10 &&
	    mean <= WD_USEC / 2000 * 16 / 10,
	    "WATCHDOG=1 every %lld ms on average; expected %d", mean,
	    WD_USEC / 2000);
}

/* Nothing may be waiting on the harness's own notify socket. */
static void
assert_notify_silent(struct fpd *d)
{
	char	buf[4096];
	ssize_t	n;

	n = recv(d->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n >= 0)
		buf[n] = '\0';
	ck_assert_msg(n == -1, "the harness's NOTIFY_SOCKET got \"%s\"",
	    n >= 0 ? buf : "");
}

/* The exit status must be 0. */
static void
assert_exit0(struct fpd *d, int status)
{
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "forkpoold: wait status 0x%x, expected exit 0\n%s", status,
	    log_tail(d));
}

/* Connect to a Unix socket, retrying until it accepts or the deadline. */
static int
connect_retry(const char *path, int timeout_ms)
{
	struct sockaddr_un	sun;
	long long		deadline = tnow_ms() + timeout_ms;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert(strlen(path) < sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert(fd != -1);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return (fd);
		close(fd);
		ck_assert_msg(tnow_ms() < deadline, "cannot connect to %s "
		    "within %d ms: %s", path, timeout_ms, strerror(errno));
		tnap(10);
	}
}

/* ---- notify ---- */

/*
 * A program worker that says it is ready (PONG id 0) only once the file
 * named by its argument exists, then echoes every task.
 */
static const char gated_worker_py[] =
    "import os, struct, sys, time\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.005)\n"
    "def rd(n):\n"
    "    b = b''\n"
    "    while len(b) < n:\n"
    "        c = os.read(3, n - len(b))\n"
    "        if not c:\n"
    "            sys.exit(0)\n"
    "        b += c\n"
    "    return b\n"
    "def send(t, i, body):\n"
    "    os.write(3, struct.pack('<IBBHQ', len(body), 1, t, 0, i) + body)\n"
    "send(0x83, 0, b'')\n"
    "while True:\n"
    "    ln, v, t, a, i = struct.unpack('<IBBHQ', rd(16))\n"
    "    send(0x81, i, rd(ln)[t == 1 and a or 0:])\n";

/*
 * READY=1 is sent once the socket listens and every pool's workers have
 * started: not while one pool's workers are still setting up, and the
 * moment it arrives a client is served and STATUS shows every worker idle.
 */
START_TEST(test_ready_after_start)
{
	struct fpd	*d;
	char		 ini[1024], buf[4096];
	const char	*gate;
	long long	 deadline;
	int		 fd;

	tmpdir_make();
	gate = tmppath(1, "gate");
	write_file(tmppath(0, "gated_worker.py"), gated_worker_py, 0644);
	snprintf(ini, sizeof(ini), "[pool:echo]\nhandler = echo\nworkers = 3\n"
	    "[pool:gated]\ncommand = python3 %s %s\nworkers = 2\n",
	    tmppath(0, "gated_worker.py"), gate);
	d = fpd_spawn(ini, NULL);
	/* Every worker forked, the gated ones held back: not ready. */
	deadline = tnow_ms() + WAIT_MS;
	while (fpd_log_count(d, " started") < 5) {
		ck_assert_msg(notify_next(d->notify_fd, buf, sizeof(buf), 10) ==
		    -1 || !has_line(buf, "READY=1"), "READY=1 before the "
		    "workers were started\n%s", log_tail(d));
		ck_assert_msg(tnow_ms() < deadline, "5 workers not started "
		    "within %d ms\n%s", WAIT_MS, log_tail(d));
	}
	ck_assert_msg(notify_wait_line(d->notify_fd, "READY=1", buf,
	    sizeof(buf), 300) == -1, "READY=1 while pool gated's workers "
	    "were still starting\n%s", log_tail(d));
	write_file(gate, "", 0644);
	ck_assert_msg(notify_wait_line(d->notify_fd, "READY=1", buf,
	    sizeof(buf), WAIT_MS) == 0, "no READY=1\n%s", log_tail(d));
	/* No wait of any kind between READY=1 and these. */
	twait_idle(d->sock, "echo", 3, 0);
	twait_idle(d->sock, "gated", 2, 0);
	fd = tconnect(d->sock);
	tping(fd, 1);
	close(fd);
	assert_exit0(d, fpd_stop(d));
}
END_TEST

/* SIGTERM: STOPPING=1 is sent as the stop begins, then exit 0. */
START_TEST(test_stopping_on_sigterm)
{
	struct fpd	*d;
	char		 buf[4096];

	d = fpd_start(ini_echo);
	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
	ck_assert_msg(notify_wait_line(d->notify_fd, "STOPPING=1", buf,
	    sizeof(buf), WAIT_MS) == 0, "no STOPPING=1 after SIGTERM\n%s",
	    log_tail(d));
	assert_exit0(d, fpd_wait_exit(d, WAIT_MS));
	fpd_stop(d);
}
END_TEST

/*
 * SIGHUP: RELOADING=1 with MONOTONIC_USEC= (the time on CLOCK_MONOTONIC,
 * in microseconds), then READY=1 once the reload is done; the same when
 * the new file is broken, with a STATUS= line that says so.
 */
START_TEST(test_reloading_on_sighup)
{
	struct fpd	*d;
	struct timespec	 ts;
	char		 buf[4096], *p;
	long long	 before, usec;
	int		 fd;

	d = fpd_start(ini_echo);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
	ck_assert_msg(notify_wait_line(d->notify_fd, "RELOADING=1", buf,
	    sizeof(buf), WAIT_MS) == 0, "no RELOADING=1 after SIGHUP\n%s",
	    log_tail(d));
	ck_assert_msg((p = strstr(buf, "MONOTONIC_USEC=")) != NULL,
	    "RELOADING=1 without MONOTONIC_USEC=: \"%s\"", buf);
	usec = strtoll(p + strlen("MONOTONIC_USEC="), NULL, 10);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ck_assert_msg(usec >= before && usec <= (long long)ts.tv_sec *
	    1000000 + ts.tv_nsec / 1000, "MONOTONIC_USEC=%lld is not the "
	    "time of the reload (between %lld and now)", usec, before);
	ck_assert_msg(notify_wait_line(d->notify_fd, "READY=1", buf,
	    sizeof(buf), WAIT_MS) == 0, "no READY=1 after RELOADING=1\n%s",
	    log_tail(d));

	/* A broken file: reported, and still READY=1 (it serves on). */
	write_file(d->conf, "[pool:echo]\nhandler = echo\nworkers = many\n",
	    0644);
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
	ck_assert(notify_wait_line(d->notify_fd, "RELOADING=1", buf,
	    sizeof(buf), WAIT_MS) == 0);
	ck_assert_msg(notify_wait_line(d->notify_fd, "READY=1", buf,
	    sizeof(buf), WAIT_MS) == 0, "no READY=1 after a failed "
	    "reload\n%s", log_tail(d));
	ck_assert_msg(strstr(buf, "STATUS=") != NULL &&
	    strstr(buf, "fail") != NULL, "a failed reload's READY=1 has no "
	    "STATUS= saying so: \"%s\"", buf);
	fd = tconnect(d->sock);
	tping(fd, 1);
	close(fd);
	assert_exit0(d, fpd_stop(d));
}
END_TEST

/*
 * A fatal error at start: STATUS= says why and ERRNO= is sent before the
 * daemon exits 1; READY=1 never is.
 */
START_TEST(test_errno_on_fatal_start)
{
	struct fpd	*d;
	char		 buf[4096], seen[8192] = "";
	int		 status, errno_seen = 0;

	d = fpd_spawn("[pool:bad]\nmodule = @T/faulty.so\n"
	    "module_args = masterfail\nworkers = 1\n", NULL);
	while (notify_next(d->notify_fd, buf, sizeof(buf), WAIT_MS) != -1) {
		strncat(seen, buf, sizeof(seen) - strlen(seen) - 2);
		strcat(seen, "|");
		ck_assert_msg(!has_line(buf, "READY=1"),
		    "READY=1 from a daemon that cannot start");
		if (strstr(buf, "ERRNO=") != NULL) {
			errno_seen = 1;
			ck_assert_msg(strstr(buf, "STATUS=") != NULL,
			    "ERRNO= without a STATUS= reason: \"%s\"", buf);
			break;
		}
	}
	ck_assert_msg(errno_seen, "no ERRNO= before the daemon exited; seen: "
	    "\"%s\"\n%s", seen, log_tail(d));
	status = fpd_wait_exit(d, WAIT_MS);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	    "wait status 0x%x, expected exit 1", status);
	fpd_stop(d);
}
END_TEST

/*
 * An abstract NOTIFY_SOCKET ("@name") is reached in the abstract
 * namespace: READY=1 and STOPPING=1 arrive there.
 */
START_TEST(test_abstract_notify_socket)
{
	struct sockaddr_un	 sun;
	struct fpd		*d;
	char			 name[80], body[256], buf[4096];
	socklen_t		 len;
	int			 fd;

	tmpdir_make();
	snprintf(name, sizeof(name), "forkpool-test-%ld-%lld", (long)getpid(),
	    tnow_ms());
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, name, strlen(name));
	len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert(fd != -1);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sun, len) == 0,
	    "bind @%s: %s", name, strerror(errno));

	snprintf(body, sizeof(body), "NOTIFY_SOCKET=@%s; export "
	    "NOTIFY_SOCKET\nexec @D \"$@\"", name);
	wrap_daemon(body);
	d = fpd_spawn(ini_echo, NULL);
	ck_assert_msg(notify_wait_line(fd, "READY=1", buf, sizeof(buf),
	    WAIT_MS) == 0, "no READY=1 on @%s\n%s", name, log_tail(d));
	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
	ck_assert_msg(notify_wait_line(fd, "STOPPING=1", buf, sizeof(buf),
	    WAIT_MS) == 0, "no STOPPING=1 on @%s", name);
	assert_exit0(d, fpd_wait_exit(d, WAIT_MS));
	assert_notify_silent(d);
	fpd_stop(d);
	close(fd);
}
END_TEST

/* Without NOTIFY_SOCKET the daemon serves and stops as usual, silently. */
START_TEST(test_no_notify_socket)
{
	struct fpd	*d;
	int		 fd;

	tmpdir_make();
	wrap_daemon("unset NOTIFY_SOCKET\nexec @D \"$@\"");
	d = fpd_spawn(ini_echo, NULL);
	fd = connect_retry(d->sock, WAIT_MS);
	tping(fd, 1);
	close(fd);
	ck_assert_msg(fpd_log_count(d, "NOTIFY_SOCKET") == 0,
	    "the log mentions NOTIFY_SOCKET:\n%s", log_tail(d));
	assert_exit0(d, fpd_stop(d));
	assert_notify_silent(d);
}
END_TEST

/* ---- watchdog ---- */

/* WATCHDOG_USEC without WATCHDOG_PID: WATCHDOG=1 at half the interval. */
START_TEST(test_watchdog_rate)
{
	struct fpd	*d;
	char		 usec[32];

	snprintf(usec, sizeof(usec), "%d", WD_USEC);
	setenv("WATCHDOG_USEC", usec, 1);
	unsetenv("WATCHDOG_PID");
	d = fpd_start(ini_echo);
	assert_watchdog_rate(d);
	assert_exit0(d, fpd_stop(d));
}
END_TEST

/* WATCHDOG_PID naming the daemon itself: it pings, at the same rate. */
START_TEST(test_watchdog_pid_self)
{
	struct fpd	*d;
	char		 body[256];

	tmpdir_make();
	snprintf(body, sizeof(body), "WATCHDOG_USEC=%d WATCHDOG_PID=$$\n"
	    "export WATCHDOG_USEC WATCHDOG_PID\nexec @D \"$@\"", WD_USEC);
	wrap_daemon(body);
	d = fpd_start(ini_echo);
	assert_watchdog_rate(d);
	assert_exit0(d, fpd_stop(d));
}
END_TEST

/* WATCHDOG_PID naming another process: the watchdog is not ours; silence. */
START_TEST(test_watchdog_pid_other)
{
	struct fpd	*d;
	long long	 stamps[MAX_STAMPS];
	char		 usec[32];
	int		 n, fd;

	snprintf(usec, sizeof(usec), "%d", WD_USEC);
	setenv("WATCHDOG_USEC", usec, 1);
	setenv("WATCHDOG_PID", "1", 1);		/* never the daemon */
	d = fpd_start(ini_echo);
	n = watchdog_count(d->notify_fd, WD_WINDOW_MS, stamps);
	ck_assert_msg(n == 0, "%d WATCHDOG=1 though WATCHDOG_PID names "
	    "pid 1", n);
	/* Silent, not dead. */
	fd = tconnect(d->sock);
	tping(fd, 1);
	close(fd);
	assert_exit0(d, fpd_stop(d));
}
END_TEST

/* ---- environment ---- */

/*
 * A program worker that answers every task with the names in its
 * environment, separated by spaces.
 */
static const char env_worker_py[] =
    "import os, struct, sys\n"
    "def rd(n):\n"
    "    b = b''\n"
    "    while len(b) < n:\n"
    "        c = os.read(3, n - len(b))\n"
    "        if not c:\n"
    "            sys.exit(0)\n"
    "        b += c\n"
    "    return b\n"
    "def send(t, i, body):\n"
    "    os.write(3, struct.pack('<IBBHQ', len(body), 1, t, 0, i) + body)\n"
    "send(0x83, 0, b'')\n"
    "while True:\n"
    "    ln, v, t, a, i = struct.unpack('<IBBHQ', rd(16))\n"
    "    rd(ln)\n"
    "    send(0x81, i, ' '.join(sorted(os.environ)).encode())\n";

/* Does the list of names (separated by sep) hold name? */
static int
has_name(const char *list, char sep, const char *name)
{
	size_t		 len = strlen(name);
	const char	*p;

	for (p = list; (p = strstr(p, name)) != NULL; p += len)
		if ((p == list || p[-1] == sep) &&
		    (p[len] == sep || p[len] == '=' || p[len] == '\0'))
			return (1);
	return (0);
}

/*
 * Only the master talks to systemd: NOTIFY_SOCKET, WATCHDOG_* and LISTEN_*
 * are out of the environment before any worker is forked, and out of what
 * /proc/PID/environ shows of a forked (module or built-in) worker, which
 * is the block the master was exec'ed with: the master overwrote them
 * there.  A program worker is exec'ed with the environment it inherited,
 * so what it reports itself shows what every worker sees.  A variable of
 * our own proves the environment is the inherited one.
 */
START_TEST(test_worker_environment)
{
	struct fpd	*d;
	struct fp_hdr	 h;
	char		 ini[1024], *names, *env;
	size_t		 i, k;
	pid_t		 pid;
	int		 fd;

	tmpdir_make();
	write_file(tmppath(0, "env_worker.py"), env_worker_py, 0644);
	wrap_daemon("WATCHDOG_USEC=60000000 WATCHDOG_PID=$$ LISTEN_PID=1 "
	    "LISTEN_FDS=1 LISTEN_FDNAMES=x\nexport WATCHDOG_USEC WATCHDOG_PID "
	    "LISTEN_PID LISTEN_FDS LISTEN_FDNAMES\nexec @D \"$@\"");
	setenv("FORKPOOL_TEST_MARK", "inherited", 1);
	snprintf(ini, sizeof(ini), "[pool:env]\ncommand = python3 %s\n"
	    "workers = 2\n[pool:echo]\nhandler = echo\nworkers = 1\n",
	    tmppath(0, "env_worker.py"));
	d = fpd_start(ini);

	fd = tconnect(d->sock);
	tsubmit(fd, 1, "env", "", 0, &h, &names);
	ck_assert_msg(h.type == FP_RESULT && h.arg == 0, "pool env answered "
	    "type 0x%02x arg %u: %s", h.type, h.arg, names);
	ck_assert_msg(has_name(names, ' ', "FORKPOOL_TEST_MARK"),
	    "the worker's environment is not the inherited one: %s", names);
	for (k = 0; sd_vars[k] != NULL; k++)
		ck_assert_msg(!has_name(names, ' ', sd_vars[k]),
		    "a worker sees %s: %s", sd_vars[k], names);
	free(names);
	close(fd);

	for (i = 0; i < 3; i++) {
		/* Two program workers, then the forked echo worker. */
		pid = tworker_pid(d->sock, i < 2 ? "env" : "echo",
		    i < 2 ? (int)i : 0);
		ck_assert_msg(pid > 0, "no pid for worker %zu", i);
		env = tproc_file(pid, "environ");
		ck_assert_msg(has_name(env, '\n', "FORKPOOL_TEST_MARK"),
		    "worker %ld lacks our own variable", (long)pid);
		for (k = 0; sd_vars[k] != NULL; k++)
			ck_assert_msg(!has_name(env, '\n', sd_vars[k]),
			    "worker %ld has %s", (long)pid, sd_vars[k]);
		free(env);
	}
	/* LISTEN_PID named another process: the daemon bound -s itself. */
	assert_exit0(d, fpd_stop(d));
}
END_TEST

/* ---- socket activation ---- */

/*
 * Socket activation through systemd-socket-activate: the daemon serves
 * PING and SUBMIT on the socket it inherits (LISTEN_FDS), ignores its own
 * socket setting, and at exit leaves the socket file as it found it.
 */
START_TEST(test_socket_activation)
{
	struct fpd	*d;
	struct stat	 st, st2;
	char		 body[512], *out;
	const char	*act;
	struct fp_hdr	 h;
	int		 fd, fd2;

	if (!have_cmd("systemd-socket-activate")) {
		fprintf(stderr, "systemd: systemd-socket-activate is not "
		    "installed (Debian package systemd); socket activation "
		    "test skipped\n");
		return;
	}
	tmpdir_make();
	act = tmppath(0, "activated.sock");
	/* It passes only the variables named with -E. */
	snprintf(body, sizeof(body), "exec systemd-socket-activate -l %s "
	    "-E NOTIFY_SOCKET -E FORKPOOL_MODULE_DIR @D \"$@\"", act);
	wrap_daemon(body);
	/* A mode the daemon would set if it touched the socket: it must not. */
	d = fpd_spawn("[daemon]\nsocket_mode = 0600\n"
	    "[pool:echo]\nhandler = echo\nworkers = 2\n", NULL);

	/* It execs forkpoold on the first connection. */
	fd = connect_retry(act, WAIT_MS);
	ck_assert_int_eq(lstat(act, &st), 0);
	ck_assert_msg(fpd_wait_notify(d, "READY=1", WAIT_MS) == 0,
	    "no READY=1 under socket activation\n%s", log_tail(d));
	tping(fd, 1);
	tsubmit(fd, 2, "echo", "activated", 9, &h, &out);
	ck_assert_msg(h.type == FP_RESULT && h.arg == 0 &&
	    strcmp(out, "activated") == 0, "SUBMIT on the inherited socket: "
	    "type 0x%02x arg %u \"%s\"", h.type, h.arg, out);
	free(out);
	fd2 = tconnect(act);
	tping(fd2, 3);
	close(fd2);
	close(fd);

	ck_assert_msg(access(d->sock, F_OK) == -1 && errno == ENOENT,
	    "the daemon created its own socket %s as well", d->sock);
	ck_assert_msg(fpd_log_count(d, "socket activation") > 0,
	    "the log does not say the socket came from socket activation\n%s",
	    log_tail(d));
	assert_exit0(d, fpd_stop(d));
	ck_assert_msg(lstat(act, &st2) == 0, "%s is gone after the daemon "
	    "exited: %s", act, strerror(errno));
	ck_assert_msg(S_ISSOCK(st2.st_mode) && st2.st_ino == st.st_ino &&
	    st2.st_mode == st.st_mode, "%s changed: mode 0%o -> 0%o, inode "
	    "%lu -> %lu", act, (unsigned)st.st_mode, (unsigned)st2.st_mode,
	    (unsigned long)st.st_ino, (unsigned long)st2.st_ino);
}
END_TEST

/*
 * LISTEN_FDS naming a descriptor that is not a listening Unix stream
 * socket is refused with a log line; the daemon binds its own socket.
 */
START_TEST(test_activation_not_a_listener)
{
	struct fpd	*d;
	int		 fd;

	tmpdir_make();
	wrap_daemon("exec 3</dev/null\nLISTEN_PID=$$ LISTEN_FDS=1\n"
	    "export LISTEN_PID LISTEN_FDS\nexec @D \"$@\"");
	d = fpd_start(ini_echo);
	ck_assert_msg(fpd_log_count(d, "not a listening") > 0,
	    "no log line refusing fd 3\n%s", log_tail(d));
	fd = tconnect(d->sock);
	tping(fd, 1);
	close(fd);
	assert_exit0(d, fpd_stop(d));
}
END_TEST

/* ---- the unit files ---- */

/* Is systemd-analyze here?  If not, say so: the caller returns. */
static int
have_analyze(const char *what)
{
	if (have_cmd("systemd-analyze"))
		return (1);
	fprintf(stderr, "systemd: systemd-analyze is not installed (Debian "
	    "package systemd); %s skipped\n", what);
	return (0);
}

/* text with every "from" replaced by "to", malloc'd. */
static char *
replace_all(const char *text, const char *from, const char *to)
{
	size_t		 n = 0, flen = strlen(from), tlen = strlen(to);
	const char	*p;
	char		*out, *q;

	for (p = text; (p = strstr(p, from)) != NULL; p += flen)
		n++;
	ck_assert((out = malloc(strlen(text) + n * tlen + 1)) != NULL);
	for (q = out; (p = strstr(text, from)) != NULL; text = p + flen) {
		memcpy(q, text, p - text);
		q += p - text;
		memcpy(q, to, tlen);
		q += tlen;
	}
	strcpy(q, text);
	return (out);
}

/*
 * Copy systemd/NAME into the scratch directory, ExecStart and ExecReload
 * pointing to the forkpoold and forkpool under test, as make install
 * points them to SBINDIR and BINDIR.
 */
static void
copy_unit(const char *name)
{
	char	 src[PATH_MAX], *text, *out, *daemon, *client, *cli;

	snprintf(src, sizeof(src), "%s/systemd/%s", srcdir(), name);
	ck_assert_msg((text = tread_file(src)) != NULL, "%s: %s", src,
	    strerror(errno));
	ck_assert_msg(strstr(name, ".service") == NULL ||
	    strstr(text, "ExecStart=/usr/local/sbin/forkpoold") != NULL,
	    "%s has no \"ExecStart=/usr/local/sbin/forkpoold\"", src);
	daemon = forkpoold_path();
	client = forkpool_path();
	ck_assert(asprintf(&cli, "%s ", client) != -1);
	out = replace_all(text, "/usr/local/sbin/forkpoold", daemon);
	free(text);
	/* With its blank: "forkpool" alone is a prefix of forkpoold. */
	text = replace_all(out, "/usr/local/bin/forkpool ", cli);
	write_file(tmppath(0, name), text, 0644);
	free(out);
	free(text);
	free(cli);
	free(daemon);
	free(client);
}

/*
 * A man page tree for Documentation=man:...: links to the pages of man/
 * (man/NAME.N or man/manN/NAME.N) under the scratch directory's man/manN.
 */
static void
man_tree(void)
{
	char	*out;
	int	 status;

	status = run(&out, RUN_MS, "cd '%s' && for f in '%s'/man/*.[1-8] "
	    "'%s'/man/man[1-8]/*.[1-8]; do [ -f \"$f\" ] || continue; "
	    "s=${f##*.}; mkdir -p man/man$s && ln -sf \"$f\" man/man$s/; "
	    "done", tmpdir, srcdir(), srcdir());
	ck_assert_msg(status == 0, "man tree: %s", out);
	free(out);
}

/* systemd-analyze verify passes on every unit, with nothing to say. */
START_TEST(test_units_verify)
{
	static const char *const units[] = {
		"forkpool.service", "forkpool.socket", NULL
	};
	const char	*man = "";
	char		*out;
	int		 status, i;

	if (!have_analyze("systemd-analyze verify"))
		return;
	tmpdir_make();
	for (i = 0; units[i] != NULL; i++)
		copy_unit(units[i]);
	man_tree();
	/* Documentation= is checked with man(1), when there is one. */
	if (!have_cmd("man")) {
		fprintf(stderr, "systemd: no man(1); verify runs with "
		    "--man=no\n");
		man = "--man=no";
	}
	for (i = 0; units[i] != NULL; i++) {
		status = run(&out, RUN_MS, "cd '%s' && MANPATH='%s/man' "
		    "SYSTEMD_LOG_COLOR=0 systemd-analyze verify %s ./%s",
		    tmpdir, tmpdir, man, units[i]);
		ck_assert_msg(status == 0 && out[0] == '\0',
		    "systemd-analyze verify %s: wait status 0x%x:\n%s",
		    units[i], status, tail(out));
		free(out);
	}
}
END_TEST

/*
 * systemd-analyze security rates forkpool.service 1.5 or lower (its
 * --threshold is the exposure times ten).
 */
START_TEST(test_units_security)
{
	char		*out, *p;
	double		 score;
	int		 status;

	if (!have_analyze("systemd-analyze security"))
		return;
	status = run(&out, RUN_MS, "SYSTEMD_COLORS=0 systemd-analyze security "
	    "--offline=true --threshold=15 --no-pager '%s/systemd/"
	    "forkpool.service'", srcdir());
	p = strstr(out, "Overall exposure level for forkpool.service:");
	ck_assert_msg(p != NULL, "no overall exposure level:\n%s", tail(out));
	score = strtod(p + strlen("Overall exposure level for "
	    "forkpool.service:"), NULL);
	ck_assert_msg(status == 0 && score <= 1.5, "forkpool.service rates "
	    "%.1f (wait status 0x%x); at most 1.5 wanted:\n%s", score, status,
	    tail(out));
	if (getenv("FORKPOOL_TEST_VERBOSE") != NULL)
		fprintf(stderr, "systemd-analyze security: %.1f\n", score);
	free(out);
}
END_TEST

/*
 * The sysusers.d snippet makes the user and group forkpool, the tmpfiles.d
 * one /etc/forkpool (both tried on an empty root of our own).
 */
START_TEST(test_snippets)
{
	char		*out, *passwd, *group;
	struct stat	 st;
	int		 status;

	if (!have_cmd("systemd-sysusers") || !have_cmd("systemd-tmpfiles")) {
		fprintf(stderr, "systemd: systemd-sysusers or systemd-tmpfiles "
		    "is not installed; snippet test skipped\n");
		return;
	}
	tmpdir_make();
	status = run(&out, RUN_MS, "mkdir -p '%s/root/etc' && "
	    "systemd-sysusers --root='%s/root' '%s/systemd/forkpool.sysusers' "
	    "&& systemd-tmpfiles --root='%s/root' --create "
	    "'%s/systemd/forkpool.tmpfiles'", tmpdir, tmpdir, srcdir(), tmpdir,
	    srcdir());
	ck_assert_msg(status == 0, "wait status 0x%x:\n%s", status, tail(out));
	free(out);
	passwd = tread_file(tmppath(0, "root/etc/passwd"));
	group = tread_file(tmppath(1, "root/etc/group"));
	ck_assert_msg(passwd != NULL && strncmp(passwd, "forkpool:", 9) == 0,
	    "no user forkpool: %s", passwd != NULL ? passwd : "no passwd");
	ck_assert_msg(group != NULL && strncmp(group, "forkpool:", 9) == 0,
	    "no group forkpool: %s", group != NULL ? group : "no group");
	ck_assert_msg(stat(tmppath(2, "root/etc/forkpool"), &st) == 0 &&
	    S_ISDIR(st.st_mode), "no /etc/forkpool");
	free(passwd);
	free(group);
}
END_TEST

/* ---- make install ---- */

/* Every regular file and link under dir, one per line, malloc'd. */
static char *
list_files(const char *dir)
{
	char	*out;
	int	 status;

	status = run(&out, RUN_MS, "cd '%s' && find . ! -type d | sort", dir);
	ck_assert_msg(status == 0, "find %s: %s", dir, out);
	return (out);
}

/* make TARGET in the source tree, into our own build directory. */
static void
make_target(const char *target, const char *dest, const char *build)
{
	char	*out;
	int	 status;

	/* An outer make's jobserver and command-line variables stay out. */
	status = run(&out, RUN_MS, "unset MAKEFLAGS MAKELEVEL MFLAGS; "
	    "make -s -j2 -C '%s' %s DESTDIR='%s' PREFIX=/usr/local "
	    "BUILD='%s'", srcdir(), target, dest, build);
	ck_assert_msg(status == 0, "make %s: wait status 0x%x:\n%s", target,
	    status, tail(out));
	free(out);
}

/*
 * make install puts every file in place under DESTDIR; a client compiled
 * with `pkg-config --cflags --libs forkpool` against it talks to the
 * installed daemon; an existing configuration is never overwritten; make
 * uninstall removes everything install put there.
 */
START_TEST(test_install)
{
	static const char *const want[] = {
		"./usr/local/sbin/forkpoold",
		"./usr/local/bin/forkpool",
		"./usr/local/lib/libforkpool.so.0",
		"./usr/local/lib/libforkpool.so",
		"./usr/local/lib/libforkpool.a",
		"./usr/local/include/forkpool/client.h",
		"./usr/local/include/forkpool/module.h",
		"./usr/local/include/forkpool/proto.h",
		"./usr/local/lib/pkgconfig/forkpool.pc",
		"./usr/local/lib/forkpool/modules/deflate.so",
		"./etc/forkpool/forkpool.ini",
		"/forkpool.service",
		"/forkpool.socket",
		"/sysusers.d/forkpool.conf",
		"/tmpfiles.d/forkpool.conf",
		NULL
	};
	struct fpd	*d;
	char		 dest[300], build[300], ini[600], conf[400], line[600];
	char		*out, *files, *flags, *shipped, *kept, *unit, *man;
	const char	*py, *extra;
	int		 status, i;

	tmpdir_make();
	snprintf(dest, sizeof(dest), "%s/dest", tmpdir);
	snprintf(build, sizeof(build), "%s/build", tmpdir);
	make_target("install", dest, build);

	files = list_files(dest);
	for (i = 0; want[i] != NULL; i++)
		ck_assert_msg(strstr(files, want[i]) != NULL,
		    "make install did not install %s; it installed:\n%s",
		    want[i], tail(files));
	/* Every man page of man/, in its section's directory. */
	status = run(&man, RUN_MS, "cd '%s' && for f in man/*.[1-8] "
	    "man/man[1-8]/*.[1-8]; do [ -f \"$f\" ] || continue; "
	    "b=${f##*/}; echo \"./usr/local/share/man/man${f##*.}/$b\"; done",
	    srcdir());
	ck_assert(status == 0);
	for (out = strtok(man, "\n"); out != NULL; out = strtok(NULL, "\n"))
		ck_assert_msg(strstr(files, out) != NULL,
		    "make install did not install %s", out);
	free(man);
	free(files);
	snprintf(conf, sizeof(conf), "%s/etc/forkpool/forkpool.ini", dest);
	snprintf(line, sizeof(line), "%s/conf/forkpool.ini", srcdir());
	shipped = tread_file(line);
	kept = tread_file(conf);
	/*
	 * The installed sample is conf/forkpool.ini without its last
	 * section, [pool:py], which runs code its clients send.
	 */
	ck_assert(shipped != NULL && kept != NULL);
	ck_assert_ptr_nonnull(py = strstr(shipped, "\n[pool:py]\n"));
	ck_assert_msg(strncmp(shipped, kept, py - shipped + 1) == 0 &&
	    strstr(kept, "[pool:py]\n") == NULL, "%s is not conf/forkpool.ini "
	    "without [pool:py]", conf);
	free(kept);
	status = run(&unit, RUN_MS, "grep -h '^ExecStart=' '%s'/lib/systemd/"
	    "system/forkpool.service '%s'/usr/lib/systemd/system/"
	    "forkpool.service 2>/dev/null", dest, dest);
	ck_assert_msg(strncmp(unit, "ExecStart=/usr/local/sbin/forkpoold",
	    35) == 0, "the installed unit runs \"%s\"", unit);
	free(unit);

	/* A client built against the installed library only. */
	status = run(&flags, RUN_MS, "PKG_CONFIG_PATH= "
	    "PKG_CONFIG_LIBDIR='%s/usr/local/lib/pkgconfig' "
	    "PKG_CONFIG_SYSROOT_DIR='%s' pkg-config --cflags --libs forkpool",
	    dest, dest);
	ck_assert_msg(status == 0 && strstr(flags, "-lforkpool") != NULL &&
	    strstr(flags, dest) != NULL, "pkg-config --cflags --libs "
	    "forkpool: \"%s\"", flags);
	flags[strcspn(flags, "\n")] = '\0';
	/* A sanitized library needs its runtime in the program too. */
	extra = getenv("FORKPOOL_TEST_CFLAGS");
	status = run(&out, RUN_MS, "cc -std=c99 -pedantic -Wall -Wextra "
	    "-Werror %s -o '%s/install_client' '%s/tests/install_client.c' %s",
	    extra != NULL ? extra : "", tmpdir, srcdir(), flags);
	ck_assert_msg(status == 0, "cc install_client.c %s:\n%s", flags,
	    tail(out));
	free(out);
	free(flags);

	/* The installed daemon, with its installed modules. */
	snprintf(line, sizeof(line), "%s/usr/local/sbin/forkpoold", dest);
	setenv("FORKPOOLD", line, 1);
	snprintf(line, sizeof(line), "%s/usr/local/lib/forkpool/modules",
	    dest);
	setenv("FORKPOOL_MODULE_DIR", line, 1);
	snprintf(ini, sizeof(ini), "[pool:echo]\nhandler = echo\n"
	    "workers = 1\n[pool:deflate]\nmodule = deflate.so\n"
	    "workers = 1\n");
	d = fpd_start(ini);
	status = run(&out, RUN_MS, "LD_LIBRARY_PATH='%s/usr/local/lib' "
	    "'%s/install_client' '%s' echo 'installed and working'", dest,
	    tmpdir, d->sock);
	ck_assert_msg(status == 0 && strcmp(out, "installed and working") ==
	    0, "install_client: wait status 0x%x: \"%s\"", status, out);
	free(out);
	/* The installed library is the one it ran with. */
	status = run(&out, RUN_MS, "LD_LIBRARY_PATH='%s/usr/local/lib' "
	    "ldd '%s/install_client'", dest, tmpdir);
	snprintf(line, sizeof(line), "%s/usr/local/lib/libforkpool.so.0",
	    dest);
	ck_assert_msg(strstr(out, line) != NULL, "install_client is not "
	    "linked to %s:\n%s", line, out);
	free(out);
	status = run(&out, RUN_MS, "'%s/usr/local/bin/forkpool' -s '%s' "
	    "ping", dest, d->sock);
	ck_assert_msg(status == 0, "the installed forkpool ping: 0x%x: %s",
	    status, out);
	free(out);
	assert_exit0(d, fpd_stop(d));

	/*
	 * Without FORKPOOL_MODULE_DIR a bare module name is looked up where
	 * install put the modules (less DESTDIR): the daemon names that path
	 * when the module is not there.
	 */
	wrap_daemon("unset FORKPOOL_MODULE_DIR\nexec @D \"$@\"");
	d = fpd_spawn("[pool:absent]\nmodule = fp-absent.so\n", NULL);
	status = fpd_wait_exit(d, WAIT_MS);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
	    fpd_log_count(d, "/usr/local/lib/forkpool/modules/fp-absent.so") >
	    0, "the installed forkpoold does not look for modules in "
	    "/usr/local/lib/forkpool/modules (wait status 0x%x):\n%s", status,
	    log_tail(d));
	fpd_stop(d);

	/* Uninstall: nothing is left. */
	make_target("uninstall", dest, build);
	files = list_files(dest);
	ck_assert_msg(files[0] == '\0', "make uninstall left:\n%s",
	    tail(files));
	free(files);

	/* An operator's configuration survives install and uninstall. */
	make_target("install", dest, build);
	write_file(conf, "; the operator's own\n[pool:echo]\nhandler = echo\n",
	    0644);
	make_target("install", dest, build);
	kept = tread_file(conf);
	ck_assert_msg(kept != NULL && strcmp(kept, shipped) != 0,
	    "make install overwrote an existing %s", conf);
	free(kept);
	make_target("uninstall", dest, build);
	files = list_files(dest);
	ck_assert_msg(strcmp(files, "./etc/forkpool/forkpool.ini\n") == 0,
	    "after uninstall with a changed configuration, expected only it; "
	    "left:\n%s", tail(files));
	free(files);
	free(shipped);
}
END_TEST

Suite *
systemd_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("systemd");

	tc = tcase_create("notify");
	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
	tcase_add_test(tc, test_ready_after_start);
	tcase_add_test(tc, test_stopping_on_sigterm);
	tcase_add_test(tc, test_reloading_on_sighup);
	tcase_add_test(tc, test_errno_on_fatal_start);
	tcase_add_test(tc, test_abstract_notify_socket);
	tcase_add_test(tc, test_no_notify_socket);
	suite_add_tcase(s, tc);

	tc = tcase_create("watchdog");
	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
	tcase_add_test(tc, test_watchdog_rate);
	tcase_add_test(tc, test_watchdog_pid_self);
	tcase_add_test(tc, test_watchdog_pid_other);
	suite_add_tcase(s, tc);

	tc = tcase_create("environment");
	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
	tcase_add_test(tc, test_worker_environment);
	suite_add_tcase(s, tc);

	tc = tcase_create("activation");
	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
	tcase_add_test(tc, test_socket_activation);
	tcase_add_test(tc, test_activation_not_a_listener);
	suite_add_tcase(s, tc);

	tc = tcase_create("units");
	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
	tcase_add_test(tc, test_units_verify);
	tcase_add_test(tc, test_units_security);
	tcase_add_test(tc, test_snippets);
	suite_add_tcase(s, tc);

	/* A whole build: generous, though it takes a few seconds here. */
	tc = tcase_create("install");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
	tcase_add_test(tc, test_install);
	suite_add_tcase(s, tc);

	return (s);
}

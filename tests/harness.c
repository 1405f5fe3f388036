/*
 * The integration tests' harness (harness.h): a real forkpoold per test in a
 * fresh temporary directory, and a raw-frame client.
 *
 * Synchronisation is on events: READY=1 on our own NOTIFY_SOCKET, frames on
 * the client sockets, both waited for with poll() and a deadline.  Where
 * there is no descriptor to wait on (a pid's exit, a log line, a state in
 * STATUS) the condition is checked every few milliseconds up to a deadline.
 * Every deadline fails the test with what was awaited and the tail of the
 * daemon's log.
 *
 * A failing test must never leave a daemon behind.  Three things see to
 * it: the daemon stays in the test's process group, which Check kills with
 * SIGKILL when the test ends or times out; it is started with
 * PR_SET_PDEATHSIG, so it dies with the test however the test dies; and an
 * atexit() handler kills whatever a test that returned (or ran without
 * fork) left running.  A failed assertion _exit()s, skipping atexit(), so
 * the runs' directories live under one made by the test program itself and
 * removed when it exits.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"
#include "proto_int.h"

#define READY_TIMEOUT_MS	10000
#define STOP_TIMEOUT_MS		15000
#define SEND_TIMEOUT_MS		10000
#define SUBMIT_TIMEOUT_MS	10000
#define STATUS_TIMEOUT_MS	5000
#define PING_TIMEOUT_MS		5000
#define POLL_STEP_MS		5
#define TAIL_LINES		40
#define TAIL_BYTES		4000
#define MAX_REPLY_BODY		(256U * 1024 * 1024)
#define STATUS_ID		0x5354415455535f31ULL	/* "STATUS_1" */

#define DEFAULT_FORKPOOLD	"build/forkpoold"
#define DEFAULT_MODULE_DIR	"build/modules"
#define DEFAULT_TEST_MODULE_DIR	"build/tests/modules"

/* A daemon run: the caller's handle first, so a struct fpd * is one. */
struct fpd_run {
	struct fpd	 d;
	char		*kept_log;	/* read by fpd_stop before cleaning */
	int		 live;		/* not yet stopped and cleaned */
	struct fpd_run	*next;
};

/*
 * Every run of this process, stopped ones too: a test may still look at a
 * stopped run's status and log, and kept here it is no leak to a sanitizer.
 */
static struct fpd_run	*runs;
static pid_t		 runs_owner;		/* the process they belong to */
static char		 base_dir[128];		/* holds every run's directory */
static pid_t		 base_owner;		/* the test program */

static void	harness_fail(struct fpd *, const char *, ...)
		    __attribute__((noreturn, format(printf, 2, 3)));
static const char *tmp_base(void);

/* Milliseconds on the monotonic clock, for deadlines. */
long long
tnow_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* The text to cite from a daemon's log: its last lines, bounded. */
static void
append_tail(char *msg, size_t size, struct fpd *d)
{
	struct fpd_run	*run = (struct fpd_run *)d;
	char		*log, *p, *end;
	size_t		 used = strlen(msg);
	int		 lines = 0;

	if (run->kept_log != NULL)
		log = strdup(run->kept_log);
	else
		log = tread_file(d->log);
	if (log == NULL) {
		snprintf(msg + used, size - used, "\n--- %s: unreadable ---",
		    d->log);
		return;
	}
	/* Walk back over TAIL_LINES newlines, but no more than TAIL_BYTES. */
	end = p = log + strlen(log);
	if (p > log && p[-1] == '\n')
		p--;
	while (p > log && lines < TAIL_LINES && (size_t)(end - p) < TAIL_BYTES)
		if (*--p == '\n')
			lines++;
	if (*p == '\n')
		p++;
	snprintf(msg + used, size - used,
	    "\n--- the log of forkpoold (%s), last lines ---\n%s", d->log, p);
	free(log);
}

/*
 * Fail the test: what was awaited or went wrong, then the log of d (or of
 * every daemon still running when d is NULL).  Check's message buffer is
 * BUFSIZ, so the whole is kept under that.
 */
static void
harness_fail(struct fpd *d, const char *fmt, ...)
{
	struct fpd_run	*run;
	char		 msg[BUFSIZ - 256];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d != NULL)
		append_tail(msg, sizeof(msg), d);
	else {
		for (run = runs; run != NULL; run = run->next)
			if (run->live)
				append_tail(msg, sizeof(msg), &run->d);
	}
	ck_abort_msg("%s", msg);
}

/* The test program is ending: remove what its tests left in base_dir. */
static void
harness_fini(void)
{
	if (getpid() == base_owner)
		trm_dir(base_dir);
}

/*
 * Check ends a failed test with _exit(), so the test's own atexit() never
 * runs then: every run's directory lives under one made here, in the test
 * program before any test is forked, and removed when the program exits.
 * (The daemon itself dies with the test: see the top of this file.)
 */
static void __attribute__((constructor))
harness_init(void)
{
	snprintf(base_dir, sizeof(base_dir), "%s/fpd-test.XXXXXX", tmp_base());
	if (mkdtemp(base_dir) == NULL) {
		base_dir[0] = '\0';
		return;
	}
	base_owner = getpid();
	atexit(harness_fini);
}

/* Kill and clean up every daemon a test left behind. */
static void
cleanup_all(void)
{
	struct fpd_run	*run;

	/* A test's own forked helpers inherit atexit(); not theirs to run. */
	if (getpid() != runs_owner)
		return;
	for (run = runs; run != NULL; run = run->next) {
		if (!run->live)
			continue;
		if (run->d.pid > 0) {
			kill(run->d.pid, SIGKILL);
			while (waitpid(run->d.pid, &run->d.status, 0) == -1 &&
			    errno == EINTR)
				;
			run->d.pid = -1;
		}
		if (run->d.notify_fd != -1)
			close(run->d.notify_fd);
		trm_dir(run->d.dir);
		run->live = 0;
	}
}

/* Remember a run for cleanup_all. */
static void
register_run(struct fpd_run *run)
{
	if (runs_owner != getpid()) {
		/* A fresh test process: inherited runs are not its own. */
		runs = NULL;
		if (runs_owner == 0)
			atexit(cleanup_all);
		runs_owner = getpid();
	}
	run->live = 1;
	run->next = runs;
	runs = run;
}

/* Reap d if it has exited; 1 when it is gone (now or before). */
static int
reap_nohang(struct fpd *d)
{
	int	status;
	pid_t	pid;

	if (d->pid <= 0)
		return (1);
	pid = waitpid(d->pid, &status, WNOHANG);
	if (pid == d->pid) {
		d->status = status;
		d->pid = -1;
		return (1);
	}
	return (0);
}

/* A wait status in words, for messages. */
static const char *
status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "wait status 0x%x", status);
	return (buf);
}

/* An environment path, made absolute when it exists. */
static char *
env_path(const char *name, const char *fallback)
{
	const char	*v = getenv(name);
	char		*abs;

	if (v == NULL || *v == '\0')
		v = fallback;
	if ((abs = realpath(v, NULL)) != NULL)
		return (abs);
	return (strdup(v));
}

/* Write ini to path with every "@T" replaced by the test modules' dir. */
static void
write_ini(const char *path, const char *ini)
{
	char		*tdir;
	const char	*p, *at;
	FILE		*f;

	tdir = env_path("FORKPOOL_TEST_MODULE_DIR", DEFAULT_TEST_MODULE_DIR);
	if ((f = fopen(path, "w")) == NULL)
		ck_abort_msg("harness: %s: %s", path, strerror(errno));
	for (p = ini; (at = strstr(p, "@T")) != NULL; p = at + 2) {
		fwrite(p, 1, at - p, f);
		fputs(tdir, f);
	}
	fputs(p, f);
	if (fclose(f) != 0)
		ck_abort_msg("harness: %s: %s", path, strerror(errno));
	free(tdir);
}

/* Bind our NOTIFY_SOCKET in the run's directory. */
static int
notify_open(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		ck_abort_msg("harness: notify path too long: %s", path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		ck_abort_msg("harness: notify socket %s: %s", path,
		    strerror(errno));
	return (fd);
}

/* A short base for temporary directories: socket paths are limited. */
static const char *
tmp_base(void)
{
	const char	*t = getenv("TMPDIR");

	if (t != NULL && *t == '/' && strlen(t) < 40)
		return (t);
	return ("/tmp");
}

/*
 * In the forked child: become forkpoold with a clean signal state, the log
 * as stdout and stderr, and the test's environment plus NOTIFY_SOCKET and
 * FORKPOOL_MODULE_DIR.  Only returns by exiting.
 */
static void __attribute__((noreturn))
spawn_child(char *const argv[], const char *notify, int logfd, pid_t parent)
{
	sigset_t	 none;
	char		*mdir;
	int		 sig, nullfd;

	/* Die with the test, however the test dies. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(127);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if ((nullfd = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(nullfd, STDIN_FILENO) == -1 ||
	    dup2(logfd, STDOUT_FILENO) == -1 ||
	    dup2(logfd, STDERR_FILENO) == -1)
		_exit(127);

	setenv("NOTIFY_SOCKET", notify, 1);
	mdir = env_path("FORKPOOL_MODULE_DIR", DEFAULT_MODULE_DIR);
	if (mdir != NULL)
		setenv("FORKPOOL_MODULE_DIR", mdir, 1);
	execv(argv[0], argv);
	dprintf(STDERR_FILENO, "harness: cannot run %s: %s\n", argv[0],
	    strerror(errno));
	_exit(127);
}

struct fpd *
fpd_spawn(const char *ini, const char *const *extra_args)
{
	static char	 opt_c[] = "-c", opt_s[] = "-s";
	struct fpd_run	*run;
	struct fpd	*d;
	char		*argv[64], *daemon, notify[320];
	int		 argc = 0, logfd, i;
	pid_t		 parent = getpid(), pid;

	if ((run = calloc(1, sizeof(*run))) == NULL)
		ck_abort_msg("harness: out of memory");
	d = &run->d;
	d->pid = -1;
	d->notify_fd = -1;

	daemon = env_path("FORKPOOLD", DEFAULT_FORKPOOLD);
	if (daemon == NULL || access(daemon, X_OK) == -1)
		ck_abort_msg("harness: no forkpoold at %s (set FORKPOOLD): %s",
		    daemon != NULL ? daemon : DEFAULT_FORKPOOLD,
		    strerror(errno));

	if (base_dir[0] != '\0')
		snprintf(d->dir, sizeof(d->dir), "%s/run.XXXXXX", base_dir);
	else
		snprintf(d->dir, sizeof(d->dir), "%s/fpd-test.XXXXXX",
		    tmp_base());
	if (mkdtemp(d->dir) == NULL)
		ck_abort_msg("harness: mkdtemp %s: %s", d->dir,
		    strerror(errno));
	snprintf(d->sock, sizeof(d->sock), "%s/forkpool.sock", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/forkpool.ini", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/log", d->dir);
	snprintf(notify, sizeof(notify), "%s/notify", d->dir);
	register_run(run);

	write_ini(d->conf, ini);
	d->notify_fd = notify_open(notify);
	logfd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd == -1)
		ck_abort_msg("harness: %s: %s", d->log, strerror(errno));

	argv[argc++] = daemon;
	argv[argc++] = opt_c;
	argv[argc++] = d->conf;
	argv[argc++] = opt_s;
	argv[argc++] = d->sock;
	for (i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
		if (argc >= (int)(sizeof(argv) / sizeof(argv[0])) - 1)
			ck_abort_msg("harness: too many forkpoold arguments");
		/* execv's prototype predates const; nothing is written. */
		memcpy(&argv[argc++], &extra_args[i], sizeof(char *));
	}
	argv[argc] = NULL;

	if ((pid = fork()) == -1)
		ck_abort_msg("harness: fork: %s", strerror(errno));
	if (pid == 0)
		spawn_child(argv, notify, logfd, parent);
	d->pid = pid;
	close(logfd);
	free(daemon);
	return (d);
}

struct fpd *
fpd_start(const char *ini)
{
	struct fpd	*d;
	char		 why[64];

	d = fpd_spawn(ini, NULL);
	if (fpd_wait_notify(d, "READY=1", READY_TIMEOUT_MS) == -1) {
		if (reap_nohang(d))
			harness_fail(d, "forkpoold did not send READY=1: it %s",
			    status_str(d->status, why, sizeof(why)));
		harness_fail(d, "forkpoold did not send READY=1 within %d ms",
		    READY_TIMEOUT_MS);
	}
	return (d);
}

int
fpd_wait_exit(struct fpd *d, int timeout_ms)
{
	long long	deadline = tnow_ms() + timeout_ms;

	while (!reap_nohang(d)) {
		if (tnow_ms() >= deadline)
			harness_fail(d, "forkpoold (pid %ld) did not exit "
			    "within %d ms", (long)d->pid, timeout_ms);
		tnap(POLL_STEP_MS);
	}
	return (d->status);
}

int
fpd_stop(struct fpd *d)
{
	struct fpd_run	*run = (struct fpd_run *)d;
	long long	 deadline;
	int		 status;

	if (d->pid > 0 && !reap_nohang(d)) {
		kill(d->pid, SIGTERM);
		deadline = tnow_ms() + STOP_TIMEOUT_MS;
		while (!reap_nohang(d)) {
			if (tnow_ms() >= deadline) {
				/* cleanup_all kills it on the way out. */
				harness_fail(d, "forkpoold (pid %ld) did not "
				    "exit within %d ms of SIGTERM",
				    (long)d->pid, STOP_TIMEOUT_MS);
			}
			tnap(POLL_STEP_MS);
		}
	}
	status = d->status;
	/* Keep the log: a test may look at it after the stop. */
	if (run->kept_log == NULL)
		run->kept_log = tread_file(d->log);
	if (d->notify_fd != -1) {
		close(d->notify_fd);
		d->notify_fd = -1;
	}
	trm_dir(d->dir);
	run->live = 0;
	return (status);
}

int
fpd_wait_notify(struct fpd *d, const char *needle, int timeout_ms)
{
	long long	 deadline = tnow_ms() + timeout_ms, left;
	struct pollfd	 pfd;
	char		 buf[4096];
	ssize_t		 n;
	int		 gone = 0;

	if (d->notify_fd == -1)
		return (-1);
	for (;;) {
		/* Datagrams already queued are read even once it exited. */
		while ((n = recv(d->notify_fd, buf, sizeof(buf) - 1,
		    MSG_DONTWAIT)) >= 0) {
			buf[n] = '\0';
			if (strstr(buf, needle) != NULL)
				return (0);
		}
		if (gone)
			return (-1);
		/* An exited daemon sends nothing more: drain, then stop. */
		if (reap_nohang(d)) {
			gone = 1;
			continue;
		}
		if ((left = deadline - tnow_ms()) <= 0)
			return (-1);
		/* Wake now and then to notice an exit. */
		pfd.fd = d->notify_fd;
		pfd.events = POLLIN;
		poll(&pfd, 1, left < 50 ? (int)left : 50);
	}
}

char *
fpd_log(struct fpd *d)
{
	struct fpd_run	*run = (struct fpd_run *)d;
	char		*log;

	if (run->kept_log != NULL)
		log = strdup(run->kept_log);
	else
		log = tread_file(d->log);
	if (log == NULL)
		log = strdup("");
	if (log == NULL)
		ck_abort_msg("harness: out of memory");
	return (log);
}

int
fpd_log_count(struct fpd *d, const char *needle)
{
	char	*log, *line, *next;
	int	 count = 0;

	log = fpd_log(d);
	for (line = log; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (strstr(line, needle) != NULL)
			count++;
	}
	free(log);
	return (count);
}

int
fpd_wait_log(struct fpd *d, const char *needle, int timeout_ms)
{
	long long	deadline = tnow_ms() + timeout_ms;

	while (fpd_log_count(d, needle) == 0) {
		if (tnow_ms() >= deadline)
			harness_fail(d, "no log line containing \"%s\" "
			    "within %d ms", needle, timeout_ms);
		tnap(POLL_STEP_MS);
	}
	return (0);
}

/* Wait for events on fd until deadline; 0 at the deadline, else 1. */
static int
wait_fd(int fd, short events, long long deadline)
{
	struct pollfd	pfd;
	long long	left;
	int		rc;

	for (;;) {
		if ((left = deadline - tnow_ms()) < 0)
			left = 0;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc > 0)
			return (1);
		if (rc == 0)
			return (0);
		if (errno != EINTR)
			harness_fail(NULL, "poll: %s", strerror(errno));
	}
}

/*
 * Send all of buf by deadline.  A daemon that closed the connection is not
 * an error here (the test reads what it answered); one that does not read
 * is.
 */
static void
send_all(int fd, const void *buf, size_t len, long long deadline)
{
	const char	*p = buf;
	size_t		 done = 0;
	ssize_t		 n;

	while (done < len) {
		if (!wait_fd(fd, POLLOUT, deadline))
			harness_fail(NULL, "forkpoold did not read: %zu of %zu "
			    "bytes sent on fd %d by the deadline", done, len,
			    fd);
		n = send(fd, p + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				return;
			harness_fail(NULL, "send on fd %d: %s", fd,
			    strerror(errno));
		}
		done += n;
	}
}

/* Read up to len bytes by deadline; fewer only at end of file. */
static size_t
recv_all(int fd, void *buf, size_t len, long long deadline, int timeout_ms,
    const char *what)
{
	char	*p = buf;
	size_t	 got = 0;
	ssize_t	 n;

	while (got < len) {
		if (!wait_fd(fd, POLLIN, deadline))
			harness_fail(NULL, "no %s on fd %d within %d ms "
			    "(%zu of %zu bytes read)", what, fd, timeout_ms,
			    got, len);
		n = recv(fd, p + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			/* The daemon closed with our bytes unread: an EOF. */
			if (errno == ECONNRESET)
				break;
			harness_fail(NULL, "recv on fd %d: %s", fd,
			    strerror(errno));
		}
		got += n;
	}
	return (got);
}

int
tconnect(const char *sock)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sun.sun_path))
		harness_fail(NULL, "socket path too long: %s", sock);
	strcpy(sun.sun_path, sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		harness_fail(NULL, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		harness_fail(NULL, "connect %s: %s", sock, strerror(errno));
	return (fd);
}

void
tsend_raw(int fd, const void *buf, size_t len)
{
	send_all(fd, buf, len, tnow_ms() + SEND_TIMEOUT_MS);
}

size_t
trecv_raw(int fd, void *buf, size_t len, int timeout_ms)
{
	return (recv_all(fd, buf, len, tnow_ms() + timeout_ms, timeout_ms,
	    "bytes"));
}

void
tsend(int fd, uint8_t type, uint16_t arg, uint64_t id, const void *body,
    size_t len)
{
	uint8_t	*buf;

	if (len > UINT32_MAX)
		ck_abort_msg("harness: a body of %zu bytes", len);
	if ((buf = malloc(FP_HDR_LEN + len)) == NULL)
		ck_abort_msg("harness: out of memory");
	fp_hdr_put(buf, type, arg, id, (uint32_t)len);
	if (len > 0)
		memcpy(buf + FP_HDR_LEN, body, len);
	tsend_raw(fd, buf, FP_HDR_LEN + len);
	free(buf);
}

void
tsend_submit(int fd, uint64_t id, const char *pool, const void *payload,
    size_t len)
{
	size_t	 plen = strlen(pool);
	char	*body;

	if (plen > UINT16_MAX)
		ck_abort_msg("harness: pool name of %zu bytes", plen);
	if ((body = malloc(plen + len + 1)) == NULL)
		ck_abort_msg("harness: out of memory");
	memcpy(body, pool, plen);
	if (len > 0)
		memcpy(body + plen, payload, len);
	tsend(fd, FP_SUBMIT, (uint16_t)plen, id, body, plen + len);
	free(body);
}

int
trecv(int fd, struct fp_hdr *hdr, char **body, int timeout_ms)
{
	long long	 deadline = tnow_ms() + timeout_ms;
	uint8_t		 raw[FP_HDR_LEN];
	size_t		 got;
	char		*b;
	int		 rc;

	got = recv_all(fd, raw, sizeof(raw), deadline, timeout_ms,
	    "reply frame");
	if (got == 0)
		return (0);
	if (got < sizeof(raw))
		harness_fail(NULL, "end of file inside a frame header on fd %d "
		    "(%zu bytes)", fd, got);
	rc = fp_hdr_decode(raw, hdr, MAX_REPLY_BODY);
	if (rc != 0)
		harness_fail(NULL, "forkpoold sent a bad frame header on fd %d "
		    "(%s: version %u, len %u)", fd, fp_err_name(rc),
		    hdr->version, hdr->len);
	if ((b = malloc((size_t)hdr->len + 1)) == NULL)
		ck_abort_msg("harness: out of memory");
	got = recv_all(fd, b, hdr->len, deadline, timeout_ms, "reply body");
	if (got < hdr->len)
		harness_fail(NULL, "end of file inside a frame body on fd %d "
		    "(%zu of %u bytes, type 0x%02x id %llu)", fd, got,
		    hdr->len, hdr->type, (unsigned long long)hdr->id);
	b[hdr->len] = '\0';
	if (body != NULL)
		*body = b;
	else
		free(b);
	return (1);
}

/* A frame in words, for messages: "ERROR OVERLOADED id 4: text". */
static void
frame_str(const struct fp_hdr *hdr, const char *body, char *buf, size_t len)
{
	const char	*name;

	switch (hdr->type) {
	case FP_RESULT:
		name = "RESULT";
		break;
	case FP_ERROR:
		snprintf(buf, len, "ERROR %s (%u) id %llu: \"%.200s\"",
		    fp_err_name(hdr->arg), hdr->arg,
		    (unsigned long long)hdr->id, body != NULL ? body : "");
		return;
	case FP_PONG:
		name = "PONG";
		break;
	case FP_STATUS_REPLY:
		name = "STATUS";
		break;
	case FP_METRICS_REPLY:
		name = "METRICS";
		break;
	default:
		name = "type?";
		break;
	}
	snprintf(buf, len, "%s (0x%02x) arg %u id %llu len %u", name,
	    hdr->type, hdr->arg, (unsigned long long)hdr->id, hdr->len);
}

void
tsubmit(int fd, uint64_t id, const char *pool, const void *payload,
    size_t len, struct fp_hdr *hdr, char **body)
{
	struct fp_hdr	 h;
	char		*b, what[320];

	tsend_submit(fd, id, pool, payload, len);
	if (trecv(fd, &h, &b, SUBMIT_TIMEOUT_MS) == 0)
		harness_fail(NULL, "end of file instead of the reply to task "
		    "%llu (pool %s)", (unsigned long long)id, pool);
	/* Synchronous use: anything else first is a mistake worth seeing. */
	if (h.id != id || (h.type != FP_RESULT && h.type != FP_ERROR)) {
		frame_str(&h, b, what, sizeof(what));
		harness_fail(NULL, "waiting for the reply to task %llu, got %s",
		    (unsigned long long)id, what);
	}
	if (hdr != NULL)
		*hdr = h;
	if (body != NULL)
		*body = b;
	else
		free(b);
}

char *
texpect(int fd, uint8_t type, uint16_t arg, uint64_t id, int timeout_ms)
{
	struct fp_hdr	 h, want;
	char		*b, got[320], exp[320];

	want.type = type;
	want.arg = arg;
	want.id = id;
	want.len = 0;
	frame_str(&want, NULL, exp, sizeof(exp));
	if (trecv(fd, &h, &b, timeout_ms) == 0)
		harness_fail(NULL, "end of file; expected %s", exp);
	if (h.type != type || h.arg != arg || h.id != id) {
		frame_str(&h, b, got, sizeof(got));
		harness_fail(NULL, "expected %s, got %s", exp, got);
	}
	return (b);
}

void
texpect_eof(int fd, int timeout_ms)
{
	struct fp_hdr	 h;
	char		*b, got[320];

	if (trecv(fd, &h, &b, timeout_ms) == 0)
		return;
	frame_str(&h, b, got, sizeof(got));
	harness_fail(NULL, "expected end of file, got %s", got);
}

void
tping(int fd, uint64_t id)
{
	tsend(fd, FP_PING, 0, id, NULL, 0);
	free(texpect(fd, FP_PONG, 0, id, PING_TIMEOUT_MS));
}

json_t *
tstatus(const char *sock)
{
	struct fp_hdr	 h;
	json_error_t	 jerr;
	json_t		*doc;
	char		*b, what[320];
	int		 fd;

	fd = tconnect(sock);
	tsend(fd, FP_STATUS, 0, STATUS_ID, NULL, 0);
	if (trecv(fd, &h, &b, STATUS_TIMEOUT_MS) == 0)
		harness_fail(NULL, "STATUS: end of file instead of a reply");
	close(fd);
	if (h.type != FP_STATUS_REPLY || h.id != STATUS_ID) {
		frame_str(&h, b, what, sizeof(what));
		harness_fail(NULL, "STATUS answered with %s", what);
	}
	if ((doc = json_loadb(b, h.len, 0, &jerr)) == NULL)
		harness_fail(NULL, "STATUS is not JSON: %s (line %d): %.300s",
		    jerr.text, jerr.line, b);
	free(b);
	if (!json_is_object(doc))
		harness_fail(NULL, "STATUS is not a JSON object");
	return (doc);
}

json_t *
tstatus_pool(json_t *status, const char *pool)
{
	json_t		*pools, *p;
	const char	*name;
	size_t		 i;

	pools = json_object_get(status, "pools");
	if (!json_is_array(pools))
		return (NULL);
	json_array_foreach(pools, i, p) {
		name = json_string_value(json_object_get(p, "name"));
		if (name != NULL && strcmp(name, pool) == 0)
			return (p);
	}
	return (NULL);
}

long long
tpool_int(const char *sock, const char *pool, const char *key)
{
	json_t		*doc, *p, *v;
	long long	 n;

	doc = tstatus(sock);
	if ((p = tstatus_pool(doc, pool)) == NULL)
		harness_fail(NULL, "STATUS has no pool \"%s\"", pool);
	v = json_object_get(p, key);
	if (!json_is_integer(v))
		harness_fail(NULL, "STATUS pool \"%s\": \"%s\" is not an "
		    "integer", pool, key);
	n = json_integer_value(v);
	json_decref(doc);
	return (n);
}

pid_t
tworker_pid(const char *sock, const char *pool, int i)
{
	json_t	*doc, *p, *w;
	pid_t	 pid = -1;

	doc = tstatus(sock);
	if ((p = tstatus_pool(doc, pool)) != NULL && i >= 0 &&
	    (w = json_array_get(json_object_get(p, "workers"), i)) != NULL &&
	    json_is_integer(json_object_get(w, "pid")))
		pid = (pid_t)json_integer_value(json_object_get(w, "pid"));
	json_decref(doc);
	return (pid);
}

/* How many workers of pool are in state; -1 when there is no such pool. */
static int
count_state(const char *sock, const char *pool, const char *state)
{
	json_t		*doc, *p, *w;
	const char	*s;
	size_t		 i;
	int		 n = 0;

	doc = tstatus(sock);
	if ((p = tstatus_pool(doc, pool)) == NULL)
		n = -1;
	else {
		json_array_foreach(json_object_get(p, "workers"), i, w) {
			s = json_string_value(json_object_get(w, "state"));
			if (s != NULL && strcmp(s, state) == 0)
				n++;
		}
	}
	json_decref(doc);
	return (n);
}

void
twait_state(const char *sock, const char *pool, const char *state, int n,
    int timeout_ms)
{
	long long	deadline = tnow_ms() + timeout_ms;
	int		have;

	while ((have = count_state(sock, pool, state)) < n) {
		if (tnow_ms() >= deadline)
			harness_fail(NULL, "pool %s: %d workers %s after %d ms "
			    "(waited for %d)%s", pool, have < 0 ? 0 : have,
			    state, timeout_ms, n, have < 0 ?
			    "; STATUS has no such pool" : "");
		tnap(POLL_STEP_MS);
	}
}

void
twait_idle(const char *sock, const char *pool, int n, int timeout_ms)
{
	twait_state(sock, pool, "idle", n, timeout_ms);
}

int
twait_pid_gone(pid_t pid, int timeout_ms)
{
	struct fpd_run	*run;
	long long	 deadline = tnow_ms() + timeout_ms;

	for (;;) {
		/* Our own daemon is a zombie until we reap it. */
		for (run = runs; run != NULL; run = run->next)
			if (run->d.pid == pid)
				reap_nohang(&run->d);
		if (kill(pid, 0) == -1 && errno == ESRCH)
			return (0);
		if (tnow_ms() >= deadline)
			harness_fail(NULL, "pid %ld still exists after %d ms",
			    (long)pid, timeout_ms);
		tnap(POLL_STEP_MS);
	}
}

/*
 * Replace the run's configuration file with ini ("@T" expanded as for
 * fpd_start), in one rename, so a SIGHUP racing the write never reads half
 * a file.
 */
void
fpd_rewrite(struct fpd *d, const char *ini)
{
	char	tmp[sizeof(d->conf) + 8];

	snprintf(tmp, sizeof(tmp), "%s.new", d->conf);
	write_ini(tmp, ini);
	if (rename(tmp, d->conf) == -1)
		harness_fail(d, "rename %s to %s: %s", tmp, d->conf,
		    strerror(errno));
}

/* Stop d and insist on the graceful exit SIGTERM promises. */
void
fpd_stop_ok(struct fpd *d)
{
	int	st;

	st = fpd_stop(d);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "forkpoold did not exit 0 on SIGTERM (wait status 0x%x)", st);
}

/* Wait until an integer of pool in STATUS has the value want. */
void
twait_pool_int(const char *sock, const char *pool, const char *key,
    long long want, int timeout_ms)
{
	long long	deadline = tnow_ms() + timeout_ms, have;

	while ((have = tpool_int(sock, pool, key)) != want) {
		ck_assert_msg(tnow_ms() < deadline, "pool %s: %s is %lld after "
		    "%d ms, waited for %lld", pool, key, have, timeout_ms,
		    want);
		tnap(POLL_STEP_MS);
	}
}

pid_t
tdaemon_as(uid_t uid, int tty, const char *logpath, const char *const *args)
{
	const char	*daemon = getenv("FORKPOOLD");
	char		*argv[16];
	pid_t		 pid;
	int		 i, fd;

	ck_assert_ptr_nonnull(daemon);
	ck_assert_int_ne(fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC,
	    0644), -1);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		memcpy(&argv[0], &daemon, sizeof(char *));
		for (i = 0; args[i] != NULL && i < 14; i++)
			memcpy(&argv[i + 1], &args[i], sizeof(char *));
		argv[i + 1] = NULL;
		unsetenv("FORKPOOL_SOCKET");
		unsetenv("XDG_RUNTIME_DIR");
		unsetenv("NOTIFY_SOCKET");
		if (tty != -1 && (setsid() == -1 ||
		    ioctl(tty, TIOCSCTTY, 0) == -1 ||
		    dup2(tty, STDIN_FILENO) == -1))
			_exit(97);
		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (uid != 0 && (setgroups(0, NULL) == -1 ||
		    setgid(uid) == -1 || setuid(uid) == -1))
			_exit(99);
		execv(argv[0], argv);
		_exit(98);
	}
	close(fd);
	return (pid);
}

int
tfile_has(const char *path, const char *needle)
{
	char	buf[16384];
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return (0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return (strstr(buf, needle) != NULL);
}

int
twait_log_or_exit(pid_t pid, const char *logpath, const char *needle,
    int *status)
{
	long long	deadline = tnow_ms() + 10000;

	for (;;) {
		if (tfile_has(logpath, needle))
			return (1);
		if (waitpid(pid, status, WNOHANG) == pid)
			return (0);
		ck_assert_msg(tnow_ms() < deadline, "no \"%s\" in %s within "
		    "10 s", needle, logpath);
		tnap(10);
	}
}

void
tdaemon_stop(pid_t pid)
{
	int	status;

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "forkpoold ended with wait status 0x%x", status);
}

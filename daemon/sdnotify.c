/*
 * systemd, spoken directly: the notify protocol (one datagram per message
 * to the Unix socket named by NOTIFY_SOCKET, "@" meaning the abstract
 * namespace), the watchdog (WATCHDOG_USEC, WATCHDOG_PID) and socket
 * activation (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES), as sd_notify(3) and
 * sd_listen_fds(3) describe them for independent implementations.  This is
 * the only file that knows systemd; without its variables every call here
 * is a no-op.
 *
 * sdnotify_init() takes every one of those variables out of the
 * environment, so no worker inherits them and talks to systemd in the
 * master's name, and out of the block the kernel shows as
 * /proc/PID/environ too (sdnotify_scrub), so a forked worker's does not
 * show them either.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"

#define LISTEN_FDS_START	3	/* sd_listen_fds(3): fds start here */
#define STATUS_MIN_MS		1000	/* STATUS= at most once a second */

static int			notify_fd = -1;
static struct sockaddr_un	notify_addr;
static socklen_t		notify_len;
static uint64_t			watchdog_usec;
static int			listen_fd = -1;
static struct event		*watchdog_ev;
static struct event		*status_ev;
static uint64_t			status_last_ms;
static char			status_last[512];
static uint64_t			zombie_seen_ms;	/* an exit not yet reaped */

static void
sdnotify_open(const char *path)
{
	size_t	len = strlen(path);

	if ((path[0] != '/' && path[0] != '@') ||
	    len >= sizeof(notify_addr.sun_path)) {
		log_warnx("NOTIFY_SOCKET \"%s\" is not a socket path; not "
		    "notifying systemd", path);
		return;
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_len = offsetof(struct sockaddr_un, sun_path) + len;
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (notify_fd == -1)
		log_warn("NOTIFY_SOCKET: socket");
}

/* WATCHDOG_USEC applies to us unless WATCHDOG_PID names someone else. */
static void
sdnotify_watchdog_env(void)
{
	const char	*usec = getenv("WATCHDOG_USEC");
	const char	*pid = getenv("WATCHDOG_PID");
	char		*end;
	unsigned long long v;

	if (usec == NULL)
		return;
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
		return;
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0) {
		log_warnx("WATCHDOG_USEC \"%s\" is not a number of "
		    "microseconds; no watchdog", usec);
		return;
	}
	watchdog_usec = v;
}

/* Is fd a listening Unix stream socket, as socket activation must give? */
static int
sdnotify_check_listener(int fd)
{
	struct sockaddr_un	sun;
	socklen_t		len = sizeof(int), slen = sizeof(sun);
	int			type, accepting;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM)
		return (-1);
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == -1 ||
	    !accepting)
		return (-1);
	if (getsockname(fd, (struct sockaddr *)&sun, &slen) == -1 ||
	    sun.sun_family != AF_UNIX)
		return (-1);
	return (0);
}

static void
sdnotify_listen_env(void)
{
	const char	*pid = getenv("LISTEN_PID");
	const char	*fds = getenv("LISTEN_FDS");
	long		 n;

	if (pid == NULL || fds == NULL)
		return;
	if (strtol(pid, NULL, 10) != (long)getpid())
		return;
	if ((n = strtol(fds, NULL, 10)) < 1)
		return;
	if (n > 1)
		log_warnx("socket activation passed %ld sockets; using the "
		    "first, fd %d", n, LISTEN_FDS_START);
	if (sdnotify_check_listener(LISTEN_FDS_START) == -1) {
		log_warnx("socket activation: fd %d is not a listening Unix "
		    "stream socket; ignoring it", LISTEN_FDS_START);
		return;
	}
	listen_fd = LISTEN_FDS_START;
}

static const char *const sdnotify_vars[] = {
	"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID",
	"LISTEN_FDS", "LISTEN_FDNAMES", NULL
};

/* Is the string "NAME=value" one of systemd's variables? */
static int
sdnotify_is_var(const char *s)
{
	size_t	i, len;

	for (i = 0; sdnotify_vars[i] != NULL; i++) {
		len = strlen(sdnotify_vars[i]);
		if (strncmp(s, sdnotify_vars[i], len) == 0 && s[len] == '=')
			return (1);
	}
	return (0);
}

/*
 * Where the kernel keeps the environment we were exec'ed with, the block
 * /proc/PID/environ shows: fields 50 and 51 of /proc/self/stat (proc(5)),
 * counted after the command name, which may hold blanks and parentheses.
 */
static int
sdnotify_env_block(char **start, char **end)
{
	char		 buf[2048], *p;
	uintmax_t	 s = 0, e = 0;
	size_t		 n;
	FILE		*fp;
	int		 field;

	if ((fp = fopen("/proc/self/stat", "re")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return (-1);
	/* p is at the end of field 2; fields are single blanks apart. */
	for (field = 2; field < 50 && (p = strchr(p + 1, ' ')) != NULL; field++)
		;
	if (p == NULL || sscanf(p, " %ju %ju", &s, &e) != 2 || s == 0 || e <= s)
		return (-1);
	*start = (char *)(uintptr_t)s;
	*end = (char *)(uintptr_t)e;
	return (0);
}

/*
 * unsetenv() only drops a pointer: the kernel still shows the block we
 * were exec'ed with, and every forked worker shares it.  So, as
 * setproctitle() implementations do, overwrite those strings in the block
 * itself, in place (other strings there stay where they are: getenv()
 * results point into them), once they have been read and taken out of
 * environ.  /proc/PID/environ shows empty strings where they were.
 */
static void
sdnotify_scrub(void)
{
	extern char	**environ;
	char		 *start = NULL, *end = NULL, *found[16];
	size_t		  i, n = 0;

	for (i = 0; environ != NULL && environ[i] != NULL; i++)
		if (sdnotify_is_var(environ[i]) &&
		    n < sizeof(found) / sizeof(found[0]))
			found[n++] = environ[i];
	if (n > 0 && sdnotify_env_block(&start, &end) == -1)
		n = 0;
	for (i = 0; sdnotify_vars[i] != NULL; i++)
		unsetenv(sdnotify_vars[i]);
	for (i = 0; i < n; i++)
		if (found[i] >= start && found[i] < end)
			memset(found[i], 0, strnlen(found[i], end - found[i]));
}

/* Read and remove every systemd variable. */
void
sdnotify_init(void)
{
	const char	*path = getenv("NOTIFY_SOCKET");

	if (path != NULL && *path != '\0')
		sdnotify_open(path);
	sdnotify_watchdog_env();
	sdnotify_listen_env();
	sdnotify_scrub();
}

/* The socket systemd passed us, or -1. */
int
sdnotify_listen_fd(void)
{
	return (listen_fd);
}

/* Send one message ("READY=1", "STATUS=...") to systemd, if it listens. */
void
sdnotify_send(const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;
	int	n;

	if (notify_fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	if (sendto(notify_fd, msg, n, MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_len) == -1)
		log_debug("NOTIFY_SOCKET: sendto: %s", strerror(errno));
}

/*
 * The loop is healthy when this timer runs at all (the loop turns over)
 * and no child has stayed dead and unreaped for longer than half the
 * interval (SIGCHLD still reaches us).  Otherwise stay silent and let
 * systemd's watchdog act.
 */
static void
sdnotify_watchdog_cb(evutil_socket_t fd, short events, void *arg)
{
	siginfo_t	info;
	uint64_t	now = clock_now_ms();

	(void)fd;
	(void)events;
	(void)arg;
	memset(&info, 0, sizeof(info));
	if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    info.si_pid != 0) {
		if (zombie_seen_ms == 0)
			zombie_seen_ms = now;
		if (now - zombie_seen_ms > watchdog_usec / 2000) {
			log_warnx("watchdog: child %ld has been dead and "
			    "unreaped for %llu ms; not pinging systemd",
			    (long)info.si_pid, (unsigned long long)(now -
			    zombie_seen_ms));
			return;
		}
	} else
		zombie_seen_ms = 0;
	sdnotify_send("WATCHDOG=1");
}

static void
sdnotify_status_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	sdnotify_status(NULL);
}

/* Start the watchdog timer, at half the interval systemd gave. */
void
sdnotify_start(struct event_base *base)
{
	struct timeval	tv;
	uint64_t	half = watchdog_usec / 2;

	status_ev = evtimer_new(base, sdnotify_status_cb, NULL);
	if (watchdog_usec == 0)
		return;
	watchdog_ev = event_new(base, -1, EV_PERSIST, sdnotify_watchdog_cb,
	    NULL);
	if (watchdog_ev == NULL)
		fatalx("watchdog: event_new");
	tv.tv_sec = half / 1000000;
	tv.tv_usec = half % 1000000;
	event_add(watchdog_ev, &tv);
	log_info("watchdog: pinging systemd every %.3f s", half / 1e6);
}

void
sdnotify_stop(void)
{
	if (watchdog_ev != NULL)
		event_free(watchdog_ev);
	if (status_ev != NULL)
		event_free(status_ev);
	watchdog_ev = status_ev = NULL;
}

/*
 * A STATUS= line for `systemctl status`, at most once a second: a change
 * within the second is sent when the second is up.  line NULL means "the
 * one last asked for".
 */
void
sdnotify_status(const char *line)
{
	uint64_t	now = clock_now_ms();
	struct timeval	tv;

	if (notify_fd == -1)
		return;
	if (line != NULL) {
		if (strcmp(line, status_last) == 0)
			return;
		snprintf(status_last, sizeof(status_last), "%s", line);
	}
	if (now - status_last_ms < STATUS_MIN_MS) {
		if (status_ev != NULL && !evtimer_pending(status_ev, NULL)) {
			tv.tv_sec = 0;
			tv.tv_usec = (STATUS_MIN_MS - (now - status_last_ms)) *
			    1000;
			evtimer_add(status_ev, &tv);
		}
		return;
	}
	status_last_ms = now;
	sdnotify_send("STATUS=%s", status_last);
}

/* The monotonic clock in microseconds, as RELOADING=1 wants it. */
uint64_t
sdnotify_monotonic_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

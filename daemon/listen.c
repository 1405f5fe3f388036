/*
 * The listening socket: created (never over a live daemon's), accepted
 * from, and removed at exit.  Accepting is paused, not spun, when the
 * process runs out of descriptors; clients past max_clients are accepted
 * and closed at once so the backlog cannot grow without bound.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"

static char		 listen_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static uint64_t		 last_refusal_log;

static void	listen_events(int);
static void	listen_accept_cb(evutil_socket_t, short, void *);
static void	listen_resume_cb(evutil_socket_t, short, void *);

static int
listen_addr(const char *path, struct sockaddr_un *sun, char *err,
    size_t errlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "socket path %s is too long (at most "
		    "%zu bytes)", path, sizeof(sun->sun_path) - 1);
		return (-1);
	}
	strcpy(sun->sun_path, path);
	return (0);
}

/*
 * Refuse a path where a live daemon answers; remove a stale socket; leave
 * anything that is not a socket alone.
 */
static int
listen_clear(const char *path, const struct sockaddr_un *sun, char *err,
    size_t errlen)
{
	struct stat	st;
	int		fd, rc;

	if (lstat(path, &st) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; remove "
		    "it or choose another socket path", path);
		return (-1);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (-1);
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another forkpoold is already listening "
		    "on %s; stop it first, or give this one another socket "
		    "(-s)", path);
		return (-1);
	}
	log_info("removing stale socket %s", path);
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s",
		    path, strerror(errno));
		return (-1);
	}
	return (0);
}

/* Create the listening socket at path with mode.  0, or -1 and err. */
int
listen_open(const char *path, mode_t mode, char *err, size_t errlen)
{
	struct sockaddr_un	sun;
	int			fd;

	if (listen_addr(path, &sun, err, errlen) == -1 ||
	    listen_clear(path, &sun, err, errlen) == -1)
		return (-1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (-1);
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errlen, "cannot bind %s: %s%s", path,
		    strerror(errno), errno == ENOENT ? " (does its directory "
		    "exist?)" : "");
		close(fd);
		return (-1);
	}
	snprintf(listen_path, sizeof(listen_path), "%s", path);
	if (chmod(path, mode) == -1 || (master->conf->socket_gid != -1 &&
	    chown(path, -1, (gid_t)master->conf->socket_gid) == -1) ||
	    listen(fd, SOMAXCONN) == -1) {
		snprintf(err, errlen, "cannot listen on %s: %s", listen_path,
		    strerror(errno));
		close(fd);
		unlink(listen_path);
		listen_path[0] = '\0';
		return (-1);
	}
	listen_events(fd);
	log_info("listening on %s", path);
	return (0);
}

static void
listen_events(int fd)
{
	master->listen_fd = fd;
	master->listen_ev = event_new(master->base, fd, EV_READ | EV_PERSIST,
	    listen_accept_cb, NULL);
	master->accept_pause = evtimer_new(master->base, listen_resume_cb,
	    NULL);
	if (master->listen_ev == NULL || master->accept_pause == NULL)
		fatalx("listen: event_new");
}

/*
 * Serve on a socket systemd passed us.  It is systemd's: we never chmod,
 * shut down or unlink it, so listen_path stays empty.
 */
int
listen_adopt(int fd, char *err, size_t errlen)
{
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1) {
		snprintf(err, errlen, "socket activation: fd %d: %s", fd,
		    strerror(errno));
		return (-1);
	}
	listen_events(fd);
	return (0);
}

void
listen_start(void)
{
	if (master->listen_ev != NULL)
		event_add(master->listen_ev, NULL);
}

/* Out of descriptors: stop accepting for a moment rather than spin. */
static void
listen_pause(void)
{
	struct timeval	tv = { 0, 100000 };

	event_del(master->listen_ev);
	evtimer_add(master->accept_pause, &tv);
}

static void
listen_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	if (!master->stopping)
		listen_start();
}

/* A client left: if accepting was paused for descriptors, try again. */
void
listen_client_gone(void)
{
	if (master->listen_ev != NULL &&
	    evtimer_pending(master->accept_pause, NULL)) {
		evtimer_del(master->accept_pause);
		if (!master->stopping)
			listen_start();
	}
}

static void
listen_accept_cb(evutil_socket_t lfd, short events, void *arg)
{
	uint64_t	now;
	int		fd;

	(void)events;
	(void)arg;
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("accept");
				listen_pause();
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (client_count() >= master->conf->max_clients) {
			now = master_now_ms();
			if (now - last_refusal_log >= 1000) {
				log_warnx("refusing a client: max_clients "
				    "(%u) are connected",
				    master->conf->max_clients);
				last_refusal_log = now;
			}
			close(fd);
			continue;
		}
		client_accept(fd);
	}
}

/* Stop accepting for good (at stop) and remove the socket file. */
void
listen_close(void)
{
	if (master->listen_ev != NULL) {
		event_free(master->listen_ev);
		master->listen_ev = NULL;
		event_free(master->accept_pause);
		master->accept_pause = NULL;
	}
	if (master->listen_fd != -1) {
		close(master->listen_fd);
		master->listen_fd = -1;
	}
	if (listen_path[0] != '\0') {
		unlink(listen_path);
		listen_path[0] = '\0';
	}
}

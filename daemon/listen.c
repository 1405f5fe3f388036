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

#include "forkpool/client.h"
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
 * anything that is not a socket alone.  Only ECONNREFUSED proves a socket
 * stale: EACCES (a socket_mode of 0400, another user's socket) or anything
 * else may hide a live daemon, and unlinking it would steal its clients.
 */
static int
listen_clear(const char *path, const struct sockaddr_un *sun, char *err,
    size_t errlen)
{
	struct stat	st;
	int		fd, rc, error;

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
	error = errno;
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another forkpoold is already listening "
		    "on %s; stop it first, or give this one another socket "
		    "(-s)", path);
		return (-1);
	}
	if (error != ECONNREFUSED) {
		snprintf(err, errlen, "cannot tell whether a daemon listens on "
		    "%s (connect: %s); refusing to start rather than remove "
		    "it: stop that daemon, or remove the socket yourself if "
		    "it is stale", path, strerror(error));
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

/*
 * The directory a socket goes in decides who can replace it: whoever may
 * write there can unlink our socket and listen in its place.  Refuse one
 * that others can write to without the sticky bit; warn about one that
 * is merely shared.
 */
static int
listen_check_dir(const char *path, char *err, size_t errlen)
{
	struct stat	 st;
	char		 dir[sizeof(listen_path)], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) == -1)
		return (0);	/* bind says why, naming the path */
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		snprintf(err, errlen, "refusing to create the socket in %s: "
		    "anyone can write to that directory (mode %04o, no sticky "
		    "bit), so anyone could replace the socket; use a "
		    "directory only this user can write to", dir,
		    (unsigned)(st.st_mode & 07777));
		return (-1);
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		log_warnx("the socket's directory %s can be written by %s "
		    "(mode %04o): they could replace the socket; prefer a "
		    "directory only this user can write to", dir,
		    (st.st_mode & S_IWOTH) ? "every user" : "its group",
		    (unsigned)(st.st_mode & 07777));
	return (0);
}

/*
 * A directory of our own for the per-user socket: created 0700, or, if it
 * is already there, a real directory (not a symlink) owned by us that no
 * one else may enter or write.  Anything else may be a trap laid by
 * another user, so we refuse to start.
 */
static int
listen_own_dir(const char *dir, char *err, size_t errlen)
{
	struct stat	st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir,
		    strerror(errno));
		return (-1);
	}
	if (lstat(dir, &st) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IXGRP | S_IWOTH | S_IXOTH)) != 0) {
		snprintf(err, errlen, "refusing to use %s for the socket: it "
		    "is %s owned by uid %lu with mode %04o, where a directory "
		    "owned by uid %lu with no group or other write or search "
		    "permission was expected; another user may have made it. "
		    "Remove it, or choose a socket with -s", dir,
		    S_ISLNK(st.st_mode) ? "a symbolic link" :
		    S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
		    (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777),
		    (unsigned long)geteuid());
		return (-1);
	}
	return (0);
}

/*
 * The daemon's socket when nothing names one: the system socket for root
 * (its directory made 0755 if missing), $XDG_RUNTIME_DIR/forkpool.sock,
 * else /tmp/forkpool-UID/forkpool.sock in a directory of our own; never a
 * socket directly in a shared directory.  buf, or NULL and err.
 */
char *
listen_default_path(char *buf, size_t len, char *err, size_t errlen)
{
	const char	*xdg = getenv("XDG_RUNTIME_DIR");
	char		 dir[128];
	int		 n;

	if (geteuid() == 0) {
		if (mkdir(FP_SYSTEM_SOCKET_DIR, 0755) == -1 &&
		    errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s",
			    FP_SYSTEM_SOCKET_DIR, strerror(errno));
			return (NULL);
		}
		n = snprintf(buf, len, "%s/forkpool.sock",
		    FP_SYSTEM_SOCKET_DIR);
	} else if (xdg != NULL && *xdg != '\0')
		n = snprintf(buf, len, "%s/forkpool.sock", xdg);
	else {
		snprintf(dir, sizeof(dir), "/tmp/forkpool-%lu",
		    (unsigned long)geteuid());
		if (listen_own_dir(dir, err, errlen) == -1)
			return (NULL);
		n = snprintf(buf, len, "%s/forkpool.sock", dir);
	}
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "the default socket path does not fit; "
		    "use -s");
		return (NULL);
	}
	return (buf);
}

/* Create the listening socket at path with mode.  0, or -1 and err. */
int
listen_open(const char *path, mode_t mode, char *err, size_t errlen)
{
	struct sockaddr_un	sun;
	int			fd;

	if (listen_addr(path, &sun, err, errlen) == -1 ||
	    listen_check_dir(path, err, errlen) == -1 ||
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
			now = clock_now_ms();
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

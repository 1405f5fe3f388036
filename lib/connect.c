/*
 * libforkpool: finding the daemon's socket, connecting to it, and deciding
 * whether to trust whoever listens there (fp_socket_path, fp_connect,
 * fp_connect_trust).
 *
 * Its own file because it is its own job, with its own worries: the
 * default search's order, abstract names, and above all the trust rule
 * that stops a stranger's socket from reading our tasks.  Nothing here
 * touches frames; once connected, the handle belongs to client.c.
 *
 * Never logs, exits or touches signals: every failure is kept in the
 * handle as a code and a sentence.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_int.h"
#include "forkpool/client.h"
#include "forkpool/proto.h"

/*
 * The per-user socket: $XDG_RUNTIME_DIR/forkpool.sock, else
 * /tmp/forkpool-UID/forkpool.sock (the real uid).  -1 when it does not fit.
 */
static int
connect_user_path(char *buf, size_t len)
{
	const char	*xdg = getenv("XDG_RUNTIME_DIR");
	int		 n;

	if (xdg != NULL && *xdg != '\0')
		n = snprintf(buf, len, "%s/forkpool.sock", xdg);
	else
		n = snprintf(buf, len, "/tmp/forkpool-%lu/forkpool.sock",
		    (unsigned long)getuid());
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

char *
fp_socket_path(const char *explicit_path, char *buf, size_t len)
{
	const char	*env;
	struct stat	 st;
	int		 n;

	if (explicit_path != NULL)
		n = snprintf(buf, len, "%s", explicit_path);
	else if ((env = getenv("FORKPOOL_SOCKET")) != NULL && *env != '\0')
		n = snprintf(buf, len, "%s", env);
	else if (getuid() != 0 && connect_user_path(buf, len) == 0 &&
	    stat(buf, &st) == 0)
		return (buf);
	else
		n = snprintf(buf, len, "%s", FP_SYSTEM_SOCKET);
	if (n < 0 || (size_t)n >= len)
		return (NULL);
	return (buf);
}

/* Is uid named in list: user names or numbers, separated by commas? */
static int
connect_listed(uid_t uid, const char *list)
{
	struct passwd	 pw, *res;
	char		 name[256], pwbuf[16384], *end;
	const char	*p, *comma;
	unsigned long	 v;
	size_t		 n;

	for (p = list; p != NULL && *p != '\0'; p = comma != NULL ?
	    comma + 1 : NULL) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0 || n >= sizeof(name))
			continue;
		memcpy(name, p, n);
		name[n] = '\0';
		errno = 0;
		v = strtoul(name, &end, 10);
		if (*end == '\0' && errno == 0) {
			if (v == (unsigned long)uid)
				return (1);
			continue;
		}
		if (getpwnam_r(name, &pw, pwbuf, sizeof(pwbuf), &res) == 0 &&
		    res != NULL && res->pw_uid == uid)
			return (1);
	}
	return (0);
}

/*
 * May we talk to a daemon running as uid on this socket?  Root, ourselves,
 * or the owner of the socket's directory when nobody else can write there
 * (the installed /run/forkpool): anyone else could have put a socket in
 * our way to read our tasks and answer them.
 */
static int
connect_peer_trusted(struct fp_client *c, uid_t uid)
{
	struct stat	 st;
	char		 dir[sizeof(c->path)], *slash;

	if (uid == 0 || uid == geteuid() ||
	    connect_listed(uid, getenv("FORKPOOL_TRUST_USER")) ||
	    connect_listed(uid, c->trust))
		return (1);
	if (c->path[0] == '@')		/* abstract: no directory */
		return (0);
	snprintf(dir, sizeof(dir), "%s", c->path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	return (stat(dir, &st) == 0 && st.st_uid == uid &&
	    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0);
}

/* Check whom we connected to, before a byte is sent. */
static int
connect_check_peer(struct fp_client *c, int fd)
{
	struct ucred	 cred;
	struct passwd	 pw, *res;
	socklen_t	 len = sizeof(cred);
	char		 pwbuf[16384], name[300] = "", user[64];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return (fp_client_fail(c, FP_CLIENT_ECONNECT, "cannot check "
		    "who listens on %s: SO_PEERCRED: %s", c->path,
		    strerror(errno)));
	if (connect_peer_trusted(c, cred.uid))
		return (0);
	snprintf(user, sizeof(user), "%lu", (unsigned long)cred.uid);
	if (getpwuid_r(cred.uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 &&
	    res != NULL) {
		snprintf(name, sizeof(name), " (%s)", res->pw_name);
		snprintf(user, sizeof(user), "%s", res->pw_name);
	}
	return (fp_client_fail(c, FP_CLIENT_EUNTRUSTED, "refusing to use %s: "
	    "the process listening there runs as uid %lu%s, which is not "
	    "root, not you, and not the owner of a directory only its owner "
	    "can write; if you trust that user, set FORKPOOL_TRUST_USER=%s "
	    "(or pass it to fp_connect_trust)", c->path,
	    (unsigned long)cred.uid, name, user));
}

/* A hint for a person after a failed connect, or "" when there is none. */
static const char *
connect_hint(int error)
{
	switch (error) {
	case ENOENT:
	case ECONNREFUSED:
		return (" (is forkpoold running? set FORKPOOL_SOCKET or use "
		    "-s)");
	case EACCES:
	case EPERM:
		return (" (may this user use the socket? check its owner and "
		    "mode)");
	case EAGAIN:
		return (" (the daemon is not accepting fast enough; try "
		    "again)");
	default:
		return ("");
	}
}

/*
 * Nothing at the default search's end: name both places looked at, so a
 * person knows what to start or set.
 */
static int
connect_not_found(struct fp_client *c)
{
	char	user[sizeof(c->path)];

	if (getuid() == 0 || connect_user_path(user, sizeof(user)) == -1)
		return (fp_client_fail(c, FP_CLIENT_ECONNECT, "cannot connect "
		    "to %s: %s (is forkpoold running? start it, or set "
		    "FORKPOOL_SOCKET or use -s)", c->path, strerror(ENOENT)));
	return (fp_client_fail(c, FP_CLIENT_ECONNECT, "no forkpoold socket: "
	    "tried %s and %s, and neither exists (is forkpoold running? "
	    "start it, or set FORKPOOL_SOCKET or use -s)", user, c->path));
}

/*
 * Open and connect the socket, then check whom we reached; on failure the
 * handle holds why.  A path starting with '@' is an abstract socket.
 */
static int
connect_open(struct fp_client *c)
{
	struct sockaddr_un	 sun;
	socklen_t		 sunlen;
	size_t			 plen = strlen(c->path);
	int			 fd, flags, error;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (plen >= sizeof(sun.sun_path))
		return (fp_client_fail(c, FP_CLIENT_ECONNECT,
		    "cannot connect to %s: the path is longer than %zu bytes",
		    c->path, sizeof(sun.sun_path) - 1));
	memcpy(sun.sun_path, c->path, plen);
	sunlen = sizeof(sun);
	if (c->path[0] == '@') {
		sun.sun_path[0] = '\0';
		sunlen = offsetof(struct sockaddr_un, sun_path) + plen;
	}

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (fp_client_fail(c, FP_CLIENT_ECONNECT,
		    "cannot connect to %s: socket: %s", c->path,
		    strerror(errno)));
	/*
	 * Connect while still blocking: a non-blocking connect on a Unix
	 * socket fails with EAGAIN instead of waiting when the backlog is
	 * full, and there is nothing useful to do meanwhile.
	 */
	while (connect(fd, (struct sockaddr *)&sun, sunlen) == -1) {
		if (errno == EINTR)
			continue;
		error = errno;
		close(fd);
		if (error == ENOENT && c->defaulted)
			return (connect_not_found(c));
		return (fp_client_fail(c, FP_CLIENT_ECONNECT,
		    "cannot connect to %s: %s%s", c->path, strerror(error),
		    connect_hint(error)));
	}
	if (connect_check_peer(c, fd) == -1) {
		close(fd);
		return (-1);
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		error = errno;
		close(fd);
		return (fp_client_fail(c, FP_CLIENT_ECONNECT,
		    "cannot connect to %s: fcntl: %s", c->path,
		    strerror(error)));
	}
	c->fd = fd;
	return (0);
}

struct fp_client *
fp_connect(const char *path)
{
	return (fp_connect_trust(path, NULL));
}

struct fp_client *
fp_connect_trust(const char *path, const char *users)
{
	struct fp_client	*c;
	const char		*env = getenv("FORKPOOL_SOCKET");

	if ((c = fp_client_new(users)) == NULL)
		return (NULL);
	c->defaulted = path == NULL && (env == NULL || *env == '\0');

	if (fp_socket_path(path, c->path, sizeof(c->path)) == NULL) {
		/* Keep a readable prefix of the path for the message. */
		c->path[sizeof(c->path) - 1] = '\0';
		fp_client_fail(c, FP_CLIENT_ECONNECT,
		    "cannot connect to %s...: the socket path is too long",
		    c->path);
		return (c);
	}
	connect_open(c);
	return (c);
}

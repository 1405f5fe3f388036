/*
 * libforkpool: the client API (forkpool/client.h).
 *
 * One handle is one connection.  The socket is non-blocking; the blocking
 * calls wait with poll().  Requests are appended to one output buffer and
 * written with as few send() calls as the kernel allows, so pipelining
 * hundreds of small frames costs one system call, not one per frame.
 * Replies are read in large chunks into the codec's reader.  Replies that
 * arrive while a blocking call waits for its own are kept, in arrival
 * order, for fp_recv().
 *
 * Never logs, exits or touches signals: send() uses MSG_NOSIGNAL, and every
 * failure is kept in the handle as a code and a sentence.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forkpool/client.h"
#include "forkpool/proto.h"
#include "proto_int.h"

#define CLIENT_READ_CHUNK	(128 * 1024)
#define CLIENT_ERRSTR_LEN	512
#define CLIENT_BACKOFF_MIN_MS	1	/* OVERLOADED with nothing outstanding */
#define CLIENT_BACKOFF_MAX_MS	100

/*
 * The library's own requests (fp_submit, fp_ping, ...) use ids counted down
 * from the top of the range, far from the small ids callers pick.
 */
#define CLIENT_OWN_ID_FIRST	UINT64_MAX

struct fp_client {
	int		 fd;		/* -1 when not connected */
	int		 err;
	char		 errstr[CLIENT_ERRSTR_LEN];
	/* Room for a path too long for sun_path, to name it in the error. */
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
	char		*trust;		/* fp_connect_trust's users, or NULL */
	int		 defaulted;	/* path found by the default search */
	uint32_t	 max_payload;
	uint64_t	 own_id;	/* the next id of the library's own */
	int		 overloaded;	/* FP_OVERLOADED_WAIT or _RETURN */
	uint64_t	 outstanding;	/* SUBMITs sent and not yet answered */

	int		 dead;		/* a broken connection: no more calls */
	int		 dead_err;	/* and why, for every later call */
	char		 dead_errstr[CLIENT_ERRSTR_LEN];
	int		 eof;		/* the daemon closed its side */
	int		 wclosed;	/* writes fail: drop output, read on */
	int		 rerrno;	/* a read error not yet reported */

	/* Output: queued frames from out_off to out_len. */
	uint8_t		*out;
	size_t		 out_off;
	size_t		 out_len;
	size_t		 out_cap;

	/* Input: the codec's reader, fed from chunk. */
	struct fp_reader reader;
	uint8_t		*chunk;

	/* Replies kept for fp_recv(): a ring of kept_cap slots. */
	struct fp_reply	*kept;
	size_t		 kept_head;
	size_t		 kept_count;
	size_t		 kept_cap;
};

/* Record an error in the handle: its code and a sentence. */
static void
client_verror(struct fp_client *c, int err, const char *fmt, va_list ap)
{
	vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
	c->err = err;
}

/*
 * A failure that leaves the connection as it was (a bad argument, a
 * refusal, no memory for a request not yet queued): the next call may
 * succeed.
 */
static int
client_note(struct fp_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
client_note(struct fp_client *c, int err, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	client_verror(c, err, fmt, ap);
	va_end(ap);
	return (-1);
}

/* A failure that breaks the connection: every later call fails too. */
static int
client_error(struct fp_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
client_error(struct fp_client *c, int err, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	client_verror(c, err, fmt, ap);
	va_end(ap);
	c->dead = 1;
	c->dead_err = err;
	memcpy(c->dead_errstr, c->errstr, sizeof(c->dead_errstr));
	return (-1);
}

/* The call may go on: connected and not broken. */
static int
client_usable(struct fp_client *c)
{
	if (c->dead) {
		c->err = c->dead_err;
		memcpy(c->errstr, c->dead_errstr, sizeof(c->errstr));
		return (0);
	}
	if (c->fd == -1) {
		client_error(c, FP_CLIENT_EIO, "not connected");
		return (0);
	}
	return (1);
}

/*
 * The per-user socket: $XDG_RUNTIME_DIR/forkpool.sock, else
 * /tmp/forkpool-UID/forkpool.sock (the real uid).  -1 when it does not fit.
 */
static int
client_user_path(char *buf, size_t len)
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
	else if (getuid() != 0 && client_user_path(buf, len) == 0 &&
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
client_listed(uid_t uid, const char *list)
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
client_peer_trusted(struct fp_client *c, uid_t uid)
{
	struct stat	 st;
	char		 dir[sizeof(c->path)], *slash;

	if (uid == 0 || uid == geteuid() ||
	    client_listed(uid, getenv("FORKPOOL_TRUST_USER")) ||
	    client_listed(uid, c->trust))
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
client_check_peer(struct fp_client *c, int fd)
{
	struct ucred	 cred;
	struct passwd	 pw, *res;
	socklen_t	 len = sizeof(cred);
	char		 pwbuf[16384], name[300] = "", user[64];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return (client_error(c, FP_CLIENT_ECONNECT, "cannot check who "
		    "listens on %s: SO_PEERCRED: %s", c->path,
		    strerror(errno)));
	if (client_peer_trusted(c, cred.uid))
		return (0);
	snprintf(user, sizeof(user), "%lu", (unsigned long)cred.uid);
	if (getpwuid_r(cred.uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 &&
	    res != NULL) {
		snprintf(name, sizeof(name), " (%s)", res->pw_name);
		snprintf(user, sizeof(user), "%s", res->pw_name);
	}
	return (client_error(c, FP_CLIENT_EUNTRUSTED, "refusing to use %s: "
	    "the process listening there runs as uid %lu%s, which is not "
	    "root, not you, and not the owner of a directory only its owner "
	    "can write; if you trust that user, set FORKPOOL_TRUST_USER=%s "
	    "(or pass it to fp_connect_trust)", c->path,
	    (unsigned long)cred.uid, name, user));
}

/* A hint for a person after a failed connect, or "" when there is none. */
static const char *
client_connect_hint(int error)
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
client_not_found(struct fp_client *c)
{
	char	user[sizeof(c->path)];

	if (getuid() == 0 || client_user_path(user, sizeof(user)) == -1)
		return (client_error(c, FP_CLIENT_ECONNECT, "cannot connect "
		    "to %s: %s (is forkpoold running? start it, or set "
		    "FORKPOOL_SOCKET or use -s)", c->path, strerror(ENOENT)));
	return (client_error(c, FP_CLIENT_ECONNECT, "no forkpoold socket: "
	    "tried %s and %s, and neither exists (is forkpoold running? "
	    "start it, or set FORKPOOL_SOCKET or use -s)", user, c->path));
}

/*
 * Open and connect the socket, then check whom we reached; on failure the
 * handle holds why.  A path starting with '@' is an abstract socket.
 */
static int
client_open(struct fp_client *c)
{
	struct sockaddr_un	 sun;
	socklen_t		 sunlen;
	size_t			 plen = strlen(c->path);
	int			 fd, flags, error;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (plen >= sizeof(sun.sun_path))
		return (client_error(c, FP_CLIENT_ECONNECT,
		    "cannot connect to %s: the path is longer than %zu bytes",
		    c->path, sizeof(sun.sun_path) - 1));
	memcpy(sun.sun_path, c->path, plen);
	sunlen = sizeof(sun);
	if (c->path[0] == '@') {
		sun.sun_path[0] = '\0';
		sunlen = offsetof(struct sockaddr_un, sun_path) + plen;
	}

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (client_error(c, FP_CLIENT_ECONNECT,
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
			return (client_not_found(c));
		return (client_error(c, FP_CLIENT_ECONNECT,
		    "cannot connect to %s: %s%s", c->path, strerror(error),
		    client_connect_hint(error)));
	}
	if (client_check_peer(c, fd) == -1) {
		close(fd);
		return (-1);
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		error = errno;
		close(fd);
		return (client_error(c, FP_CLIENT_ECONNECT,
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

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->fd = -1;
	c->max_payload = FP_DEFAULT_MAX_PAYLOAD;
	c->own_id = CLIENT_OWN_ID_FIRST;
	fp_reader_init(&c->reader, FP_DEFAULT_MAX_PAYLOAD);
	if ((c->chunk = malloc(CLIENT_READ_CHUNK)) == NULL ||
	    (users != NULL && (c->trust = strdup(users)) == NULL)) {
		free(c->chunk);
		free(c);
		return (NULL);
	}
	c->defaulted = path == NULL && (env == NULL || *env == '\0');

	if (fp_socket_path(path, c->path, sizeof(c->path)) == NULL) {
		/* Keep a readable prefix of the path for the message. */
		c->path[sizeof(c->path) - 1] = '\0';
		client_error(c, FP_CLIENT_ECONNECT,
		    "cannot connect to %s...: the socket path is too long",
		    c->path);
		return (c);
	}
	client_open(c);
	return (c);
}

void
fp_close(struct fp_client *c)
{
	size_t	i;

	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	for (i = 0; i < c->kept_count; i++)
		fp_reply_free(&c->kept[(c->kept_head + i) % c->kept_cap]);
	free(c->kept);
	fp_reader_free(&c->reader);
	free(c->chunk);
	free(c->out);
	free(c->trust);
	free(c);
}

int
fp_client_err(const struct fp_client *c)
{
	return (c->err);
}

const char *
fp_client_errstr(const struct fp_client *c)
{
	if (c->err == FP_CLIENT_OK)
		return ("no error");
	return (c->errstr);
}

int
fp_client_fd(const struct fp_client *c)
{
	return (c->fd);
}

const char *
fp_client_path(const struct fp_client *c)
{
	return (c->path);
}

void
fp_client_set_max_payload(struct fp_client *c, uint32_t max)
{
	c->max_payload = max;
	/* Outputs may be as large as the payloads we are allowed to send. */
	c->reader.max_body = max > FP_DEFAULT_MAX_PAYLOAD ? max :
	    FP_DEFAULT_MAX_PAYLOAD;
}

void
fp_client_set_overloaded(struct fp_client *c, int mode)
{
	c->overloaded = mode == FP_OVERLOADED_RETURN ? FP_OVERLOADED_RETURN :
	    FP_OVERLOADED_WAIT;
}

size_t
fp_pending(const struct fp_client *c)
{
	return (c->out_len - c->out_off);
}

/* Make room for need more bytes of output. */
static int
client_out_reserve(struct fp_client *c, size_t need)
{
	size_t	 cap;
	uint8_t	*nout;

	/* Slide what is still unsent to the front before growing. */
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_cap - c->out_len >= need)
		return (0);
	if (need > SIZE_MAX / 2 - c->out_len)
		return (-1);
	cap = c->out_cap == 0 ? 16384 : c->out_cap;
	while (cap - c->out_len < need)
		cap *= 2;
	if ((nout = realloc(c->out, cap)) == NULL)
		return (-1);
	c->out = nout;
	c->out_cap = cap;
	return (0);
}

/* Append one frame whose body is the concatenation of two parts. */
static int
client_queue(struct fp_client *c, uint8_t type, uint16_t arg, uint64_t id,
    const void *part1, size_t len1, const void *part2, size_t len2)
{
	if (!client_usable(c))
		return (-1);
	if (len1 > UINT32_MAX || len2 > UINT32_MAX - len1)
		return (client_note(c, FP_CLIENT_EUSAGE,
		    "a frame body of %zu bytes does not fit the protocol's "
		    "32-bit length", len1 + len2));
	/* After a write failure, nothing more can reach the daemon. */
	if (c->wclosed)
		return (client_error(c, FP_CLIENT_ECLOSED,
		    "the daemon closed the connection"));
	if (client_out_reserve(c, FP_HDR_LEN + len1 + len2) == -1)
		return (client_note(c, FP_CLIENT_ENOMEM,
		    "out of memory queueing a request of %zu bytes",
		    len1 + len2));

	fp_hdr_put(c->out + c->out_len, type, arg, id, (uint32_t)(len1 + len2));
	c->out_len += FP_HDR_LEN;
	if (len1 > 0) {
		memcpy(c->out + c->out_len, part1, len1);
		c->out_len += len1;
	}
	if (len2 > 0) {
		memcpy(c->out + c->out_len, part2, len2);
		c->out_len += len2;
	}
	return (0);
}

/* Check a SUBMIT's pool name and payload before anything is queued. */
static int
client_check_submit(struct fp_client *c, const char *pool, size_t len)
{
	if (pool == NULL)
		return (client_note(c, FP_CLIENT_EUSAGE,
		    "no pool name given"));
	if (!fp_pool_name_valid(pool, strlen(pool)))
		return (client_note(c, FP_CLIENT_EUSAGE,
		    "invalid pool name \"%.*s\": use 1 to %d characters of "
		    "A-Z a-z 0-9 _ . -", FP_POOL_NAME_MAX + 1, pool,
		    FP_POOL_NAME_MAX));
	if (len > c->max_payload)
		return (client_note(c, FP_CLIENT_EUSAGE,
		    "a payload of %zu bytes is over the limit of %lu bytes",
		    len, (unsigned long)c->max_payload));
	return (0);
}

int
fp_send_submit(struct fp_client *c, uint64_t id, const char *pool,
    const void *payload, size_t len)
{
	if (client_check_submit(c, pool, len) == -1)
		return (-1);
	if (client_queue(c, FP_SUBMIT, (uint16_t)strlen(pool), id, pool,
	    strlen(pool), payload, len) == -1)
		return (-1);
	c->outstanding++;
	return (0);
}

int
fp_send_cancel(struct fp_client *c, uint64_t id)
{
	return (client_queue(c, FP_CANCEL, 0, id, NULL, 0, NULL, 0));
}

int
fp_send(struct fp_client *c, uint8_t type, uint16_t arg, uint64_t id,
    const void *body, size_t len)
{
	return (client_queue(c, type, arg, id, body, len, NULL, 0));
}

/*
 * Write as much of the output as the socket takes now: 0 all written, 1
 * some left, -1 on an error.  A daemon that closed its side sets wclosed
 * and drops the output, so that its last replies can still be read.
 */
static int
client_write(struct fp_client *c)
{
	ssize_t	n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (1);
			if (errno == EPIPE || errno == ECONNRESET) {
				c->wclosed = 1;
				c->out_off = c->out_len = 0;
				return (-1);
			}
			return (client_error(c, FP_CLIENT_EIO,
			    "cannot write to %s: %s", c->path,
			    strerror(errno)));
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return (0);
}

int
fp_flush(struct fp_client *c)
{
	int	rc;

	if (!client_usable(c))
		return (-1);
	if (c->wclosed)
		return (client_error(c, FP_CLIENT_ECLOSED,
		    "the daemon closed the connection"));
	if ((rc = client_write(c)) == -1 && c->wclosed)
		return (client_error(c, FP_CLIENT_ECLOSED,
		    "the daemon closed the connection"));
	return (rc);
}

/*
 * Read one chunk into the reader: 1 bytes came, 0 nothing now, -1 out of
 * memory.  End of file and read errors are remembered (eof, rerrno) and
 * reported once the frames read before them have been taken.
 */
static int
client_read(struct fp_client *c)
{
	ssize_t	n;

	if (c->eof || c->rerrno != 0)
		return (0);
	for (;;) {
		n = recv(c->fd, c->chunk, CLIENT_READ_CHUNK, 0);
		if (n > 0)
			break;
		/*
		 * A daemon that closes with our request still unread in its
		 * socket makes the kernel report ECONNRESET after the last
		 * byte it sent: that is a close, not an I/O failure.
		 */
		if (n == 0 || (n == -1 && errno == ECONNRESET)) {
			c->eof = 1;
			return (0);
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			c->rerrno = errno;
		return (0);
	}
	if (fp_reader_feed(&c->reader, c->chunk, (size_t)n) == -1)
		return (client_error(c, FP_CLIENT_ENOMEM,
		    "out of memory reading a reply"));
	return (1);
}

/* The last kept reply, if it is an ERROR, explains a close: say it. */
static int
client_closed(struct fp_client *c)
{
	struct fp_reply	*r;

	if (c->rerrno != 0)
		return (client_error(c, FP_CLIENT_EIO,
		    "cannot read from %s: %s", c->path, strerror(c->rerrno)));
	if (c->reader.len - c->reader.off > 0)
		return (client_error(c, FP_CLIENT_ECLOSED,
		    "the daemon closed the connection in the middle of a "
		    "frame"));
	if (c->kept_count > 0) {
		r = &c->kept[(c->kept_head + c->kept_count - 1) % c->kept_cap];
		if (r->type == FP_ERROR)
			return (client_error(c, FP_CLIENT_ECLOSED,
			    "the daemon closed the connection after %s: %.*s",
			    fp_err_name(r->arg), (int)r->len, r->data));
	}
	return (client_error(c, FP_CLIENT_ECLOSED,
	    "the daemon closed the connection"));
}

/*
 * Take the next whole frame from the reader: 1 and reply filled, 0 when
 * more bytes are needed, -1 on an error.
 */
static int
client_next(struct fp_client *c, struct fp_reply *reply)
{
	struct fp_hdr	 hdr;
	const uint8_t	*body;
	int		 rc;

	if ((rc = fp_reader_next(&c->reader, &hdr, &body)) == 0)
		return (0);
	if (rc == -1) {
		if (c->reader.err == FP_ERR_TOO_LARGE)
			return (client_error(c, FP_CLIENT_EPROTO,
			    "the daemon sent a reply of %lu bytes, over the "
			    "limit of %lu (raise it with "
			    "fp_client_set_max_payload)",
			    (unsigned long)hdr.len,
			    (unsigned long)c->reader.max_body));
		return (client_error(c, FP_CLIENT_EPROTO,
		    "the daemon sent a frame of protocol version %u; this "
		    "client speaks version %d", hdr.version,
		    FP_PROTO_VERSION));
	}
	if ((reply->data = malloc((size_t)hdr.len + 1)) == NULL)
		return (client_error(c, FP_CLIENT_ENOMEM,
		    "out of memory for a reply of %lu bytes",
		    (unsigned long)hdr.len));
	if (hdr.len > 0)
		memcpy(reply->data, body, hdr.len);
	reply->data[hdr.len] = '\0';
	reply->len = hdr.len;
	reply->id = hdr.id;
	reply->type = hdr.type;
	reply->arg = hdr.arg;
	if ((hdr.type == FP_RESULT || hdr.type == FP_ERROR) &&
	    c->outstanding > 0)
		c->outstanding--;
	return (1);
}

/* Keep a reply that someone else will take with fp_recv(). */
static int
client_keep(struct fp_client *c, struct fp_reply *reply)
{
	struct fp_reply	*nkept;
	size_t		 ncap, i;

	if (c->kept_count == c->kept_cap) {
		ncap = c->kept_cap == 0 ? 8 : c->kept_cap * 2;
		if ((nkept = calloc(ncap, sizeof(*nkept))) == NULL) {
			fp_reply_free(reply);
			return (client_error(c, FP_CLIENT_ENOMEM,
			    "out of memory keeping a reply"));
		}
		/* Unroll the ring into the new array. */
		for (i = 0; i < c->kept_count; i++)
			nkept[i] = c->kept[(c->kept_head + i) % c->kept_cap];
		free(c->kept);
		c->kept = nkept;
		c->kept_cap = ncap;
		c->kept_head = 0;
	}
	c->kept[(c->kept_head + c->kept_count) % c->kept_cap] = *reply;
	c->kept_count++;
	return (0);
}

/*
 * Wait until the socket is readable, or writable while output is queued,
 * or timeout_ms (-1: no limit) has passed.
 */
static int
client_poll(struct fp_client *c, int timeout_ms)
{
	struct pollfd	pfd;

	pfd.fd = c->fd;
	pfd.events = POLLIN;
	if (fp_pending(c) > 0 && !c->wclosed)
		pfd.events |= POLLOUT;
	pfd.revents = 0;
	while (poll(&pfd, 1, timeout_ms) == -1) {
		if (errno != EINTR)
			return (client_error(c, FP_CLIENT_EIO, "poll: %s",
			    strerror(errno)));
	}
	return (0);
}

/*
 * The blocking loop behind every waiting call: write queued requests and
 * read until a frame comes.  With own set, frames whose id is not want are
 * kept for fp_recv() and the wait goes on; otherwise the first frame is
 * returned.  1 and reply filled, -1 on an error.
 *
 * Writing and reading are interleaved so that a daemon which stops reading
 * until we take its replies (backpressure) cannot deadlock us.
 */
static int
client_wait(struct fp_client *c, int own, uint64_t want,
    struct fp_reply *reply)
{
	int	rc;

	for (;;) {
		while ((rc = client_next(c, reply)) == 1) {
			if (!own || reply->id == want)
				return (1);
			if (client_keep(c, reply) == -1)
				return (-1);
		}
		if (rc == -1)
			return (-1);
		if (c->eof || c->rerrno != 0)
			return (client_closed(c));
		if (fp_pending(c) > 0 && !c->wclosed &&
		    client_write(c) == -1 && !c->wclosed)
			return (-1);
		if (client_poll(c, -1) == -1)
			return (-1);
		if (client_read(c) == -1)
			return (-1);
	}
}

/*
 * Sleep ms, sending what is queued and keeping the replies that arrive
 * for fp_recv(); 0, or -1 on an error.
 */
static int
client_sleep(struct fp_client *c, unsigned int ms)
{
	struct fp_reply	reply;
	struct timespec	now, end;
	long long	left;
	int		rc;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_nsec += (long)ms * 1000000;
	end.tv_sec += end.tv_nsec / 1000000000;
	end.tv_nsec %= 1000000000;
	for (;;) {
		while ((rc = client_next(c, &reply)) == 1)
			if (client_keep(c, &reply) == -1)
				return (-1);
		if (rc == -1)
			return (-1);
		if (c->eof || c->rerrno != 0)
			return (client_closed(c));
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (end.tv_sec - now.tv_sec) * 1000LL +
		    (end.tv_nsec - now.tv_nsec) / 1000000;
		if (left <= 0)
			return (0);
		if (fp_pending(c) > 0 && !c->wclosed &&
		    client_write(c) == -1 && !c->wclosed)
			return (-1);
		if (client_poll(c, (int)left) == -1 || client_read(c) == -1)
			return (-1);
	}
}

int
fp_wait_room(struct fp_client *c, unsigned int *backoff_ms)
{
	if (!client_usable(c))
		return (-1);
	if (c->outstanding > 0) {
		*backoff_ms = 0;
		return (0);
	}
	*backoff_ms = *backoff_ms == 0 ? CLIENT_BACKOFF_MIN_MS :
	    *backoff_ms * 2 > CLIENT_BACKOFF_MAX_MS ? CLIENT_BACKOFF_MAX_MS :
	    *backoff_ms * 2;
	return (client_sleep(c, *backoff_ms));
}

/*
 * fp_submit's wait for room after OVERLOADED: until another reply of this
 * connection arrives (kept for fp_recv()), or the back-off when none is
 * outstanding.
 */
static int
client_wait_room(struct fp_client *c, unsigned int *backoff_ms)
{
	struct fp_reply	reply;

	if (c->outstanding == 0)
		return (fp_wait_room(c, backoff_ms));
	*backoff_ms = 0;
	if (client_wait(c, 0, 0, &reply) == -1)
		return (-1);
	return (client_keep(c, &reply));
}

int
fp_recv(struct fp_client *c, struct fp_reply *reply, int block)
{
	int	rc;

	memset(reply, 0, sizeof(*reply));
	if (c->kept_count > 0) {
		*reply = c->kept[c->kept_head];
		c->kept_head = (c->kept_head + 1) % c->kept_cap;
		c->kept_count--;
		return (1);
	}
	if (!client_usable(c))
		return (-1);
	if (block)
		return (client_wait(c, 0, 0, reply));

	if ((rc = client_next(c, reply)) != 0)
		return (rc);
	if (client_read(c) == -1)
		return (-1);
	if ((rc = client_next(c, reply)) != 0)
		return (rc);
	if (c->eof || c->rerrno != 0)
		return (client_closed(c));
	return (0);
}

void
fp_reply_free(struct fp_reply *reply)
{
	if (reply == NULL)
		return;
	free(reply->data);
	reply->data = NULL;
	reply->len = 0;
}

/* Send one request of the library's own and wait for its reply. */
static int
client_call(struct fp_client *c, uint8_t type, uint16_t arg,
    const void *part1, size_t len1, const void *part2, size_t len2,
    struct fp_reply *reply)
{
	uint64_t	id;

	memset(reply, 0, sizeof(*reply));
	id = c->own_id;
	if (client_queue(c, type, arg, id, part1, len1, part2, len2) == -1)
		return (-1);
	c->own_id--;
	if (client_wait(c, 1, id, reply) == -1)
		return (-1);
	return (0);
}

int
fp_submit(struct fp_client *c, const char *pool, const void *payload,
    size_t len, struct fp_reply *reply)
{
	unsigned int	backoff = 0;

	memset(reply, 0, sizeof(*reply));
	if (client_check_submit(c, pool, len) == -1)
		return (-1);
	for (;;) {
		c->outstanding++;	/* client_next() takes it off */
		if (client_call(c, FP_SUBMIT, (uint16_t)strlen(pool), pool,
		    strlen(pool), payload, len, reply) == -1)
			return (-1);
		if (reply->type != FP_ERROR || reply->arg != FP_ERR_OVERLOADED ||
		    c->overloaded == FP_OVERLOADED_RETURN)
			return (0);
		/* Nothing was run: safe to submit again once there is room. */
		fp_reply_free(reply);
		if (client_wait_room(c, &backoff) == -1)
			return (-1);
	}
}

/*
 * A request whose reply must be of type want; its body is handed over in
 * *text when text is not NULL.
 */
static int
client_query(struct fp_client *c, uint8_t type, uint8_t want,
    const char *what, char **text)
{
	struct fp_reply	reply;

	if (text != NULL)
		*text = NULL;
	if (client_call(c, type, 0, NULL, 0, NULL, 0, &reply) == -1)
		return (-1);
	if (reply.type != want) {
		/* The connection is still sound: a refusal is not fatal. */
		if (reply.type == FP_ERROR)
			client_note(c, FP_CLIENT_EREFUSED,
			    "the daemon refused %s: %s: %.*s", what,
			    fp_err_name(reply.arg), (int)reply.len,
			    reply.data);
		else
			client_note(c, FP_CLIENT_EPROTO,
			    "the daemon answered %s with a frame of type "
			    "0x%02x", what, reply.type);
		fp_reply_free(&reply);
		return (-1);
	}
	if (text != NULL)
		*text = reply.data;
	else
		free(reply.data);
	return (0);
}

int
fp_ping(struct fp_client *c)
{
	return (client_query(c, FP_PING, FP_PONG, "PING", NULL));
}

int
fp_status(struct fp_client *c, char **json)
{
	return (client_query(c, FP_STATUS, FP_STATUS_REPLY, "STATUS", json));
}

int
fp_metrics(struct fp_client *c, char **text)
{
	return (client_query(c, FP_METRICS, FP_METRICS_REPLY, "METRICS",
	    text));
}

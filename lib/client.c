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
 * Finding the socket, connecting and the trust check are in connect.c;
 * this file is everything after: frames, waiting and calls.
 *
 * Never logs, exits or touches signals: send() uses MSG_NOSIGNAL, and every
 * failure is kept in the handle as a code and a sentence.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"
#include "forkpool/client.h"
#include "forkpool/proto.h"
#include "proto_int.h"

#define CLIENT_READ_CHUNK	(128 * 1024)
#define CLIENT_BACKOFF_MIN_MS	1	/* OVERLOADED with nothing outstanding */
#define CLIENT_BACKOFF_MAX_MS	100

/*
 * The library's own requests (fp_submit, fp_ping, ...) use ids counted down
 * from the top of the range, far from the small ids callers pick.
 */
#define CLIENT_OWN_ID_FIRST	UINT64_MAX

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
int
fp_client_fail(struct fp_client *c, int err, const char *fmt, ...)
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
		fp_client_fail(c, FP_CLIENT_EIO, "not connected");
		return (0);
	}
	return (1);
}

/*
 * A handle not yet connected, with its buffers: connect.c fills in the
 * path and the descriptor.
 */
struct fp_client *
fp_client_new(const char *users)
{
	struct fp_client	*c;

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
		return (fp_client_fail(c, FP_CLIENT_ECLOSED,
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
			return (fp_client_fail(c, FP_CLIENT_EIO,
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
		return (fp_client_fail(c, FP_CLIENT_ECLOSED,
		    "the daemon closed the connection"));
	if ((rc = client_write(c)) == -1 && c->wclosed)
		return (fp_client_fail(c, FP_CLIENT_ECLOSED,
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
		return (fp_client_fail(c, FP_CLIENT_ENOMEM,
		    "out of memory reading a reply"));
	return (1);
}

/* The last kept reply, if it is an ERROR, explains a close: say it. */
static int
client_closed(struct fp_client *c)
{
	struct fp_reply	*r;

	if (c->rerrno != 0)
		return (fp_client_fail(c, FP_CLIENT_EIO,
		    "cannot read from %s: %s", c->path, strerror(c->rerrno)));
	if (c->reader.len - c->reader.off > 0)
		return (fp_client_fail(c, FP_CLIENT_ECLOSED,
		    "the daemon closed the connection in the middle of a "
		    "frame"));
	if (c->kept_count > 0) {
		r = &c->kept[(c->kept_head + c->kept_count - 1) % c->kept_cap];
		if (r->type == FP_ERROR)
			return (fp_client_fail(c, FP_CLIENT_ECLOSED,
			    "the daemon closed the connection after %s: %.*s",
			    fp_err_name(r->arg), (int)r->len, r->data));
	}
	return (fp_client_fail(c, FP_CLIENT_ECLOSED,
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
			return (fp_client_fail(c, FP_CLIENT_EPROTO,
			    "the daemon sent a reply of %lu bytes, over the "
			    "limit of %lu (raise it with "
			    "fp_client_set_max_payload)",
			    (unsigned long)hdr.len,
			    (unsigned long)c->reader.max_body));
		return (fp_client_fail(c, FP_CLIENT_EPROTO,
		    "the daemon sent a frame of protocol version %u; this "
		    "client speaks version %d", hdr.version,
		    FP_PROTO_VERSION));
	}
	if ((reply->data = malloc((size_t)hdr.len + 1)) == NULL)
		return (fp_client_fail(c, FP_CLIENT_ENOMEM,
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
			return (fp_client_fail(c, FP_CLIENT_ENOMEM,
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
			return (fp_client_fail(c, FP_CLIENT_EIO, "poll: %s",
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

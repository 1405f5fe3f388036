/*
 * One non-blocking stream socket with an input and an output evbuffer: the
 * part of a bufferevent the master needs, reading in large pieces.
 *
 * Why not a bufferevent: libevent 2.1's evbuffer_read() reads at most
 * 4096 bytes per call (EVBUFFER_MAX_READ) and asks FIONREAD first, so a
 * 64 KiB task cost the master some thirty system calls on the way in and
 * out.  Here each wake-up reads into reserved evbuffer space, CONN_READ at
 * a time, until the socket is empty.
 *
 * Writes are batched per turn of the loop: taking the output to add to it
 * (conn_output()) puts the conn on a list, and after the turn's callbacks
 * conn_flush_all() writes
 * each listed conn once.  The write event is armed only when that write
 * was short (the peer is slow to read) and removed once drained, so a
 * reply costs no epoll_ctl pair: at prefetch 1 that pair was 3.3 of the
 * master's 7.8 system calls per task.  A callback may free its conn: the
 * free is then put off until the callback returns.
 *
 * Small output is gathered (conn_add) into a scratch buffer held only
 * until the turn's flush, and written from there: an evbuffer frees its
 * chain when a write empties it and allocates one at the next add, a
 * malloc and a free per reply.  The bytes a client's conn holds are
 * counted (max_memory) where they move, here: evbuffer callbacks ran on
 * every add and drain, some 200 instructions a task.
 *
 * Reading is the mirror image: a conn reads into one buffer shared by all
 * conns (CONN_SHARED, at most CONN_SHARED_READS times per wake-up) and its
 * frames are taken in place from there; only the part of a frame that has
 * not all come yet is kept in its input evbuffer, and put back in front
 * of the next read (unless it is large: then the input is read into).
 * Reading into an evbuffer allocated a chain per read and freed it when
 * the frames were drained.  The cap per wake-up also keeps a client with
 * tens of thousands of tiny frames to send from holding the loop (and
 * every other client) for long.
 */
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"

TAILQ_HEAD(conn_list, conn);

#define CONN_READ_FIRST	(16 * 1024)	/* asked first: most reads are small */
#define CONN_READ	(64 * 1024)	/* asked once a read filled that */
#define CONN_READ_MAX	(1024 * 1024)	/* bytes read per wake-up */
#define CONN_SHARED	(16 * 1024)	/* the shared read buffer */
#define CONN_SHARED_READS 4		/* shared reads per wake-up */
#define CONN_KEPT_MAX	(CONN_SHARED / 4) /* a part frame read after */
#define CONN_GATHER	4096		/* small output gathered per turn */
#define CONN_GATHER_KEEP 64		/* scratch buffers kept for reuse */

struct gather {
	SLIST_ENTRY(gather) next;	/* on the free list */
	size_t		 len;
	uint8_t		 buf[CONN_GATHER];
};
SLIST_HEAD(gather_list, gather);

struct conn {
	TAILQ_ENTRY(conn) entry;	/* on the flush list */
	int		 fd;
	struct event	*rev;
	struct event	*wev;
	struct evbuffer	*in;
	struct evbuffer	*out;
	struct gather	*gather;	/* output before out's, or NULL */
	const uint8_t	*sbase;		/* its bytes in the shared buffer */
	size_t		 slen;		/* bytes read there */
	size_t		 soff;		/* bytes taken from there */
	int		 reading;	/* rev is added */
	int		 flushing;	/* on the flush list */
	int		 writing;	/* wev is added: a short write waits */
	int		 in_cb;		/* a callback runs: defer the free */
	int		 dead;		/* freed during a callback */
	void		(*read_cb)(void *);
	void		(*drained_cb)(void *);
	void		(*close_cb)(void *, int);
	void		*arg;
	uint64_t	*acct;		/* its owner's bytes held, or NULL */
};

/* Conns with output added in this turn of the loop. */
static struct conn_list	flush_list = TAILQ_HEAD_INITIALIZER(flush_list);
/* Read into by the conn being read; see above. */
static uint8_t		 shared_buf[CONN_SHARED];
/* Scratch buffers not in use. */
static struct gather_list gather_free = SLIST_HEAD_INITIALIZER(gather_free);
static unsigned int	 ngather_free;

static void	conn_read_ev(evutil_socket_t, short, void *);
static void	conn_write_ev(evutil_socket_t, short, void *);

/*
 * Wrap fd (non-blocking; closed by conn_free).  read_cb runs when input
 * arrived, drained_cb when the output has all been written (may be NULL),
 * close_cb at end of file or on an error (errno value, 0 for EOF).
 */
struct conn *
conn_new(int fd, void (*read_cb)(void *), void (*drained_cb)(void *),
    void (*close_cb)(void *, int), void *arg)
{
	struct conn	*c;

	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->read_cb = read_cb;
	c->drained_cb = drained_cb;
	c->close_cb = close_cb;
	c->arg = arg;
	c->rev = event_new(master->base, fd, EV_READ | EV_PERSIST,
	    conn_read_ev, c);
	c->wev = event_new(master->base, fd, EV_WRITE | EV_PERSIST,
	    conn_write_ev, c);
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	if (c->rev == NULL || c->wev == NULL || c->in == NULL ||
	    c->out == NULL)
		fatalx("conn_new: out of memory");
	conn_resume_read(c);
	return (c);
}

/* Its buffers grew by n bytes: its owner's count and the master's. */
static void
conn_count_add(struct conn *c, size_t n)
{
	if (c->acct == NULL)
		return;
	*c->acct += n;
	master->held += n;
	if (master->held > master->held_peak)
		master->held_peak = master->held;
}

/* Its buffers let n bytes go: clients paused for memory may go on. */
static void
conn_count_sub(struct conn *c, size_t n)
{
	if (c->acct == NULL || n == 0)
		return;
	*c->acct -= n;
	master->held -= n;
	client_held_changed();
}

/*
 * Count what this connection's buffers hold (a client's partial frames
 * and unsent replies) in *mine and in the master's total (max_memory).
 */
void
conn_account(struct conn *c, uint64_t *mine)
{
	c->acct = mine;
	conn_count_add(c, conn_unsent(c) + evbuffer_get_length(c->in));
}

/* The scratch buffer goes back to the free list (or to the system). */
static void
conn_gather_release(struct conn *c)
{
	struct gather	*g = c->gather;

	if (g == NULL)
		return;
	c->gather = NULL;
	if (ngather_free >= CONN_GATHER_KEEP) {
		free(g);
		return;
	}
	SLIST_INSERT_HEAD(&gather_free, g, next);
	ngather_free++;
}

/* What was gathered goes to the end of out (the order is kept). */
static void
conn_gather_spill(struct conn *c)
{
	if (c->gather == NULL)
		return;
	if (c->gather->len > 0 &&
	    evbuffer_add(c->out, c->gather->buf, c->gather->len) == -1)
		fatalx("conn: evbuffer_add");
	conn_gather_release(c);
}

static void
conn_unlist(struct conn *c)
{
	if (c->flushing)
		TAILQ_REMOVE(&flush_list, c, entry);
	c->flushing = 0;
}

static void
conn_destroy(struct conn *c)
{
	conn_unlist(c);
	event_free(c->rev);
	event_free(c->wev);
	if (c->acct != NULL)
		master->held -= conn_unsent(c) + evbuffer_get_length(c->in);
	conn_gather_release(c);
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	close(c->fd);
	free(c);
}

void
conn_free(struct conn *c)
{
	static uint64_t	sink;

	/* Its owner is going: count nothing more against it. */
	if (c->acct != NULL)
		c->acct = &sink;
	if (c->in_cb) {
		c->dead = 1;
		conn_unlist(c);
		event_del(c->rev);
		event_del(c->wev);
		return;
	}
	conn_destroy(c);
}

/*
 * What is left in the shared buffer moves to the input (it is about to
 * be read into again); the input holds it all from now on.
 */
static void
conn_shared_keep(struct conn *c)
{
	size_t	rest;

	if (c->sbase == NULL)
		return;
	/* Counted when read, as the input's bytes are. */
	rest = c->slen - c->soff;
	if (rest > 0 && c->dead)
		conn_count_sub(c, rest);
	else if (rest > 0 &&
	    evbuffer_add(c->in, c->sbase + c->soff, rest) == -1)
		fatalx("conn: evbuffer_add");
	c->sbase = NULL;
	c->slen = c->soff = 0;
}

/* Everything read and not yet taken. */
struct evbuffer *
conn_input(struct conn *c)
{
	conn_shared_keep(c);
	return (c->in);
}

/* Written at the end of this turn (not an evbuffer callback: see above). */
static void
conn_list_flush(struct conn *c)
{
	if (!c->dead && !c->flushing && !c->writing) {
		c->flushing = 1;
		TAILQ_INSERT_TAIL(&flush_list, c, entry);
	}
}

/*
 * The output, to add to directly (large or referenced bodies; a conn
 * that is not accounted): the conn is written at the end of this turn.
 */
struct evbuffer *
conn_output(struct conn *c)
{
	conn_gather_spill(c);
	conn_list_flush(c);
	return (c->out);
}

/* Queue len bytes of output. */
void
conn_add(struct conn *c, const void *data, size_t len)
{
	struct gather	*g = c->gather;

	conn_list_flush(c);
	conn_count_add(c, len);
	/* Gathered while nothing waits in out and it fits. */
	if (g == NULL && len <= CONN_GATHER && c->writing == 0 &&
	    evbuffer_get_length(c->out) == 0) {
		if ((g = SLIST_FIRST(&gather_free)) != NULL) {
			SLIST_REMOVE_HEAD(&gather_free, next);
			ngather_free--;
		} else
			g = xcalloc(1, sizeof(*g));
		g->len = 0;
		c->gather = g;
	}
	if (g != NULL && g->len + len <= CONN_GATHER) {
		memcpy(g->buf + g->len, data, len);
		g->len += len;
		return;
	}
	conn_gather_spill(c);
	if (evbuffer_add(c->out, data, len) == -1)
		fatalx("conn: evbuffer_add");
}

/*
 * Queue len bytes from the front of from.  Up to copy_max they are
 * copied: moving would hand over the whole chain they sit in (a read's
 * chain, up to 512 KiB), and a peer that does not read would pin that
 * much per small reply.
 */
void
conn_add_buffer(struct conn *c, struct evbuffer *from, size_t len,
    size_t copy_max)
{
	if (len == 0)
		return;
	if (len > copy_max) {
		conn_count_add(c, len);
		evbuffer_remove_buffer(from, conn_output(c), len);
		return;
	}
	conn_add(c, evbuffer_pullup(from, len), len);
	evbuffer_drain(from, len);
}

/* Bytes queued and not yet written. */
size_t
conn_unsent(const struct conn *c)
{
	return ((c->gather != NULL ? c->gather->len : 0) +
	    evbuffer_get_length(c->out));
}

/* Drop everything read and not yet taken (a refused client's bytes). */
void
conn_discard_input(struct conn *c)
{
	size_t	n = evbuffer_get_length(c->in);

	evbuffer_drain(c->in, n);
	conn_count_sub(c, n + c->slen - c->soff);
	c->soff = c->slen;
}

int
conn_fd(struct conn *c)
{
	return (c->fd);
}

void
conn_pause_read(struct conn *c)
{
	if (c->reading)
		event_del(c->rev);
	c->reading = 0;
}

void
conn_resume_read(struct conn *c)
{
	if (!c->reading)
		event_add(c->rev, NULL);
	c->reading = 1;
}

/* Run one of c's callbacks; a free it asks for happens afterwards. */
static void
conn_call_close(struct conn *c, int err)
{
	c->in_cb = 1;
	c->close_cb(c->arg, err);
	c->in_cb = 0;
	if (c->dead)
		conn_destroy(c);
}

static void
conn_call_drained(struct conn *c)
{
	if (c->drained_cb == NULL)
		return;
	c->in_cb = 1;
	c->drained_cb(c->arg);
	c->in_cb = 0;
	if (c->dead)
		conn_destroy(c);
}

/*
 * Write what was gathered: -1 on an error.  What the peer does not take
 * now goes to out, to wait for the write event.
 */
static int
conn_write_gather(struct conn *c)
{
	struct gather	*g = c->gather;
	ssize_t		 n;

	if ((n = write(c->fd, g->buf, g->len)) == -1) {
		if (errno != EAGAIN && errno != EINTR)
			return (-1);
		n = 0;
	}
	if ((size_t)n < g->len &&
	    evbuffer_add(c->out, g->buf + n, g->len - n) == -1)
		fatalx("conn: evbuffer_add");
	conn_gather_release(c);
	conn_count_sub(c, n);
	return (0);
}

/* One writev of out: -1 on an error. */
static int
conn_write_out(struct conn *c)
{
	size_t	before = evbuffer_get_length(c->out);

	if (before == 0)
		return (0);
	if (evbuffer_write(c->out, c->fd) == -1 && errno != EAGAIN &&
	    errno != EINTR)
		return (-1);
	conn_count_sub(c, before - evbuffer_get_length(c->out));
	return (0);
}

/*
 * One write of what is queued.  What does not fit waits for the write
 * event; an error closes the conn.
 */
static void
conn_flush(struct conn *c)
{
	int	rc;

	/* Gathered output alone: one write(); else all of it in out. */
	if (c->gather != NULL && evbuffer_get_length(c->out) == 0)
		rc = conn_write_gather(c);
	else {
		conn_gather_spill(c);
		rc = conn_write_out(c);
	}
	if (rc == -1) {
		if (c->writing)
			event_del(c->wev);
		c->writing = 0;
		conn_call_close(c, errno);
		return;
	}
	if (evbuffer_get_length(c->out) > 0) {
		if (!c->writing)
			event_add(c->wev, NULL);
		c->writing = 1;
		return;
	}
	if (c->writing)
		event_del(c->wev);
	c->writing = 0;
	conn_call_drained(c);
}

/* The end of a turn of the loop: write what every conn has queued. */
void
conn_flush_all(void)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&flush_list)) != NULL) {
		conn_unlist(c);
		conn_flush(c);
	}
}

/*
 * Read until the socket is empty, or max bytes are in.  Returns the bytes
 * read; *eof and *err say how it ended (err is an errno value, 0 when
 * none).
 */
static size_t
conn_fill(struct conn *c, size_t max, int *eof, int *err)
{
	struct evbuffer_iovec	 vec[2];
	struct iovec		 iov[2];
	size_t			 total = 0, before = 0, asked, want;
	ssize_t			 n;
	int			 i, nvec;

	*eof = *err = 0;
	/*
	 * Ask little first, so a connection that holds half a frame does not
	 * pin a large chunk; ask more only while reads fill what was asked.
	 */
	want = CONN_READ_FIRST;
	for (;;) {
		nvec = evbuffer_reserve_space(c->in, want, vec, 2);
		if (nvec <= 0)
			fatalx("conn: evbuffer_reserve_space");
		for (i = 0; i < nvec; i++) {
			iov[i].iov_base = vec[i].iov_base;
			iov[i].iov_len = vec[i].iov_len;
		}
		if ((n = readv(c->fd, iov, nvec)) <= 0) {
			evbuffer_commit_space(c->in, vec, 0);
			if (n == 0)
				*eof = 1;
			else if (errno == EINTR)
				continue;
			else if (errno != EAGAIN)
				*err = errno;
			return (total);
		}
		asked = 0;
		for (i = 0; i < nvec; i++)
			asked += vec[i].iov_len;
		total += n;
		for (i = 0; i < nvec; i++) {
			if ((size_t)n < vec[i].iov_len)
				vec[i].iov_len = n;
			n -= vec[i].iov_len;
		}
		evbuffer_commit_space(c->in, vec, nvec);
		conn_count_add(c, total - before);
		/*
		 * A short read means the socket is empty (no need to hear
		 * EAGAIN); and one wake-up takes at most max, so a fast
		 * sender cannot keep the loop here.
		 */
		if (total - before < asked || total >= max)
			return (total);
		before = total;
		want = CONN_READ;
	}
}

/*
 * Frames read in place (conn_take() in forkpoold.h tries what the cursor
 * already holds first): make need bytes from cur->off contiguous at
 * cur->base, from the input's first chain (pulled up when they span two).
 * 1, or 0 when the input holds fewer.  Bytes are drained in bulk, when
 * the chain is used up and at conn_taken(): a drain per frame cost more
 * than all the rest of reading it.
 */
int
conn_refill(struct conn *c, struct conn_cursor *cur, size_t need)
{
	struct evbuffer_iovec	v;

	/* Fresh from the shared buffer: the input is empty meanwhile. */
	if (cur->base == NULL && c->sbase != NULL) {
		cur->base = c->sbase + c->soff;
		cur->have = c->slen - c->soff;
		cur->off = 0;
		if (need <= cur->have)
			return (1);
	}
	conn_taken(c, cur);
	if (evbuffer_get_length(c->in) < need ||
	    evbuffer_peek(c->in, -1, NULL, &v, 1) < 1)
		return (0);
	cur->base = v.iov_base;
	cur->have = v.iov_len;
	if (cur->have < need) {
		cur->base = evbuffer_pullup(c->in, need);
		cur->have = need;
	}
	return (1);
}

/* Drain what was taken; the cursor starts again at the input's front. */
void
conn_taken(struct conn *c, struct conn_cursor *cur)
{
	if (c->sbase != NULL && cur->base != NULL) {
		/* On the shared buffer: what is left goes to the input. */
		c->soff += cur->off;
		conn_count_sub(c, cur->off);
		conn_shared_keep(c);
	} else {
		evbuffer_drain(c->in, cur->off);
		conn_count_sub(c, cur->off);
	}
	cur->base = NULL;
	cur->off = cur->have = 0;
}

/* Read all there is now, without callbacks (a worker just reaped). */
void
conn_read_now(struct conn *c)
{
	int	eof, err;

	conn_shared_keep(c);
	while (conn_fill(c, CONN_READ_MAX, &eof, &err) > 0 && !eof &&
	    err == 0)
		;
}

/*
 * One read into the shared buffer, after what the input holds (a frame's
 * first part, at most CONN_KEPT_MAX, moved there).  Returns the bytes
 * read; *eof and *err as for conn_fill.
 */
static size_t
conn_fill_shared(struct conn *c, int *eof, int *err)
{
	size_t	kept = evbuffer_get_length(c->in);
	ssize_t	n;

	*eof = *err = 0;
	/* Counted as held already: it only moves. */
	if (kept > 0 && evbuffer_remove(c->in, shared_buf, kept) !=
	    (int)kept)
		fatalx("conn: evbuffer_remove");
	c->sbase = shared_buf;
	c->slen = kept;
	c->soff = 0;
	while ((n = read(c->fd, shared_buf + kept, sizeof(shared_buf) -
	    kept)) == -1 && errno == EINTR)
		;
	if (n <= 0) {
		if (n == 0)
			*eof = 1;
		else if (errno != EAGAIN)
			*err = errno;
		return (0);
	}
	c->slen += n;
	conn_count_add(c, n);
	return (n);
}

static void
conn_read_ev(evutil_socket_t fd, short events, void *arg)
{
	struct conn	*c = arg;
	size_t		 n;
	int		 eof, err, more, reads = 0;

	(void)fd;
	(void)events;
	c->in_cb = 1;
	do {
		/*
		 * A large frame's rest is read into the input: in
		 * CONN_SHARED pieces after a shared read, so that one
		 * wake-up still takes little.
		 */
		if (evbuffer_get_length(c->in) <= CONN_KEPT_MAX) {
			n = conn_fill_shared(c, &eof, &err);
			more = c->slen == CONN_SHARED;
		} else {
			n = conn_fill(c, reads == 0 ? CONN_READ_MAX :
			    CONN_SHARED, &eof, &err);
			more = reads > 0 && n >= CONN_SHARED;
		}
		if (n > 0)
			c->read_cb(c->arg);
		conn_shared_keep(c);
	} while (more && !eof && err == 0 && !c->dead && c->reading &&
	    ++reads < CONN_SHARED_READS);
	if ((eof || err != 0) && !c->dead)
		c->close_cb(c->arg, err);
	c->in_cb = 0;
	if (c->dead)
		conn_destroy(c);
}

/* The peer read some: write more (still in this turn's flush). */
static void
conn_write_ev(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	conn_flush(arg);
}

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
 * Writes are batched like a bufferevent's: adding to the output arms the
 * write event, and everything queued during one turn of the loop leaves in
 * one writev on the next.  A callback may free its conn: the free is then
 * put off until the callback returns.
 */
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"

#define CONN_READ_FIRST	(16 * 1024)	/* asked first: most reads are small */
#define CONN_READ	(64 * 1024)	/* asked once a read filled that */
#define CONN_READ_MAX	(1024 * 1024)	/* bytes read per wake-up */

struct conn {
	int		 fd;
	struct event	*rev;
	struct event	*wev;
	struct evbuffer	*in;
	struct evbuffer	*out;
	int		 reading;	/* rev is added */
	int		 in_cb;		/* a callback runs: defer the free */
	int		 dead;		/* freed during a callback */
	void		(*read_cb)(void *);
	void		(*drained_cb)(void *);
	void		(*close_cb)(void *, int);
	void		*arg;
	uint64_t	*acct;		/* its owner's bytes held, or NULL */
};

static void	conn_read_ev(evutil_socket_t, short, void *);
static void	conn_write_ev(evutil_socket_t, short, void *);
static void	conn_out_changed(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);

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
	evbuffer_add_cb(c->out, conn_out_changed, c);
	conn_resume_read(c);
	return (c);
}

/* Keep count of the bytes its buffers hold: its owner's and the master's. */
static void
conn_account_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn	*c = arg;

	(void)buf;
	*c->acct += info->n_added;
	*c->acct -= info->n_deleted;
	master->held += info->n_added;
	master->held -= info->n_deleted;
	if (master->held > master->held_peak)
		master->held_peak = master->held;
	if (info->n_deleted > 0)
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
	evbuffer_add_cb(c->in, conn_account_cb, c);
	evbuffer_add_cb(c->out, conn_account_cb, c);
}

static void
conn_destroy(struct conn *c)
{
	event_free(c->rev);
	event_free(c->wev);
	if (c->acct != NULL) {
		master->held -= evbuffer_get_length(c->in) +
		    evbuffer_get_length(c->out);
		evbuffer_remove_cb(c->in, conn_account_cb, c);
		evbuffer_remove_cb(c->out, conn_account_cb, c);
	}
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
		event_del(c->rev);
		event_del(c->wev);
		return;
	}
	conn_destroy(c);
}

struct evbuffer *
conn_input(struct conn *c)
{
	return (c->in);
}

struct evbuffer *
conn_output(struct conn *c)
{
	return (c->out);
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

/* Output was added: write it on the next turn of the loop. */
static void
conn_out_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn	*c = arg;

	(void)buf;
	if (info->n_added > 0 && !c->dead)
		event_add(c->wev, NULL);
}

/*
 * Read until the socket is empty.  Returns the bytes read; *eof and *err
 * say how it ended (err is an errno value, 0 when none).
 */
static size_t
conn_fill(struct conn *c, int *eof, int *err)
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
		/*
		 * A short read means the socket is empty (no need to hear
		 * EAGAIN); and one wake-up takes at most CONN_READ_MAX, so a
		 * fast sender cannot keep the loop here.
		 */
		if (total - before < asked || total >= CONN_READ_MAX)
			return (total);
		before = total;
		want = CONN_READ;
	}
}

/* Read all there is now, without callbacks (a worker just reaped). */
void
conn_read_now(struct conn *c)
{
	int	eof, err;

	while (conn_fill(c, &eof, &err) > 0 && !eof && err == 0)
		;
}

static void
conn_read_ev(evutil_socket_t fd, short events, void *arg)
{
	struct conn	*c = arg;
	size_t		 n;
	int		 eof, err;

	(void)fd;
	(void)events;
	n = conn_fill(c, &eof, &err);
	c->in_cb = 1;
	if (n > 0)
		c->read_cb(c->arg);
	if ((eof || err != 0) && !c->dead)
		c->close_cb(c->arg, err);
	c->in_cb = 0;
	if (c->dead)
		conn_destroy(c);
}

static void
conn_write_ev(evutil_socket_t fd, short events, void *arg)
{
	struct conn	*c = arg;
	int		 n;

	(void)events;
	if ((n = evbuffer_write(c->out, fd)) == -1 && errno != EAGAIN &&
	    errno != EINTR) {
		event_del(c->wev);
		c->in_cb = 1;
		c->close_cb(c->arg, errno);
		c->in_cb = 0;
		if (c->dead)
			conn_destroy(c);
		return;
	}
	if (evbuffer_get_length(c->out) > 0)
		return;
	event_del(c->wev);
	if (c->drained_cb == NULL)
		return;
	c->in_cb = 1;
	c->drained_cb(c->arg);
	c->in_cb = 0;
	if (c->dead)
		conn_destroy(c);
}

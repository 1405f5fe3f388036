/*
 * A worker's stdout and stderr, read from a pipe and logged a line at a
 * time under its pool and pid, so that it cannot reach the master's
 * terminal or forge lines of the log.  A line longer than OUTPUT_LINE_MAX
 * is cut there; past OUTPUT_LINES_PER_S lines a second the rest of the
 * second is dropped and counted; the last lines are kept, for the error
 * of a worker that died before it was ready.
 *
 * A pipe of its own with a plain read event, not a conn: output is not
 * the data path, and this way it needs nothing of the master but a base.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"

/* Lines longer are cut; more per second are dropped. */
#define OUTPUT_LINE_MAX		1024
#define OUTPUT_LINES_PER_S	100
/* The last lines kept, each cut to fit an error message. */
#define OUTPUT_LAST		3
#define OUTPUT_LAST_LEN		160
/* Bytes read per wake-up at most: a chatty worker cannot hold the loop. */
#define OUTPUT_READ_MAX		(1024 * 1024)

struct output {
	char		 prefix[FP_POOL_NAME_MAX + 32];	/* whose it is */
	int		 fd;		/* the pipe; -1 once at its end */
	struct event	*ev;		/* reads fd */
	struct evbuffer	*in;		/* what is not a whole line yet */
	struct event	*timer;		/* reports dropped lines */
	uint64_t	 window;	/* this second of the limit began */
	unsigned int	 lines;		/* logged in it */
	unsigned int	 dropped;	/* and dropped */
	int		 skipping;	/* the rest of a line past the cut */
	char		 last[OUTPUT_LAST][OUTPUT_LAST_LEN];
	unsigned int	 nlast;
};

static void	output_read_cb(evutil_socket_t, short, void *);
static void	output_timer_cb(evutil_socket_t, short, void *);

/*
 * Take the read end of a worker's output pipe (non-blocking), whose lines
 * are logged as "PREFIX: line".
 */
struct output *
output_new(struct event_base *base, int fd, const char *fmt, ...)
{
	struct output	*out;
	va_list		 ap;

	out = xcalloc(1, sizeof(*out));
	va_start(ap, fmt);
	vsnprintf(out->prefix, sizeof(out->prefix), fmt, ap);
	va_end(ap);
	out->fd = fd;
	out->ev = event_new(base, fd, EV_READ | EV_PERSIST, output_read_cb,
	    out);
	out->timer = evtimer_new(base, output_timer_cb, out);
	out->in = evbuffer_new();
	if (out->ev == NULL || out->timer == NULL || out->in == NULL ||
	    event_add(out->ev, NULL) == -1)
		fatalx("output: event_new");
	return (out);
}

/* Keep the last lines: a failed start quotes them. */
static void
output_keep(struct output *out, const char *line)
{
	unsigned int	i;

	if (out->nlast == OUTPUT_LAST) {
		for (i = 0; i + 1 < OUTPUT_LAST; i++)
			memcpy(out->last[i], out->last[i + 1],
			    sizeof(out->last[i]));
		out->nlast--;
	}
	/* Cut to fit: an error message quotes only the start of each. */
	snprintf(out->last[out->nlast++], sizeof(out->last[0]), "%.*s",
	    (int)sizeof(out->last[0]) - 1, line);
}

static void
output_dropped(struct output *out)
{
	if (out->dropped > 0)
		log_warnx("%s: %u lines of output dropped", out->prefix,
		    out->dropped);
	out->dropped = 0;
}

static void
output_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	output_dropped(arg);
}

/* Log one line, within the rate limit. */
static void
output_line(struct output *out, const char *line)
{
	uint64_t	now = clock_now_ms();
	struct timeval	tv;

	output_keep(out, line);
	if (now - out->window >= 1000) {
		evtimer_del(out->timer);
		output_dropped(out);
		out->window = now;
		out->lines = 0;
	}
	if (out->lines++ < OUTPUT_LINES_PER_S) {
		log_info("%s: %s", out->prefix, line);
		return;
	}
	/* Say how many were dropped when the second is up, even if quiet. */
	if (out->dropped++ == 0) {
		tv.tv_sec = 0;
		tv.tv_usec = (1000 - (now - out->window)) * 1000;
		evtimer_add(out->timer, &tv);
	}
}

/*
 * Whole lines of what was read, and at_end a last one without its
 * newline.  A line longer than OUTPUT_LINE_MAX is logged once, cut there,
 * and the rest of it skipped up to its newline, however the pipe
 * delivered it.
 */
static void
output_lines(struct output *out, int at_end)
{
	struct evbuffer_ptr	 nl;
	char			 buf[OUTPUT_LINE_MAX + 1];
	size_t			 len, n;

	for (;;) {
		nl = evbuffer_search_eol(out->in, NULL, NULL, EVBUFFER_EOL_LF);
		len = nl.pos == -1 ? evbuffer_get_length(out->in) :
		    (size_t)nl.pos;
		if (nl.pos == -1 && len < OUTPUT_LINE_MAX && !(at_end &&
		    len > 0))
			return;
		n = len < OUTPUT_LINE_MAX ? len : OUTPUT_LINE_MAX;
		evbuffer_remove(out->in, buf, n);
		buf[n] = '\0';
		if (!out->skipping)
			output_line(out, buf);
		/* Past the cut: drop the rest of the line as it comes. */
		evbuffer_drain(out->in, len - n);
		if (nl.pos == -1) {
			out->skipping = !at_end;
			return;
		}
		evbuffer_drain(out->in, 1);		/* the newline */
		out->skipping = 0;
	}
}

/* The pipe is done with: at its end, or the worker gone. */
static void
output_close(struct output *out)
{
	if (out->fd == -1)
		return;
	event_del(out->ev);
	close(out->fd);
	out->fd = -1;
}

/* Read what the pipe holds: 1 at its end (or an error), else 0. */
static int
output_fill(struct output *out)
{
	size_t	total = 0;
	int	n;

	while (total < OUTPUT_READ_MAX) {
		if ((n = evbuffer_read(out->in, out->fd, -1)) > 0) {
			total += n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		return (n == 0 || errno != EAGAIN);
	}
	return (0);
}

/* Read and log; at the pipe's end, the last line too, and close it. */
static void
output_take(struct output *out)
{
	int	at_end = output_fill(out);

	output_lines(out, at_end);
	if (at_end)
		output_close(out);
}

static void
output_read_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	output_take(arg);
}

/*
 * The worker has exited: what it printed before it died is in the pipe,
 * logged now with its last line, and the dropped lines are counted while
 * its pid is still known.
 */
void
output_end(struct output *out)
{
	if (out->fd != -1) {
		output_fill(out);
		output_lines(out, 1);
		output_close(out);
	}
	evtimer_del(out->timer);
	output_dropped(out);
}

/* "; its last output: LINE | LINE", or "" when it printed nothing. */
void
output_last_words(const struct output *out, char *buf, size_t len)
{
	size_t		off = 0;
	unsigned int	i;

	buf[0] = '\0';
	for (i = 0; i < out->nlast && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%s", i == 0 ?
		    "; its last output: " : " | ", out->last[i]);
}

void
output_free(struct output *out)
{
	output_close(out);
	event_free(out->ev);
	event_free(out->timer);
	evbuffer_free(out->in);
	free(out);
}

/*
 * The worker's end of a channel (wchan.h): blocking reads while idle, a
 * non-blocking look before each task that waited behind another, so a
 * CANCEL that came meanwhile is honoured.  Never logs, exits or touches
 * signals.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wchan.h"

#define WCHAN_READ	65536

/*
 * How stale the worker's view of its channel may be before a queued
 * task starts.  Looking costs a system call, as much as a task of a
 * microsecond; a CANCEL that arrives within this of the start is, for
 * anyone outside, the same as one that came this much later, after the
 * task had started, so it is no weaker a promise.
 */
#define WCHAN_LOOK_NS	50000

static uint64_t
wchan_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec);
}

void
fp_wchan_init(struct fp_wchan *ch, int fd, uint32_t max_body)
{
	memset(ch, 0, sizeof(*ch));
	ch->fd = fd;
	fp_reader_init(&ch->r, max_body);
}

void
fp_wchan_free(struct fp_wchan *ch)
{
	fp_reader_free(&ch->r);
	free(ch->skip);
	memset(ch, 0, sizeof(*ch));
}

/* Is a SUBMIT with this id waiting in the first len unread bytes? */
static int
wchan_queued(const struct fp_wchan *ch, uint64_t id, size_t len)
{
	const uint8_t	*p = ch->r.buf + ch->r.off;
	struct fp_hdr	 hdr;
	size_t		 at = 0;

	while (at < len && fp_hdr_decode(p + at, &hdr, ch->r.max_body) == 0) {
		if (hdr.type == FP_SUBMIT && hdr.id == id)
			return (1);
		at += FP_HDR_LEN + hdr.len;
	}
	return (0);
}

/* Note the CANCELs among the whole frames not looked at yet. */
static int
wchan_scan(struct fp_wchan *ch)
{
	const uint8_t	*p = ch->r.buf + ch->r.off;
	size_t		 avail = ch->r.len - ch->r.off;
	struct fp_hdr	 hdr;
	uint64_t	*n;

	while (avail - ch->scanned >= FP_HDR_LEN) {
		if (fp_hdr_decode(p + ch->scanned, &hdr, ch->r.max_body) != 0)
			return (0);	/* fp_reader_next reports it */
		if (avail - ch->scanned - FP_HDR_LEN < hdr.len)
			return (0);
		if (hdr.type == FP_CANCEL &&
		    wchan_queued(ch, hdr.id, ch->scanned)) {
			if (ch->nskip == ch->skipcap) {
				n = realloc(ch->skip, (ch->skipcap * 2 + 8) *
				    sizeof(*n));
				if (n == NULL)
					return (-1);
				ch->skip = n;
				ch->skipcap = ch->skipcap * 2 + 8;
			}
			ch->skip[ch->nskip++] = hdr.id;
		}
		ch->scanned += FP_HDR_LEN + hdr.len;
	}
	return (0);
}

/* Read once (blocking or not) and take note of what came: -1, 0, n. */
static ssize_t
wchan_fill(struct fp_wchan *ch, int wait)
{
	struct pollfd	pfd;
	uint8_t		buf[WCHAN_READ];
	ssize_t		n;

	ch->looked_ns = wchan_now_ns();
	if (!wait) {
		pfd.fd = ch->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) != 1)
			return (1);	/* nothing yet: not end of file */
	}
	while ((n = read(ch->fd, buf, sizeof(buf))) == -1 && errno == EINTR)
		;
	if (n <= 0)
		return (n);
	if (fp_reader_feed(&ch->r, buf, n) == -1 || wchan_scan(ch) == -1) {
		errno = ENOMEM;
		return (-1);
	}
	return (n);
}

/* Was id cancelled?  Then forget it: it is being skipped. */
static int
wchan_skipped(struct fp_wchan *ch, uint64_t id)
{
	size_t	i;

	for (i = 0; i < ch->nskip; i++)
		if (ch->skip[i] == id) {
			ch->skip[i] = ch->skip[--ch->nskip];
			return (1);
		}
	return (0);
}

int
fp_wchan_next(struct fp_wchan *ch, struct fp_hdr *hdr, const uint8_t **body)
{
	size_t	before;
	ssize_t	n;
	int	rc;

	/* A task waited behind the last one: has a CANCEL come since? */
	if (ch->ran && ch->r.len - ch->r.off >= FP_HDR_LEN &&
	    wchan_now_ns() - ch->looked_ns >= WCHAN_LOOK_NS &&
	    wchan_fill(ch, 0) == -1)
		return (-1);
	for (;;) {
		before = ch->r.off;
		if ((rc = fp_reader_next(&ch->r, hdr, body)) == -1) {
			errno = EPROTO;
			return (-1);
		}
		if (rc == 0) {
			if ((n = wchan_fill(ch, 1)) <= 0)
				return ((int)n);
			continue;
		}
		ch->scanned -= ch->scanned >= ch->r.off - before ?
		    ch->r.off - before : ch->scanned;
		if (hdr->type == FP_CANCEL)
			continue;
		if (hdr->type != FP_SUBMIT || hdr->arg > hdr->len) {
			errno = EPROTO;
			return (-1);
		}
		if (ch->nskip > 0 && wchan_skipped(ch, hdr->id))
			continue;
		ch->ran = 1;
		return (1);
	}
}

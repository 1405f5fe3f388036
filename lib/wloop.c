/*
 * The worker loop (wloop.h).  Each result is written as soon as its task
 * ends, not batched with the next: the master starts the next task's
 * timeout from that result, and a quick task must not wait behind a slow
 * one.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto_int.h"
#include "wchan.h"
#include "wloop.h"

#define WLOOP_SAY_MAX	512

/* One worker's loop: the handler, and the reply being built. */
struct wloop {
	struct fp_out		 out;
	int			 fd;
	fp_worker_handler	*handler;
	void			*arg;
	uint8_t			*data;	/* FP_HDR_LEN bytes, then output */
	size_t			 cap;
	int			 overflow;	/* the output passed out.max */
	int			 nomem;
};

/* Room for want more bytes of output after the header; -1 when none. */
static int
wloop_grow(struct wloop *w, size_t want)
{
	size_t	 cap = w->cap == 0 ? 65536 : w->cap;
	uint8_t	*p;

	if (FP_HDR_LEN + w->out.len + want <= w->cap)
		return (0);
	while (cap < FP_HDR_LEN + w->out.len + want)
		cap *= 2;
	if ((p = realloc(w->data, cap)) == NULL) {
		w->nomem = 1;
		return (-1);
	}
	w->data = p;
	w->cap = cap;
	return (0);
}

static int
wloop_write(struct fp_out *out, const void *data, size_t len)
{
	struct wloop	*w = out->priv;

	if (len > out->max - out->len) {
		w->overflow = 1;
		return (-1);
	}
	if (wloop_grow(w, len) == -1)
		return (-1);
	memcpy(w->data + FP_HDR_LEN + out->len, data, len);
	out->len += len;
	return (0);
}

static void *
wloop_reserve(struct fp_out *out, size_t want, size_t *got)
{
	struct wloop	*w = out->priv;
	size_t		 room = out->max - out->len;

	if (room == 0 || want > room) {
		w->overflow = 1;
		return (NULL);
	}
	if (wloop_grow(w, want) == -1)
		return (NULL);
	*got = w->cap - FP_HDR_LEN - out->len;
	if (*got > room)
		*got = room;
	return (w->data + FP_HDR_LEN + out->len);
}

static void
wloop_commit(struct fp_out *out, size_t used)
{
	out->len += used;
}

static int
wloop_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= n;
	}
	return (0);
}

int
fp_wloop_say(int fd, uint8_t type, uint16_t arg, const char *text)
{
	uint8_t	buf[FP_HDR_LEN + WLOOP_SAY_MAX];
	size_t	len = text != NULL ? strlen(text) : 0;

	if (len > WLOOP_SAY_MAX)
		len = WLOOP_SAY_MAX;
	fp_hdr_put(buf, type, arg, 0, (uint32_t)len);
	if (len > 0)
		memcpy(buf + FP_HDR_LEN, text, len);
	return (wloop_write_all(fd, buf, FP_HDR_LEN + len));
}

/*
 * Replace what the handler wrote with text, cut to max_payload so the
 * reply is never a frame the daemon must refuse.
 */
static int
wloop_replace(struct wloop *w, const char *text)
{
	size_t	len = strlen(text);

	if (len > w->out.max)
		len = w->out.max;
	w->out.len = 0;
	if (wloop_grow(w, len) == -1)
		return (-1);
	memcpy(w->data + FP_HDR_LEN, text, len);
	w->out.len = len;
	return (0);
}

/*
 * Run one task and write its reply.  Out of memory is not the handler's
 * answer: the loop ends, and the daemon answers WORKER_CRASHED.
 */
static int
wloop_run(struct wloop *w, const struct fp_hdr *in, const uint8_t *body)
{
	char	text[160] = "";
	uint8_t	type = FP_RESULT;
	int	status;

	w->out.len = 0;
	w->overflow = 0;
	if (wloop_grow(w, 0) == -1)
		return (-1);
	status = w->handler(w->arg, body + in->arg, in->len - in->arg,
	    &w->out);
	if (w->nomem) {
		errno = ENOMEM;
		return (-1);
	}
	if (w->overflow || status == FP_HANDLE_TOO_LARGE) {
		snprintf(text, sizeof(text), "the handler's output is over "
		    "max_payload (%zu bytes); raise max_payload in [daemon] "
		    "or return less", w->out.max);
		type = FP_ERROR;
		status = FP_ERR_TOO_LARGE;
	} else if (status < 0 || status > UINT16_MAX) {
		snprintf(text, sizeof(text), "the handler returned %d, which "
		    "is not a status (0..65535)", status);
		status = 1;
	}
	if (text[0] != '\0' && wloop_replace(w, text) == -1)
		return (-1);
	fp_hdr_put(w->data, type, (uint16_t)status, in->id,
	    (uint32_t)w->out.len);
	return (wloop_write_all(w->fd, w->data, FP_HDR_LEN + w->out.len));
}

int
fp_wloop_serve(int fd, size_t max_payload, fp_worker_handler *handler,
    void *arg)
{
	struct wloop	 w;
	struct fp_wchan	 ch;
	struct fp_hdr	 hdr;
	const uint8_t	*body;
	uint32_t	 max_body = UINT32_MAX;
	int		 rc;

	memset(&w, 0, sizeof(w));
	w.out.write = wloop_write;
	w.out.reserve = wloop_reserve;
	w.out.commit = wloop_commit;
	w.out.max = max_payload;
	w.out.priv = &w;
	w.fd = fd;
	w.handler = handler;
	w.arg = arg;
	/* A SUBMIT's body is the pool name, then a payload of up to max. */
	if (max_payload < UINT32_MAX - FP_POOL_NAME_MAX)
		max_body = (uint32_t)max_payload + FP_POOL_NAME_MAX;
	fp_wchan_init(&ch, fd, max_body);

	if ((rc = fp_wloop_say(fd, FP_PONG, 0, NULL)) == 0)
		while ((rc = fp_wchan_next(&ch, &hdr, &body)) == 1)
			if (wloop_run(&w, &hdr, body) == -1) {
				rc = -1;
				break;
			}
	fp_wchan_free(&ch);
	free(w.data);
	return (rc);
}

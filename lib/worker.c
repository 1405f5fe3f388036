/*
 * The worker loop for C program workers (forkpool/worker.h): blocking I/O
 * on the channel, one task at a time, each result written as soon as it is
 * ready.  Never logs, exits or touches signals.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool/worker.h"
#include "wchan.h"

/* The output of one task, after room for its header. */
struct wbuf {
	struct fp_out	 out;
	uint8_t		*data;
	size_t		 cap;
	int		 overflow;
};

static int
wbuf_grow(struct wbuf *b, size_t want)
{
	size_t	 cap = b->cap == 0 ? 65536 : b->cap;
	uint8_t	*p;

	if (FP_HDR_LEN + b->out.len + want <= b->cap)
		return (0);
	while (cap < FP_HDR_LEN + b->out.len + want)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return (-1);
	b->data = p;
	b->cap = cap;
	return (0);
}

static int
wbuf_write(struct fp_out *out, const void *data, size_t len)
{
	struct wbuf	*b = out->priv;

	if (len > out->max - out->len || wbuf_grow(b, len) == -1) {
		b->overflow = 1;
		return (-1);
	}
	memcpy(b->data + FP_HDR_LEN + out->len, data, len);
	out->len += len;
	return (0);
}

static void *
wbuf_reserve(struct fp_out *out, size_t want, size_t *got)
{
	struct wbuf	*b = out->priv;
	size_t		 room = out->max - out->len;

	if (want > room || room == 0 || wbuf_grow(b, want) == -1) {
		b->overflow = 1;
		return (NULL);
	}
	*got = b->cap - FP_HDR_LEN - out->len;
	if (*got > room)
		*got = room;
	return (b->data + FP_HDR_LEN + out->len);
}

static void
wbuf_commit(struct fp_out *out, size_t used)
{
	out->len += used;
}

static int
write_all(int fd, const void *buf, size_t len)
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

static uint32_t
env_u32(const char *name, uint32_t dflt)
{
	const char		*s = getenv(name);
	char			*end;
	unsigned long long	 v;

	if (s == NULL || *s == '\0')
		return (dflt);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return (dflt);
	return ((uint32_t)v);
}

/*
 * Run one task and write its RESULT; an output over max_payload is
 * answered ERROR TOO_LARGE (spec/PROTOCOL.md, Program workers, 2), and
 * the worker goes on.
 */
static int
serve_one(int fd, fp_worker_handler *handler, void *arg, struct wbuf *b,
    const struct fp_hdr *in, const uint8_t *body)
{
	struct fp_hdr	hdr = { 0 };
	char		text[160] = "";
	int		status;

	b->out.len = 0;
	b->overflow = 0;
	if (wbuf_grow(b, 0) == -1)
		return (-1);
	status = handler(arg, body + in->arg, in->len - in->arg, &b->out);
	hdr.type = FP_RESULT;
	if (b->overflow || status == FP_HANDLE_TOO_LARGE) {
		snprintf(text, sizeof(text), "the handler's output is over "
		    "max_payload (%zu bytes); raise max_payload in [daemon] "
		    "or return less", b->out.max);
		hdr.type = FP_ERROR;
		status = FP_ERR_TOO_LARGE;
	} else if (status < 0 || status > UINT16_MAX) {
		/* Not a status: a failed RESULT that says so. */
		snprintf(text, sizeof(text), "the handler returned %d, which "
		    "is not a status", status);
		status = 1;
	}
	if (text[0] != '\0') {
		b->out.len = 0;
		b->overflow = 0;
		wbuf_write(&b->out, text, strlen(text));
	}
	hdr.len = b->out.len;
	hdr.version = FP_PROTO_VERSION;
	hdr.arg = (uint16_t)status;
	hdr.id = in->id;
	fp_hdr_encode(b->data, &hdr);
	return (write_all(fd, b->data, FP_HDR_LEN + b->out.len));
}

int
fp_worker_serve(fp_worker_handler *handler, void *arg)
{
	struct fp_wchan		 ch;
	struct fp_hdr		 hdr = { 0 };
	struct wbuf		 b;
	const uint8_t		*body;
	uint8_t			 pong[FP_HDR_LEN];
	int			 fd, rc = -1, n;

	fd = (int)env_u32("FORKPOOL_FD", 3);
	memset(&b, 0, sizeof(b));
	b.out.write = wbuf_write;
	b.out.reserve = wbuf_reserve;
	b.out.commit = wbuf_commit;
	b.out.max = env_u32("FORKPOOL_MAX_PAYLOAD", FP_DEFAULT_MAX_PAYLOAD);
	b.out.priv = &b;
	fp_wchan_init(&ch, fd, (uint32_t)b.out.max + FP_POOL_NAME_MAX);

	hdr.version = FP_PROTO_VERSION;
	hdr.type = FP_PONG;
	fp_hdr_encode(pong, &hdr);
	if (write_all(fd, pong, sizeof(pong)) == -1)
		goto out;
	while ((n = fp_wchan_next(&ch, &hdr, &body)) == 1)
		if (serve_one(fd, handler, arg, &b, &hdr, body) == -1)
			goto out;
	if (n == 0)
		rc = 0;
out:
	fp_wchan_free(&ch);
	free(b.data);
	return (rc);
}

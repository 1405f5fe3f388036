/*
 * The frame codec shared by the daemon, the workers, the client library, the
 * command and the tests.  Pure: no I/O, no logging.
 */
#include <stdlib.h>
#include <string.h>

#include "forkpool/proto.h"
#include "proto_int.h"

static const struct {
	const char	*name;
	const char	*words;
} errors[] = {
	[0] = { "UNKNOWN", "unknown error" },
	[FP_ERR_BAD_REQUEST] = { "BAD_REQUEST", "the request was malformed" },
	[FP_ERR_PROTOCOL] = { "PROTOCOL",
	    "the frame's protocol version is not supported" },
	[FP_ERR_TOO_LARGE] = { "TOO_LARGE", "the payload or output is over "
	    "the size limit" },
	[FP_ERR_UNKNOWN_POOL] = { "UNKNOWN_POOL", "no pool has that name" },
	[FP_ERR_OVERLOADED] = { "OVERLOADED",
	    "the pool's queue is full; nothing was run" },
	[FP_ERR_TIMEOUT] = { "TIMEOUT",
	    "the task ran past its time limit and its worker was killed" },
	[FP_ERR_WORKER_CRASHED] = { "WORKER_CRASHED",
	    "the worker died while running the task" },
	[FP_ERR_SHUTTING_DOWN] = { "SHUTTING_DOWN",
	    "the daemon is stopping and did not run the task" },
	[FP_ERR_CANCELLED] = { "CANCELLED",
	    "the task was cancelled before it started" },
	[FP_ERR_QUARANTINED] = { "QUARANTINED",
	    "this task recently crashed workers again and again; refused" },
	[FP_ERR_FORBIDDEN] = { "FORBIDDEN",
	    "this user may not use the daemon's socket" },
	[FP_ERR_INTERNAL] = { "INTERNAL", "the daemon had an internal error" },
	[FP_ERR_UNAVAILABLE] = { "UNAVAILABLE",
	    "no worker of the pool could start; nothing was run" },
};

static void
put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, v & 0xffff);
	put_le16(p + 2, v >> 16);
}

static uint16_t
get_le16(const uint8_t *p)
{
	return ((uint16_t)(p[0] | (p[1] << 8)));
}

static uint32_t
get_le32(const uint8_t *p)
{
	return ((uint32_t)get_le16(p) | ((uint32_t)get_le16(p + 2) << 16));
}

void
fp_hdr_encode(uint8_t out[FP_HDR_LEN], const struct fp_hdr *hdr)
{
	put_le32(out, hdr->len);
	out[4] = hdr->version;
	out[5] = hdr->type;
	put_le16(out + 6, hdr->arg);
	put_le32(out + 8, (uint32_t)hdr->id);
	put_le32(out + 12, (uint32_t)(hdr->id >> 32));
}

void
fp_hdr_put(uint8_t out[FP_HDR_LEN], uint8_t type, uint16_t arg, uint64_t id,
    uint32_t len)
{
	struct fp_hdr	hdr;

	hdr.len = len;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = type;
	hdr.arg = arg;
	hdr.id = id;
	fp_hdr_encode(out, &hdr);
}

int
fp_hdr_decode(const uint8_t in[FP_HDR_LEN], struct fp_hdr *hdr,
    uint32_t max_body)
{
	hdr->len = get_le32(in);
	hdr->version = in[4];
	hdr->type = in[5];
	hdr->arg = get_le16(in + 6);
	hdr->id = (uint64_t)get_le32(in + 8) | ((uint64_t)get_le32(in + 12) << 32);

	/* The version decides how the rest is read, so it comes first. */
	if (hdr->version != FP_PROTO_VERSION)
		return (FP_ERR_PROTOCOL);
	if (hdr->len > max_body)
		return (FP_ERR_TOO_LARGE);
	return (0);
}

int
fp_pool_name_valid(const char *name, size_t len)
{
	size_t	i;
	char	ch;

	if (len == 0 || len > FP_POOL_NAME_MAX)
		return (0);
	for (i = 0; i < len; i++) {
		ch = name[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		    ch == '-')
			continue;
		return (0);
	}
	return (1);
}

const char *
fp_err_name(int code)
{
	if (code < 1 || code > FP_ERR_MAX)
		return (errors[0].name);
	return (errors[code].name);
}

int
fp_err_from_name(const char *name)
{
	int	code;

	for (code = 1; code <= FP_ERR_MAX; code++)
		if (strcmp(errors[code].name, name) == 0)
			return (code);
	return (0);
}

const char *
fp_strerror(int code)
{
	if (code < 1 || code > FP_ERR_MAX)
		return (errors[0].words);
	return (errors[code].words);
}

void
fp_reader_init(struct fp_reader *r, uint32_t max_body)
{
	memset(r, 0, sizeof(*r));
	r->max_body = max_body;
}

void
fp_reader_free(struct fp_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

int
fp_reader_feed(struct fp_reader *r, const void *data, size_t len)
{
	size_t	 need, cap;
	uint8_t	*nbuf;

	if (len == 0)
		return (0);
	/* Slide consumed bytes out before growing. */
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	need = r->len + len;
	if (need > r->cap) {
		cap = r->cap == 0 ? 4096 : r->cap;
		while (cap < need)
			cap *= 2;
		if ((nbuf = realloc(r->buf, cap)) == NULL)
			return (-1);
		r->buf = nbuf;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return (0);
}

int
fp_reader_next(struct fp_reader *r, struct fp_hdr *hdr, const uint8_t **body)
{
	size_t	avail = r->len - r->off;
	int	rc;

	if (r->err != 0)
		return (-1);
	if (avail < FP_HDR_LEN)
		return (0);
	if ((rc = fp_hdr_decode(r->buf + r->off, hdr, r->max_body)) != 0) {
		r->err = rc;
		return (-1);
	}
	if (avail - FP_HDR_LEN < hdr->len)
		return (0);
	*body = r->buf + r->off + FP_HDR_LEN;
	r->off += FP_HDR_LEN + hdr->len;
	return (1);
}

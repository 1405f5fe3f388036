/*
 * libFuzzer harness for the frame codec (lib/proto.c).
 *
 * The input is split into a little control and a byte stream:
 *
 *	byte 0		bits 0-1 choose the reader's max_body
 *	byte 1		k, how many chunk sizes follow
 *	k bytes		chunk sizes, used in turn (0: call next with no feed)
 *	the rest	the stream a peer would send
 *
 * The stream goes to fp_reader_feed in those chunks, draining
 * fp_reader_next after each one, and the frames that come out are
 * compared with what a one-shot decoder written here from PROTOCOL.md
 * finds in the whole stream: the same frames, in order, byte for byte,
 * and the same verdict at the end (broken, and why, or waiting for more).
 * A codec that depends on how bytes arrive, reads past what it holds or
 * forgets an error fails that comparison or trips ASan.  Along the way
 * every header round-trips through fp_hdr_encode, every SUBMIT's pool
 * name is checked against a reference fp_pool_name_valid, and the error
 * tables are looked up with whatever arg the frames carry.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forkpool/proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A frame the reference decoder found in the whole stream. */
struct ref_frame {
	struct fp_hdr	 hdr;
	size_t		 off;		/* of its body in the stream */
};

static const uint32_t max_bodies[] = {
	FP_DEFAULT_MAX_PAYLOAD, 0, 64, 4096
};

/* An assertion that survives -DNDEBUG and tells libFuzzer it crashed. */
#define CHECK(cond)	do { if (!(cond)) abort(); } while (0)

/* A little-endian 32-bit field, read without the codec's help. */
static uint32_t
le32(const uint8_t *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24);
}

/* PROTOCOL.md's pool name rule, written independently of lib/proto.c. */
static int
ref_name_valid(const uint8_t *s, size_t len)
{
	size_t	i;

	if (len < 1 || len > 64)
		return (0);
	for (i = 0; i < len; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789_.-", s[i]) == NULL || s[i] == '\0')
			return (0);
	return (1);
}

/*
 * Decode the whole stream at once.  Returns how many frames were found;
 * *err is the fp_err that stopped it, or 0 when it stopped for want of
 * bytes.
 */
static size_t
ref_decode(const uint8_t *s, size_t len, uint32_t max_body,
    struct ref_frame *out, size_t max_out, int *err)
{
	size_t		off = 0, n = 0;
	uint32_t	blen;

	*err = 0;
	while (len - off >= FP_HDR_LEN && n < max_out) {
		blen = le32(s + off);
		if (s[off + 4] != FP_PROTO_VERSION) {
			*err = FP_ERR_PROTOCOL;
			break;
		}
		if (blen > max_body) {
			*err = FP_ERR_TOO_LARGE;
			break;
		}
		if (len - off - FP_HDR_LEN < blen)
			break;
		out[n].hdr.len = blen;
		out[n].hdr.version = s[off + 4];
		out[n].hdr.type = s[off + 5];
		out[n].hdr.arg = (uint16_t)(s[off + 6] | s[off + 7] << 8);
		out[n].hdr.id = (uint64_t)le32(s + off + 8) |
		    (uint64_t)le32(s + off + 12) << 32;
		out[n].off = off + FP_HDR_LEN;
		off += FP_HDR_LEN + blen;
		n++;
	}
	return (n);
}

/* Header decode and encode are inverses on any 16 bytes. */
static void
check_roundtrip(const uint8_t *in, uint32_t max_body)
{
	struct fp_hdr	hdr;
	uint8_t		out[FP_HDR_LEN];
	int		rc;

	rc = fp_hdr_decode(in, &hdr, max_body);
	if (in[4] != FP_PROTO_VERSION)
		CHECK(rc == FP_ERR_PROTOCOL);
	else if (le32(in) > max_body)
		CHECK(rc == FP_ERR_TOO_LARGE);
	else
		CHECK(rc == 0);
	fp_hdr_encode(out, &hdr);
	CHECK(memcmp(in, out, FP_HDR_LEN) == 0);
}

/* What a frame's fields lead the daemon to look up. */
static void
check_frame(const struct fp_hdr *hdr, const uint8_t *body)
{
	const char	*name;

	if (hdr->type == FP_SUBMIT && hdr->arg <= hdr->len)
		CHECK(fp_pool_name_valid((const char *)body, hdr->arg) ==
		    ref_name_valid(body, hdr->arg));
	name = fp_err_name(hdr->arg);
	CHECK(name != NULL && fp_strerror(hdr->arg) != NULL);
	if (hdr->arg >= 1 && hdr->arg <= FP_ERR_MAX)
		CHECK(fp_err_from_name(name) == hdr->arg);
	else
		CHECK(strcmp(name, "UNKNOWN") == 0);
}

/* One input: the stream in its chunks against the one-shot reference. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ref_frame	 ref[4096];
	struct fp_reader	 r;
	struct fp_hdr		 hdr;
	const uint8_t		*body, *chunks, *stream;
	size_t			 nchunks, slen, off = 0, ci = 0, got = 0;
	size_t			 nref, step, i;
	uint32_t		 max_body;
	int			 rc = 0, ref_err, broken = 0;

	if (size < 2)
		return (0);
	max_body = max_bodies[data[0] & 3];
	nchunks = data[1];
	if (size - 2 < nchunks)
		return (0);
	chunks = data + 2;
	stream = chunks + nchunks;
	slen = size - 2 - nchunks;

	nref = ref_decode(stream, slen, max_body, ref, 4096, &ref_err);
	if (nref == 4096)
		return (0);	/* too many frames to compare; not useful */

	for (i = 0; i < nchunks && chunks[i] == 0; i++)
		;
	if (i == nchunks)
		nchunks = 0;	/* no size to go by: all at once */

	fp_reader_init(&r, max_body);
	for (;;) {
		step = nchunks == 0 ? slen - off : chunks[ci++ % nchunks];
		if (step > slen - off)
			step = slen - off;
		CHECK(fp_reader_feed(&r, stream + off, step) == 0);
		off += step;
		/* Drain every whole frame before the next chunk arrives. */
		while ((rc = fp_reader_next(&r, &hdr, &body)) == 1) {
			CHECK(got < nref);
			CHECK(hdr.len == ref[got].hdr.len &&
			    hdr.version == ref[got].hdr.version &&
			    hdr.type == ref[got].hdr.type &&
			    hdr.arg == ref[got].hdr.arg &&
			    hdr.id == ref[got].hdr.id);
			CHECK(hdr.len == 0 ||
			    memcmp(body, stream + ref[got].off, hdr.len) == 0);
			check_frame(&hdr, body);
			got++;
		}
		if (rc == -1) {
			/* The reasons the header comment promises, no other. */
			CHECK(r.err == FP_ERR_PROTOCOL ||
			    r.err == FP_ERR_TOO_LARGE);
			broken = 1;
			break;
		}
		CHECK(rc == 0);
		if (off == slen)
			break;
	}
	CHECK(got == nref);
	if (ref_err != 0) {
		CHECK(broken && r.err == ref_err);
		/* Sticky: it stays broken whatever comes next. */
		CHECK(fp_reader_feed(&r, stream, slen > 16 ? 16 : slen) == 0);
		CHECK(fp_reader_next(&r, &hdr, &body) == -1);
	} else
		CHECK(!broken && r.err == 0);
	fp_reader_free(&r);

	/* Every 16-byte window is a header to someone. */
	for (i = 0; i + FP_HDR_LEN <= slen && i < 256; i++)
		check_roundtrip(stream + i, max_body);
	/* And every slice of the stream a pool name. */
	for (i = 0; i < slen && i < 80; i++)
		CHECK(fp_pool_name_valid((const char *)stream, i) ==
		    ref_name_valid(stream, i));
	return (0);
}

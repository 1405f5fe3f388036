/*
 * The frame codec (lib/proto.c) against spec/PROTOCOL.md: header bytes,
 * the version and length checks, pool names, error names, and the
 * streaming reader fed the way a socket feeds it.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "forkpool/proto.h"
#include "suites.h"

/* Every code of PROTOCOL.md's table, by its name there. */
static const struct {
	int		 code;
	const char	*name;
} spec_errors[] = {
	{ 1, "BAD_REQUEST" },
	{ 2, "PROTOCOL" },
	{ 3, "TOO_LARGE" },
	{ 4, "UNKNOWN_POOL" },
	{ 5, "OVERLOADED" },
	{ 6, "TIMEOUT" },
	{ 7, "WORKER_CRASHED" },
	{ 8, "SHUTTING_DOWN" },
	{ 9, "CANCELLED" },
	{ 10, "QUARANTINED" },
	{ 11, "FORBIDDEN" },
	{ 12, "INTERNAL" },
	{ 13, "UNAVAILABLE" },
};
#define NSPEC_ERRORS	(sizeof(spec_errors) / sizeof(spec_errors[0]))

/* Hex digits (spaces ignored) to bytes; the count. */
static size_t
unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t		 n = 0;
	unsigned int	 v;
	char		 pair[3];

	while (*s != '\0') {
		if (*s == ' ') {
			s++;
			continue;
		}
		ck_assert(s[1] != '\0');
		pair[0] = s[0];
		pair[1] = s[1];
		pair[2] = '\0';
		v = (unsigned int)strtoul(pair, NULL, 16);
		ck_assert_uint_lt(n, cap);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return (n);
}

/* Encode hdr, decode it again and check every field came back. */
static void
round_trip(const struct fp_hdr *hdr)
{
	uint8_t		buf[FP_HDR_LEN];
	struct fp_hdr	got;

	memset(&got, 0xa5, sizeof(got));
	fp_hdr_encode(buf, hdr);
	ck_assert_int_eq(fp_hdr_decode(buf, &got, UINT32_MAX), 0);
	ck_assert_uint_eq(got.len, hdr->len);
	ck_assert_uint_eq(got.version, hdr->version);
	ck_assert_uint_eq(got.type, hdr->type);
	ck_assert_uint_eq(got.arg, hdr->arg);
	ck_assert_uint_eq(got.id, hdr->id);
}

/* Append one frame (header and body) to buf at *off. */
static void
put_frame(uint8_t *buf, size_t *off, uint8_t type, uint16_t arg, uint64_t id,
    const void *body, uint32_t len)
{
	struct fp_hdr	hdr = { len, FP_PROTO_VERSION, type, arg, id };

	fp_hdr_encode(buf + *off, &hdr);
	memcpy(buf + *off + FP_HDR_LEN, body, len);
	*off += FP_HDR_LEN + len;
}

/* Take one frame out of r and check it is the one expected. */
static void
expect_frame(struct fp_reader *r, uint8_t type, uint64_t id, const void *body,
    uint32_t len)
{
	struct fp_hdr	 hdr;
	const uint8_t	*got = NULL;

	ck_assert_int_eq(fp_reader_next(r, &hdr, &got), 1);
	ck_assert_uint_eq(hdr.version, FP_PROTO_VERSION);
	ck_assert_uint_eq(hdr.type, type);
	ck_assert_uint_eq(hdr.id, id);
	ck_assert_uint_eq(hdr.len, len);
	ck_assert_ptr_nonnull(got);
	ck_assert_mem_eq(got, body, len);
}

START_TEST(test_request_types)
{
	/* Every request type of PROTOCOL.md encodes and decodes unchanged. */
	const uint8_t	 types[] = { FP_SUBMIT, FP_PING, FP_STATUS,
			    FP_METRICS, FP_CANCEL };
	const uint8_t	 wire[] = { 0x01, 0x02, 0x03, 0x04, 0x05 };
	struct fp_hdr	 hdr;
	uint8_t		 buf[FP_HDR_LEN];
	size_t		 i;

	for (i = 0; i < sizeof(types); i++) {
		hdr.len = (uint32_t)(i * 1000 + 9);
		hdr.version = FP_PROTO_VERSION;
		hdr.type = types[i];
		hdr.arg = (uint16_t)(i == 0 ? 4 : 0);
		hdr.id = UINT64_MAX - i;
		round_trip(&hdr);
		fp_hdr_encode(buf, &hdr);
		ck_assert_uint_eq(buf[5], wire[i]);
	}
}
END_TEST

START_TEST(test_reply_types)
{
	/* Every reply type of PROTOCOL.md encodes and decodes unchanged,
	 * with the arg each carries (a status, an error code). */
	const uint8_t	 types[] = { FP_RESULT, FP_ERROR, FP_PONG,
			    FP_STATUS_REPLY, FP_METRICS_REPLY };
	const uint8_t	 wire[] = { 0x81, 0x82, 0x83, 0x84, 0x85 };
	struct fp_hdr	 hdr;
	uint8_t		 buf[FP_HDR_LEN];
	size_t		 i;

	for (i = 0; i < sizeof(types); i++) {
		hdr.len = (uint32_t)i;
		hdr.version = FP_PROTO_VERSION;
		hdr.type = types[i];
		hdr.arg = (uint16_t)(types[i] == FP_RESULT ? 65535 :
		    types[i] == FP_ERROR ? FP_ERR_WORKER_CRASHED : 0);
		hdr.id = (uint64_t)i << 40 | 7;
		round_trip(&hdr);
		fp_hdr_encode(buf, &hdr);
		ck_assert_uint_eq(buf[5], wire[i]);
		ck_assert_uint_ge(buf[5], 0x80);
	}
}
END_TEST

START_TEST(test_spec_example)
{
	/* PROTOCOL.md's complete exchange, byte for byte: SUBMIT "hello" to
	 * pool "echo" with id 7, and its RESULT. */
	const char	*req = "09000000 01 01 0400 0700000000000000 "
			    "6563686f 68656c6c6f";
	const char	*rep = "05000000 01 81 0000 0700000000000000 "
			    "68656c6c6f";
	uint8_t		 want[64], got[64];
	size_t		 n;
	struct fp_hdr	 hdr = { 9, FP_PROTO_VERSION, FP_SUBMIT, 4, 7 };

	n = unhex(req, want, sizeof(want));
	ck_assert_uint_eq(n, FP_HDR_LEN + 9);
	fp_hdr_encode(got, &hdr);
	memcpy(got + FP_HDR_LEN, "echo", 4);
	memcpy(got + FP_HDR_LEN + 4, "hello", 5);
	ck_assert_mem_eq(got, want, n);

	n = unhex(rep, want, sizeof(want));
	memset(&hdr, 0, sizeof(hdr));
	ck_assert_int_eq(fp_hdr_decode(want, &hdr, FP_DEFAULT_MAX_PAYLOAD), 0);
	ck_assert_uint_eq(hdr.len, 5);
	ck_assert_uint_eq(hdr.version, 1);
	ck_assert_uint_eq(hdr.type, FP_RESULT);
	ck_assert_uint_eq(hdr.arg, 0);
	ck_assert_uint_eq(hdr.id, 7);
	ck_assert_uint_eq(n, FP_HDR_LEN + hdr.len);
	ck_assert_mem_eq(want + FP_HDR_LEN, "hello", 5);
}
END_TEST

START_TEST(test_little_endian)
{
	/* "All integers are little-endian", at the offsets of the table:
	 * len at 0, version 4, type 5, arg 6, id 8. */
	struct fp_hdr	 hdr = { 0x04030201, 0x05, 0x06, 0x0807,
			    0x100f0e0d0c0b0a09ULL };
	uint8_t		 buf[FP_HDR_LEN];
	size_t		 i;

	fp_hdr_encode(buf, &hdr);
	for (i = 0; i < FP_HDR_LEN; i++)
		ck_assert_uint_eq(buf[i], i + 1);

	/* And the decoder reads the same bytes back the same way. */
	for (i = 0; i < FP_HDR_LEN; i++)
		buf[i] = (uint8_t)(0xf0 | i);
	buf[4] = FP_PROTO_VERSION;
	memset(&hdr, 0, sizeof(hdr));
	ck_assert_int_eq(fp_hdr_decode(buf, &hdr, UINT32_MAX), 0);
	ck_assert_uint_eq(hdr.len, 0xf3f2f1f0U);
	ck_assert_uint_eq(hdr.type, 0xf5);
	ck_assert_uint_eq(hdr.arg, 0xf7f6);
	ck_assert_uint_eq(hdr.id, 0xfffefdfcfbfaf9f8ULL);
}
END_TEST

START_TEST(test_bad_version)
{
	/* "The daemon checks version before it trusts len": versions 0, 2
	 * and 255 are PROTOCOL even with a len far over the limit, and the
	 * header still yields the id to answer with. */
	const uint8_t	 versions[] = { 0, 2, 255 };
	const uint32_t	 lens[] = { 0, 5, UINT32_MAX };
	struct fp_hdr	 hdr;
	uint8_t		 buf[FP_HDR_LEN];
	size_t		 i, j;

	for (i = 0; i < sizeof(versions); i++) {
		for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			hdr.len = lens[j];
			hdr.version = versions[i];
			hdr.type = FP_SUBMIT;
			hdr.arg = 4;
			hdr.id = 0x1122334455667788ULL;
			fp_hdr_encode(buf, &hdr);
			memset(&hdr, 0, sizeof(hdr));
			ck_assert_int_eq(fp_hdr_decode(buf, &hdr, 16),
			    FP_ERR_PROTOCOL);
			ck_assert_uint_eq(hdr.id, 0x1122334455667788ULL);
			ck_assert_uint_eq(hdr.version, versions[i]);
		}
	}
}
END_TEST

START_TEST(test_len_limits)
{
	/* A body of 0, 1 or exactly the limit is accepted; one byte over the
	 * limit is TOO_LARGE, and the header still yields the id. */
	const uint32_t	 maxes[] = { 1, 4096, FP_DEFAULT_MAX_PAYLOAD,
			    UINT32_MAX - 1 };
	struct fp_hdr	 hdr, got;
	uint8_t		 buf[FP_HDR_LEN];
	size_t		 i;

	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		hdr = (struct fp_hdr){ 0, FP_PROTO_VERSION, FP_SUBMIT, 1, 99 };
		fp_hdr_encode(buf, &hdr);
		ck_assert_int_eq(fp_hdr_decode(buf, &got, maxes[i]), 0);
		hdr.len = 1;
		fp_hdr_encode(buf, &hdr);
		ck_assert_int_eq(fp_hdr_decode(buf, &got, maxes[i]), 0);
		hdr.len = maxes[i];
		fp_hdr_encode(buf, &hdr);
		ck_assert_int_eq(fp_hdr_decode(buf, &got, maxes[i]), 0);
		ck_assert_uint_eq(got.len, maxes[i]);
		hdr.len = maxes[i] + 1;
		fp_hdr_encode(buf, &hdr);
		memset(&got, 0, sizeof(got));
		ck_assert_int_eq(fp_hdr_decode(buf, &got, maxes[i]),
		    FP_ERR_TOO_LARGE);
		ck_assert_uint_eq(got.len, maxes[i] + 1);
		ck_assert_uint_eq(got.id, 99);
	}
	/* With no limit at all, the largest len is a len. */
	hdr.len = UINT32_MAX;
	fp_hdr_encode(buf, &hdr);
	ck_assert_int_eq(fp_hdr_decode(buf, &got, UINT32_MAX), 0);
	/* A limit of 0 takes only empty bodies. */
	hdr.len = 1;
	fp_hdr_encode(buf, &hdr);
	ck_assert_int_eq(fp_hdr_decode(buf, &got, 0), FP_ERR_TOO_LARGE);
}
END_TEST

START_TEST(test_pool_name_lengths)
{
	/* "A pool name is 1 to 64 bytes": 0 and 65 are refused. */
	char	name[FP_POOL_NAME_MAX + 2];

	memset(name, 'a', sizeof(name));
	ck_assert_int_eq(fp_pool_name_valid(name, 0), 0);
	ck_assert_int_eq(fp_pool_name_valid(name, 1), 1);
	ck_assert_int_eq(fp_pool_name_valid(name, 64), 1);
	ck_assert_int_eq(fp_pool_name_valid(name, 65), 0);
	ck_assert_int_eq(FP_POOL_NAME_MAX, 64);
}
END_TEST

START_TEST(test_pool_name_classes)
{
	/* A pool name is made "of A-Z a-z 0-9 _ . -" and nothing else:
	 * every one of the 256 byte values, alone, first, and last in a
	 * 64-byte name, is accepted exactly when it is in that set. */
	const char	*ok = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789_.-";
	char		 name[FP_POOL_NAME_MAX];
	int		 c, want;

	for (c = 0; c < 256; c++) {
		want = c != 0 && strchr(ok, c) != NULL;
		name[0] = (char)c;
		ck_assert_int_eq(fp_pool_name_valid(name, 1), want);
		memset(name, 'x', sizeof(name));
		name[0] = (char)c;
		ck_assert_int_eq(fp_pool_name_valid(name, sizeof(name)), want);
		memset(name, 'x', sizeof(name));
		name[sizeof(name) - 1] = (char)c;
		ck_assert_int_eq(fp_pool_name_valid(name, sizeof(name)), want);
	}
	/* A name is counted, not NUL-terminated: a NUL inside is a byte. */
	ck_assert_int_eq(fp_pool_name_valid("ec\0ho", 5), 0);
	ck_assert_int_eq(fp_pool_name_valid("echo\0", 4), 1);
	ck_assert_int_eq(fp_pool_name_valid("my-pool_1.v2", 12), 1);
}
END_TEST

START_TEST(test_pool_name_bad_examples)
{
	/* One of each kind a client might send by mistake is refused. */
	const char	*bad[] = { "a b", "a/b", "../x", "a:b", "a\tb",
			    "a\nb", "caf\xc3\xa9", "a@b", "a+b", "*",
			    "\x7f", "\xff" };
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(fp_pool_name_valid(bad[i], strlen(bad[i])) == 0,
		    "pool name #%zu accepted", i);
}
END_TEST

START_TEST(test_err_names)
{
	/* Every error code has the name PROTOCOL.md gives it, and the name
	 * maps back to the code. */
	size_t	i;

	ck_assert_int_eq(FP_ERR_MAX, (int)NSPEC_ERRORS);
	for (i = 0; i < NSPEC_ERRORS; i++) {
		ck_assert_str_eq(fp_err_name(spec_errors[i].code),
		    spec_errors[i].name);
		ck_assert_int_eq(fp_err_from_name(spec_errors[i].name),
		    spec_errors[i].code);
	}
	ck_assert_int_eq(FP_ERR_BAD_REQUEST, 1);
	ck_assert_int_eq(FP_ERR_WORKER_CRASHED, 7);
	ck_assert_int_eq(FP_ERR_INTERNAL, 12);
	ck_assert_int_eq(FP_ERR_UNAVAILABLE, 13);
}
END_TEST

START_TEST(test_err_out_of_range)
{
	/* A code outside the table is "UNKNOWN", and no name but the
	 * thirteen maps to a code. */
	const int	 codes[] = { 0, -1, 14, 255, 65535, INT_MAX, INT_MIN };
	const char	*names[] = { "", "UNKNOWN", "timeout", "TIMEOUT ",
			    "WORKER", "OK", "INTERNALX" };
	size_t		 i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		ck_assert_str_eq(fp_err_name(codes[i]), "UNKNOWN");
		ck_assert_ptr_nonnull(fp_strerror(codes[i]));
		ck_assert_str_eq(fp_strerror(codes[i]), fp_strerror(0));
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_int_eq(fp_err_from_name(names[i]), 0);
}
END_TEST

START_TEST(test_strerror)
{
	/* Every code has its own sentence for a person, distinct from the
	 * others and from the unknown one. */
	size_t		 i, j;
	const char	*s;

	for (i = 0; i < NSPEC_ERRORS; i++) {
		s = fp_strerror(spec_errors[i].code);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_gt(strlen(s), 8);
		ck_assert_str_ne(s, fp_strerror(0));
		ck_assert_ptr_null(strchr(s, '\n'));
		for (j = 0; j < i; j++)
			ck_assert_str_ne(s, fp_strerror(spec_errors[j].code));
	}
}
END_TEST

START_TEST(test_reader_byte_by_byte)
{
	/* Frames fed one byte at a time come out whole, each exactly when
	 * its last byte arrives, never before. */
	uint8_t			 stream[256];
	size_t			 n = 0, i, ends[3];
	struct fp_reader	 r;
	struct fp_hdr		 hdr;
	const uint8_t		*body;
	int			 k = 0;

	put_frame(stream, &n, FP_SUBMIT, 4, 7, "echohello", 9);
	ends[0] = n;
	put_frame(stream, &n, FP_PING, 0, 8, "", 0);
	ends[1] = n;
	put_frame(stream, &n, FP_CANCEL, 0, 9, "", 0);
	ends[2] = n;

	fp_reader_init(&r, FP_DEFAULT_MAX_PAYLOAD);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(fp_reader_feed(&r, stream + i, 1), 0);
		if (i + 1 == ends[k]) {
			ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), 1);
			ck_assert_uint_eq(hdr.id, 7 + (uint64_t)k);
			if (k == 0) {
				ck_assert_uint_eq(hdr.arg, 4);
				ck_assert_mem_eq(body, "echohello", 9);
			}
			k++;
		}
		ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), 0);
	}
	ck_assert_int_eq(k, 3);
	fp_reader_free(&r);
}
END_TEST

START_TEST(test_reader_many_in_one_feed)
{
	/* Pipelined frames arriving in one read all come out, in order. */
	uint8_t			 stream[4096];
	char			 body[32];
	size_t			 n = 0;
	struct fp_reader	 r;
	struct fp_hdr		 hdr;
	const uint8_t		*got;
	uint32_t		 i;

	for (i = 0; i < 100; i++) {
		memset(body, 'a' + i % 26, sizeof(body));
		put_frame(stream, &n, FP_SUBMIT, 1, 1000 + i, body, i % 20);
	}
	fp_reader_init(&r, 1024);
	ck_assert_int_eq(fp_reader_feed(&r, stream, n), 0);
	for (i = 0; i < 100; i++) {
		memset(body, 'a' + i % 26, sizeof(body));
		expect_frame(&r, FP_SUBMIT, 1000 + i, body, i % 20);
	}
	ck_assert_int_eq(fp_reader_next(&r, &hdr, &got), 0);
	ck_assert_int_eq(r.err, 0);
	fp_reader_free(&r);
}
END_TEST

START_TEST(test_reader_truncated)
{
	/* A frame cut short, in its header or in its body, is "more bytes
	 * needed" (0), not an error; the rest completes it. */
	uint8_t			 stream[64];
	size_t			 n = 0, cut;
	struct fp_reader	 r;
	struct fp_hdr		 hdr;
	const uint8_t		*body;
	const size_t		 cuts[] = { 0, 1, FP_HDR_LEN - 1, FP_HDR_LEN,
				    FP_HDR_LEN + 8 };
	size_t			 i;

	put_frame(stream, &n, FP_RESULT, 0, 7, "hello, world", 12);
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		cut = cuts[i];
		fp_reader_init(&r, 64);
		ck_assert_int_eq(fp_reader_feed(&r, stream, cut), 0);
		ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), 0);
		ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), 0);
		ck_assert_int_eq(fp_reader_feed(&r, stream + cut, n - cut), 0);
		expect_frame(&r, FP_RESULT, 7, "hello, world", 12);
		ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), 0);
		fp_reader_free(&r);
	}
}
END_TEST

START_TEST(test_reader_too_large)
{
	/* A header announcing a body over the limit breaks the stream
	 * (TOO_LARGE) as soon as the header is read, before any body byte,
	 * and for good: valid frames after it are not read. */
	uint8_t			 stream[256];
	size_t			 n = 0;
	struct fp_reader	 r;
	struct fp_hdr		 hdr;
	const uint8_t		*body;
	struct fp_hdr		 big = { 101, FP_PROTO_VERSION, FP_SUBMIT,
				    4, 31337 };

	fp_hdr_encode(stream, &big);
	n = FP_HDR_LEN;
	fp_reader_init(&r, 100);
	ck_assert_int_eq(fp_reader_feed(&r, stream, n), 0);
	memset(&hdr, 0, sizeof(hdr));
	ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), -1);
	ck_assert_int_eq(r.err, FP_ERR_TOO_LARGE);
	ck_assert_uint_eq(hdr.id, 31337);

	n = 0;
	put_frame(stream, &n, FP_PING, 0, 1, "", 0);
	ck_assert_int_eq(fp_reader_feed(&r, stream, n), 0);
	ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), -1);
	ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), -1);
	ck_assert_int_eq(r.err, FP_ERR_TOO_LARGE);
	fp_reader_free(&r);
}
END_TEST

START_TEST(test_reader_bad_version)
{
	/* A frame whose version is not 1 breaks the stream (PROTOCOL), even
	 * after good frames and with a huge len; the good ones before it are
	 * still delivered. */
	uint8_t			 stream[256];
	size_t			 n = 0;
	struct fp_reader	 r;
	struct fp_hdr		 hdr, bad = { UINT32_MAX, 2, FP_PING, 0, 5 };
	const uint8_t		*body;

	put_frame(stream, &n, FP_PING, 0, 4, "", 0);
	fp_hdr_encode(stream + n, &bad);
	n += FP_HDR_LEN;
	put_frame(stream, &n, FP_PING, 0, 6, "", 0);

	fp_reader_init(&r, FP_DEFAULT_MAX_PAYLOAD);
	ck_assert_int_eq(fp_reader_feed(&r, stream, n), 0);
	expect_frame(&r, FP_PING, 4, "", 0);
	ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), -1);
	ck_assert_int_eq(r.err, FP_ERR_PROTOCOL);
	ck_assert_uint_eq(hdr.id, 5);
	ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), -1);
	fp_reader_free(&r);
}
END_TEST

START_TEST(test_reader_large_body_in_chunks)
{
	/* A body of a megabyte arriving in odd-sized reads comes out intact,
	 * and an empty feed is harmless. */
	const uint32_t		 len = 1024 * 1024 + 3;
	uint8_t			*stream;
	size_t			 n = 0, off, chunk;
	struct fp_reader	 r;
	struct fp_hdr		 hdr;
	const uint8_t		*body;
	uint32_t		 i;

	stream = malloc(FP_HDR_LEN + len);
	ck_assert_ptr_nonnull(stream);
	for (i = 0; i < len; i++)
		stream[FP_HDR_LEN + i] = (uint8_t)(i * 7 + i / 251);
	hdr = (struct fp_hdr){ len, FP_PROTO_VERSION, FP_RESULT, 0, 77 };
	fp_hdr_encode(stream, &hdr);
	n = FP_HDR_LEN + len;

	fp_reader_init(&r, FP_DEFAULT_MAX_PAYLOAD);
	ck_assert_int_eq(fp_reader_feed(&r, stream, 0), 0);
	for (off = 0; off < n; off += chunk) {
		chunk = n - off < 4093 ? n - off : 4093;
		ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), 0);
		ck_assert_int_eq(fp_reader_feed(&r, stream + off, chunk), 0);
	}
	expect_frame(&r, FP_RESULT, 77, stream + FP_HDR_LEN, len);
	ck_assert_int_eq(fp_reader_next(&r, &hdr, &body), 0);
	fp_reader_free(&r);
	free(stream);
}
END_TEST

START_TEST(test_reader_bounded_memory)
{
	/* A long stream of small frames, consumed as it arrives, does not
	 * make the reader's buffer grow without bound. */
	uint8_t			 frame[64];
	size_t			 n = 0, i;
	struct fp_reader	 r;

	put_frame(frame, &n, FP_SUBMIT, 4, 1, "echo1234", 8);
	fp_reader_init(&r, 1024);
	for (i = 0; i < 100000; i++) {
		/* Split every frame differently across two feeds. */
		ck_assert_int_eq(fp_reader_feed(&r, frame, i % n), 0);
		ck_assert_int_eq(fp_reader_feed(&r, frame + i % n,
		    n - i % n), 0);
		expect_frame(&r, FP_SUBMIT, 1, "echo1234", 8);
	}
	ck_assert_uint_le(r.cap, 4096);
	fp_reader_free(&r);
}
END_TEST

Suite *
proto_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("proto");
	tc = tcase_create("header");
	tcase_add_test(tc, test_request_types);
	tcase_add_test(tc, test_reply_types);
	tcase_add_test(tc, test_spec_example);
	tcase_add_test(tc, test_little_endian);
	tcase_add_test(tc, test_bad_version);
	tcase_add_test(tc, test_len_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_pool_name_lengths);
	tcase_add_test(tc, test_pool_name_classes);
	tcase_add_test(tc, test_pool_name_bad_examples);
	tcase_add_test(tc, test_err_names);
	tcase_add_test(tc, test_err_out_of_range);
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);

	tc = tcase_create("reader");
	tcase_add_test(tc, test_reader_byte_by_byte);
	tcase_add_test(tc, test_reader_many_in_one_feed);
	tcase_add_test(tc, test_reader_truncated);
	tcase_add_test(tc, test_reader_too_large);
	tcase_add_test(tc, test_reader_bad_version);
	tcase_add_test(tc, test_reader_large_body_in_chunks);
	tcase_add_test(tc, test_reader_bounded_memory);
	suite_add_tcase(s, tc);
	return (s);
}

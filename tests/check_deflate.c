/*
 * The deflate module, driven directly: dlopen'ed from the build, its init,
 * worker_init, handle and fini called as the daemon would, its output
 * checked against zlib's own compress() and uncompress().  The "live" case
 * then runs it in a real forkpoold.
 */
#include <sys/wait.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "forkpool/module.h"
#include "forkpool/proto.h"
#include "harness.h"
#include "suites.h"

#define CANARY		16		/* guard bytes past every reservation */
#define CANARY_BYTE	0xa5
#define KiB		1024
#define MiB		(1024 * 1024)

/*
 * The daemon's side of fp_out, kept strict: the buffer grows to exactly
 * what was asked for (plus extra, which the API allows) and guard bytes, so
 * a module writing past the room it was given, or past max, is caught.
 */
struct tbuf {
	struct fp_out	 out;
	unsigned char	*data;
	size_t		 cap;		/* bytes usable, guard excluded */
	size_t		 given;		/* room given by the pending reserve */
	size_t		 extra;		/* reserve gives this much more */
	int		 pending;	/* a reserve not yet committed */
	int		 reserves;
};

/* Grow to exactly n usable bytes and re-arm the guard. */
static void
tbuf_grow(struct tbuf *tb, size_t n)
{
	if (n > tb->cap) {
		tb->data = realloc(tb->data, n + CANARY);
		ck_assert_ptr_nonnull(tb->data);
		tb->cap = n;
	}
	memset(tb->data + tb->cap, CANARY_BYTE, CANARY);
}

static int
tbuf_write(struct fp_out *out, const void *data, size_t len)
{
	struct tbuf	*tb = out->priv;

	ck_assert_msg(!tb->pending, "write() while a reserve is pending");
	if (len > out->max - out->len)
		return (-1);
	tbuf_grow(tb, out->len + len);
	if (len > 0)
		memcpy(tb->data + out->len, data, len);
	out->len += len;
	return (0);
}

static void *
tbuf_reserve(struct fp_out *out, size_t want, size_t *got)
{
	struct tbuf	*tb = out->priv;

	ck_assert_msg(!tb->pending, "reserve() while a reserve is pending");
	if (want > out->max - out->len)
		return (NULL);
	tbuf_grow(tb, out->len + want + tb->extra);
	tb->pending = 1;
	tb->reserves++;
	*got = tb->given = want + tb->extra;
	return (tb->data + out->len);
}

static void
tbuf_commit(struct fp_out *out, size_t used)
{
	struct tbuf	*tb = out->priv;
	size_t		 i;

	ck_assert_msg(tb->pending, "commit() without reserve()");
	ck_assert_uint_le(used, tb->given);
	ck_assert_msg(used <= out->max - out->len, "output past max");
	for (i = 0; i < CANARY; i++)
		ck_assert_msg(tb->data[tb->cap + i] == CANARY_BYTE,
		    "module wrote past its reservation");
	tb->pending = 0;
	out->len += used;
}

static void
tbuf_init(struct tbuf *tb, size_t max)
{
	memset(tb, 0, sizeof(*tb));
	tb->out.write = tbuf_write;
	tb->out.reserve = tbuf_reserve;
	tb->out.commit = tbuf_commit;
	tb->out.max = max;
	tb->out.priv = tb;
}

static void
tbuf_free(struct tbuf *tb)
{
	free(tb->data);
	tb->data = NULL;
	tb->cap = 0;
}

/* The module under test, loaded once per test process. */
static const struct fp_module *
mod(void)
{
	static const struct fp_module	*m;
	const char			*dir;
	char				 path[1024];
	void				*h;

	if (m != NULL)
		return (m);
	if ((dir = getenv("FORKPOOL_MODULE_DIR")) == NULL)
		dir = "build/modules";
	snprintf(path, sizeof(path), "%s/deflate.so", dir);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
	m = dlsym(h, FP_MODULE_SYMBOL);
	ck_assert_msg(m != NULL, "dlsym %s: %s", path, dlerror());
	return (m);
}

/* init and worker_init with args, as master and worker would. */
static void *
start(const char *args)
{
	char	 err[256] = "";
	void	*st;

	st = mod()->init(args, err, sizeof(err));
	ck_assert_msg(st != NULL, "init(\"%s\"): %s", args, err);
	ck_assert_msg(mod()->worker_init(st, err, sizeof(err)) == 0,
	    "worker_init(\"%s\"): %s", args, err);
	return (st);
}

/*
 * One task into a fresh buffer with the given max; returns the status.
 * With generous set, reserve() gives more room than asked for.
 */
static int	generous;

static int
run(void *st, const void *in, size_t len, size_t max, struct tbuf *tb)
{
	int	status;

	tbuf_init(tb, max);
	if (generous)
		tb->extra = 4 * KiB;
	status = mod()->handle(st, in, len, &tb->out);
	ck_assert_msg(!tb->pending, "handle() returned with a reserve "
	    "pending");
	return (status);
}

/* Deterministic bytes: xorshift, so a failure can be reproduced. */
static unsigned char *
random_bytes(size_t n, uint64_t seed)
{
	unsigned char	*p = malloc(n + 1);
	size_t		 i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = seed >> 24;
	}
	return (p);
}

/* Text-like bytes that compress well: words drawn from a short list. */
static unsigned char *
text_bytes(size_t n, uint64_t seed)
{
	static const char	*words[] = { "pool ", "worker ", "task ",
				    "forkpool ", "deflate ", "zlib\n", "the ",
				    "a ", "crashed ", "answered " };
	unsigned char		*p = malloc(n + 1);
	size_t			 i = 0, wl;
	const char		*w;

	ck_assert_ptr_nonnull(p);
	while (i < n) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		w = words[seed % 10];
		wl = strlen(w);
		if (wl > n - i)
			wl = n - i;
		memcpy(p + i, w, wl);
		i += wl;
	}
	return (p);
}

/* zlib's own compress2(), into a malloc'd buffer. */
static unsigned char *
zcompress(const void *in, size_t len, int level, size_t *outlen)
{
	uLongf		 n = compressBound(len);
	unsigned char	*p = malloc(n);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(compress2(p, &n, in, len, level), Z_OK);
	*outlen = n;
	return (p);
}

/* Check that z is a zlib stream of exactly in[0..len), with zlib's decoder. */
static void
check_zlib_of(const unsigned char *z, size_t zlen, const unsigned char *in,
    size_t len)
{
	unsigned char	*back = malloc(len + 1);
	uLongf		 n = len + 1;

	ck_assert_ptr_nonnull(back);
	ck_assert_uint_ge(zlen, 2);
	/* RFC 1950 header: deflate, 32K window, check bits; not gzip. */
	ck_assert_uint_eq(z[0], 0x78);
	ck_assert_uint_eq((z[0] * 256u + z[1]) % 31, 0);
	ck_assert_int_eq(uncompress(back, &n, z, zlen), Z_OK);
	ck_assert_uint_eq(n, len);
	ck_assert(len == 0 || memcmp(back, in, len) == 0);
	free(back);
}

/* The payloads the round-trip tests use, by index. */
static unsigned char *
sample(int i, size_t *len)
{
	switch (i) {
	case 0:
		*len = 0;
		return (malloc(1));
	case 1:
		*len = 1;
		return (random_bytes(1, 7));
	case 2:
		*len = 64 * KiB;
		return (random_bytes(*len, 42));
	default:
		*len = 1 * MiB;
		return (text_bytes(*len, 4242));
	}
}

START_TEST(test_abi)
{
	/* The module exports fp_module with this ABI and its name. */
	const struct fp_module	*m = mod();
	size_t			 i;

	ck_assert_uint_eq(m->abi, FP_MODULE_ABI);
	ck_assert_str_eq(m->name, "deflate");
	ck_assert_ptr_nonnull(m->init);
	ck_assert_ptr_nonnull(m->worker_init);
	ck_assert_ptr_nonnull(m->handle);
	ck_assert_ptr_nonnull(m->fini);
	for (i = 0; i < sizeof(m->reserved) / sizeof(m->reserved[0]); i++)
		ck_assert_ptr_null(m->reserved[i]);
}
END_TEST

START_TEST(test_compress_roundtrip)
{
	/* Compressed output is a zlib stream zlib's uncompress() restores. */
	struct tbuf	 tb;
	unsigned char	*in;
	size_t		 len;
	void		*st;

	in = sample(_i, &len);
	st = start("");
	ck_assert_int_eq(run(st, in, len, 64 * MiB, &tb), 0);
	ck_assert_uint_eq(tb.reserves, 1);	/* in place, in one piece */
	check_zlib_of(tb.data, tb.out.len, in, len);
	if (_i == 3)		/* compressible text did compress */
		ck_assert_uint_lt(tb.out.len, len / 2);
	tbuf_free(&tb);
	mod()->fini(st);
	free(in);
}
END_TEST

START_TEST(test_inflate_roundtrip)
{
	/* mode=inflate restores exactly what zlib's compress() packed. */
	struct tbuf	 tb;
	unsigned char	*in, *z;
	size_t		 len, zlen;
	void		*st;

	in = sample(_i, &len);
	z = zcompress(in, len, Z_DEFAULT_COMPRESSION, &zlen);
	st = start("mode=inflate");
	ck_assert_int_eq(run(st, z, zlen, 64 * MiB, &tb), 0);
	ck_assert_uint_eq(tb.out.len, len);
	ck_assert(len == 0 || memcmp(tb.data, in, len) == 0);
	tbuf_free(&tb);
	mod()->fini(st);
	free(z);
	free(in);
}
END_TEST

START_TEST(test_module_to_module)
{
	/* What one pool compresses, an inflate pool restores. */
	struct tbuf	 tz, tb;
	unsigned char	*in;
	size_t		 len;
	void		*cst, *ist;

	in = sample(_i, &len);
	cst = start("level=9");
	ist = start("mode=inflate");
	ck_assert_int_eq(run(cst, in, len, 64 * MiB, &tz), 0);
	ck_assert_int_eq(run(ist, tz.data, tz.out.len, 64 * MiB, &tb), 0);
	ck_assert_uint_eq(tb.out.len, len);
	ck_assert(len == 0 || memcmp(tb.data, in, len) == 0);
	tbuf_free(&tz);
	tbuf_free(&tb);
	mod()->fini(cst);
	mod()->fini(ist);
	free(in);
}
END_TEST

START_TEST(test_levels)
{
	/* level=N compresses exactly as zlib's compress2() at level N. */
	struct tbuf	 tb;
	unsigned char	*in, *z, *noise;
	size_t		 len = 256 * KiB, zlen;
	char		 args[32];
	void		*st;

	in = text_bytes(len, 99);
	/* An incompressible run, so that levels differ in more ways. */
	noise = random_bytes(4096, 5);
	memcpy(in + 1000, noise, 4096);
	free(noise);
	snprintf(args, sizeof(args), "level=%d", _i);
	st = start(args);
	z = zcompress(in, len, _i, &zlen);
	ck_assert_int_eq(run(st, in, len, 64 * MiB, &tb), 0);
	check_zlib_of(tb.data, tb.out.len, in, len);
	ck_assert_uint_eq(tb.out.len, zlen);
	ck_assert(memcmp(tb.data, z, zlen) == 0);
	if (_i == 0)
		ck_assert_uint_gt(tb.out.len, len);	/* stored */
	tbuf_free(&tb);
	mod()->fini(st);
	free(z);
	free(in);
}
END_TEST

START_TEST(test_default_level)
{
	/* Without level=, the module compresses at level 6. */
	struct tbuf	 tb;
	unsigned char	*in, *z6, *z1;
	size_t		 len = 256 * KiB, z6len, z1len;
	void		*st;

	in = text_bytes(len, 7);
	z6 = zcompress(in, len, 6, &z6len);
	z1 = zcompress(in, len, 1, &z1len);
	ck_assert(z1len != z6len || memcmp(z1, z6, z6len) != 0);
	st = start(NULL);
	ck_assert_int_eq(run(st, in, len, 64 * MiB, &tb), 0);
	ck_assert_uint_eq(tb.out.len, z6len);
	ck_assert(memcmp(tb.data, z6, z6len) == 0);
	tbuf_free(&tb);
	mod()->fini(st);
	free(z1);
	free(z6);
	free(in);
}
END_TEST

/* module_args and what init must say about them (NULL: accepted). */
static const struct {
	const char	*args;
	const char	*err;
} arg_cases[] = {
	{ "level=12", "deflate: level must be 0..9, got \"12\"" },
	{ "level=-1", "deflate: level must be 0..9, got \"-1\"" },
	{ "level=", "deflate: level must be 0..9, got \"\"" },
	{ "level=5x", "deflate: level must be 0..9, got \"5x\"" },
	{ "mode=gzip", "deflate: mode must be deflate or inflate, "
	    "got \"gzip\"" },
	{ "level=3 speed=fast", "deflate: unknown argument \"speed\" "
	    "(known: level, mode)" },
	{ "level", "deflate: argument \"level\" is not key=value" },
	{ "", NULL },
	{ "level=0", NULL },
	{ "level=9,mode=deflate", NULL },
	{ " level=1 ,, mode=inflate ", NULL },
	{ "mode=inflate\tlevel=3", NULL },
};

START_TEST(test_args)
{
	/* Bad module_args make init fail with a message naming the value. */
	char	 err[256];
	void	*st;

	memset(err, 0, sizeof(err));
	st = mod()->init(arg_cases[_i].args, err, sizeof(err));
	if (arg_cases[_i].err == NULL) {
		ck_assert_msg(st != NULL, "\"%s\" refused: %s",
		    arg_cases[_i].args, err);
		mod()->fini(st);
	} else {
		ck_assert_ptr_null(st);
		ck_assert_str_eq(err, arg_cases[_i].err);
	}
}
END_TEST

START_TEST(test_args_comma_inflate)
{
	/* Comma-separated args take effect: "level=1,mode=inflate" inflates. */
	struct tbuf	 tb;
	unsigned char	*z;
	size_t		 zlen;
	void		*st;

	z = zcompress("hello, forkpool", 15, 9, &zlen);
	st = start("level=1,mode=inflate");
	ck_assert_int_eq(run(st, z, zlen, 1 * MiB, &tb), 0);
	ck_assert_uint_eq(tb.out.len, 15);
	ck_assert(memcmp(tb.data, "hello, forkpool", 15) == 0);
	tbuf_free(&tb);
	mod()->fini(st);
	free(z);
}
END_TEST

/* A failed task's output is one line starting "inflate: ". */
static void
check_message(struct tbuf *tb, const char *needle)
{
	char	*msg;

	msg = strndup((char *)tb->data, tb->out.len);
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(strncmp(msg, "inflate: ", 9) == 0, "message \"%s\"",
	    msg);
	ck_assert_msg(strlen(msg) == tb->out.len, "NUL in message");
	ck_assert_msg(strchr(msg, '\n') == NULL, "message \"%s\"", msg);
	ck_assert_msg(strstr(msg, needle) != NULL, "\"%s\" lacks \"%s\"",
	    msg, needle);
	free(msg);
}

START_TEST(test_corrupt_stored)
{
	/* A corrupt stored block gives status 1 and zlib's reason, placed. */
	struct tbuf	 tb;
	unsigned char	*in, *z;
	size_t		 len = 100, zlen;
	void		*st;

	in = text_bytes(len, 1);
	z = zcompress(in, len, 0, &zlen);
	/* 2 header bytes, 1 block-type byte, then LEN and NLEN. */
	z[5] ^= 0xff;
	st = start("mode=inflate");
	ck_assert_int_eq(run(st, z, zlen, 1 * MiB, &tb), 1);
	check_message(&tb, "invalid stored block lengths at input byte ");
	tbuf_free(&tb);
	mod()->fini(st);
	free(z);
	free(in);
}
END_TEST

START_TEST(test_corrupt_header)
{
	/* Input that is not a zlib stream (gzip, raw text) is refused. */
	static const unsigned char	 gz[] = { 0x1f, 0x8b, 8, 0, 0, 0 };
	struct tbuf			 tb;
	void				*st;

	st = start("mode=inflate");
	ck_assert_int_eq(run(st, gz, sizeof(gz), 1 * MiB, &tb), 1);
	check_message(&tb, "incorrect header check");
	tbuf_free(&tb);
	ck_assert_int_eq(run(st, "hello", 5, 1 * MiB, &tb), 1);
	check_message(&tb, "inflate: ");
	tbuf_free(&tb);
	mod()->fini(st);
}
END_TEST

START_TEST(test_corrupt_checksum)
{
	/*
	 * A bad Adler-32 is found only after all the data was decoded; the
	 * output is still only the explanation, not the data before it.
	 */
	struct tbuf	 tb;
	unsigned char	*in, *z;
	size_t		 len = 1 * MiB, zlen;
	void		*st;

	in = text_bytes(len, 3);
	z = zcompress(in, len, 6, &zlen);
	z[zlen - 1] ^= 1;
	st = start("mode=inflate");
	ck_assert_int_eq(run(st, z, zlen, 64 * MiB, &tb), 1);
	check_message(&tb, "incorrect data check");
	ck_assert_uint_lt(tb.out.len, 200);
	tbuf_free(&tb);
	mod()->fini(st);
	free(z);
	free(in);
}
END_TEST

START_TEST(test_corrupt_random)
{
	/* Damaged streams never crash the worker: status 0 or 1, always. */
	struct tbuf	 tb;
	unsigned char	*in, *z, *noise;
	size_t		 len = 4 * KiB, zlen, i;
	void		*st;
	int		 status, failed = 0;

	in = text_bytes(len, 11);
	z = zcompress(in, len, 6, &zlen);
	noise = random_bytes(2 * zlen, 77);
	st = start("mode=inflate");
	for (i = 2; i < zlen; i++) {
		z[i] ^= noise[2 * i] | 1;
		status = run(st, z, zlen, 1 * MiB, &tb);
		ck_assert(status == 0 || status == 1);
		if (status == 1) {
			check_message(&tb, "inflate: ");
			failed++;
		}
		tbuf_free(&tb);
		z[i] ^= noise[2 * i] | 1;
	}
	/* The Adler-32 catches nearly all of them. */
	ck_assert_uint_gt(failed, (zlen - 2) * 9 / 10);
	/* And the stream, restored, still works on the same z_stream. */
	ck_assert_int_eq(run(st, z, zlen, 1 * MiB, &tb), 0);
	ck_assert_uint_eq(tb.out.len, len);
	ck_assert(memcmp(tb.data, in, len) == 0);
	tbuf_free(&tb);
	mod()->fini(st);
	free(noise);
	free(z);
	free(in);
}
END_TEST

START_TEST(test_truncated)
{
	/* Every proper prefix of a stream is refused as truncated. */
	struct tbuf	 tb;
	unsigned char	*in, *z;
	size_t		 len = 2 * KiB, zlen, cut;
	void		*st;

	in = text_bytes(len, 13);
	z = zcompress(in, len, 6, &zlen);
	st = start("mode=inflate");
	for (cut = 0; cut < zlen; cut++) {
		ck_assert_int_eq(run(st, z, cut, 1 * MiB, &tb), 1);
		check_message(&tb, "truncated");
		tbuf_free(&tb);
	}
	mod()->fini(st);
	free(z);
	free(in);
}
END_TEST

START_TEST(test_truncated_large)
{
	/* A large stream cut in the middle is refused, with no partial data. */
	struct tbuf	 tb;
	unsigned char	*in, *z;
	size_t		 len = 1 * MiB, zlen;
	void		*st;

	in = random_bytes(len, 17);
	z = zcompress(in, len, 6, &zlen);
	st = start("mode=inflate");
	ck_assert_int_eq(run(st, z, zlen / 2, 64 * MiB, &tb), 1);
	check_message(&tb, "truncated");
	ck_assert_uint_lt(tb.out.len, 200);
	tbuf_free(&tb);
	mod()->fini(st);
	free(z);
	free(in);
}
END_TEST

START_TEST(test_trailing_garbage)
{
	/* Bytes after the end of the stream are an error, not ignored. */
	struct tbuf	 tb;
	unsigned char	*z, *two;
	size_t		 zlen;
	void		*st;

	z = zcompress("payload", 7, 6, &zlen);
	two = malloc(2 * zlen);
	ck_assert_ptr_nonnull(two);
	memcpy(two, z, zlen);
	memcpy(two + zlen, "xyz", 3);
	st = start("mode=inflate");
	ck_assert_int_eq(run(st, two, zlen + 3, 1 * MiB, &tb), 1);
	check_message(&tb, "3 bytes of trailing data");
	tbuf_free(&tb);

	/* Two streams back to back are trailing data too. */
	memcpy(two + zlen, z, zlen);
	ck_assert_int_eq(run(st, two, 2 * zlen, 1 * MiB, &tb), 1);
	check_message(&tb, "trailing data");
	tbuf_free(&tb);
	mod()->fini(st);
	free(two);
	free(z);
}
END_TEST

START_TEST(test_zip_bomb)
{
	/*
	 * 10 MiB of zeros, compressed, inflated with max 1 MiB, is
	 * FP_HANDLE_TOO_LARGE, and the output never grew past max (plus
	 * what a generous reserve() added on its own).
	 */
	struct tbuf	 tb;
	unsigned char	*zeros, *z;
	size_t		 len = 10 * MiB, zlen;
	void		*st;

	generous = _i;
	zeros = calloc(1, len);
	ck_assert_ptr_nonnull(zeros);
	z = zcompress(zeros, len, 9, &zlen);
	ck_assert_uint_lt(zlen, 32 * KiB);
	st = start("mode=inflate");
	ck_assert_int_eq(run(st, z, zlen, 1 * MiB, &tb), FP_HANDLE_TOO_LARGE);
	ck_assert_uint_le(tb.cap, 1 * MiB + tb.extra);
	ck_assert_uint_le(tb.out.len, 1 * MiB);
	tbuf_free(&tb);
	mod()->fini(st);
	free(z);
	free(zeros);
}
END_TEST

START_TEST(test_exact_max)
{
	/*
	 * Output of exactly max bytes is accepted and one byte more is
	 * FP_HANDLE_TOO_LARGE, inflating and compressing alike, even when
	 * reserve() offers room past max.
	 */
	struct tbuf	 tb;
	unsigned char	*in, *z;
	size_t		 len, zlen;
	void		*ist, *cst;

	len = (size_t[]){ 1, 100, 32 * KiB, 300 * KiB }[_i % 4];
	generous = _i >= 4;
	in = text_bytes(len, 23 + _i);
	z = zcompress(in, len, 6, &zlen);
	ist = start("mode=inflate");
	cst = start("level=6");

	ck_assert_int_eq(run(ist, z, zlen, len, &tb), 0);
	ck_assert_uint_eq(tb.out.len, len);
	ck_assert(memcmp(tb.data, in, len) == 0);
	tbuf_free(&tb);
	ck_assert_int_eq(run(ist, z, zlen, len - 1, &tb),
	    FP_HANDLE_TOO_LARGE);
	tbuf_free(&tb);

	ck_assert_int_eq(run(cst, in, len, zlen, &tb), 0);
	ck_assert_uint_eq(tb.out.len, zlen);
	ck_assert(memcmp(tb.data, z, zlen) == 0);
	tbuf_free(&tb);
	ck_assert_int_eq(run(cst, in, len, zlen - 1, &tb),
	    FP_HANDLE_TOO_LARGE);
	tbuf_free(&tb);

	/* After refusing, both streams are as good as new. */
	ck_assert_int_eq(run(cst, in, len, 64 * MiB, &tb), 0);
	check_zlib_of(tb.data, tb.out.len, in, len);
	tbuf_free(&tb);
	ck_assert_int_eq(run(ist, z, zlen, 64 * MiB, &tb), 0);
	ck_assert_uint_eq(tb.out.len, len);
	tbuf_free(&tb);
	mod()->fini(ist);
	mod()->fini(cst);
	free(z);
	free(in);
}
END_TEST

START_TEST(test_compress_too_large)
{
	/* Incompressible input past max is FP_HANDLE_TOO_LARGE, bounded. */
	struct tbuf	 tb;
	unsigned char	*in;
	size_t		 len = 64 * KiB;
	void		*st;

	in = random_bytes(len, 31);
	st = start("level=9");
	ck_assert_int_eq(run(st, in, len, 1000, &tb), FP_HANDLE_TOO_LARGE);
	ck_assert_uint_le(tb.cap, 1000);
	tbuf_free(&tb);
	ck_assert_int_eq(run(st, in, len, 0, &tb), FP_HANDLE_TOO_LARGE);
	ck_assert_uint_eq(tb.cap, 0);
	tbuf_free(&tb);
	mod()->fini(st);
	free(in);
}
END_TEST

START_TEST(test_many_tasks)
{
	/* One worker's stream serves task after task, each independent. */
	struct tbuf	 tb;
	unsigned char	*in, *z;
	size_t		 len, zlen;
	void		*cst, *ist;
	int		 i;

	cst = start("level=3");
	ist = start("mode=inflate");
	for (i = 0; i < 200; i++) {
		len = (size_t)i * 97;
		in = i % 2 ? text_bytes(len, i) : random_bytes(len, i + 1);
		ck_assert_int_eq(run(cst, in, len, 64 * MiB, &tb), 0);
		z = tb.data;
		zlen = tb.out.len;
		check_zlib_of(z, zlen, in, len);
		ck_assert_int_eq(run(ist, z, zlen, 64 * MiB, &tb), 0);
		ck_assert_uint_eq(tb.out.len, len);
		ck_assert(len == 0 || memcmp(tb.data, in, len) == 0);
		tbuf_free(&tb);
		if (i % 10 == 0) {	/* a failure in between changes nothing */
			ck_assert_int_eq(run(ist, z, zlen / 2, 64 * MiB, &tb),
			    1);
			tbuf_free(&tb);
		}
		free(z);
		free(in);
	}
	mod()->fini(cst);
	mod()->fini(ist);
}
END_TEST

START_TEST(test_fini_master)
{
	/* fini after init alone (the master, which never ran worker_init). */
	char	 err[64];
	void	*st;

	st = mod()->init("mode=inflate", err, sizeof(err));
	ck_assert_ptr_nonnull(st);
	mod()->fini(st);
	st = mod()->init("level=1", err, sizeof(err));
	ck_assert_ptr_nonnull(st);
	mod()->fini(st);
}
END_TEST

/* A daemon with a compressing and an inflating pool, one worker each. */
static const char live_ini[] =
    "[daemon]\n"
    "max_payload = 2M\n"
    "[pool:deflate]\n"
    "module = deflate.so\n"
    "module_args = level=6\n"
    "workers = 1\n"
    "[pool:inflate]\n"
    "module = deflate.so\n"
    "module_args = mode=inflate\n"
    "workers = 1\n";

START_TEST(test_live_roundtrip)
{
	/* Through forkpoold, what the deflate pool packs, inflate restores. */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	unsigned char	*in;
	char		*z, *back;
	size_t		 len = 1 * MiB;
	int		 fd;

	in = text_bytes(len, 2024);
	d = fpd_start(live_ini);
	fd = tconnect(d->sock);
	tsubmit(fd, 1, "deflate", in, len, &hdr, &z);
	ck_assert_uint_eq(hdr.type, FP_RESULT);
	ck_assert_uint_eq(hdr.arg, 0);
	check_zlib_of((unsigned char *)z, hdr.len, in, len);
	tsubmit(fd, 2, "inflate", z, hdr.len, &hdr, &back);
	ck_assert_uint_eq(hdr.type, FP_RESULT);
	ck_assert_uint_eq(hdr.arg, 0);
	ck_assert_uint_eq(hdr.len, len);
	ck_assert(memcmp(back, in, len) == 0);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
	free(back);
	free(z);
	free(in);
}
END_TEST

START_TEST(test_live_bad_input)
{
	/*
	 * Through forkpoold, a truncated stream is a RESULT with status 1 and
	 * the reason, a zip bomb is TOO_LARGE, and the worker survives both.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	unsigned char	*zeros, *z, *in;
	char		*body;
	size_t		 zlen, blen, len = 64 * KiB;
	pid_t		 pid;
	int		 fd;

	in = text_bytes(len, 5);
	z = zcompress(in, len, 6, &zlen);
	zeros = calloc(1, 10 * MiB);
	ck_assert_ptr_nonnull(zeros);
	d = fpd_start(live_ini);
	pid = tworker_pid(d->sock, "inflate", 0);
	ck_assert_int_gt(pid, 0);
	fd = tconnect(d->sock);

	tsubmit(fd, 1, "inflate", z, zlen - 1, &hdr, &body);
	ck_assert_uint_eq(hdr.type, FP_RESULT);
	ck_assert_uint_eq(hdr.arg, 1);
	ck_assert_msg(strncmp(body, "inflate: truncated", 18) == 0,
	    "body \"%s\"", body);
	free(body);
	free(z);

	z = zcompress(zeros, 10 * MiB, 9, &blen);
	tsubmit(fd, 2, "inflate", z, blen, &hdr, &body);
	ck_assert_uint_eq(hdr.type, FP_ERROR);
	ck_assert_uint_eq(hdr.arg, FP_ERR_TOO_LARGE);
	free(body);
	free(z);

	z = zcompress(in, len, 1, &zlen);
	tsubmit(fd, 3, "inflate", z, zlen, &hdr, &body);
	ck_assert_uint_eq(hdr.type, FP_RESULT);
	ck_assert_uint_eq(hdr.arg, 0);
	ck_assert_uint_eq(hdr.len, len);
	ck_assert(memcmp(body, in, len) == 0);
	free(body);
	ck_assert_int_eq(tworker_pid(d->sock, "inflate", 0), pid);
	close(fd);
	ck_assert_int_eq(fpd_stop(d), 0);
	free(z);
	free(zeros);
	free(in);
}
END_TEST

START_TEST(test_live_bad_args)
{
	/* forkpoold refuses to start a pool whose module_args are bad. */
	struct fpd	*d;
	int		 status;

	d = fpd_spawn("[pool:deflate]\n"
	    "module = deflate.so\n"
	    "module_args = level=12\n"
	    "workers = 1\n", NULL);
	status = fpd_wait_exit(d, 10000);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 1);
	ck_assert_int_eq(fpd_log_count(d,
	    "deflate: level must be 0..9, got \"12\""), 1);
	fpd_stop(d);
}
END_TEST

Suite *
deflate_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("deflate");

	tc = tcase_create("abi");
	tcase_add_test(tc, test_abi);
	tcase_add_test(tc, test_fini_master);
	suite_add_tcase(s, tc);

	tc = tcase_create("args");
	tcase_add_loop_test(tc, test_args, 0,
	    sizeof(arg_cases) / sizeof(arg_cases[0]));
	tcase_add_test(tc, test_args_comma_inflate);
	suite_add_tcase(s, tc);

	tc = tcase_create("roundtrip");
	tcase_add_loop_test(tc, test_compress_roundtrip, 0, 4);
	tcase_add_loop_test(tc, test_inflate_roundtrip, 0, 4);
	tcase_add_loop_test(tc, test_module_to_module, 0, 4);
	tcase_add_loop_test(tc, test_levels, 0, 10);
	tcase_add_test(tc, test_default_level);
	tcase_add_test(tc, test_many_tasks);
	suite_add_tcase(s, tc);

	tc = tcase_create("corrupt");
	tcase_add_test(tc, test_corrupt_stored);
	tcase_add_test(tc, test_corrupt_header);
	tcase_add_test(tc, test_corrupt_checksum);
	tcase_add_test(tc, test_corrupt_random);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_truncated_large);
	tcase_add_test(tc, test_trailing_garbage);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_loop_test(tc, test_zip_bomb, 0, 2);
	tcase_add_loop_test(tc, test_exact_max, 0, 8);
	tcase_add_test(tc, test_compress_too_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("live");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_live_roundtrip);
	tcase_add_test(tc, test_live_bad_input);
	tcase_add_test(tc, test_live_bad_args);
	suite_add_tcase(s, tc);

	return (s);
}

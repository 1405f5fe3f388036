/*
 * The deflate module: zlib (RFC 1950) compression, or with mode=inflate
 * decompression, of each task's payload.
 *
 *	module_args = level=6			compress (the default)
 *	module_args = mode=inflate		decompress
 *
 * Each worker keeps one z_stream for its whole life and resets it per task,
 * so a task costs no allocation inside zlib.  Output is produced in place in
 * the daemon's buffer through one reservation per task.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST		/* next_in is const, like the payload */
#include <zlib.h>

#include "forkpool/module.h"

#define DEFLATE_ARGS_MAX	256	/* longest module_args we parse */

enum deflate_mode {
	DEFLATE_COMPRESS,
	DEFLATE_INFLATE
};

struct deflate_state {
	enum deflate_mode	 mode;
	int			 level;
	int			 ready;		/* zs set up by worker_init */
	z_stream		 zs;
};

/* Set one key=value argument; -1 with err filled if it is not valid. */
static int
deflate_arg(struct deflate_state *st, const char *tok, char *err,
    size_t errlen)
{
	const char	*eq, *val;
	size_t		 klen;

	if ((eq = strchr(tok, '=')) == NULL) {
		snprintf(err, errlen, "deflate: argument \"%s\" is not "
		    "key=value", tok);
		return (-1);
	}
	klen = eq - tok;
	val = eq + 1;

	if (klen == 5 && strncmp(tok, "level", 5) == 0) {
		/* One digit and nothing else: no sign, no spaces, no "07". */
		if (val[0] < '0' || val[0] > '9' || val[1] != '\0') {
			snprintf(err, errlen, "deflate: level must be 0..9, "
			    "got \"%s\"", val);
			return (-1);
		}
		st->level = val[0] - '0';
		return (0);
	}
	if (klen == 4 && strncmp(tok, "mode", 4) == 0) {
		if (strcmp(val, "deflate") == 0)
			st->mode = DEFLATE_COMPRESS;
		else if (strcmp(val, "inflate") == 0)
			st->mode = DEFLATE_INFLATE;
		else {
			snprintf(err, errlen, "deflate: mode must be deflate "
			    "or inflate, got \"%s\"", val);
			return (-1);
		}
		return (0);
	}
	snprintf(err, errlen, "deflate: unknown argument \"%.*s\" (known: "
	    "level, mode)", (int)klen, tok);
	return (-1);
}

/* In the master: parse module_args into the state every worker inherits. */
static void *
deflate_init(const char *args, char *err, size_t errlen)
{
	struct deflate_state	*st;
	char			 buf[DEFLATE_ARGS_MAX], *p, *tok;

	if (args == NULL)
		args = "";
	if (strlen(args) >= sizeof(buf)) {
		snprintf(err, errlen, "deflate: module_args longer than %zu "
		    "bytes", sizeof(buf) - 1);
		return (NULL);
	}
	strcpy(buf, args);

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "deflate: out of memory");
		return (NULL);
	}
	st->mode = DEFLATE_COMPRESS;
	st->level = 6;		/* what zlib's Z_DEFAULT_COMPRESSION means */

	p = buf;
	while ((tok = strsep(&p, " \t,")) != NULL) {
		if (*tok == '\0')	/* runs of separators */
			continue;
		if (deflate_arg(st, tok, err, errlen) == -1) {
			free(st);
			return (NULL);
		}
	}
	return (st);
}

/* In a worker: set up the z_stream it will reset for every task. */
static int
deflate_worker_init(void *arg, char *err, size_t errlen)
{
	struct deflate_state	*st = arg;
	int			 ret;

	if (st->ready)
		return (0);
	memset(&st->zs, 0, sizeof(st->zs));
	if (st->mode == DEFLATE_COMPRESS)
		ret = deflateInit(&st->zs, st->level);
	else
		ret = inflateInit(&st->zs);
	if (ret != Z_OK) {
		snprintf(err, errlen, "deflate: %s: %s",
		    st->mode == DEFLATE_COMPRESS ? "deflateInit" :
		    "inflateInit", st->zs.msg != NULL ? st->zs.msg :
		    zError(ret));
		return (-1);
	}
	st->ready = 1;
	return (0);
}

/* Replace whatever the task wrote with a one-line explanation; status 1. */
static int
deflate_fail(struct fp_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
deflate_fail(struct fp_out *out, const char *fmt, ...)
{
	char	msg[256];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	else if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	/* If even this does not fit, the status alone still says "failed". */
	(void)fp_out_write(out, msg, n);
	return (1);
}

/* Give back a reservation unused, so the explanation can follow. */
static void
deflate_release(struct fp_out *out, void *buf)
{
	if (buf != NULL)
		out->commit(out, 0);
}

/*
 * Run the worker's stream over the payload, writing into a single
 * reservation of want bytes.  Nothing is committed until the stream has
 * ended cleanly, so a corrupt input leaves no partial output in front of
 * its explanation; the daemon's buffer is only touched where zlib writes,
 * so a large reservation costs address space, not memory.
 */
static int
deflate_handle(void *arg, const void *payload, size_t len, struct fp_out *out)
{
	struct deflate_state	*st = arg;
	z_stream		*zs = &st->zs;
	const char		*what;
	unsigned char		*buf = NULL, spare;
	size_t			 room, want, got = 0, in_left, out_left;
	int			 inflating, flush, ret;

	inflating = st->mode == DEFLATE_INFLATE;
	what = inflating ? "inflate" : "deflate";
	if (!st->ready)
		return (deflate_fail(out, "%s: worker_init was not run", what));
	if (inflating)
		ret = inflateReset(zs);
	else
		ret = deflateReset(zs);
	if (ret != Z_OK)
		return (deflate_fail(out, "%s: reset: %s", what, zError(ret)));

	room = out->max > out->len ? out->max - out->len : 0;
	if (inflating)
		want = room;	/* the output size is not known in advance */
	else {
		want = deflateBound(zs, len);
		if (want > room)
			want = room;
	}
	if (want > 0) {
		if ((buf = out->reserve(out, want, &got)) == NULL)
			return (FP_HANDLE_TOO_LARGE);
		if (got > room)		/* never produce past max */
			got = room;
	}

	/*
	 * zlib counts in uInt; feed input and output in pieces no larger so
	 * that payloads past 4 GiB would still work.
	 */
	zs->next_in = payload;
	zs->avail_in = 0;
	zs->next_out = buf;
	zs->avail_out = 0;
	in_left = len;
	out_left = got;
	for (;;) {
		if (zs->avail_in == 0 && in_left > 0) {
			zs->avail_in = in_left > UINT_MAX ? UINT_MAX : in_left;
			in_left -= zs->avail_in;
		}
		if (zs->avail_out == 0 && out_left > 0) {
			zs->avail_out = out_left > UINT_MAX ? UINT_MAX :
			    out_left;
			out_left -= zs->avail_out;
		}
		if (zs->avail_out == 0) {
			/*
			 * The room is used up.  The stream may still end
			 * without another byte (zlib can need one more call
			 * to say so), so offer it one byte that does not
			 * count: if it takes it, the output is too large.
			 */
			zs->next_out = &spare;
			zs->avail_out = 1;
		}
		flush = in_left == 0 ? Z_FINISH : Z_NO_FLUSH;
		if (inflating)
			ret = inflate(zs, Z_NO_FLUSH);
		else
			ret = deflate(zs, flush);
		if (zs->next_out == &spare + 1) {
			deflate_release(out, buf);
			return (FP_HANDLE_TOO_LARGE);
		}
		if (ret == Z_STREAM_END)
			break;
		if (ret == Z_OK)
			continue;

		deflate_release(out, buf);
		if (ret == Z_BUF_ERROR && inflating)
			return (deflate_fail(out, "inflate: truncated stream: "
			    "input ends at byte %zu", len));
		if (ret == Z_NEED_DICT)
			return (deflate_fail(out, "inflate: the stream needs a "
			    "preset dictionary"));
		return (deflate_fail(out, "%s: %s at input byte %lu", what,
		    zs->msg != NULL ? zs->msg : zError(ret), zs->total_in));
	}

	if (inflating && (zs->avail_in > 0 || in_left > 0)) {
		deflate_release(out, buf);
		return (deflate_fail(out, "inflate: %zu bytes of trailing "
		    "data after the stream at input byte %lu",
		    zs->avail_in + in_left, zs->total_in));
	}
	if (buf != NULL)
		out->commit(out, zs->next_out == &spare ? got :
		    (size_t)(zs->next_out - buf));
	return (0);
}

/* In the master at stop; also ends a stream set up in this process. */
static void
deflate_fini(void *arg)
{
	struct deflate_state	*st = arg;

	if (st == NULL)
		return;
	if (st->ready) {
		if (st->mode == DEFLATE_COMPRESS)
			(void)deflateEnd(&st->zs);
		else
			(void)inflateEnd(&st->zs);
	}
	free(st);
}

/*
 * Exported by name whatever -fvisibility the build uses: this symbol is the
 * only thing the daemon looks up.
 */
__attribute__((visibility("default")))
const struct fp_module fp_module = {
	.abi = FP_MODULE_ABI,
	.name = "deflate",
	.init = deflate_init,
	.worker_init = deflate_worker_init,
	.handle = deflate_handle,
	.fini = deflate_fini,
};

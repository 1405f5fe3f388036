/*
 * driver: the benchmark's load generator.
 *
 * One thread per connection, each keeping DEPTH tasks in flight on its
 * connection (sending more as replies come back), stamping every task at
 * send and at reply with CLOCK_MONOTONIC.  It prints one JSON object:
 * rate, bytes, latency percentiles, and every reply that was not a success.
 *
 *	driver -s SOCKET [-m frames|relay|lib] [-p POOL] [-n TASKS]
 *	    [-c CONNECTIONS] [-d DEPTH] [-z SIZE] [-f CORPUS] [-k STRIDE]
 *	    [-w WARMUP] [-t TIMEOUT_MS]
 *
 * Modes: "frames" speaks the wire protocol with the codec of
 * lib/forkpool/proto.h; "lib" goes through libforkpool's pipelined API (only
 * when built with -DWITH_CLIENT_LIB); "relay" sends bench/relay's fixed
 * 16-byte messages (an 8-byte id, 8 bytes of payload).
 *
 * Payloads: without -f, SIZE bytes derived from the task's id, and echo
 * replies are checked against them; with -f, task i is SIZE bytes of the
 * corpus file starting at (i * STRIDE) mod (file size - SIZE), and replies
 * are counted, not checked.
 *
 * The timed part starts when every connection is open and warmed up and
 * ends when the last reply is in; set-up is not measured.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forkpool/proto.h"
#include "proto_int.h"
#ifdef WITH_CLIENT_LIB
#include "forkpool/client.h"
#endif

#define RELAY_MSG	16
#define READ_CHUNK	(256 * 1024)

enum mode {
	MODE_FRAMES,
	MODE_RELAY,
	MODE_LIB
};

/* What every connection shares: the settings and the corpus. */
static enum mode	 mode = MODE_FRAMES;
static const char	*sock_path;
static const char	*pool = "echo";
static size_t		 pool_len;
static uint64_t		 total = 100000;
static unsigned int	 nconns = 1;
static unsigned int	 depth = 256;
static size_t		 size = 16;
static uint8_t		*corpus;
static size_t		 corpus_len;
static size_t		 stride = 4099;
static uint64_t		 warmup;
static int		 timeout_ms = 60000;	/* silence that fails a run */
static pthread_barrier_t barrier;

/* One connection's run. */
struct conn {
	pthread_t	 thread;
	unsigned int	 index;
	int		 fd;
	uint64_t	 n;		/* tasks in the timed run */
	uint64_t	 first;		/* global index of task 0 */
	int64_t		*sent_ns;	/* per task */
	int64_t		*lat_ns;	/* per task, filled at reply */
	uint8_t		*out;		/* requests not written yet */
	size_t		 outlen, outcap;
	uint8_t		*rbuf;
	struct fp_reader reader;
	uint64_t	 bytes_in, bytes_out;
	uint64_t	 errors[FP_ERR_MAX + 1];
	uint64_t	 failed;	/* RESULT with a non-zero status */
	uint64_t	 bad;		/* wrong output or unknown id */
	struct timespec	 end;
	char		 fatal[256];	/* why the run stopped, or "" */
#ifdef WITH_CLIENT_LIB
	struct fp_client *client;
#endif
};

static int64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* The payload of global task i: its bytes, and their length. */
static const uint8_t *
payload(uint64_t i, uint8_t *scratch, size_t *len)
{
	size_t	off, k;
	char	tag[24];

	if (corpus != NULL) {
		off = (size_t)((i * stride) % (corpus_len - size + 1));
		*len = size;
		return (corpus + off);
	}
	/* Id-derived bytes, so that a mixed-up reply is noticed. */
	snprintf(tag, sizeof(tag), "%016" PRIx64, i);
	for (k = 0; k < size; k++)
		scratch[k] = (uint8_t)tag[k % 16];
	*len = size;
	return (scratch);
}

/* A non-blocking connection to the server's socket; exits on failure. */
static int
connect_unix(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		errx(2, "%s: path too long", path);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		err(2, "socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err(2, "connect %s", path);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		err(2, "fcntl");
	return (fd);
}

/* Room for more bytes of requests in the connection's output buffer. */
static void
out_reserve(struct conn *c, size_t more)
{
	if (c->outlen + more <= c->outcap)
		return;
	while (c->outlen + more > c->outcap)
		c->outcap = c->outcap == 0 ? 65536 : c->outcap * 2;
	if ((c->out = realloc(c->out, c->outcap)) == NULL)
		err(2, "realloc");
}

/* Queue request k (0-based in this run) of the connection. */
static void
queue_request(struct conn *c, uint64_t k, uint64_t gid)
{
	uint8_t		 scratch[RELAY_MSG], *big = NULL, *p;
	const uint8_t	*data;
	size_t		 len;
	uint64_t	 id = k + 1;

	if (mode == MODE_RELAY) {
		data = payload(gid, scratch, &len);
		out_reserve(c, RELAY_MSG);
		p = c->out + c->outlen;
		memcpy(p, &id, 8);
		memcpy(p + 8, data, 8);
		c->outlen += RELAY_MSG;
		c->bytes_in += RELAY_MSG;
		return;
	}
	if (corpus == NULL && size > sizeof(scratch) &&
	    (big = malloc(size)) == NULL)
		err(2, "malloc");
	data = payload(gid, big != NULL ? big : scratch, &len);
	out_reserve(c, FP_HDR_LEN + pool_len + len);
	p = c->out + c->outlen;
	fp_hdr_put(p, FP_SUBMIT, (uint16_t)pool_len, id,
	    (uint32_t)(pool_len + len));
	memcpy(p + FP_HDR_LEN, pool, pool_len);
	memcpy(p + FP_HDR_LEN + pool_len, data, len);
	c->outlen += FP_HDR_LEN + pool_len + len;
	c->bytes_in += len;
	free(big);
}

/* Check one reply and record its latency; 0, or -1 when it is not ours. */
static int
take_reply(struct conn *c, uint64_t id, uint8_t type, uint16_t arg,
    const uint8_t *body, size_t len, uint64_t lo, uint64_t hi, int64_t t)
{
	uint8_t		 scratch[RELAY_MSG], *big = NULL;
	const uint8_t	*want;
	size_t		 wlen;
	uint64_t	 k;

	if (id < lo + 1 || id > hi) {
		c->bad++;
		return (-1);
	}
	k = id - 1;
	if (c->lat_ns[k] != -1) {
		c->bad++;	/* answered twice */
		return (-1);
	}
	c->lat_ns[k] = t - c->sent_ns[k];
	c->bytes_out += mode == MODE_RELAY ? RELAY_MSG : len;
	if (type == FP_ERROR) {
		c->errors[arg <= FP_ERR_MAX ? arg : 0]++;
		return (0);
	}
	if (type != FP_RESULT) {
		c->bad++;
		return (0);
	}
	if (arg != 0) {
		c->failed++;
		return (0);
	}
	if (corpus != NULL)
		return (0);
	if (mode == MODE_RELAY) {
		want = payload(c->first + k, scratch, &wlen);
		if (len != RELAY_MSG - 8 || memcmp(body, want, 8) != 0)
			c->bad++;
		return (0);
	}
	if (size > sizeof(scratch) && (big = malloc(size)) == NULL)
		err(2, "malloc");
	want = payload(c->first + k, big != NULL ? big : scratch, &wlen);
	if (len != wlen || memcmp(body, want, len) != 0)
		c->bad++;
	free(big);
	return (0);
}

/* Parse every whole reply in what was just read. */
static int
parse_replies(struct conn *c, const uint8_t *buf, size_t n, uint64_t lo,
    uint64_t hi, int64_t t, uint64_t *done)
{
	struct fp_hdr	 hdr;
	const uint8_t	*body;
	uint64_t	 id;
	int		 rc;

	if (fp_reader_feed(&c->reader, buf, n) == -1)
		err(2, "fp_reader_feed");
	if (mode == MODE_RELAY) {
		/* The reader's buffer doubles as a byte queue here. */
		while (c->reader.len - c->reader.off >= RELAY_MSG) {
			body = c->reader.buf + c->reader.off;
			memcpy(&id, body, 8);
			take_reply(c, id, FP_RESULT, 0, body + 8,
			    RELAY_MSG - 8, lo, hi, t);
			c->reader.off += RELAY_MSG;
			(*done)++;
		}
		return (0);
	}
	while ((rc = fp_reader_next(&c->reader, &hdr, &body)) == 1) {
		take_reply(c, hdr.id, hdr.type, hdr.arg, body, hdr.len, lo,
		    hi, t);
		(*done)++;
	}
	if (rc == -1) {
		snprintf(c->fatal, sizeof(c->fatal), "bad frame from the "
		    "daemon: %s", fp_err_name(c->reader.err));
		return (-1);
	}
	return (0);
}

/*
 * Run tasks lo..hi-1 of this connection with up to DEPTH in flight, over
 * raw frames or relay messages.  0, or -1 with c->fatal set.
 */
static int
run_raw(struct conn *c, uint64_t lo, uint64_t hi)
{
	struct pollfd	 pfd;
	uint64_t	 next = lo, done = lo;
	int64_t		 t;
	ssize_t		 r;
	uint64_t	 k;

	while (done < hi) {
		if (next < hi && next - done < depth) {
			t = now_ns();
			for (k = next; k < hi && k - done < depth; k++) {
				queue_request(c, k, c->first + k);
				c->sent_ns[k] = t;
			}
			next = k;
		}
		if (c->outlen > 0) {
			r = write(c->fd, c->out, c->outlen);
			if (r == -1 && errno != EAGAIN && errno != EINTR) {
				snprintf(c->fatal, sizeof(c->fatal),
				    "write: %s", strerror(errno));
				return (-1);
			}
			if (r > 0) {
				memmove(c->out, c->out + r,
				    c->outlen - (size_t)r);
				c->outlen -= (size_t)r;
			}
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN | (c->outlen > 0 ? POLLOUT : 0);
		pfd.revents = 0;
		r = poll(&pfd, 1, timeout_ms);
		if (r == 0) {
			snprintf(c->fatal, sizeof(c->fatal), "no reply for "
			    "%d ms: %" PRIu64 " sent, %" PRIu64 " of %" PRIu64
			    " answered, %zu bytes unwritten", timeout_ms,
			    next - lo, done - lo, hi - lo, c->outlen);
			return (-1);
		}
		if (r == -1 || (pfd.revents & (POLLIN | POLLHUP | POLLERR)) ==
		    0)
			continue;
		r = read(c->fd, c->rbuf, READ_CHUNK);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0) {
			snprintf(c->fatal, sizeof(c->fatal), "%s after %"
			    PRIu64 " of %" PRIu64 " replies",
			    r == 0 ? "connection closed" : strerror(errno),
			    done - lo, hi - lo);
			return (-1);
		}
		if (parse_replies(c, c->rbuf, (size_t)r, lo, hi, now_ns(),
		    &done) == -1)
			return (-1);
	}
	return (0);
}

#ifdef WITH_CLIENT_LIB
/* The same loop through libforkpool's pipelined API. */
static int
run_lib(struct conn *c, uint64_t lo, uint64_t hi)
{
	struct fp_reply	 rep;
	struct pollfd	 pfd;
	uint8_t		 scratch[RELAY_MSG], *big = NULL;
	const uint8_t	*data;
	size_t		 len;
	uint64_t	 next = lo, done = lo, got, k;
	int64_t		 t;
	int		 pending = 0, rc;

	if (corpus == NULL && size > sizeof(scratch) &&
	    (big = malloc(size)) == NULL)
		err(2, "malloc");
	while (done < hi) {
		if (next < hi && next - done < depth) {
			t = now_ns();
			for (k = next; k < hi && k - done < depth; k++) {
				data = payload(c->first + k, big != NULL ?
				    big : scratch, &len);
				if (fp_send_submit(c->client, k + 1, pool,
				    data, len) == -1)
					goto fail;
				c->sent_ns[k] = t;
				c->bytes_in += len;
			}
			next = k;
			if ((pending = fp_flush(c->client)) == -1)
				goto fail;
		} else if (pending == 1 &&
		    (pending = fp_flush(c->client)) == -1)
			goto fail;
		/* Take every reply that is already here. */
		got = 0;
		while ((rc = fp_recv(c->client, &rep, 0)) == 1) {
			take_reply(c, rep.id, rep.type, rep.arg,
			    (const uint8_t *)rep.data, rep.len, lo, hi,
			    now_ns());
			fp_reply_free(&rep);
			done++;
			got++;
		}
		if (rc == -1)
			goto fail;
		/* Refill the window before waiting: it may be empty now. */
		if (got > 0)
			continue;
		pfd.fd = fp_client_fd(c->client);
		pfd.events = POLLIN | (pending == 1 ? POLLOUT : 0);
		if (poll(&pfd, 1, timeout_ms) == 0) {
			snprintf(c->fatal, sizeof(c->fatal), "no reply for "
			    "%d ms: %" PRIu64 " sent, %" PRIu64 " of %" PRIu64
			    " answered, fp_pending %zu, last fp_flush %d",
			    timeout_ms, next - lo, done - lo, hi - lo,
			    fp_pending(c->client), pending);
			free(big);
			return (-1);
		}
	}
	free(big);
	return (0);
fail:
	snprintf(c->fatal, sizeof(c->fatal), "libforkpool: %s",
	    fp_client_errstr(c->client));
	free(big);
	return (-1);
}
#endif

/* Run tasks lo..hi-1 the way the mode says. */
static int
run(struct conn *c, uint64_t lo, uint64_t hi)
{
#ifdef WITH_CLIENT_LIB
	if (mode == MODE_LIB)
		return (run_lib(c, lo, hi));
#endif
	return (run_raw(c, lo, hi));
}

/*
 * A connection: connect, warm up (not measured), wait for the others,
 * then the timed run.  Warm-up tasks use the slots of the timed run's
 * first tasks, which are reset before it starts.
 */
static void *
conn_main(void *arg)
{
	struct conn	*c = arg;
	uint64_t	 w, k;
	int		 failed = 0;

#ifdef WITH_CLIENT_LIB
	if (mode == MODE_LIB) {
		if ((c->client = fp_connect(sock_path)) == NULL)
			errx(2, "fp_connect: out of memory");
		if (fp_client_err(c->client) != 0)
			errx(2, "fp_connect: %s",
			    fp_client_errstr(c->client));
	} else
#endif
		c->fd = connect_unix(sock_path);

	w = warmup < c->n ? warmup : c->n;
	if (w > 0) {
		failed = run(c, 0, w) == -1;
		for (k = 0; k < w; k++)
			c->lat_ns[k] = -1;
		c->bytes_in = c->bytes_out = 0;
		c->failed = c->bad = 0;
		memset(c->errors, 0, sizeof(c->errors));
	}
	pthread_barrier_wait(&barrier);
	if (!failed && run(c, 0, c->n) == -1)
		failed = 1;
	clock_gettime(CLOCK_MONOTONIC, &c->end);
#ifdef WITH_CLIENT_LIB
	if (c->client != NULL)
		fp_close(c->client);
#endif
	if (c->fd != -1)
		close(c->fd);
	return (NULL);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return ((x > y) - (x < y));
}

/* The q-quantile of sorted nanoseconds, in microseconds (nearest rank). */
static double
pct_us(const int64_t *v, size_t n, double q)
{
	size_t	i;

	if (n == 0)
		return (0);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return ((double)v[i] / 1000.0);
}

/* Read the whole corpus file into memory; tasks are slices of it. */
static void
load_corpus(const char *path)
{
	struct stat	 st;
	FILE		*f;

	if ((f = fopen(path, "rb")) == NULL)
		err(2, "%s", path);
	if (fstat(fileno(f), &st) == -1)
		err(2, "%s", path);
	corpus_len = (size_t)st.st_size;
	if ((corpus = malloc(corpus_len)) == NULL)
		err(2, "malloc");
	if (fread(corpus, 1, corpus_len, f) != corpus_len)
		errx(2, "%s: short read", path);
	fclose(f);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: driver -s SOCKET [-m frames|relay|lib] "
	    "[-p POOL] [-n TASKS]\n"
	    "\t[-c CONNECTIONS] [-d DEPTH] [-z SIZE] [-f CORPUS] "
	    "[-k STRIDE] [-w WARMUP] [-t TIMEOUT_MS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct conn	*conns, *c;
	struct timespec	 start, end;
	struct rusage	 ru;
	int64_t		*all;
	uint64_t	 errors[FP_ERR_MAX + 1], bytes_in = 0, bytes_out = 0;
	uint64_t	 failed = 0, bad = 0, nlat = 0, per, k;
	unsigned int	 i;
	double		 secs;
	int		 ch, e, fatal = 0, first;

	while ((ch = getopt(argc, argv, "s:m:p:n:c:d:z:f:k:w:t:")) != -1) {
		switch (ch) {
		case 's':
			sock_path = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "frames") == 0)
				mode = MODE_FRAMES;
			else if (strcmp(optarg, "relay") == 0)
				mode = MODE_RELAY;
			else if (strcmp(optarg, "lib") == 0)
				mode = MODE_LIB;
			else
				usage();
			break;
		case 'p':
			pool = optarg;
			break;
		case 'n':
			total = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			nconns = (unsigned int)atoi(optarg);
			break;
		case 'd':
			depth = (unsigned int)atoi(optarg);
			break;
		case 'z':
			size = (size_t)strtoul(optarg, NULL, 10);
			break;
		case 'f':
			load_corpus(optarg);
			break;
		case 'k':
			stride = (size_t)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			warmup = strtoull(optarg, NULL, 10);
			break;
		case 't':
			timeout_ms = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (sock_path == NULL || nconns < 1 || depth < 1 || total < nconns)
		usage();
#ifndef WITH_CLIENT_LIB
	if (mode == MODE_LIB)
		errx(2, "built without libforkpool (-DWITH_CLIENT_LIB)");
#endif
	if (corpus != NULL && corpus_len < size)
		errx(2, "the corpus is smaller than one task");
	if (mode == MODE_RELAY && (size != RELAY_MSG || corpus != NULL))
		errx(2, "relay messages are 16 bytes of id-derived data");
	pool_len = strlen(pool);
	if (!fp_pool_name_valid(pool, pool_len))
		errx(2, "%s: bad pool name", pool);
	signal(SIGPIPE, SIG_IGN);

	if ((conns = calloc(nconns, sizeof(*conns))) == NULL)
		err(2, "calloc");
	pthread_barrier_init(&barrier, NULL, nconns + 1);
	per = total / nconns;
	for (i = 0; i < nconns; i++) {
		c = &conns[i];
		c->index = i;
		c->fd = -1;
		c->first = (uint64_t)i * per;
		c->n = i == nconns - 1 ? total - c->first : per;
		c->sent_ns = malloc(c->n * sizeof(*c->sent_ns));
		c->lat_ns = malloc(c->n * sizeof(*c->lat_ns));
		c->rbuf = malloc(READ_CHUNK);
		if (c->sent_ns == NULL || c->lat_ns == NULL || c->rbuf == NULL)
			err(2, "malloc");
		for (k = 0; k < c->n; k++)
			c->lat_ns[k] = -1;
		fp_reader_init(&c->reader, FP_DEFAULT_MAX_PAYLOAD);
		if (pthread_create(&c->thread, NULL, conn_main, c) != 0)
			errx(2, "pthread_create");
	}
	pthread_barrier_wait(&barrier);
	clock_gettime(CLOCK_MONOTONIC, &start);
	end = start;
	for (i = 0; i < nconns; i++) {
		pthread_join(conns[i].thread, NULL);
		if (conns[i].end.tv_sec > end.tv_sec ||
		    (conns[i].end.tv_sec == end.tv_sec &&
		    conns[i].end.tv_nsec > end.tv_nsec))
			end = conns[i].end;
	}
	secs = (double)(end.tv_sec - start.tv_sec) +
	    (double)(end.tv_nsec - start.tv_nsec) / 1e9;

	memset(errors, 0, sizeof(errors));
	if ((all = malloc(total * sizeof(*all))) == NULL)
		err(2, "malloc");
	for (i = 0; i < nconns; i++) {
		c = &conns[i];
		for (k = 0; k < c->n; k++)
			if (c->lat_ns[k] >= 0)
				all[nlat++] = c->lat_ns[k];
		for (e = 0; e <= FP_ERR_MAX; e++)
			errors[e] += c->errors[e];
		bytes_in += c->bytes_in;
		bytes_out += c->bytes_out;
		failed += c->failed;
		bad += c->bad;
		if (c->fatal[0] != '\0') {
			fprintf(stderr, "driver: connection %u: %s\n", i,
			    c->fatal);
			fatal = 1;
		}
	}
	qsort(all, nlat, sizeof(*all), cmp_i64);

	printf("{\"mode\": \"%s\", \"tasks\": %" PRIu64 ", \"replies\": %"
	    PRIu64 ", \"connections\": %u, \"depth\": %u, \"size\": %zu, "
	    "\"seconds\": %.6f, \"tasks_per_s\": %.1f, \"bytes_in\": %" PRIu64
	    ", \"bytes_out\": %" PRIu64 ", \"mb_per_s\": %.3f, ",
	    mode == MODE_RELAY ? "relay" : mode == MODE_LIB ? "lib" : "frames",
	    total, nlat, nconns, depth, size, secs,
	    secs > 0 ? (double)nlat / secs : 0.0, bytes_in, bytes_out,
	    secs > 0 ? (double)bytes_in / secs / 1e6 : 0.0);
	printf("\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
	    "\"p999_us\": %.1f, \"max_us\": %.1f, ",
	    pct_us(all, nlat, 0.50), pct_us(all, nlat, 0.90),
	    pct_us(all, nlat, 0.99), pct_us(all, nlat, 0.999),
	    nlat > 0 ? (double)all[nlat - 1] / 1000.0 : 0.0);
	printf("\"failed\": %" PRIu64 ", \"bad\": %" PRIu64 ", \"errors\": {",
	    failed, bad);
	for (e = 0, first = 1; e <= FP_ERR_MAX; e++) {
		if (errors[e] == 0)
			continue;
		printf("%s\"%s\": %" PRIu64, first ? "" : ", ",
		    fp_err_name(e), errors[e]);
		first = 0;
	}
	/* The driver's own cost, to show it is not the bottleneck. */
	getrusage(RUSAGE_SELF, &ru);
	printf("}, \"driver_cpu_s\": %.3f, ",
	    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	printf("\"ok\": %s}\n", fatal || nlat != total ? "false" : "true");
	return (fatal || nlat != total ? 1 : 0);
}

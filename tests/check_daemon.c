/*
 * The protocol's promises (spec/PROTOCOL.md) against a real forkpoold: ids,
 * echo byte for byte, the example exchange, pipelining, many connections,
 * completion order, STATUS, backpressure, abandoned tasks and CANCEL.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "forkpool/proto.h"
#include "harness.h"
#include "suites.h"

#define T_MS		5000		/* a reply that should come promptly */
#define PIPE_ID_BASE	0x1122334400000000ULL

/* The built-in echo and the test module, two workers each. */
#define INI_BOTH							\
	"[pool:echo]\nhandler = echo\nworkers = 2\n"			\
	"[pool:faulty]\nmodule = @T/faulty.so\nworkers = 2\n"

/*
 * The test module with one worker, so one slow task holds the pool; at
 * prefetch 1, so the tasks behind it wait in the pool's queue.
 */
#define INI_ONE								\
	"[pool:echo]\nhandler = echo\nworkers = 1\n"			\
	"[pool:faulty]\nmodule = @T/faulty.so\nworkers = 1\nprefetch = 1\n"

START_TEST(test_ping_pong)
{
	/*
	 * PROTOCOL.md, Frame: "id: chosen by the client; the reply carries
	 * the same id" -- PING is answered by PONG, arg 0, empty body, with
	 * every bit of the id, in order.
	 */
	static const uint64_t	 ids[] = { 0, 1, 0x0102030405060708ULL,
				    UINT64_MAX };
	struct fpd		*d;
	struct fp_hdr		 h;
	char			*body;
	size_t			 i;
	int			 fd;

	d = fpd_start(INI_BOTH);
	fd = tconnect(d->sock);
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		tsend(fd, FP_PING, 0, ids[i], NULL, 0);
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		ck_assert_int_eq(trecv(fd, &h, &body, T_MS), 1);
		ck_assert_uint_eq(h.version, FP_PROTO_VERSION);
		ck_assert_uint_eq(h.type, FP_PONG);
		ck_assert_uint_eq(h.arg, 0);
		ck_assert_uint_eq(h.len, 0);
		ck_assert_msg(h.id == ids[i], "PONG id 0x%llx, PING id 0x%llx",
		    (unsigned long long)h.id, (unsigned long long)ids[i]);
		free(body);
	}
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

static const size_t	echo_sizes[] = { 0, 1, 1024 * 1024 };

START_TEST(test_echo_exact)
{
	/*
	 * PROTOCOL.md: "The payload is opaque bytes (it may be empty)" and a
	 * RESULT's body is "the handler's output": echo gives back 0 bytes, 1
	 * byte and 1 MiB byte for byte, NULs and high bytes included.
	 */
	struct fpd	*d;
	struct fp_hdr	 h;
	size_t		 size = echo_sizes[_i], j;
	unsigned char	*payload;
	char		*body;
	int		 fd;

	payload = malloc(size + 1);
	ck_assert_ptr_nonnull(payload);
	for (j = 0; j < size; j++)
		payload[j] = (unsigned char)(j * 131 + 251);
	d = fpd_start(INI_BOTH);
	fd = tconnect(d->sock);
	tsubmit(fd, 40 + _i, "echo", payload, size, &h, &body);
	ck_assert_uint_eq(h.type, FP_RESULT);
	ck_assert_uint_eq(h.arg, 0);
	ck_assert_uint_eq(h.len, size);
	ck_assert_msg(memcmp(body, payload, size) == 0,
	    "the echo of %zu bytes differs", size);
	free(body);
	free(payload);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_example_exchange)
{
	/*
	 * PROTOCOL.md, "A complete exchange": submitting hello to pool echo
	 * with id 7 is answered with exactly these bytes, and nothing more;
	 * whether the request arrives in one write or a byte at a time.
	 */
	static const uint8_t	 req[] = {
		0x09, 0x00, 0x00, 0x00, 0x01, 0x01, 0x04, 0x00,
		0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x65, 0x63, 0x68, 0x6f, 0x68, 0x65, 0x6c, 0x6c, 0x6f
	};
	static const uint8_t	 rep[] = {
		0x05, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00,
		0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x68, 0x65, 0x6c, 0x6c, 0x6f
	};
	uint8_t			 got[sizeof(rep)];
	struct fpd		*d;
	size_t			 n, i;
	int			 fd;

	d = fpd_start(INI_BOTH);
	fd = tconnect(d->sock);
	if (_i == 0)
		tsend_raw(fd, req, sizeof(req));
	else {
		/* Paced, so that the daemon sees partial frames. */
		for (i = 0; i < sizeof(req); i++) {
			tsend_raw(fd, req + i, 1);
			poll(NULL, 0, 1);
		}
	}
	n = trecv_raw(fd, got, sizeof(got), T_MS);
	ck_assert_uint_eq(n, sizeof(rep));
	ck_assert_mem_eq(got, rep, sizeof(rep));
	/* The next frame is the PONG: the reply was all there was. */
	tping(fd, 8);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

/* One connection driven by pump(): its frames out, its replies checked. */
struct pconn {
	int		 fd;
	int		 index;		/* which connection, in payloads */
	unsigned int	 ntasks;
	uint8_t		*out;		/* every SUBMIT, back to back */
	size_t		 outlen;
	size_t		 outoff;
	struct fp_reader rd;
	unsigned char	*seen;		/* replies per task */
	unsigned int	 nreplies;
};

/* The payload of task i on connection c: unique, of varying length. */
static int
task_payload(int c, unsigned int i, char *buf, size_t len)
{
	return (snprintf(buf, len, "conn %d task %u %.*s", c, i,
	    (int)(i % 27), "abcdefghijklmnopqrstuvwxyz."));
}

/* Connect and lay out ntasks SUBMITs to echo, ids from PIPE_ID_BASE + 1. */
static void
pconn_init(struct pconn *c, const char *sock, int index, unsigned int ntasks)
{
	struct fp_hdr	 h;
	char		 payload[128];
	unsigned int	 i;
	int		 n;

	memset(c, 0, sizeof(*c));
	c->fd = tconnect(sock);
	c->index = index;
	c->ntasks = ntasks;
	c->out = malloc((size_t)ntasks * (FP_HDR_LEN + 4 + sizeof(payload)));
	c->seen = calloc(ntasks, 1);
	ck_assert(c->out != NULL && c->seen != NULL);
	for (i = 0; i < ntasks; i++) {
		n = task_payload(index, i + 1, payload, sizeof(payload));
		h.len = 4 + n;
		h.version = FP_PROTO_VERSION;
		h.type = FP_SUBMIT;
		h.arg = 4;
		h.id = PIPE_ID_BASE + i + 1;
		fp_hdr_encode(c->out + c->outlen, &h);
		memcpy(c->out + c->outlen + FP_HDR_LEN, "echo", 4);
		memcpy(c->out + c->outlen + FP_HDR_LEN + 4, payload, n);
		c->outlen += FP_HDR_LEN + h.len;
	}
	fp_reader_init(&c->rd, FP_DEFAULT_MAX_PAYLOAD);
}

/* One reply: ours, a success, the right payload, the first for its id. */
static void
pconn_reply(struct pconn *c, const struct fp_hdr *h, const uint8_t *body)
{
	char		want[128];
	uint64_t	i = h->id - PIPE_ID_BASE;
	int		n;

	ck_assert_msg(h->type == FP_RESULT && h->arg == 0, "connection %d: "
	    "reply type 0x%02x arg %u to id 0x%llx", c->index, h->type,
	    h->arg, (unsigned long long)h->id);
	ck_assert_msg(h->id > PIPE_ID_BASE && i <= c->ntasks, "connection "
	    "%d: a reply to id 0x%llx, never sent", c->index,
	    (unsigned long long)h->id);
	ck_assert_msg(c->seen[i - 1] == 0, "connection %d: task %llu "
	    "answered twice", c->index, (unsigned long long)i);
	c->seen[i - 1] = 1;
	c->nreplies++;
	n = task_payload(c->index, (unsigned int)i, want, sizeof(want));
	ck_assert_msg(h->len == (uint32_t)n && memcmp(body, want, n) == 0,
	    "connection %d: task %llu came back as \"%.*s\", sent \"%s\"",
	    c->index, (unsigned long long)i, (int)h->len, body, want);
}

/*
 * Send every connection's frames and read their replies at once, as a
 * pipelining client does: a client that wrote everything before reading
 * could deadlock against backpressure, which is not what is tested here.
 */
static void
pump(struct pconn *cs, int n, int timeout_ms)
{
	struct pollfd	 pfd[16];
	struct fp_hdr	 h;
	const uint8_t	*body;
	uint8_t		 buf[65536];
	long long	 deadline = tnow_ms() + timeout_ms, left;
	ssize_t		 r;
	int		 i, busy, rc;

	ck_assert_int_le(n, 16);
	for (;;) {
		busy = 0;
		for (i = 0; i < n; i++) {
			pfd[i].fd = cs[i].fd;
			pfd[i].events = 0;
			pfd[i].revents = 0;
			if (cs[i].nreplies < cs[i].ntasks) {
				pfd[i].events = POLLIN;
				busy = 1;
			}
			if (cs[i].outoff < cs[i].outlen)
				pfd[i].events |= POLLOUT;
		}
		if (!busy)
			return;
		left = deadline - tnow_ms();
		for (i = 0; left <= 0 && i < n; i++)
			ck_assert_msg(cs[i].nreplies == cs[i].ntasks,
			    "connection %d: %u of %u replies, %zu of %zu "
			    "bytes sent, after %d ms", i, cs[i].nreplies,
			    cs[i].ntasks, cs[i].outoff, cs[i].outlen,
			    timeout_ms);
		rc = poll(pfd, n, (int)left);
		ck_assert_msg(rc >= 0 || errno == EINTR, "poll: %s",
		    strerror(errno));
		for (i = 0; i < n; i++) {
			if (pfd[i].revents & POLLOUT) {
				r = send(cs[i].fd, cs[i].out + cs[i].outoff,
				    cs[i].outlen - cs[i].outoff,
				    MSG_DONTWAIT | MSG_NOSIGNAL);
				ck_assert_msg(r >= 0 || errno == EAGAIN,
				    "connection %d: send: %s", i,
				    strerror(errno));
				if (r > 0)
					cs[i].outoff += r;
			}
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) ==
			    0)
				continue;
			r = recv(cs[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r == -1 && errno == EAGAIN)
				continue;
			ck_assert_msg(r > 0, "connection %d: %s after %u of "
			    "%u replies", i, r == 0 ? "end of file" :
			    strerror(errno), cs[i].nreplies, cs[i].ntasks);
			ck_assert_int_eq(fp_reader_feed(&cs[i].rd, buf, r), 0);
			while ((rc = fp_reader_next(&cs[i].rd, &h,
			    &body)) == 1)
				pconn_reply(&cs[i], &h, body);
			ck_assert_msg(rc == 0, "connection %d: a bad frame "
			    "from forkpoold (%s)", i,
			    fp_err_name(cs[i].rd.err));
		}
	}
}

/* Nothing may follow the last reply: no leftover bytes, then the PONG. */
static void
pconn_finish(struct pconn *c)
{
	ck_assert_msg(c->rd.len == c->rd.off, "connection %d: %zu bytes "
	    "after the last reply", c->index, c->rd.len - c->rd.off);
	tping(c->fd, 0);
	fp_reader_free(&c->rd);
	close(c->fd);
	free(c->out);
	free(c->seen);
}

START_TEST(test_pipeline_10000)
{
	/*
	 * PROTOCOL.md: "A client may send many requests without waiting
	 * (pipelining) ... matched by id" and "Exactly one reply": 10,000
	 * SUBMITs in a row on one connection, each answered exactly once with
	 * its own payload.
	 */
	struct fpd	*d;
	struct pconn	 c;

	d = fpd_start(INI_BOTH);
	pconn_init(&c, d->sock, 0, 10000);
	pump(&c, 1, 20000);
	pconn_finish(&c);
	ck_assert_int_eq(tpool_int(d->sock, "echo", "completed"), 10000);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_connections_apart)
{
	/*
	 * PROTOCOL.md: "replies come back ... matched by id" on the
	 * connection that asked: 8 connections with the same 500 ids at once,
	 * each gets its own 500 replies and none of another's.
	 */
	struct fpd	*d;
	struct pconn	 cs[8];
	int		 i;

	d = fpd_start("[pool:echo]\nhandler = echo\nworkers = 2\n"
	    "queue_limit = 8192\n");
	for (i = 0; i < 8; i++)
		pconn_init(&cs[i], d->sock, i, 500);
	pump(cs, 8, 20000);
	for (i = 0; i < 8; i++)
		pconn_finish(&cs[i]);
	ck_assert_int_eq(tpool_int(d->sock, "echo", "completed"), 8 * 500);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_completion_order)
{
	/*
	 * PROTOCOL.md: "replies come back in the order tasks *finish*": on a
	 * pool of 2 workers, a slow task sent first is answered after a fast
	 * one sent second.
	 */
	struct fpd	*d;
	int		 fd;

	d = fpd_start(INI_BOTH);
	twait_idle(d->sock, "faulty", 2, T_MS);
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "sleep:400", 9);
	tsend_submit(fd, 2, "faulty", "quick", 5);
	texpect_result(fd, 2, "quick");
	texpect_result(fd, 1, "slept");
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

/* Check one pool of STATUS against what it was configured with. */
static void
check_status_pool(json_t *p, const char *name, int size, pid_t daemon,
    long long completed)
{
	static const char	*ints[] = { "size", "queued", "queue_limit",
				    "restarts", "completed", "timeouts",
				    "crashes", "overloaded" };
	static const char	*states[] = { "starting", "idle", "busy",
				    "stopping" };
	json_t			*workers, *w;
	const char		*state;
	pid_t			 pids[16], pid;
	long long		 tasks = 0;
	size_t			 i, j;
	int			 known;

	ck_assert_msg(p != NULL, "STATUS has no pool %s", name);
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		ck_assert_msg(json_is_integer(json_object_get(p, ints[i])),
		    "pool %s: \"%s\" is not an integer", name, ints[i]);
	ck_assert_msg(json_is_boolean(json_object_get(p, "backoff")),
	    "pool %s: \"backoff\" is not a boolean", name);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "size")), size);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "queued")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "completed")),
	    completed);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "restarts")),
	    0);
	ck_assert_int_eq(json_integer_value(json_object_get(p, "crashes")), 0);
	ck_assert(json_is_false(json_object_get(p, "backoff")));

	workers = json_object_get(p, "workers");
	ck_assert_msg(json_is_array(workers), "pool %s: no workers array",
	    name);
	ck_assert_uint_eq(json_array_size(workers), (size_t)size);
	json_array_foreach(workers, i, w) {
		ck_assert(json_is_integer(json_object_get(w, "pid")));
		ck_assert(json_is_string(json_object_get(w, "state")));
		ck_assert(json_is_integer(json_object_get(w, "tasks")));
		pid = (pid_t)json_integer_value(json_object_get(w, "pid"));
		/* A worker that exists right now, forked by this daemon. */
		ck_assert_msg(tparent_of(pid) == daemon, "pool %s: worker pid "
		    "%ld is not a child of forkpoold %ld", name, (long)pid,
		    (long)daemon);
		for (j = 0; j < i; j++)
			ck_assert_int_ne(pids[j], pid);
		pids[i] = pid;
		state = json_string_value(json_object_get(w, "state"));
		for (known = 0, j = 0; j < sizeof(states) / sizeof(states[0]);
		    j++)
			known |= strcmp(state, states[j]) == 0;
		ck_assert_msg(known, "pool %s: worker state \"%s\"", name,
		    state);
		tasks += json_integer_value(json_object_get(w, "tasks"));
	}
	ck_assert_int_eq(tasks, completed);
}

START_TEST(test_status_document)
{
	/*
	 * PROTOCOL.md, "STATUS document": "These keys are required", with
	 * size "the pool's configured number of workers" and workers "the
	 * worker processes that exist right now" -- every key, its type, and
	 * values that match the configuration and the work done.
	 */
	struct fpd	*d;
	json_t		*doc, *v;
	const char	*version;
	int		 fd, i;
	char		 payload[16];

	d = fpd_start("[pool:echo]\nhandler = echo\nworkers = 3\n"
	    "queue_limit = 77\n"
	    "[pool:faulty]\nmodule = @T/faulty.so\nworkers = 2\n");
	fd = tconnect(d->sock);
	for (i = 0; i < 5; i++) {
		snprintf(payload, sizeof(payload), "s%d", i);
		tsend_submit(fd, i, "echo", payload, strlen(payload));
		texpect_result(fd, i, payload);
	}
	close(fd);

	doc = tstatus(d->sock);
	version = json_string_value(json_object_get(doc, "version"));
	ck_assert_msg(version != NULL && *version != '\0',
	    "\"version\" is not a string");
	ck_assert_msg(strspn(version, "0123456789.") > 0,
	    "\"version\" is \"%s\"", version);
	v = json_object_get(doc, "pid");
	ck_assert(json_is_integer(v));
	ck_assert_int_eq(json_integer_value(v), d->pid);
	v = json_object_get(doc, "uptime_ms");
	ck_assert(json_is_integer(v));
	ck_assert_int_ge(json_integer_value(v), 0);
	v = json_object_get(doc, "pools");
	ck_assert(json_is_array(v));
	ck_assert_uint_eq(json_array_size(v), 2);

	check_status_pool(tstatus_pool(doc, "echo"), "echo", 3, d->pid, 5);
	ck_assert_int_eq(json_integer_value(json_object_get(
	    tstatus_pool(doc, "echo"), "queue_limit")), 77);
	check_status_pool(tstatus_pool(doc, "faulty"), "faulty", 2, d->pid, 0);
	ck_assert_int_gt(json_integer_value(json_object_get(
	    tstatus_pool(doc, "faulty"), "queue_limit")), 0);
	json_decref(doc);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_backpressure)
{
	/*
	 * PROTOCOL.md: "Backpressure, not errors. A connection with
	 * max_inflight tasks outstanding is simply not read until replies
	 * drain." With max_inflight 4 and queue_limit 4, 100 tasks sent at
	 * once behind two slow ones never overflow the queue: 100 RESULTs,
	 * no ERROR.
	 */
	struct fpd	*d;
	struct fp_hdr	 h;
	char		*body, want[32];
	unsigned char	 seen[101];
	int		 fd, i;

	d = fpd_start("[daemon]\nmax_inflight = 4\n"
	    "[pool:faulty]\nmodule = @T/faulty.so\nworkers = 2\n"
	    "queue_limit = 4\n");
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "sleep:300", 9);
	tsend_submit(fd, 2, "faulty", "sleep:300", 9);
	for (i = 3; i <= 100; i++) {
		snprintf(want, sizeof(want), "task %d", i);
		tsend_submit(fd, i, "faulty", want, strlen(want));
	}
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(trecv(fd, &h, &body, T_MS), 1);
		ck_assert_msg(h.type == FP_RESULT && h.arg == 0,
		    "reply %d: type 0x%02x %s id %llu \"%s\"", i, h.type,
		    h.type == FP_ERROR ? fp_err_name(h.arg) : "",
		    (unsigned long long)h.id, body);
		ck_assert_msg(h.id >= 1 && h.id <= 100 && !seen[h.id],
		    "id %llu unexpected or answered twice",
		    (unsigned long long)h.id);
		seen[h.id] = 1;
		if (h.id <= 2)
			strcpy(want, "slept");
		else
			snprintf(want, sizeof(want), "task %d", (int)h.id);
		ck_assert_str_eq(body, want);
		free(body);
	}
	tping(fd, 101);
	close(fd);
	ck_assert_int_eq(tpool_int(d->sock, "faulty", "overloaded"), 0);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_abandoned_not_started)
{
	/*
	 * PROTOCOL.md: "A task a client abandoned is not started. When a
	 * client closes its connection, its queued tasks are dropped; tasks
	 * already running finish and their output is discarded."
	 */
	struct fpd	*d;
	long long	 completed, tasks;
	uint64_t	 id;
	int		 fd;

	d = fpd_start(INI_ONE);
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "sleep:600", 9);
	twait_state(d->sock, "faulty", "busy", 1, T_MS);
	for (id = 2; id <= 6; id++)
		tsend_submit(fd, id, "faulty", "abandoned", 9);
	twait_pool_int(d->sock, "faulty", "queued", 5, T_MS);
	close(fd);
	/* The queue empties either way: dropped, or (wrongly) run. */
	twait_pool_int(d->sock, "faulty", "queued", 0, T_MS);

	/*
	 * A task sent now queues behind anything left over, so its reply
	 * means the pool has run everything it was ever going to.
	 */
	fd = tconnect(d->sock);
	tsend_submit(fd, 7, "faulty", "after", 5);
	texpect_result(fd, 7, "after");
	close(fd);
	completed = tpool_int(d->sock, "faulty", "completed");
	tasks = tpool_tasks(d->sock, "faulty");
	/* The sleeper may or may not count as completed; the five may not. */
	ck_assert_msg(completed >= 1 && completed <= 2, "completed %lld: "
	    "abandoned tasks were run", completed);
	ck_assert_msg(tasks == 2, "the worker ran %lld tasks, not 2: "
	    "abandoned tasks were run", tasks);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_cancel_queued)
{
	/*
	 * PROTOCOL.md, CANCEL: "If the named task has not started yet, it is
	 * dropped and its reply is ERROR CANCELLED."
	 */
	struct fpd	*d;
	char		*body;
	int		 fd;

	d = fpd_start(INI_ONE);
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "sleep:400", 9);
	twait_state(d->sock, "faulty", "busy", 1, T_MS);
	tsend_submit(fd, 2, "faulty", "cancel me", 9);
	twait_pool_int(d->sock, "faulty", "queued", 1, T_MS);
	/* The second CANCEL finds the task answered: it does nothing. */
	tsend(fd, FP_CANCEL, 0, 2, NULL, 0);
	tsend(fd, FP_CANCEL, 0, 2, NULL, 0);
	body = texpect(fd, FP_ERROR, FP_ERR_CANCELLED, 2, T_MS);
	ck_assert_msg(*body != '\0', "ERROR CANCELLED without a text");
	free(body);
	texpect_result(fd, 1, "slept");
	/*
	 * Task 3 queues where task 2 was: had 2 run, its RESULT would come
	 * first, and the worker would count three tasks.
	 */
	tsend_submit(fd, 3, "faulty", "after", 5);
	texpect_result(fd, 3, "after");
	ck_assert_int_eq(tpool_tasks(d->sock, "faulty"), 2);
	tping(fd, 4);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_cancel_running)
{
	/*
	 * PROTOCOL.md, CANCEL: "if it is running, or already answered, the
	 * cancel does nothing" -- the running task's RESULT arrives, and
	 * nothing else.
	 */
	struct fpd	*d;
	int		 fd;

	d = fpd_start(INI_ONE);
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, "faulty", "sleep:300", 9);
	twait_state(d->sock, "faulty", "busy", 1, T_MS);
	tsend(fd, FP_CANCEL, 0, 1, NULL, 0);
	texpect_result(fd, 1, "slept");
	tping(fd, 2);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_cancel_unknown)
{
	/*
	 * PROTOCOL.md: "CANCEL has no reply of its own", and a cancel of a
	 * task that is not there "does nothing": not for an id never sent,
	 * not for one already answered.
	 */
	struct fpd	*d;
	int		 fd;

	d = fpd_start(INI_BOTH);
	fd = tconnect(d->sock);
	tsend(fd, FP_CANCEL, 0, 999, NULL, 0);
	tping(fd, 1000);
	tsend_submit(fd, 5, "echo", "x", 1);
	texpect_result(fd, 5, "x");
	tsend(fd, FP_CANCEL, 0, 5, NULL, 0);
	tping(fd, 1001);
	/* The cancelled ids left no trace: both can be used again. */
	tsend_submit(fd, 999, "echo", "y", 1);
	texpect_result(fd, 999, "y");
	tsend_submit(fd, 5, "echo", "z", 1);
	texpect_result(fd, 5, "z");
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

Suite *
daemon_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("daemon");
	tc = tcase_create("protocol");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ping_pong);
	tcase_add_loop_test(tc, test_echo_exact, 0,
	    sizeof(echo_sizes) / sizeof(echo_sizes[0]));
	tcase_add_loop_test(tc, test_example_exchange, 0, 2);
	tcase_add_test(tc, test_pipeline_10000);
	tcase_add_test(tc, test_connections_apart);
	tcase_add_test(tc, test_completion_order);
	tcase_add_test(tc, test_status_document);
	tcase_add_test(tc, test_backpressure);
	tcase_add_test(tc, test_abandoned_not_started);
	tcase_add_test(tc, test_cancel_queued);
	tcase_add_test(tc, test_cancel_running);
	tcase_add_test(tc, test_cancel_unknown);
	suite_add_tcase(s, tc);
	return (s);
}

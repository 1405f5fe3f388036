/*
 * Issue 5, live: hostile clients cannot hurt each other or the daemon
 * (client_timeout, max_client_buffer, max_clients, bounded descriptors and
 * memory), only allowed users reach the socket (socket_mode, socket_group,
 * allow_users, allow_groups), workers are contained (user, group, rlimits,
 * no_new_privs, seccomp), and bad handlers are recycled (max_tasks,
 * max_rss).  Each test's first comment names the promise it proves.
 *
 * The tests run as root: they switch a forked client to other users, and
 * read the workers' /proc files.  The memory test prints its figures on
 * stderr ("hardening: ...") for the record.
 */
#include <sys/param.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "forkpool/proto.h"
#include "harness.h"
#include "proto_int.h"
#include "suites.h"

#define WAIT_MS		10000	/* deadline for what should be quick */
#define NOBODY		65534	/* nobody and nogroup on Debian */

/*
 * Under AddressSanitizer (make check SANITIZE=address builds the daemon
 * and the tests alike) a process reserves some 20 TiB of address space
 * and keeps freed memory in quarantine: a smaller rlimit_as stops its
 * workers, and RSS figures say nothing about the daemon.  Those tests
 * then use a limit above the reservation and print figures without
 * judging them, on a lighter load.
 */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN	1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN	0
#endif

/*
 * Read and discard until end of file (a reset counts as one: the daemon
 * closed with our bytes unread).  Returns the bytes read; fails the test
 * at the deadline.
 */
static size_t
wait_eof(int fd, int timeout_ms)
{
	long long	 deadline = tnow_ms() + timeout_ms, left;
	struct pollfd	 pfd;
	char		 buf[65536];
	size_t		 total = 0;
	ssize_t		 n;

	for (;;) {
		left = deadline - tnow_ms();
		ck_assert_msg(left > 0, "no end of file on fd %d within %d ms "
		    "(%zu bytes read)", fd, timeout_ms, total);
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return (total);
		if (n == -1) {
			ck_assert_msg(errno == EINTR || errno == EAGAIN,
			    "recv: %s", strerror(errno));
			continue;
		}
		total += n;
	}
}

/* Append one SUBMIT frame to buf at *off (several go in one write). */
static void
put_submit(uint8_t *buf, size_t cap, size_t *off, uint64_t id,
    const char *pool, const char *payload)
{
	size_t	nlen = strlen(pool), plen = strlen(payload);

	ck_assert_uint_le(*off + FP_HDR_LEN + nlen + plen, cap);
	fp_hdr_put(buf + *off, FP_SUBMIT, nlen, id, nlen + plen);
	memcpy(buf + *off + FP_HDR_LEN, pool, nlen);
	memcpy(buf + *off + FP_HDR_LEN + nlen, payload, plen);
	*off += FP_HDR_LEN + nlen + plen;
}

/* Send the first half of a SUBMIT header: a frame that never completes. */
static void
send_half_header(int fd)
{
	uint8_t	hdr[FP_HDR_LEN];

	fp_hdr_put(hdr, FP_SUBMIT, 4, 1, 10);
	tsend_raw(fd, hdr, FP_HDR_LEN / 2);
}

/* Send a whole SUBMIT header and half of its body. */
static void
send_half_body(int fd)
{
	uint8_t	buf[FP_HDR_LEN + 6];

	fp_hdr_put(buf, FP_SUBMIT, 4, 2, 12);
	memcpy(buf + FP_HDR_LEN, "echohe", 6);
	tsend_raw(fd, buf, sizeof(buf));
}

/*
 * The value of a "Name:\tvalue" line of /proc/PID/status, its blanks
 * squeezed to single spaces ("65534 65534 65534 65534").
 */
static void
proc_status(pid_t pid, const char *name, char *out, size_t len)
{
	char	*text, *p, *end;
	size_t	 o = 0, nlen = strlen(name);

	text = tproc_file(pid, "status");
	for (p = text; p != NULL && *p != '\0'; p = end != NULL ? end + 1 :
	    NULL) {
		end = strchr(p, '\n');
		if (strncmp(p, name, nlen) != 0 || p[nlen] != ':')
			continue;
		for (p += nlen + 1; *p == ' ' || *p == '\t'; p++)
			;
		for (; *p != '\0' && *p != '\n' && o + 1 < len; p++) {
			if (*p == ' ' || *p == '\t') {
				if (o > 0 && out[o - 1] != ' ')
					out[o++] = ' ';
			} else
				out[o++] = *p;
		}
		while (o > 0 && out[o - 1] == ' ')
			o--;
		out[o] = '\0';
		free(text);
		return;
	}
	free(text);
	ck_abort_msg("/proc/%ld/status has no %s line", (long)pid, name);
}

/* A process's resident memory in KiB (VmRSS). */
static long
rss_kb(pid_t pid)
{
	char	v[64];

	proc_status(pid, "VmRSS", v, sizeof(v));
	return (strtol(v, NULL, 10));
}

/* The soft and hard value of one line of /proc/PID/limits. */
static void
proc_limit(pid_t pid, const char *name, char *soft, char *hard)
{
	char	*text, *p;

	text = tproc_file(pid, "limits");
	p = strstr(text, name);
	ck_assert_msg(p != NULL, "/proc/%ld/limits has no \"%s\"", (long)pid,
	    name);
	ck_assert_int_eq(sscanf(p + strlen(name), "%31s %31s", soft, hard),
	    2);
	free(text);
}

/* How many descriptors pid holds. */
static int
fd_count(pid_t pid)
{
	char		 path[64];
	DIR		*dir;
	struct dirent	*de;
	int		 n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	dir = opendir(path);
	ck_assert_msg(dir != NULL, "%s: %s", path, strerror(errno));
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return (n);
}

/* The top-level "clients" of a fresh STATUS (counting its own). */
static long long
status_clients(const char *sock)
{
	json_t		*st;
	long long	 n;

	st = tstatus(sock);
	ck_assert(json_is_integer(json_object_get(st, "clients")));
	n = json_integer_value(json_object_get(st, "clients"));
	json_decref(st);
	return (n);
}

/* Wait until STATUS counts n clients, itself included. */
static void
wait_clients(const char *sock, long long n, int timeout_ms)
{
	long long	deadline = tnow_ms() + timeout_ms, have;

	while ((have = status_clients(sock)) != n) {
		ck_assert_msg(tnow_ms() < deadline, "%lld clients connected "
		    "after %d ms, waited for %lld", have, timeout_ms, n);
		tnap(10);
	}
}

/*
 * Read exactly len bytes, each within 5 s: len, fewer at end of file (or
 * a reset), -1 at the deadline.  No Check call: it runs in as_user's
 * child.
 */
static ssize_t
read_exact(int fd, void *buf, size_t len)
{
	struct pollfd	pfd;
	size_t		got = 0;
	ssize_t		n;

	while (got < len) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 5000) != 1)
			return (-1);
		if ((n = recv(fd, (char *)buf + got, len - got, 0)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			break;
		}
		got += n;
	}
	return (got);
}

/*
 * In as_user's child: connect, PING, and write to out what came back,
 * frame by frame, until end of file or PONG.
 */
static void __attribute__((noreturn))
as_user_child(const char *sock, int out)
{
	struct sockaddr_un	 sun;
	struct fp_hdr		 hdr;
	uint8_t			 ping[FP_HDR_LEN], raw[FP_HDR_LEN];
	char			 body[512];
	ssize_t			 n;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1) {
		dprintf(out, "connect: %s\n", strerror(errno));
		_exit(0);
	}
	fp_hdr_put(ping, FP_PING, 0, 7, 0);
	/* A refused client may be closed before this arrives. */
	(void)send(fd, ping, sizeof(ping), MSG_NOSIGNAL);
	for (;;) {
		if ((n = read_exact(fd, raw, sizeof(raw))) == 0) {
			dprintf(out, "EOF\n");
			_exit(0);
		}
		if (n != sizeof(raw) ||
		    fp_hdr_decode(raw, &hdr, sizeof(body) - 1) != 0 ||
		    read_exact(fd, body, hdr.len) != (ssize_t)hdr.len) {
			dprintf(out, "a bad or late frame\n");
			_exit(0);
		}
		body[hdr.len] = '\0';
		if (hdr.type == FP_PONG) {
			dprintf(out, "PONG id %llu\n",
			    (unsigned long long)hdr.id);
			_exit(0);
		}
		dprintf(out, "%s %s id %llu: %s\n", hdr.type == FP_ERROR ?
		    "ERROR" : "frame", fp_err_name(hdr.arg),
		    (unsigned long long)hdr.id, body);
	}
}

/*
 * Connect to sock from a child process running as uid, gid and groups,
 * send a PING and say in out, one line each, what came back: "ERROR
 * <CODE> id <N>: <text>", "PONG id <N>", then "EOF" at end of file; or
 * "connect: <why>" when the socket refused the user.
 */
static void
as_user(const char *sock, uid_t uid, gid_t gid, const gid_t *groups,
    int ngroups, char *out, size_t outlen)
{
	size_t	o = 0;
	ssize_t	n;
	pid_t	pid;
	int	p[2], status;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p[0]);
		if (setgroups(ngroups, groups) == -1 || setgid(gid) == -1 ||
		    setuid(uid) == -1) {
			dprintf(p[1], "setuid: %s\n", strerror(errno));
			_exit(1);
		}
		as_user_child(sock, p[1]);
	}
	close(p[1]);
	while ((n = read(p[0], out + o, outlen - 1 - o)) > 0 ||
	    (n == -1 && errno == EINTR))
		if (n > 0)
			o += n;
	out[o] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
}

/*
 * Let other users reach a run's socket through its directories (the
 * socket's own mode then decides); undone by closed_dirs.
 */
static void
open_dirs(struct fpd *d)
{
	char	parent[256], *slash;

	snprintf(parent, sizeof(parent), "%s", d->dir);
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent)
		*slash = '\0';
	ck_assert_int_eq(chmod(parent, 0711), 0);
	ck_assert_int_eq(chmod(d->dir, 0711), 0);
}

static void
close_dirs(struct fpd *d)
{
	char	parent[256], *slash;

	snprintf(parent, sizeof(parent), "%s", d->dir);
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent)
		*slash = '\0';
	chmod(parent, 0700);
	chmod(d->dir, 0700);
}

START_TEST(test_client_timeout)
{
	/*
	 * Promise: "client_timeout: a connection that stalls in the middle
	 * of a frame (slowloris) is closed after it; an idle connection
	 * with no partial frame is left alone."  Half a header and half a
	 * body are both cut at 300 ms, not before, with a log line each;
	 * an idle connection still answers PING after more than twice that.
	 */
	struct fpd	*d;
	long long	 t0, idle_since, took;
	int		 idle, half1, half2, half3;

	d = fpd_start("[daemon]\n"
	    "client_timeout = 300ms\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 1\n");
	idle = tconnect(d->sock);
	tping(idle, 1);
	idle_since = tnow_ms();

	half1 = tconnect(d->sock);
	half2 = tconnect(d->sock);
	t0 = tnow_ms();
	send_half_header(half1);
	send_half_body(half2);
	ck_assert_uint_eq(wait_eof(half1, 5000), 0);
	took = tnow_ms() - t0;
	ck_assert_msg(took >= 290 && took < 3000, "half a header was cut "
	    "after %lld ms (client_timeout 300 ms)", took);
	ck_assert_uint_eq(wait_eof(half2, 5000), 0);
	took = tnow_ms() - t0;
	ck_assert_msg(took >= 290 && took < 3000, "half a body was cut "
	    "after %lld ms (client_timeout 300 ms)", took);
	fpd_wait_log(d, "half a frame for longer than client_timeout",
	    WAIT_MS);

	/* A third slowloris marks another client_timeout gone by. */
	half3 = tconnect(d->sock);
	send_half_header(half3);
	ck_assert_uint_eq(wait_eof(half3, 5000), 0);
	ck_assert_int_ge(tnow_ms() - idle_since, 600);
	tping(idle, 2);
	free(tsubmit_ok(idle, 3, "echo", "still here"));
	ck_assert_int_eq(fpd_log_count(d,
	    "half a frame for longer than client_timeout"), 3);
	close(half1);
	close(half2);
	close(half3);
	close(idle);
	fpd_stop(d);
}
END_TEST

START_TEST(test_max_client_buffer)
{
	/*
	 * Promise: "A client that never reads its replies: once its unsent
	 * output passes max_client_buffer, its queued tasks stop being
	 * dispatched and it is closed; others are not slowed."  64 tasks of
	 * 256 KiB replies, never read, against 1 MiB: the client is closed
	 * (EOF after what the socket held), the log says why, most of its
	 * tasks never run, and another client is served meanwhile and
	 * after.
	 */
	struct fpd	*d;
	uint8_t		 buf[64 * 64];
	size_t		 off = 0, got;
	long long	 completed, most;
	char		*out;
	int		 x, y, i;

	d = fpd_start("[daemon]\n"
	    "max_client_buffer = 1M\n"
	    "[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 1\n");
	y = tconnect(d->sock);
	x = tconnect(d->sock);
	for (i = 1; i <= 64; i++)
		put_submit(buf, sizeof(buf), &off, i, "faulty", "big:262144");
	tsend_raw(x, buf, off);

	tping(y, 1);
	out = tsubmit_ok(y, 2, "echo", "meanwhile");
	ck_assert_str_eq(out, "meanwhile");
	free(out);

	fpd_wait_log(d, "bytes of replies unread, over max_client_buffer; "
	    "closing it", WAIT_MS);
	got = wait_eof(x, WAIT_MS);
	ck_assert_msg(got < 64 * 262144, "the client read %zu bytes: all of "
	    "its replies", got);
	/* Its queued tasks were dropped: the next one runs at once. */
	out = tsubmit_ok(y, 3, "faulty", "after");
	ck_assert_str_eq(out, "after");
	free(out);
	twait_idle(d->sock, "faulty", 1, WAIT_MS);
	completed = tpool_int(d->sock, "faulty", "completed");
	fprintf(stderr, "hardening: max_client_buffer 1M: %zu bytes reached "
	    "the client; %lld of its 64 tasks ran\n", got, completed - 1);
	/*
	 * One worker, one task at a time: replies ran until the one that
	 * took the unsent bytes past 1 MiB; what the client's socket took
	 * was not unsent.  Not one task more.
	 */
	most = (1024 * 1024 + (long long)got) / (FP_HDR_LEN + 262144) + 1;
	ck_assert_msg(completed - 1 <= most, "%lld of the 64 tasks ran; the "
	    "buffer could hold the replies of %lld", completed - 1, most);
	wait_clients(d->sock, 2, WAIT_MS);
	tping(y, 4);
	close(x);
	close(y);
	fpd_stop(d);
}
END_TEST

START_TEST(test_max_client_buffer_stops_dispatch)
{
	/*
	 * Promise: "once its unsent output passes max_client_buffer, its
	 * queued tasks stop being dispatched": two replies of 900 kB, never
	 * read, pass 1 MiB; not one of the client's three tasks queued
	 * behind them may reach the worker afterwards.
	 */
	struct fpd	*d;
	uint8_t		 buf[256];
	size_t		 off = 0;
	long long	 ran;
	int		 x, i;

	d = fpd_start("[daemon]\n"
	    "max_client_buffer = 1M\n"
	    "[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n");
	x = tconnect(d->sock);
	put_submit(buf, sizeof(buf), &off, 1, "faulty", "big:900000");
	put_submit(buf, sizeof(buf), &off, 2, "faulty", "big:900000");
	for (i = 3; i <= 5; i++)
		put_submit(buf, sizeof(buf), &off, i, "faulty", "sleep:300");
	tsend_raw(x, buf, off);
	fpd_wait_log(d, "over max_client_buffer; closing it", WAIT_MS);
	wait_eof(x, WAIT_MS);
	twait_idle(d->sock, "faulty", 1, WAIT_MS);
	ran = tpool_int(d->sock, "faulty", "completed");
	ck_assert_msg(ran == 2, "%lld tasks ran; only the two whose replies "
	    "passed the limit should have", ran);
	close(x);
	fpd_stop(d);
}
END_TEST

START_TEST(test_max_client_buffer_memory)
{
	/*
	 * Promise: "A client that never reads its replies: once its unsent
	 * output passes max_client_buffer ... it is closed; its memory is
	 * released": the bound holds for the master's memory, not just for
	 * the byte count.  A client streams 100-byte echo tasks and never
	 * reads; with max_client_buffer = 1M it is closed, and meanwhile
	 * the master grew by a few MiB (1 MiB of replies, max_inflight
	 * tasks), not by tens.
	 */
	struct fpd	*d;
	uint8_t		*buf;
	size_t		 off, cap = 500 * 128;
	long		 base, peak;
	char		 payload[85];
	int		 x, i, j;

	d = fpd_start("[daemon]\n"
	    "max_client_buffer = 1M\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 2\n");
	buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	memset(payload, 'r', 84);
	payload[84] = '\0';
	base = peak = rss_kb(d->pid);
	x = tconnect(d->sock);
	/* 100 x 500 tasks: twice what it takes to pass 1 MiB of replies. */
	for (i = 0; i < 100 && fpd_log_count(d, "over max_client_buffer") ==
	    0; i++) {
		off = 0;
		for (j = 0; j < 500; j++)
			put_submit(buf, cap, &off, i * 500 + j + 1, "echo",
			    payload);
		tsend_raw(x, buf, off);
		if (rss_kb(d->pid) > peak)
			peak = rss_kb(d->pid);
	}
	fpd_wait_log(d, "over max_client_buffer; closing it", WAIT_MS);
	wait_eof(x, WAIT_MS);
	fprintf(stderr, "hardening: one client never reading, "
	    "max_client_buffer 1M: master RSS %ld KiB, peak %ld KiB (+%ld)\n",
	    base, peak, peak - base);
	ck_assert_msg(UNDER_ASAN || peak - base < 16 * 1024, "a client held "
	    "to 1 MiB of replies grew the master by %ld KiB", peak - base);
	close(x);
	free(buf);
	fpd_stop(d);
}
END_TEST

START_TEST(test_max_clients)
{
	/*
	 * Promise: "max_clients: connections past it are accepted and
	 * closed at once (no unbounded backlog), logged at most once a
	 * second."  With 3 connected, the 4th and a burst of 50 more each
	 * see end of file; the log line appears at most once per second of
	 * the burst, and again only a second later; once one of the 3
	 * leaves, a new connection is served.
	 */
	static const char	 line[] = "refusing a client: max_clients (3) "
				    "are connected";
	struct fpd		*d;
	struct fp_hdr		 hdr;
	long long		 t0, t1, t2;
	int			 fds[3], fd, i, logged;

	d = fpd_start("[daemon]\n"
	    "max_clients = 3\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 1\n");
	for (i = 0; i < 3; i++) {
		fds[i] = tconnect(d->sock);
		tping(fds[i], i + 1);
	}
	t0 = tnow_ms();
	fd = tconnect(d->sock);
	texpect_eof(fd, 5000);
	close(fd);
	fpd_wait_log(d, line, WAIT_MS);
	for (i = 0; i < 50; i++) {
		fd = tconnect(d->sock);
		texpect_eof(fd, 5000);
		close(fd);
	}
	t1 = tnow_ms();
	logged = fpd_log_count(d, line);
	ck_assert_msg(logged >= 1 && logged <= 1 + (t1 - t0) / 1000,
	    "%d refusal lines for 51 refusals in %lld ms", logged, t1 - t0);

	/* The next line comes once a second has passed, not before. */
	while (fpd_log_count(d, line) == logged) {
		ck_assert_msg(tnow_ms() - t0 < 5000, "no second refusal line "
		    "within 5 s");
		fd = tconnect(d->sock);
		texpect_eof(fd, 5000);
		close(fd);
		tnap(50);
	}
	t2 = tnow_ms();
	ck_assert_msg(t2 - t0 >= 1000, "a second refusal line after %lld ms",
	    t2 - t0);

	/* The three were served throughout. */
	for (i = 0; i < 3; i++)
		tping(fds[i], 10 + i);
	close(fds[0]);
	/* The daemon sees that close in its own time: try until served. */
	for (;;) {
		fd = tconnect(d->sock);
		tsend(fd, FP_PING, 0, 20, NULL, 0);
		if (trecv(fd, &hdr, NULL, 5000) == 1)
			break;
		close(fd);
		ck_assert_msg(tnow_ms() - t2 < WAIT_MS, "no room for a client "
		    "after one of the 3 left");
		tnap(10);
	}
	close(fd);
	close(fds[1]);
	close(fds[2]);
	fpd_stop(d);
}
END_TEST

START_TEST(test_allow_users)
{
	/*
	 * Promise: "allow_users and allow_groups (names or numbers) checked
	 * from SO_PEERCRED at accept: a client not allowed gets ERROR
	 * FORBIDDEN and the connection closes."  allow_users = root 4242,
	 * a world-writable socket: uid 65534 (with its group, or keeping
	 * group root) gets FORBIDDEN id 0 then end of file; uid 4242 (a
	 * number) and root are served.
	 */
	struct fpd	*d;
	gid_t		 g_nobody = NOBODY, g_root = 0;
	char		 out[1024];
	int		 fd;

	d = fpd_start("[daemon]\n"
	    "allow_users = root 4242\n"
	    "socket_mode = 0666\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 1\n");
	open_dirs(d);

	as_user(d->sock, NOBODY, NOBODY, &g_nobody, 1, out, sizeof(out));
	ck_assert_msg(strncmp(out, "ERROR FORBIDDEN id 0: ", 22) == 0 &&
	    strstr(out, "65534") != NULL && strstr(out, "\nEOF\n") != NULL,
	    "uid 65534 got: %s", out);
	as_user(d->sock, NOBODY, 0, &g_root, 1, out, sizeof(out));
	ck_assert_msg(strncmp(out, "ERROR FORBIDDEN id 0: ", 22) == 0 &&
	    strstr(out, "\nEOF\n") != NULL, "uid 65534 group 0 got: %s", out);
	fpd_wait_log(d, "user 65534 (group 65534) is not in allow_users or "
	    "allow_groups; refused", WAIT_MS);

	as_user(d->sock, 4242, 4242, NULL, 0, out, sizeof(out));
	ck_assert_msg(strcmp(out, "PONG id 7\n") == 0, "uid 4242 got: %s",
	    out);
	fd = tconnect(d->sock);
	tping(fd, 1);
	free(tsubmit_ok(fd, 2, "echo", "root"));
	close(fd);
	close_dirs(d);
	fpd_stop(d);
}
END_TEST

START_TEST(test_allow_groups)
{
	/*
	 * Promise: allow_groups, from SO_PEERCRED and SO_PEERGROUPS: with
	 * allow_groups = nogroup, the nobody user (primary group nogroup) is
	 * served, as is a user holding nogroup as a supplementary group; a
	 * user in neither, root included, gets FORBIDDEN.
	 */
	struct fpd	*d;
	gid_t		 g_nobody = NOBODY, g_daemon = 1, g_root = 0;
	gid_t		 g_both[2] = { 1, NOBODY };
	char		 out[1024];

	d = fpd_start("[daemon]\n"
	    "allow_groups = nogroup\n"
	    "socket_mode = 0666\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 1\n");
	open_dirs(d);
	as_user(d->sock, NOBODY, NOBODY, &g_nobody, 1, out, sizeof(out));
	ck_assert_msg(strcmp(out, "PONG id 7\n") == 0, "nobody got: %s", out);
	as_user(d->sock, 1, 1, g_both, 2, out, sizeof(out));
	ck_assert_msg(strcmp(out, "PONG id 7\n") == 0, "uid 1 in groups 1 "
	    "and nogroup got: %s", out);
	as_user(d->sock, 1, 1, &g_daemon, 1, out, sizeof(out));
	ck_assert_msg(strncmp(out, "ERROR FORBIDDEN id 0: ", 22) == 0 &&
	    strstr(out, "\nEOF\n") != NULL, "uid 1 got: %s", out);
	as_user(d->sock, 0, 0, &g_root, 1, out, sizeof(out));
	ck_assert_msg(strncmp(out, "ERROR FORBIDDEN id 0: ", 22) == 0 &&
	    strstr(out, "\nEOF\n") != NULL, "root got: %s", out);
	close_dirs(d);
	fpd_stop(d);
}
END_TEST

START_TEST(test_socket_mode_group)
{
	/*
	 * Promise: "socket_group and socket_mode": the socket file has the
	 * mode and the group configured (by name or number), and they
	 * decide who can connect: with 0660 and nogroup, nobody connects
	 * and another user is refused by the kernel.
	 */
	struct fpd	*d;
	struct stat	 st;
	gid_t		 g_nobody = NOBODY, g_daemon = 1;
	char		 out[1024];

	d = fpd_start("[daemon]\n"
	    "socket_mode = 0660\n"
	    "socket_group = nogroup\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 1\n");
	ck_assert_int_eq(stat(d->sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	ck_assert_uint_eq(st.st_gid, NOBODY);
	open_dirs(d);
	as_user(d->sock, NOBODY, NOBODY, &g_nobody, 1, out, sizeof(out));
	ck_assert_msg(strcmp(out, "PONG id 7\n") == 0, "nobody got: %s", out);
	as_user(d->sock, 1, 1, &g_daemon, 1, out, sizeof(out));
	ck_assert_msg(strncmp(out, "connect: ", 9) == 0, "uid 1 got: %s",
	    out);
	close_dirs(d);
	fpd_stop(d);

	d = fpd_start("[daemon]\n"
	    "socket_mode = 0600\n"
	    "socket_group = 4242\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 1\n");
	ck_assert_int_eq(stat(d->sock, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(st.st_gid, 4242);
	fpd_stop(d);
}
END_TEST

/* Check one line of /proc/PID/limits. */
static void
check_limit(pid_t pid, const char *name, const char *want)
{
	char	soft[32], hard[32];

	proc_limit(pid, name, soft, hard);
	ck_assert_msg(strcmp(soft, want) == 0 && strcmp(hard, want) == 0,
	    "worker %ld: %s is %s/%s, not %s", (long)pid, name, soft, hard,
	    want);
}

/* The contained pool, with its rlimit_as, and a plain one. */
#define JAIL_POOL(as)							\
	"[pool:jail]\n"							\
	"module = @T/faulty.so\n"					\
	"workers = 1\n"							\
	"user = nobody\n"						\
	"group = nogroup\n"						\
	"rlimit_nofile = 64\n"						\
	"rlimit_core = 0\n"						\
	"rlimit_as = " as "\n"						\
	"rlimit_cpu = 60s\n"						\
	"sandbox = seccomp\n"						\
	"restart_burst = 100\n"						\
	"[pool:plain]\n"							\
	"module = @T/faulty.so\n"					\
	"workers = 1\n"

START_TEST(test_contained_workers)
{
	/*
	 * Promise: "Workers are contained: user, group, rlimit_as,
	 * rlimit_cpu, rlimit_nofile, rlimit_core, and PR_SET_NO_NEW_PRIVS
	 * always; sandbox = seccomp kills a handler that opens or execs
	 * (WORKER_CRASHED, SIGSYS) and the pool carries on."  Read from
	 * /proc of real workers; a pool without user= still has
	 * NoNewPrivs 1, and there the same open succeeds.
	 */
	struct fpd	*d;
	char		 v[128], *text;
	pid_t		 pid, pid2, plain;
	int		 fd;

	d = fpd_start(UNDER_ASAN ? JAIL_POOL("65536G") : JAIL_POOL("512M"));
	fd = tconnect(d->sock);
	pid = trun_pid(fd, 1, "jail", "pid");
	ck_assert(tpool_has_pid(d->sock, "jail", pid));
	proc_status(pid, "Uid", v, sizeof(v));
	ck_assert_str_eq(v, "65534 65534 65534 65534");
	proc_status(pid, "Gid", v, sizeof(v));
	ck_assert_str_eq(v, "65534 65534 65534 65534");
	proc_status(pid, "Groups", v, sizeof(v));
	ck_assert_str_eq(v, "65534");
	proc_status(pid, "NoNewPrivs", v, sizeof(v));
	ck_assert_str_eq(v, "1");
	proc_status(pid, "Seccomp", v, sizeof(v));
	ck_assert_str_eq(v, "2");
	check_limit(pid, "Max open files", "64");
	check_limit(pid, "Max core file size", "0");
	check_limit(pid, "Max address space", UNDER_ASAN ? "70368744177664" :
	    "536870912");
	check_limit(pid, "Max cpu time", "60");

	text = tsubmit_error(fd, 2, "jail", "open", FP_ERR_WORKER_CRASHED);
	ck_assert_msg(strstr(text, "SIGSYS") != NULL, "open: %s", text);
	free(text);
	ck_assert_int_eq(twait_pid_gone(pid, WAIT_MS), 0);
	text = tsubmit_error(fd, 3, "jail", "exec", FP_ERR_WORKER_CRASHED);
	ck_assert_msg(strstr(text, "SIGSYS") != NULL, "exec: %s", text);
	free(text);
	pid2 = trun_pid(fd, 4, "jail", "pid");
	ck_assert_int_ne(pid2, pid);
	proc_status(pid2, "Seccomp", v, sizeof(v));
	ck_assert_str_eq(v, "2");
	proc_status(pid2, "Uid", v, sizeof(v));
	ck_assert_str_eq(v, "65534 65534 65534 65534");
	ck_assert_int_eq(fpd_log_count(d, "killed by SIGSYS"), 2);

	plain = trun_pid(fd, 5, "plain", "pid");
	proc_status(plain, "NoNewPrivs", v, sizeof(v));
	ck_assert_str_eq(v, "1");
	proc_status(plain, "Uid", v, sizeof(v));
	ck_assert_str_eq(v, "0 0 0 0");
	proc_status(plain, "Seccomp", v, sizeof(v));
	ck_assert_str_eq(v, "0");
	text = tsubmit_ok(fd, 6, "plain", "open");
	ck_assert_str_eq(text, "opened");
	free(text);
	close(fd);
	fpd_stop(d);
}
END_TEST

/*
 * Run n "pid" tasks one after another on pool; check that each worker
 * served a run of consecutive tasks between lo and hi long (the last run
 * at most hi) and never came back.  Returns the number of workers seen.
 */
static int
check_runs(int fd, const char *pool, int n, int lo, int hi, uint64_t id)
{
	pid_t	pids[256];
	int	i, j, run = 1, workers = 1;

	ck_assert_int_le(n, 256);
	for (i = 0; i < n; i++)
		pids[i] = trun_pid(fd, id + i, pool, "pid");
	for (i = 1; i <= n; i++) {
		if (i < n && pids[i] == pids[i - 1]) {
			run++;
			continue;
		}
		ck_assert_msg(run <= hi && (i == n || run >= lo),
		    "pool %s: worker %ld served %d tasks in a row (%d..%d)",
		    pool, (long)pids[i - 1], run, lo, hi);
		if (i < n) {
			for (j = 0; j < i; j++)
				ck_assert_msg(pids[j] != pids[i], "pool %s: "
				    "worker %ld came back", pool,
				    (long)pids[i]);
			workers++;
		}
		run = 1;
	}
	return (workers);
}

START_TEST(test_recycle_max_tasks)
{
	/*
	 * Promise: "max_tasks (with a small random jitter so workers do not
	 * all retire together): the worker retires after its current task,
	 * cleanly, and a fresh one takes its place; counted apart from
	 * crashes; never loses or fails a task."  max_tasks = 5 (jitter
	 * 5/10 = 0): 12 tasks on 3 workers, 5 + 5 + 2; max_tasks = 20
	 * (jitter up to 2): every worker serves 20 to 22.
	 */
	struct fpd	*d;
	int		 fd, workers;

	d = fpd_start("[pool:five]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "max_tasks = 5\n"
	    "[pool:twenty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "max_tasks = 20\n");
	fd = tconnect(d->sock);
	workers = check_runs(fd, "five", 12, 5, 5, 1);
	ck_assert_int_eq(workers, 3);
	ck_assert_int_eq(tpool_int(d->sock, "five", "recycled"), 2);
	ck_assert_int_eq(tpool_int(d->sock, "five", "completed"), 12);
	ck_assert_int_eq(tpool_int(d->sock, "five", "failed"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "five", "errors"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "five", "crashes"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "five", "restarts"), 0);
	ck_assert_int_eq(fpd_log_count(d, "served 5 tasks (max_tasks); "
	    "replacing it"), 2);

	workers = check_runs(fd, "twenty", 70, 20, 22, 100);
	ck_assert_int_ge(workers, 3);
	ck_assert_int_eq(tpool_int(d->sock, "twenty", "recycled"),
	    workers - 1);
	ck_assert_int_eq(tpool_int(d->sock, "twenty", "crashes"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "twenty", "restarts"), 0);
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_recycle_max_rss)
{
	/*
	 * Promise: "max_rss (checked after each task): the worker retires
	 * after its current task ... counted apart from crashes; never
	 * loses or fails a task."  A task that leaves 50 MB resident
	 * against max_rss 20M succeeds; the next task runs on a new worker;
	 * the old one leaves; recycled 1, crashes and restarts 0.
	 */
	struct fpd	*d;
	char		*text;
	pid_t		 before, after;
	int		 fd;

	d = fpd_start("[pool:fat]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "max_rss = 20M\n");
	fd = tconnect(d->sock);
	before = trun_pid(fd, 1, "fat", "pid");
	ck_assert_int_eq(tpool_int(d->sock, "fat", "recycled"), 0);
	text = tsubmit_ok(fd, 2, "fat", "alloc:50000000");
	ck_assert_str_eq(text, "held");
	free(text);
	after = trun_pid(fd, 3, "fat", "pid");
	ck_assert_int_ne(after, before);
	ck_assert_int_eq(twait_pid_gone(before, WAIT_MS), 0);
	ck_assert_int_eq(tpool_int(d->sock, "fat", "recycled"), 1);
	ck_assert_int_eq(tpool_int(d->sock, "fat", "crashes"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "fat", "restarts"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "fat", "completed"), 3);
	ck_assert_int_eq(fpd_log_count(d, "over max_rss; replacing it"), 1);
	close(fd);
	fpd_stop(d);
}
END_TEST

START_TEST(test_fd_count)
{
	/*
	 * Promise: "the master's descriptor count returns to its starting
	 * value after connections come and go": 1,000 connections, 100 at
	 * a time, some closed at once, some with half a header or half a
	 * body, some with queued tasks abandoned, some served.
	 */
	struct fpd	*d;
	uint8_t		 buf[256];
	size_t		 off;
	long long	 deadline;
	char		*out;
	int		 fds[100], start, peak = 0, n, i, j, k;

	d = fpd_start("[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 2\n"
	    "[pool:slow]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n");
	start = fd_count(d->pid);
	for (i = 0; i < 10; i++) {
		for (j = 0; j < 100; j++) {
			fds[j] = tconnect(d->sock);
			switch (j % 5) {
			case 0:
				break;
			case 1:
				send_half_header(fds[j]);
				break;
			case 2:
				send_half_body(fds[j]);
				break;
			case 3:
				off = 0;
				for (k = 0; k < 3; k++)
					put_submit(buf, sizeof(buf), &off,
					    k + 1, "slow", "sleep:5");
				tsend_raw(fds[j], buf, off);
				break;
			case 4:
				out = tsubmit_ok(fds[j], 1, "echo", "served");
				free(out);
				break;
			}
		}
		/* The daemon holds them all before they go. */
		deadline = tnow_ms() + WAIT_MS;
		while ((n = fd_count(d->pid)) < start + 100) {
			ck_assert_msg(tnow_ms() < deadline, "the master holds "
			    "%d descriptors with 100 clients connected "
			    "(%d at start)", n, start);
			tnap(5);
		}
		if (n > peak)
			peak = n;
		for (j = 0; j < 100; j++)
			close(fds[j]);
	}
	deadline = tnow_ms() + WAIT_MS;
	while ((n = fd_count(d->pid)) != start) {
		ck_assert_msg(tnow_ms() < deadline, "the master holds %d "
		    "descriptors after 1,000 connections, %d at start", n,
		    start);
		tnap(10);
	}
	fprintf(stderr, "hardening: master descriptors: %d at start, %d with "
	    "100 clients, %d after 1,000 connections\n", start, peak, n);
	wait_clients(d->sock, 1, WAIT_MS);
	twait_idle(d->sock, "slow", 1, WAIT_MS);
	fpd_stop(d);
}
END_TEST

/* Sum of an integer key over every pool of a fresh STATUS. */
static long long
status_sum(const char *sock, const char *key)
{
	json_t		*st, *p;
	long long	 n = 0;
	size_t		 i;

	st = tstatus(sock);
	json_array_foreach(json_object_get(st, "pools"), i, p)
		n += json_integer_value(json_object_get(p, key));
	json_decref(st);
	return (n);
}

START_TEST(test_memory_bound)
{
	/*
	 * Promise: "The master's memory stays bounded whatever clients
	 * send: measure it (RSS before, during and after 1,000 connections
	 * that each send half a frame, 100 clients pipelining 1,000 tasks
	 * and never reading, and a flood of max_payload frames) and report
	 * the figures."  Printed on stderr; the bounds asserted are
	 * generous (see each), made to catch growth per connection or per
	 * task that is not given back, not to measure allocators.
	 * queue_limit is raised so that every task is accepted and run.
	 */
	struct fpd	*d;
	struct rlimit	 rl;
	uint8_t		*buf, hdr[FP_HDR_LEN];
	size_t		 off, cap = 1000 * 128, chunk;
	long		 base, a_during, a_after, f_during, f_after;
	long		 t_peak, t_after;
	long long	 deadline, done;
	char		 payload[65];
	int		*fds, i, j, ntasks = UNDER_ASAN ? 100 : 1000;
	pid_t		 pid;

	/* 1,000 clients need more descriptors than the usual 1,024. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 4096 && rl.rlim_max >= 4096) {
		rl.rlim_cur = 4096;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	ck_assert_msg(rl.rlim_cur >= 2100, "RLIMIT_NOFILE %llu is too low "
	    "for 1,000 clients", (unsigned long long)rl.rlim_cur);
	d = fpd_start("[daemon]\n"
	    "max_payload = 1M\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 2\n"
	    "queue_limit = 100000\n");
	pid = d->pid;
	fds = calloc(1000, sizeof(*fds));
	buf = malloc(cap);
	ck_assert(fds != NULL && buf != NULL);
	base = rss_kb(pid);

	/* A: 1,000 connections, each with half a frame, then gone. */
	for (i = 0; i < 1000; i++) {
		fds[i] = tconnect(d->sock);
		send_half_header(fds[i]);
	}
	wait_clients(d->sock, 1001, WAIT_MS);
	a_during = rss_kb(pid);
	for (i = 0; i < 1000; i++)
		close(fds[i]);
	wait_clients(d->sock, 1, WAIT_MS);
	a_after = rss_kb(pid);

	/* B: 64 clients each send all but the last byte of a 1M frame. */
	memset(buf, 'f', cap);
	fp_hdr_put(hdr, FP_SUBMIT, 4, 1, 4 + 1024 * 1024);
	for (i = 0; i < 64; i++) {
		fds[i] = tconnect(d->sock);
		tsend_raw(fds[i], hdr, sizeof(hdr));
		tsend_raw(fds[i], "echo", 4);
		for (off = 0; off < 1024 * 1024 - 1; off += chunk) {
			chunk = MIN(cap, 1024 * 1024 - 1 - off);
			tsend_raw(fds[i], buf, chunk);
		}
	}
	/* The kernel holds the rest for the master: ~200 KiB a client. */
	f_during = rss_kb(pid);
	for (i = 0; i < 64; i++)
		close(fds[i]);
	wait_clients(d->sock, 1, WAIT_MS);
	f_after = rss_kb(pid);

	/* C: 100 clients pipeline 1,000 tasks each and never read. */
	memset(payload, 'p', 64);
	payload[64] = '\0';
	t_peak = f_after;
	for (i = 0; i < 100; i++) {
		fds[i] = tconnect(d->sock);
		off = 0;
		for (j = 0; j < ntasks; j++)
			put_submit(buf, cap, &off, j + 1, "echo", payload);
		tsend_raw(fds[i], buf, off);
		if (i % 10 == 0)
			t_peak = MAX(t_peak, rss_kb(pid));
	}
	deadline = tnow_ms() + 20000;
	while ((done = status_sum(d->sock, "completed") +
	    status_sum(d->sock, "overloaded")) < 100 * ntasks) {
		ck_assert_msg(tnow_ms() < deadline, "%lld of %d tasks answered "
		    "after 20 s", done, 100 * ntasks);
		t_peak = MAX(t_peak, rss_kb(pid));
		tnap(20);
	}
	t_peak = MAX(t_peak, rss_kb(pid));
	for (i = 0; i < 100; i++)
		close(fds[i]);
	wait_clients(d->sock, 1, WAIT_MS);
	t_after = rss_kb(pid);

	fprintf(stderr, "hardening: master RSS (KiB)%s: start %ld; 1,000 "
	    "half-frame clients: during %ld, after %ld; 64 x 1M half frames: "
	    "during %ld, after %ld; 100 clients x %d tasks unread: peak %ld, "
	    "after %ld\n", UNDER_ASAN ? " under ASan" : "", base, a_during,
	    a_after, f_during, f_after, ntasks, t_peak, t_after);
	free(fds);
	free(buf);
	fpd_stop(d);
	if (UNDER_ASAN)
		return;

	/* A connection with half a frame costs a few KiB, not more. */
	ck_assert_msg(a_during - base < 32 * 1024, "1,000 half-frame clients "
	    "cost %ld KiB", a_during - base);
	ck_assert_msg(a_after - base < 16 * 1024, "%ld KiB kept after 1,000 "
	    "clients left", a_after - base);
	/* Half frames are buffered: 64 MiB of them, at most twice that. */
	ck_assert_msg(f_during - a_after < 128 * 1024, "64 MiB of half "
	    "frames cost %ld KiB", f_during - a_after);
	/* 100,000 queued tasks and their replies: under 3 KiB each. */
	ck_assert_msg(t_peak - base < 300 * 1024, "100,000 tasks cost %ld "
	    "KiB", t_peak - base);
}
END_TEST

/*
 * A child process that writes n SUBMIT frames of size bytes of 'x' to
 * pool on fd, ids first..first+n-1, then exits; the master may stop
 * reading it for a while (max_memory), so the writes may block.
 */
static pid_t
write_tasks(int fd, const char *pool, uint64_t first, int n, size_t size)
{
	uint8_t	 hdr[FP_HDR_LEN], *body;
	size_t	 nlen = strlen(pool);
	pid_t	 pid;
	int	 i;

	ck_assert_int_ne(pid = fork(), -1);
	if (pid != 0)
		return (pid);
	if ((body = malloc(size)) == NULL)
		_exit(1);
	memset(body, 'x', size);
	for (i = 0; i < n; i++) {
		fp_hdr_put(hdr, FP_SUBMIT, nlen, first + i, nlen + size);
		if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != sizeof(hdr) ||
		    send(fd, pool, nlen, MSG_NOSIGNAL) != (ssize_t)nlen ||
		    send(fd, body, size, MSG_NOSIGNAL) != (ssize_t)size)
			_exit(2);
	}
	_exit(0);
}

/* The top-level "held_bytes" of a fresh STATUS. */
static long long
status_held(const char *sock)
{
	json_t		*st;
	long long	 n;

	st = tstatus(sock);
	n = json_integer_value(json_object_get(st, "held_bytes"));
	json_decref(st);
	return (n);
}

/*
 * Read the replies of fds[0..nfd-1] until each has answered n ids
 * (first..first+n-1 on each): each id exactly once, RESULT of size bytes
 * or OVERLOADED.  Samples the master's RSS meanwhile; returns the peak
 * (KiB) and counts the outcomes.
 */
static long
read_all(pid_t master, int *fds, int nfd, uint64_t first, int n,
    size_t size, int *results, int *overloaded)
{
	struct fp_hdr	 hdr;
	char		*body;
	long		 peak = 0, rss;
	long long	 last;
	int		 i, k, left = nfd * n;
	char		*seen;

	ck_assert_ptr_nonnull(seen = calloc(nfd * n, 1));
	last = tnow_ms();
	while (left > 0) {
		ck_assert_msg(tnow_ms() - last < 8000, "%d replies missing "
		    "after 8 s without one", left);
		if ((rss = rss_kb(master)) > peak)
			peak = rss;
		for (k = 0; k < nfd; k++) {
			struct pollfd	pfd = { fds[k], POLLIN, 0 };

			if (poll(&pfd, 1, 0) != 1)
				continue;
			ck_assert_int_eq(trecv(fds[k], &hdr, &body, WAIT_MS),
			    1);
			i = (int)(hdr.id - first);
			ck_assert_msg(i >= 0 && i < n && !seen[k * n + i],
			    "client %d: id %llu unexpected or answered twice",
			    k, (unsigned long long)hdr.id);
			seen[k * n + i] = 1;
			left--;
			last = tnow_ms();
			if (hdr.type == FP_RESULT && (hdr.len == size ||
			    strcmp(body, "slept") == 0))
				(*results)++;
			else
				ck_assert_msg(hdr.type == FP_ERROR &&
				    hdr.arg == FP_ERR_OVERLOADED, "id %llu: "
				    "type 0x%x arg %u: %.200s",
				    (unsigned long long)hdr.id, hdr.type,
				    hdr.arg, hdr.type == FP_ERROR ? body : "");
			if (hdr.type == FP_ERROR)
				(*overloaded)++;
			free(body);
		}
		tnap(5);
	}
	free(seen);
	return (peak);
}

START_TEST(test_max_memory)
{
	/*
	 * Promise (issue 14 item 8): "max_memory bounds the bytes the master
	 * holds for all clients together (queued payloads, unsent replies,
	 * partial frames); past it, the largest holders are refused
	 * (OVERLOADED for new submits, not reading for partial frames)
	 * before anyone is cut."  With max_memory = 64M: one client queuing
	 * 60 tasks of 4 MiB behind a busy worker, then 10 clients sending 8
	 * tasks of 4 MiB each to echo and reading nothing for a while.  The
	 * master's RSS stays under the bound plus a margin, a small client
	 * is served meanwhile, every task is answered exactly once, and
	 * STATUS and METRICS show the bytes held.  Figures on stderr.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	pid_t		 pid, writers[10];
	long		 base, peak1, peak2, at_bound, after;
	long long	 held, deadline;
	char		*text;
	int		 fd, small, fds[10], i, status, res = 0, over = 0;
	int		 res2 = 0, over2 = 0;
	size_t		 size = 4 << 20;

	d = fpd_start("[daemon]\n"
	    "max_memory = 64M\n"
	    "max_payload = 16M\n"
	    "max_client_buffer = 256M\n"
	    "[pool:slow]\n"
	    "module = @T/faulty.so\n"
	    "workers = 1\n"
	    "[pool:echo]\n"
	    "handler = echo\n"
	    "workers = 2\n"
	    "queue_limit = 100000\n");
	pid = d->pid;
	base = rss_kb(pid);

	/* 1: one client, 60 x 4 MiB queued behind a worker asleep. */
	fd = tconnect(d->sock);
	tsend_submit(fd, 61, "slow", "sleep:1500", 10);
	writers[0] = write_tasks(fd, "slow", 1, 60, size);
	/* While it is over the bound, a small client is served. */
	small = tconnect(d->sock);
	tsubmit(small, 1, "echo", "small", 5, &hdr, &text);
	ck_assert_msg(hdr.type == FP_RESULT, "the small client: 0x%x %u",
	    hdr.type, hdr.arg);
	free(text);
	peak1 = read_all(pid, &fd, 1, 1, 61, size, &res, &over);
	ck_assert_int_eq(waitpid(writers[0], &status, 0), writers[0]);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(res + over, 61);
	ck_assert_int_gt(over, 0);
	close(fd);

	/* 2: 10 clients send 8 x 4 MiB to echo and do not read yet. */
	for (i = 0; i < 10; i++) {
		fds[i] = tconnect(d->sock);
		writers[i] = write_tasks(fds[i], "echo", 1, 8, size);
	}
	/* Wait for the bound to be reached: nothing more is taken then. */
	while ((held = status_held(d->sock)) < 64LL << 20)
		tnap(10);
	at_bound = rss_kb(pid);
	peak2 = read_all(pid, fds, 10, 1, 8, size, &res2, &over2);
	peak2 = MAX(peak2, at_bound);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(waitpid(writers[i], &status, 0), writers[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		close(fds[i]);
	}
	ck_assert_int_eq(res2 + over2, 80);
	close(small);
	wait_clients(d->sock, 1, WAIT_MS);
	/* Nothing but the STATUS request being answered (read in place). */
	ck_assert_int_le(status_held(d->sock), FP_HDR_LEN);
	text = NULL;
	fd = tconnect(d->sock);
	tsend(fd, FP_METRICS, 0, 1, NULL, 0);
	text = texpect(fd, FP_METRICS_REPLY, 0, 1, WAIT_MS);
	ck_assert_msg(strstr(text, "forkpool_held_bytes 16\n") != NULL &&
	    strstr(text, "forkpool_max_memory_bytes 67108864\n") != NULL,
	    "%s", text);
	free(text);
	close(fd);
	/* The tick trims after a burst: RSS comes down within seconds. */
	deadline = tnow_ms() + WAIT_MS;
	while ((after = rss_kb(pid)) > base + 16 * 1024 && !UNDER_ASAN &&
	    tnow_ms() < deadline)
		tnap(50);
	fprintf(stderr, "hardening: max_memory 64M: master RSS (KiB) start "
	    "%ld; one client, 60 x 4M queued: peak %ld (%d run, %d "
	    "OVERLOADED); 10 clients x 8 x 4M unread: held %lld at the "
	    "bound, peak %ld (%d run, %d OVERLOADED); after %ld\n", base,
	    peak1, res, over, held, peak2, res2, over2, after);
	if (!UNDER_ASAN) {
		/*
		 * The bound, plus what is in flight past it: each client's
		 * frame being read when it was reached, outputs on their
		 * way from a worker, a task's copy of its frame, allocator
		 * slack: up to about twice the bound here.  Without the
		 * bound this load held 320M (and the issue saw 1,015M).
		 */
		ck_assert_msg(peak1 - base < 192 * 1024, "peak %ld KiB",
		    peak1);
		ck_assert_msg(peak2 - base < 192 * 1024, "peak %ld KiB",
		    peak2);
		ck_assert_msg(after - base < 16 * 1024, "after %ld KiB: not "
		    "trimmed", after);
	}
	fpd_stop_ok(d);
}
END_TEST

Suite *
hardening_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("hardening");
	tc = tcase_create("clients");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_client_timeout);
	tcase_add_test(tc, test_max_client_buffer);
	tcase_add_test(tc, test_max_client_buffer_stops_dispatch);
	tcase_add_test(tc, test_max_client_buffer_memory);
	tcase_add_test(tc, test_max_clients);
	tcase_add_test(tc, test_fd_count);
	tcase_add_test(tc, test_memory_bound);
	tcase_add_test(tc, test_max_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("access");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_allow_users);
	tcase_add_test(tc, test_allow_groups);
	tcase_add_test(tc, test_socket_mode_group);
	suite_add_tcase(s, tc);

	tc = tcase_create("workers");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_contained_workers);
	tcase_add_test(tc, test_recycle_max_tasks);
	tcase_add_test(tc, test_recycle_max_rss);
	suite_add_tcase(s, tc);
	return (s);
}

/*
 * libforkpool (lib/client.c) without the daemon: socket path resolution,
 * connect errors, argument checks, and the bytes on the wire.  Where a peer
 * is needed the test binds a real Unix socket in a temporary directory and
 * plays the daemon itself, reading the exact frames the library wrote and
 * answering frames it builds by hand, byte by byte, from PROTOCOL.md.  A
 * peer that must answer while the library blocks runs in a forked child
 * that reports through its exit status.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "forkpool/client.h"
#include "forkpool/proto.h"
#include "suites.h"

#define PEER_MS		5000	/* deadline for a peer's read or accept */
#define CHILD_ALARM	15	/* a forked peer never outlives a test */

/* A listening socket in a fresh temporary directory: the fake daemon. */
struct fake {
	char	dir[64];
	char	path[128];
	int	lfd;
};

/* Create the directory and listen on path in it. */
static void
fake_listen(struct fake *f)
{
	struct sockaddr_un	sun;

	snprintf(f->dir, sizeof(f->dir), "/tmp/fpclient.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/fake.sock", f->dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, f->path, strlen(f->path));
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(f->lfd, -1);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sun,
	    sizeof(sun)), 0);
	ck_assert_int_eq(listen(f->lfd, 16), 0);
}

/* Remove the socket and its directory. */
static void
fake_end(struct fake *f)
{
	if (f->lfd != -1)
		close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
}

/* Accept the library's connection (-1 past the deadline). */
static int
fake_accept(struct fake *f)
{
	struct pollfd	pfd = { f->lfd, POLLIN, 0 };

	if (poll(&pfd, 1, PEER_MS) != 1)
		return (-1);
	return (accept(f->lfd, NULL, NULL));
}

/* Exactly len bytes from fd: 1, 0 at end of file, -1 at the deadline. */
static int
read_exact(int fd, void *buf, size_t len)
{
	struct pollfd	 pfd;
	uint8_t		*p = buf;
	ssize_t		 n;

	while (len > 0) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, PEER_MS) != 1)
			return (-1);
		if ((n = read(fd, p, len)) == 0)
			return (0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (1);
}

/* All of buf to fd (blocking). */
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
		len -= (size_t)n;
	}
	return (0);
}

/* Little-endian, written out here rather than through the codec. */
static void
le_put(uint8_t *p, uint64_t v, int bytes)
{
	int	i;

	for (i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
le_get(const uint8_t *p, int bytes)
{
	uint64_t	v = 0;
	int		i;

	for (i = bytes - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return (v);
}

/* One reply frame, built by hand from PROTOCOL.md's table, in one write. */
static int
put_frame_v(int fd, uint8_t version, uint8_t type, uint16_t arg,
    uint64_t id, const void *body, size_t len)
{
	uint8_t	*frame;
	int	 rc;

	if ((frame = malloc(FP_HDR_LEN + len)) == NULL)
		return (-1);
	le_put(frame, len, 4);
	frame[4] = version;
	frame[5] = type;
	le_put(frame + 6, arg, 2);
	le_put(frame + 8, id, 8);
	if (len > 0)
		memcpy(frame + FP_HDR_LEN, body, len);
	rc = write_all(fd, frame, FP_HDR_LEN + len);
	free(frame);
	return (rc);
}

static int
put_frame(int fd, uint8_t type, uint16_t arg, uint64_t id, const char *body)
{
	return (put_frame_v(fd, FP_PROTO_VERSION, type, arg, id, body,
	    strlen(body)));
}

/* A frame the library sent, decoded by hand; the body malloc'd. */
struct raw {
	uint32_t	 len;
	uint8_t		 version;
	uint8_t		 type;
	uint16_t	 arg;
	uint64_t	 id;
	char		*body;
};

/* Read one frame: 1, 0 at end of file, -1 at the deadline. */
static int
get_frame(int fd, struct raw *f)
{
	uint8_t	hdr[FP_HDR_LEN];
	int	rc;

	if ((rc = read_exact(fd, hdr, sizeof(hdr))) != 1)
		return (rc);
	f->len = (uint32_t)le_get(hdr, 4);
	f->version = hdr[4];
	f->type = hdr[5];
	f->arg = (uint16_t)le_get(hdr + 6, 2);
	f->id = le_get(hdr + 8, 8);
	if ((f->body = malloc((size_t)f->len + 1)) == NULL)
		return (-1);
	f->body[f->len] = '\0';
	if (f->len > 0 && read_exact(fd, f->body, f->len) != 1) {
		free(f->body);
		return (-1);
	}
	return (1);
}

/* Nothing is readable on fd right now. */
static int
nothing_readable(int fd)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };

	return (poll(&pfd, 1, 0) == 0);
}

/* Wait (with the child's own alarm as the bound) until the peer closes. */
static void
peer_wait_eof(int fd)
{
	char	buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/*
 * Bound a forked peer's life.  Check's own SIGALRM handler, inherited,
 * would kill the whole test; the default action ends only the peer.
 */
static void
peer_guard(void)
{
	signal(SIGALRM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);	/* a write error is a check's result */
	alarm(CHILD_ALARM);
}

/*
 * Fork a peer that accepts one connection and runs fn on it; its exit
 * status is fn's result (0 when every check in it held).
 */
static pid_t
fake_serve(struct fake *f, int (*fn)(int))
{
	pid_t	pid;
	int	fd;

	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		peer_guard();
		if ((fd = fake_accept(f)) == -1)
			_exit(100);
		_exit(fn(fd));
	}
	return (pid);
}

/* The peer's verdict: it must exit 0. */
static void
fake_join(pid_t pid)
{
	int	status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "the fake daemon was killed by "
	    "signal %d", WTERMSIG(status));
	ck_assert_msg(WEXITSTATUS(status) == 0, "the fake daemon's check "
	    "number %d failed", WEXITSTATUS(status));
}

/* Connect to the fake daemon; the handle must be sound. */
static struct fp_client *
connect_ok(struct fake *f)
{
	struct fp_client	*c;

	ck_assert_ptr_nonnull(c = fp_connect(f->path));
	ck_assert_msg(fp_client_err(c) == FP_CLIENT_OK, "%s",
	    fp_client_errstr(c));
	ck_assert_int_ne(fp_client_fd(c), -1);
	ck_assert_str_eq(fp_client_path(c), f->path);
	return (c);
}

/*
 * Run as a user for a while (real and effective uid; root stays the saved
 * uid to come back to), to see a user's paths.
 */
static uid_t
become_user(void)
{
	uid_t	saved = geteuid();

	if (saved == 0)
		ck_assert_int_eq(setresuid(65534, 65534, 0), 0);
	ck_assert_uint_ne(getuid(), 0);
	return (saved);
}

/*
 * Back to the uid the test started with: a process left with another
 * effective uid cannot be inspected by LeakSanitizer at exit.
 */
static void
become_again(uid_t saved)
{
	ck_assert_int_eq(setresuid(saved, saved, saved), 0);
}

START_TEST(test_path_explicit)
{
	/* An explicit path wins over $FORKPOOL_SOCKET and every default. */
	char	buf[256];

	setenv("FORKPOOL_SOCKET", "/env/forkpool.sock", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/4321", 1);
	ck_assert_ptr_eq(fp_socket_path("/x/explicit.sock", buf,
	    sizeof(buf)), buf);
	ck_assert_str_eq(buf, "/x/explicit.sock");
}
END_TEST

START_TEST(test_path_env)
{
	/* $FORKPOOL_SOCKET comes next, for root and for users alike. */
	char	buf[256];
	uid_t	saved;

	setenv("FORKPOOL_SOCKET", "/env/forkpool.sock", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/4321", 1);
	ck_assert_ptr_eq(fp_socket_path(NULL, buf, sizeof(buf)), buf);
	ck_assert_str_eq(buf, "/env/forkpool.sock");
	saved = become_user();
	ck_assert_ptr_eq(fp_socket_path(NULL, buf, sizeof(buf)), buf);
	ck_assert_str_eq(buf, "/env/forkpool.sock");
	become_again(saved);
}
END_TEST

START_TEST(test_path_root)
{
	/*
	 * Root without $FORKPOOL_SOCKET uses the system socket, whatever
	 * $XDG_RUNTIME_DIR says; an empty $FORKPOOL_SOCKET counts as unset.
	 * (Provable only when the suite runs as root.)
	 */
	char	buf[256];

	if (geteuid() != 0)
		return;
	unsetenv("FORKPOOL_SOCKET");
	setenv("XDG_RUNTIME_DIR", "/run/user/0", 1);
	ck_assert_ptr_eq(fp_socket_path(NULL, buf, sizeof(buf)), buf);
	ck_assert_str_eq(buf, "/run/forkpool/forkpool.sock");
	setenv("FORKPOOL_SOCKET", "", 1);
	ck_assert_ptr_eq(fp_socket_path(NULL, buf, sizeof(buf)), buf);
	ck_assert_str_eq(buf, "/run/forkpool/forkpool.sock");
}
END_TEST

START_TEST(test_path_user_xdg)
{
	/*
	 * A user without $FORKPOOL_SOCKET: $XDG_RUNTIME_DIR/forkpool.sock
	 * when it exists, else the system socket (socket_rule.md, 3 and 4).
	 */
	char	buf[256], dir[64], sock[128];
	uid_t	saved;
	int	fd;

	snprintf(dir, sizeof(dir), "/tmp/fpxdg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(sock, sizeof(sock), "%s/forkpool.sock", dir);
	saved = become_user();
	unsetenv("FORKPOOL_SOCKET");
	setenv("XDG_RUNTIME_DIR", dir, 1);
	ck_assert_ptr_eq(fp_socket_path(NULL, buf, sizeof(buf)), buf);
	ck_assert_str_eq(buf, "/run/forkpool/forkpool.sock");
	become_again(saved);
	ck_assert_int_ne(fd = open(sock, O_CREAT | O_WRONLY, 0644), -1);
	close(fd);
	saved = become_user();
	ck_assert_ptr_eq(fp_socket_path(NULL, buf, sizeof(buf)), buf);
	ck_assert_str_eq(buf, sock);
	become_again(saved);
	unlink(sock);
	rmdir(dir);
}
END_TEST

START_TEST(test_path_user_tmp)
{
	/*
	 * A user with neither variable (or an empty $XDG_RUNTIME_DIR):
	 * /tmp/forkpool-UID/forkpool.sock (the real uid) when it exists,
	 * else the system socket; never a socket directly in /tmp.
	 */
	char	buf[256], dir[64], want[96];
	uid_t	saved;
	int	fd, made = 0, made_file = 0;

	snprintf(dir, sizeof(dir), "/tmp/forkpool-65534");
	snprintf(want, sizeof(want), "%s/forkpool.sock", dir);
	unsetenv("FORKPOOL_SOCKET");
	unsetenv("XDG_RUNTIME_DIR");
	if (access(want, F_OK) == -1) {
		saved = become_user();
		ck_assert_ptr_eq(fp_socket_path(NULL, buf, sizeof(buf)), buf);
		ck_assert_str_eq(buf, "/run/forkpool/forkpool.sock");
		become_again(saved);
		if (mkdir(dir, 0700) == 0) {
			made = 1;
			ck_assert_int_eq(chown(dir, 65534, 65534), 0);
		}
		ck_assert_int_ne(fd = open(want, O_CREAT | O_WRONLY, 0644),
		    -1);
		close(fd);
		made_file = 1;
	}
	saved = become_user();
	ck_assert_ptr_eq(fp_socket_path(NULL, buf, sizeof(buf)), buf);
	ck_assert_str_eq(buf, want);
	setenv("XDG_RUNTIME_DIR", "", 1);
	ck_assert_ptr_eq(fp_socket_path(NULL, buf, sizeof(buf)), buf);
	ck_assert_str_eq(buf, want);
	become_again(saved);
	if (made_file)
		unlink(want);
	if (made)
		rmdir(dir);
}
END_TEST

START_TEST(test_path_too_long)
{
	/* A path that does not fit the buffer is NULL, not a cut path. */
	const char	*p = "/a/b/forkpool.sock";
	char		 buf[64];

	ck_assert_ptr_eq(fp_socket_path(p, buf, strlen(p) + 1), buf);
	ck_assert_str_eq(buf, p);
	ck_assert_ptr_null(fp_socket_path(p, buf, strlen(p)));
	setenv("FORKPOOL_SOCKET", p, 1);
	ck_assert_ptr_null(fp_socket_path(NULL, buf, 8));
}
END_TEST

START_TEST(test_connect_missing)
{
	/*
	 * A socket that does not exist: ECONNECT, and a message that names
	 * the path, the reason and what to do; every later call fails.
	 */
	struct fp_client	*c;
	struct fp_reply		 r;
	const char		*msg;
	char			 dir[64], path[128];

	snprintf(dir, sizeof(dir), "/tmp/fpclient.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/absent.sock", dir);
	/* Through the resolution: $FORKPOOL_SOCKET names it. */
	setenv("FORKPOOL_SOCKET", path, 1);
	ck_assert_ptr_nonnull(c = fp_connect(NULL));
	rmdir(dir);
	ck_assert_int_eq(fp_client_err(c), FP_CLIENT_ECONNECT);
	ck_assert_int_eq(fp_client_fd(c), -1);
	ck_assert_str_eq(fp_client_path(c), path);
	msg = fp_client_errstr(c);
	ck_assert_msg(strstr(msg, path) != NULL, "no path in \"%s\"", msg);
	ck_assert_msg(strstr(msg, strerror(ENOENT)) != NULL,
	    "no reason in \"%s\"", msg);
	ck_assert_msg(strstr(msg, "is forkpoold running?") != NULL &&
	    strstr(msg, "FORKPOOL_SOCKET") != NULL, "no hint in \"%s\"", msg);
	ck_assert_int_eq(fp_ping(c), -1);
	ck_assert_int_eq(fp_submit(c, "echo", "x", 1, &r), -1);
	ck_assert_int_eq(fp_recv(c, &r, 1), -1);
	ck_assert_int_eq(fp_client_err(c), FP_CLIENT_ECONNECT);
	fp_close(c);
}
END_TEST

START_TEST(test_connect_refused)
{
	/* A socket file nobody listens on: refused, and the path named. */
	struct fp_client	*c;
	struct fake		 f;

	fake_listen(&f);
	close(f.lfd);		/* the file stays; the listener is gone */
	f.lfd = -1;
	ck_assert_ptr_nonnull(c = fp_connect(f.path));
	ck_assert_int_eq(fp_client_err(c), FP_CLIENT_ECONNECT);
	ck_assert_ptr_nonnull(strstr(fp_client_errstr(c), f.path));
	ck_assert_ptr_nonnull(strstr(fp_client_errstr(c),
	    strerror(ECONNREFUSED)));
	fp_close(c);
	fake_end(&f);
}
END_TEST

START_TEST(test_usage_pool_name)
{
	/*
	 * A pool name outside 1 to 64 bytes of A-Z a-z 0-9 _ . - is refused
	 * before anything is sent (EUSAGE); the connection stays usable.
	 */
	static const char *bad[] = { "", "has space", "a/b", "nul\x01",
	    "\xc3\xbcnicode",
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	};	/* the last is 65 bytes */
	struct fp_client	*c;
	struct fp_reply		 r;
	struct fake		 f;
	struct raw		 frame;
	char			 name64[65];
	size_t			 i;
	int			 fd;

	fake_listen(&f);
	c = connect_ok(&f);
	ck_assert_int_ne(fd = fake_accept(&f), -1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(fp_send_submit(c, 1, bad[i], "x", 1), -1);
		ck_assert_int_eq(fp_client_err(c), FP_CLIENT_EUSAGE);
		ck_assert_ptr_nonnull(strstr(fp_client_errstr(c),
		    "pool name"));
		/* The blocking call fails at once too, never waits. */
		ck_assert_int_eq(fp_submit(c, bad[i], "x", 1, &r), -1);
		ck_assert_int_eq(fp_client_err(c), FP_CLIENT_EUSAGE);
	}
	ck_assert_int_eq(fp_send_submit(c, 1, NULL, "x", 1), -1);
	ck_assert_int_eq(fp_client_err(c), FP_CLIENT_EUSAGE);
	ck_assert_uint_eq(fp_pending(c), 0);
	ck_assert_int_eq(fp_flush(c), 0);
	ck_assert(nothing_readable(fd));

	/* 64 bytes is still a name; it goes out, and so does a PING. */
	memset(name64, 'n', 64);
	name64[64] = '\0';
	ck_assert_int_eq(fp_send_submit(c, 2, name64, "x", 1), 0);
	ck_assert_int_eq(fp_send(c, FP_PING, 0, 3, NULL, 0), 0);
	ck_assert_int_eq(fp_flush(c), 0);
	ck_assert_int_eq(get_frame(fd, &frame), 1);
	ck_assert_uint_eq(frame.type, FP_SUBMIT);
	ck_assert_uint_eq(frame.arg, 64);
	ck_assert_uint_eq(frame.id, 2);
	free(frame.body);
	ck_assert_int_eq(get_frame(fd, &frame), 1);
	ck_assert_uint_eq(frame.type, FP_PING);
	ck_assert_uint_eq(frame.id, 3);
	free(frame.body);
	fp_close(c);
	close(fd);
	fake_end(&f);
}
END_TEST

START_TEST(test_usage_payload_size)
{
	/*
	 * A payload over the client's max_payload is refused before it is
	 * sent (EUSAGE, the message giving both sizes); one of exactly the
	 * limit is queued whole.
	 */
	struct fp_client	*c;
	struct fp_reply		 r;
	struct fake		 f;
	char			 payload[101];

	memset(payload, 'p', sizeof(payload));
	fake_listen(&f);
	c = connect_ok(&f);
	fp_client_set_max_payload(c, 100);
	ck_assert_int_eq(fp_send_submit(c, 1, "echo", payload, 101), -1);
	ck_assert_int_eq(fp_client_err(c), FP_CLIENT_EUSAGE);
	ck_assert_ptr_nonnull(strstr(fp_client_errstr(c), "101"));
	ck_assert_ptr_nonnull(strstr(fp_client_errstr(c), "100"));
	ck_assert_int_eq(fp_submit(c, "echo", payload, 101, &r), -1);
	ck_assert_int_eq(fp_client_err(c), FP_CLIENT_EUSAGE);
	ck_assert_uint_eq(fp_pending(c), 0);
	ck_assert_int_eq(fp_send_submit(c, 1, "echo", payload, 100), 0);
	ck_assert_uint_eq(fp_pending(c), FP_HDR_LEN + 4 + 100);
	fp_close(c);
	fake_end(&f);
}
END_TEST

START_TEST(test_encoding)
{
	/*
	 * PROTOCOL.md, "A complete exchange": submitting hello to echo with
	 * id 7 is these 25 bytes exactly; PING and CANCEL are bare headers
	 * with every byte of the id in little-endian order.
	 */
	static const uint8_t submit[] = {
	    0x09, 0x00, 0x00, 0x00, 0x01, 0x01, 0x04, 0x00,
	    0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	    'e', 'c', 'h', 'o', 'h', 'e', 'l', 'l', 'o' };
	static const uint8_t ping[] = {
	    0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00,
	    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };
	static const uint8_t cancel[] = {
	    0x00, 0x00, 0x00, 0x00, 0x01, 0x05, 0x00, 0x00,
	    0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
	struct fp_client	*c;
	struct fake		 f;
	uint8_t			 got[sizeof(submit)];
	int			 fd;

	fake_listen(&f);
	c = connect_ok(&f);
	ck_assert_int_ne(fd = fake_accept(&f), -1);

	ck_assert_int_eq(fp_send_submit(c, 7, "echo", "hello", 5), 0);
	ck_assert_int_eq(fp_flush(c), 0);
	ck_assert_int_eq(read_exact(fd, got, sizeof(submit)), 1);
	ck_assert_mem_eq(got, submit, sizeof(submit));

	ck_assert_int_eq(fp_send(c, FP_PING, 0, 0x0102030405060708ULL, NULL,
	    0), 0);
	ck_assert_int_eq(fp_send_cancel(c, 7), 0);
	ck_assert_int_eq(fp_flush(c), 0);
	ck_assert_int_eq(read_exact(fd, got, sizeof(ping)), 1);
	ck_assert_mem_eq(got, ping, sizeof(ping));
	ck_assert_int_eq(read_exact(fd, got, sizeof(cancel)), 1);
	ck_assert_mem_eq(got, cancel, sizeof(cancel));
	ck_assert(nothing_readable(fd));
	fp_close(c);
	close(fd);
	fake_end(&f);
}
END_TEST

START_TEST(test_pipeline_batched)
{
	/*
	 * Pipelining: 256 queued submits write nothing until fp_flush, then
	 * all go out, in order, with their ids and payloads.
	 */
	struct fp_client	*c;
	struct fake		 f;
	struct raw		 frame;
	char			 payload[32];
	size_t			 want = 0;
	int			 fd, i, n;

	fake_listen(&f);
	c = connect_ok(&f);
	ck_assert_int_ne(fd = fake_accept(&f), -1);
	for (i = 1; i <= 256; i++) {
		n = snprintf(payload, sizeof(payload), "task-%d", i);
		ck_assert_int_eq(fp_send_submit(c, (uint64_t)i, "echo",
		    payload, (size_t)n), 0);
		want += FP_HDR_LEN + 4 + (size_t)n;
	}
	ck_assert_uint_eq(fp_pending(c), want);
	ck_assert(nothing_readable(fd));
	ck_assert_int_eq(fp_flush(c), 0);
	ck_assert_uint_eq(fp_pending(c), 0);
	for (i = 1; i <= 256; i++) {
		ck_assert_int_eq(get_frame(fd, &frame), 1);
		snprintf(payload, sizeof(payload), "echotask-%d", i);
		ck_assert_uint_eq(frame.version, FP_PROTO_VERSION);
		ck_assert_uint_eq(frame.type, FP_SUBMIT);
		ck_assert_uint_eq(frame.arg, 4);
		ck_assert_uint_eq(frame.id, (uint64_t)i);
		ck_assert_str_eq(frame.body, payload);
		free(frame.body);
	}
	ck_assert(nothing_readable(fd));
	fp_close(c);
	close(fd);
	fake_end(&f);
}
END_TEST

START_TEST(test_out_of_order)
{
	/*
	 * "Replies come back in the order tasks finish, matched by id":
	 * answered 3, 1, 2, fp_recv returns 3, 1, 2, each with its own
	 * output, status and type; with nothing there it does not block.
	 */
	static const char	*payload[] = { NULL, "one", "two", "three" };
	static const int	 order[] = { 3, 1, 2 };
	struct fp_client	*c;
	struct fp_reply		 r;
	struct fake		 f;
	struct raw		 frame;
	char			 want[64];
	int			 fd, i;

	fake_listen(&f);
	c = connect_ok(&f);
	ck_assert_int_ne(fd = fake_accept(&f), -1);
	for (i = 1; i <= 3; i++)
		ck_assert_int_eq(fp_send_submit(c, (uint64_t)i, "echo",
		    payload[i], strlen(payload[i])), 0);
	ck_assert_int_eq(fp_flush(c), 0);
	for (i = 1; i <= 3; i++) {
		ck_assert_int_eq(get_frame(fd, &frame), 1);
		free(frame.body);
	}
	ck_assert_int_eq(fp_recv(c, &r, 0), 0);

	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "out-%s", payload[order[i]]);
		if (order[i] == 2)
			ck_assert_int_eq(put_frame(fd, FP_ERROR,
			    FP_ERR_TIMEOUT, 2, want), 0);
		else
			ck_assert_int_eq(put_frame(fd, FP_RESULT,
			    (uint16_t)order[i], (uint64_t)order[i], want), 0);
	}
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "out-%s", payload[order[i]]);
		ck_assert_int_eq(fp_recv(c, &r, 1), 1);
		ck_assert_uint_eq(r.id, (uint64_t)order[i]);
		ck_assert_uint_eq(r.len, strlen(want));
		ck_assert_str_eq(r.data, want);
		if (order[i] == 2) {
			ck_assert_uint_eq(r.type, FP_ERROR);
			ck_assert_uint_eq(r.arg, FP_ERR_TIMEOUT);
		} else {
			ck_assert_uint_eq(r.type, FP_RESULT);
			ck_assert_uint_eq(r.arg, (uint16_t)order[i]);
		}
		fp_reply_free(&r);
	}
	ck_assert_int_eq(fp_recv(c, &r, 0), 0);
	fp_close(c);
	close(fd);
	fake_end(&f);
}
END_TEST

/*
 * The peer of test_submit_keeps_other: it expects the pipelined SUBMIT 42,
 * then fp_submit's own; answers 42 first, then the other.
 */
static int
peer_submit_keeps_other(int fd)
{
	struct raw	a, b;

	if (get_frame(fd, &a) != 1 || get_frame(fd, &b) != 1)
		return (1);
	if (a.id != 42 || strcmp(a.body, "echoother") != 0)
		return (2);
	if (b.type != FP_SUBMIT || b.arg != 4 || b.id == 42 ||
	    strcmp(b.body, "echomine") != 0)
		return (3);
	if (put_frame(fd, FP_RESULT, 0, 42, "for-42") == -1 ||
	    put_frame(fd, FP_RESULT, 9, b.id, "for-mine") == -1)
		return (4);
	peer_wait_eof(fd);
	return (0);
}

START_TEST(test_submit_keeps_other)
{
	/*
	 * fp_submit uses an id of its own; a reply for another pipelined id
	 * that arrives first is kept, and fp_recv returns it afterwards
	 * without waiting.
	 */
	struct fp_client	*c;
	struct fp_reply		 r;
	struct fake		 f;
	pid_t			 pid;

	fake_listen(&f);
	pid = fake_serve(&f, peer_submit_keeps_other);
	c = connect_ok(&f);
	ck_assert_int_eq(fp_send_submit(c, 42, "echo", "other", 5), 0);
	ck_assert_int_eq(fp_submit(c, "echo", "mine", 4, &r), 0);
	ck_assert_uint_ne(r.id, 42);
	ck_assert_uint_eq(r.type, FP_RESULT);
	ck_assert_uint_eq(r.arg, 9);
	ck_assert_str_eq(r.data, "for-mine");
	fp_reply_free(&r);
	ck_assert_int_eq(fp_recv(c, &r, 0), 1);
	ck_assert_uint_eq(r.id, 42);
	ck_assert_uint_eq(r.type, FP_RESULT);
	ck_assert_str_eq(r.data, "for-42");
	fp_reply_free(&r);
	fp_close(c);
	fake_join(pid);
	fake_end(&f);
}
END_TEST

/*
 * The peer of test_ping_status_keep: answers the PING after an ERROR for
 * task 9, then the STATUS and METRICS.
 */
static int
peer_ping_status(int fd)
{
	struct raw	s, p, st, m;

	if (get_frame(fd, &s) != 1 || s.id != 9)
		return (1);
	if (get_frame(fd, &p) != 1)
		return (2);
	if (p.type != FP_PING || p.len != 0 || p.arg != 0 || p.id == 9)
		return (3);
	if (put_frame(fd, FP_ERROR, FP_ERR_OVERLOADED, 9, "late") == -1 ||
	    put_frame(fd, FP_PONG, 0, p.id, "") == -1)
		return (4);
	if (get_frame(fd, &st) != 1)
		return (5);
	if (st.type != FP_STATUS || st.len != 0 || st.id == p.id ||
	    st.id == 9)
		return (6);
	if (put_frame(fd, FP_STATUS_REPLY, 0, st.id, "{\"pools\":[]}") == -1)
		return (7);
	if (get_frame(fd, &m) != 1 || m.type != FP_METRICS ||
	    m.id == st.id || m.id == p.id)
		return (8);
	if (put_frame(fd, FP_METRICS_REPLY, 0, m.id, "forkpool_up 1\n") == -1)
		return (9);
	peer_wait_eof(fd);
	return (0);
}

START_TEST(test_ping_status_keep)
{
	/*
	 * fp_ping, fp_status and fp_metrics each use an id of their own,
	 * return the body NUL-terminated, and keep a pipelined reply that
	 * came first for fp_recv.
	 */
	struct fp_client	*c;
	struct fp_reply		 r;
	struct fake		 f;
	char			*text;
	pid_t			 pid;

	fake_listen(&f);
	pid = fake_serve(&f, peer_ping_status);
	c = connect_ok(&f);
	ck_assert_int_eq(fp_send_submit(c, 9, "echo", "x", 1), 0);
	ck_assert_int_eq(fp_ping(c), 0);
	ck_assert_int_eq(fp_status(c, &text), 0);
	ck_assert_str_eq(text, "{\"pools\":[]}");
	free(text);
	ck_assert_int_eq(fp_metrics(c, &text), 0);
	ck_assert_str_eq(text, "forkpool_up 1\n");
	free(text);
	ck_assert_int_eq(fp_recv(c, &r, 0), 1);
	ck_assert_uint_eq(r.id, 9);
	ck_assert_uint_eq(r.type, FP_ERROR);
	ck_assert_uint_eq(r.arg, FP_ERR_OVERLOADED);
	ck_assert_str_eq(r.data, "late");
	fp_reply_free(&r);
	fp_close(c);
	fake_join(pid);
	fake_end(&f);
}
END_TEST

/* A peer that reads one request and hangs up without a word. */
static int
peer_hang_up(int fd)
{
	struct raw	frame;

	if (get_frame(fd, &frame) != 1)
		return (1);
	close(fd);
	return (0);
}

START_TEST(test_daemon_closes)
{
	/*
	 * The daemon closing the connection mid-wait is ECLOSED, said in
	 * words, never a hang; the handle then refuses further calls.
	 */
	struct fp_client	*c;
	struct fp_reply		 r;
	struct fake		 f;
	pid_t			 pid;

	fake_listen(&f);
	pid = fake_serve(&f, peer_hang_up);
	c = connect_ok(&f);
	ck_assert_int_eq(fp_submit(c, "echo", "x", 1, &r), -1);
	ck_assert_int_eq(fp_client_err(c), FP_CLIENT_ECLOSED);
	ck_assert_ptr_nonnull(strstr(fp_client_errstr(c), "closed"));
	ck_assert_int_eq(fp_ping(c), -1);
	fp_close(c);
	fake_join(pid);
	fake_end(&f);
}
END_TEST

/* A peer that answers with a frame of protocol version 2. */
static int
peer_bad_version(int fd)
{
	struct raw	frame;

	if (get_frame(fd, &frame) != 1)
		return (1);
	if (put_frame_v(fd, 2, FP_RESULT, 0, frame.id, "x", 1) == -1)
		return (2);
	peer_wait_eof(fd);
	return (0);
}

START_TEST(test_bad_version)
{
	/* A reply whose version is not 1 is EPROTO, and says so. */
	struct fp_client	*c;
	struct fp_reply		 r;
	struct fake		 f;
	pid_t			 pid;

	fake_listen(&f);
	pid = fake_serve(&f, peer_bad_version);
	c = connect_ok(&f);
	ck_assert_int_eq(fp_submit(c, "echo", "x", 1, &r), -1);
	ck_assert_int_eq(fp_client_err(c), FP_CLIENT_EPROTO);
	ck_assert_ptr_nonnull(strstr(fp_client_errstr(c), "version"));
	fp_close(c);
	fake_join(pid);
	fake_end(&f);
}
END_TEST

#define BIG_LEN	(4U * 1024 * 1024)

/*
 * A peer that refuses a request after its header, the way the daemon
 * answers TOO_LARGE: it replies and closes with the body still unread.
 */
static int
peer_refuse_early(int fd)
{
	uint8_t	hdr[FP_HDR_LEN];

	if (read_exact(fd, hdr, sizeof(hdr)) != 1)
		return (1);
	if (put_frame(fd, FP_ERROR, FP_ERR_TOO_LARGE, le_get(hdr + 8, 8),
	    "the request is too large") == -1)
		return (2);
	close(fd);
	return (0);
}

START_TEST(test_reply_after_close)
{
	/*
	 * A daemon that answers and closes while the request is still being
	 * written: the write error does not hide its answer; fp_submit
	 * returns the ERROR, and only the next call reports the close.
	 */
	struct fp_client	*c;
	struct fp_reply		 r;
	struct fake		 f;
	char			*big;
	pid_t			 pid;

	ck_assert_ptr_nonnull(big = calloc(1, BIG_LEN));
	fake_listen(&f);
	pid = fake_serve(&f, peer_refuse_early);
	c = connect_ok(&f);
	ck_assert_int_eq(fp_submit(c, "echo", big, BIG_LEN, &r), 0);
	ck_assert_uint_eq(r.type, FP_ERROR);
	ck_assert_uint_eq(r.arg, FP_ERR_TOO_LARGE);
	ck_assert_str_eq(r.data, "the request is too large");
	fp_reply_free(&r);
	ck_assert_int_eq(fp_ping(c), -1);
	ck_assert_int_eq(fp_client_err(c), FP_CLIENT_ECLOSED);
	fp_close(c);
	fake_join(pid);
	fake_end(&f);
	free(big);
}
END_TEST

/* A peer that echoes one big SUBMIT's payload back as its RESULT. */
static int
peer_echo_big(int fd)
{
	struct raw	frame;

	if (get_frame(fd, &frame) != 1)
		return (1);
	if (frame.len != 4 + BIG_LEN || frame.arg != 4)
		return (2);
	if (put_frame_v(fd, FP_PROTO_VERSION, FP_RESULT, 0, frame.id,
	    frame.body + 4, BIG_LEN) == -1)
		return (3);
	peer_wait_eof(fd);
	return (0);
}

START_TEST(test_big_round_trip)
{
	/*
	 * A request larger than the socket buffer: fp_flush says 1 (more
	 * to write) instead of blocking, and a blocking fp_recv finishes
	 * the write while it reads, returning a 4 MiB reply byte-exact.
	 */
	struct fp_client	*c;
	struct fp_reply		 r;
	struct fake		 f;
	uint8_t			*big;
	size_t			 i;
	pid_t			 pid;
	int			 fd;

	ck_assert_ptr_nonnull(big = malloc(BIG_LEN));
	for (i = 0; i < BIG_LEN; i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	fake_listen(&f);
	c = connect_ok(&f);
	ck_assert_int_ne(fd = fake_accept(&f), -1);
	ck_assert_int_eq(fp_send_submit(c, 1, "echo", big, BIG_LEN), 0);
	ck_assert_int_eq(fp_flush(c), 1);
	ck_assert_uint_gt(fp_pending(c), 0);

	/* Only now does the peer start reading. */
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		/* Our copy of the client's end would hide its close. */
		close(fp_client_fd(c));
		peer_guard();
		_exit(peer_echo_big(fd));
	}
	close(fd);
	ck_assert_int_eq(fp_recv(c, &r, 1), 1);
	ck_assert_uint_eq(fp_pending(c), 0);
	ck_assert_uint_eq(r.id, 1);
	ck_assert_uint_eq(r.type, FP_RESULT);
	ck_assert_uint_eq(r.len, BIG_LEN);
	ck_assert(memcmp(r.data, big, BIG_LEN) == 0);
	fp_reply_free(&r);
	fp_close(c);
	fake_join(pid);
	fake_end(&f);
	free(big);
}
END_TEST

Suite *
client_lib_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("client_lib");
	tc = tcase_create("paths");
	tcase_add_test(tc, test_path_explicit);
	tcase_add_test(tc, test_path_env);
	tcase_add_test(tc, test_path_root);
	tcase_add_test(tc, test_path_user_xdg);
	tcase_add_test(tc, test_path_user_tmp);
	tcase_add_test(tc, test_path_too_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("wire");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_connect_missing);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_usage_pool_name);
	tcase_add_test(tc, test_usage_payload_size);
	tcase_add_test(tc, test_encoding);
	tcase_add_test(tc, test_pipeline_batched);
	tcase_add_test(tc, test_out_of_order);
	tcase_add_test(tc, test_submit_keeps_other);
	tcase_add_test(tc, test_ping_status_keep);
	tcase_add_test(tc, test_daemon_closes);
	tcase_add_test(tc, test_bad_version);
	tcase_add_test(tc, test_big_round_trip);
	tcase_add_test(tc, test_reply_after_close);
	suite_add_tcase(s, tc);
	return (s);
}

/*
 * Issue 14, items 1 and 9, and issue 11's socket search: no socket in a
 * shared directory, a daemon that refuses a directory others could use to
 * replace its socket, a stale socket removed only when it is really stale,
 * and clients (libforkpool, the forkpool command) that check who listens
 * before they send a byte.
 *
 * The tests run as root: they start daemons and fake daemons as other
 * users, and use a private mount namespace with its own /tmp and /run so
 * that the default paths can be tried without touching the machine's.
 */
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool/client.h"
#include "harness.h"
#include "suites.h"

#define WAIT_MS		10000
#define NOBODY		65534
#define OTHER		4343	/* a uid with no other use on the machine */

static const char echo_ini[] =
    "[pool:echo]\n"
    "handler = echo\n"
    "workers = 1\n";

/* A private /tmp and /run for this test process and its children. */
static void
private_dirs(void)
{
	ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s",
	    strerror(errno));
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL),
	    0);
	ck_assert_int_eq(mount("none", "/tmp", "tmpfs", 0, "mode=1777"), 0);
	ck_assert_int_eq(mount("none", "/run", "tmpfs", 0, "mode=0755"), 0);
}

/* A fresh directory with mode and owner. */
static void
make_dir(char *dir, size_t len, mode_t mode, uid_t uid)
{
	snprintf(dir, len, "/tmp/fptrust.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chown(dir, uid, uid), 0);
	ck_assert_int_eq(chmod(dir, mode), 0);
}

/*
 * A fake daemon: a socket at path bound by root, then listened on by a
 * child running as uid (SO_PEERCRED reports who called listen()).  It
 * accepts and holds connections until killed; returns its pid.
 */
static pid_t
fake_as(const char *path, uid_t uid)
{
	struct sockaddr_un	sun;
	pid_t			pid;
	int			fd, p[2], c;
	char			b;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_ne(fd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(chmod(path, 0666), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 || setgid(uid) == -1 ||
		    setuid(uid) == -1 || listen(fd, 16) == -1)
			_exit(1);
		(void)write(p[1], "x", 1);
		for (;;)
			if ((c = accept(fd, NULL, NULL)) == -1 &&
			    errno != EINTR)
				_exit(0);
	}
	close(fd);
	close(p[1]);
	ck_assert_int_eq(read(p[0], &b, 1), 1);
	close(p[0]);
	return (pid);
}

static void
reap(pid_t pid)
{
	int	status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
}

/* fp_connect_trust(path, users): its error code; errstr copied out. */
static int
try_connect(const char *path, const char *users, char *msg, size_t len)
{
	struct fp_client	*c;
	int			 err;

	ck_assert_ptr_nonnull(c = fp_connect_trust(path, users));
	err = fp_client_err(c);
	snprintf(msg, len, "%s", fp_client_errstr(c));
	if (err == FP_CLIENT_OK)
		ck_assert_int_ne(fp_client_fd(c), -1);
	else
		ck_assert_int_eq(fp_client_fd(c), -1);
	fp_close(c);
	return (err);
}

START_TEST(test_peer_untrusted)
{
	/*
	 * Promise (item 1): a client checks SO_PEERCRED before sending
	 * anything; a daemon running as another user, in a directory that
	 * user does not own, is refused with an error naming the uid, the
	 * user, the path and how to trust it; FORKPOOL_TRUST_USER (names or
	 * numbers, comma-separated) and fp_connect_trust() trust it.
	 */
	char	dir[64], path[128], msg[1024];
	pid_t	pid;

	private_dirs();
	make_dir(dir, sizeof(dir), 0755, 0);
	snprintf(path, sizeof(path), "%s/forkpool.sock", dir);
	pid = fake_as(path, NOBODY);
	unsetenv("FORKPOOL_TRUST_USER");
	ck_assert_int_eq(try_connect(path, NULL, msg, sizeof(msg)),
	    FP_CLIENT_EUNTRUSTED);
	ck_assert_msg(strstr(msg, "uid 65534 (nobody)") != NULL &&
	    strstr(msg, path) != NULL &&
	    strstr(msg, "FORKPOOL_TRUST_USER=nobody") != NULL, "%s", msg);
	setenv("FORKPOOL_TRUST_USER", "daemon, 4242", 1);
	ck_assert_int_eq(try_connect(path, "bin", msg, sizeof(msg)),
	    FP_CLIENT_EUNTRUSTED);
	setenv("FORKPOOL_TRUST_USER", "daemon,nobody", 1);
	ck_assert_msg(try_connect(path, NULL, msg, sizeof(msg)) ==
	    FP_CLIENT_OK, "%s", msg);
	unsetenv("FORKPOOL_TRUST_USER");
	ck_assert_msg(try_connect(path, "4242, 65534", msg, sizeof(msg)) ==
	    FP_CLIENT_OK, "%s", msg);
	reap(pid);
}
END_TEST

START_TEST(test_peer_dir_owner)
{
	/*
	 * Promise (item 1): the owner of the socket's directory is trusted
	 * when nobody else can write there (the installed /run/forkpool),
	 * and only then: the same daemon in a directory its group or
	 * everyone can write to is refused.
	 */
	static const mode_t	modes[] = { 0775, 0757, 01777 };
	char			dir[64], path[128], msg[1024];
	pid_t			pid;
	size_t			i;

	private_dirs();
	unsetenv("FORKPOOL_TRUST_USER");
	make_dir(dir, sizeof(dir), 0755, NOBODY);
	snprintf(path, sizeof(path), "%s/forkpool.sock", dir);
	pid = fake_as(path, NOBODY);
	ck_assert_msg(try_connect(path, NULL, msg, sizeof(msg)) ==
	    FP_CLIENT_OK, "%s", msg);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		ck_assert_int_eq(chmod(dir, modes[i]), 0);
		ck_assert_msg(try_connect(path, NULL, msg, sizeof(msg)) ==
		    FP_CLIENT_EUNTRUSTED, "mode %04o: %s", modes[i], msg);
	}
	reap(pid);
}
END_TEST

/* Start forkpoold as uid and insist that it refuses, saying why. */
static void
daemon_refuses(uid_t uid, const char *logpath, const char *const *args,
    const char *why)
{
	int	status;
	pid_t	pid;

	pid = tdaemon_as(uid, -1, logpath, args);
	ck_assert_msg(twait_log_or_exit(pid, logpath, why, &status) == 1,
	    "forkpoold did not say \"%s\"", why);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	    "forkpoold ended with wait status 0x%x, not exit 1", status);
}

/* Write the echo configuration at path, readable by anyone. */
static void
write_conf(const char *path, const char *text)
{
	FILE	*f;

	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	chmod(path, 0644);
}

/* One run's files: a directory, its configuration, socket and log. */
struct trun {
	char	dir[64];
	char	conf[128];
	char	sock[128];
	char	log[128];
};

/* A private /tmp and /run, and a run directory with the configuration. */
static void
trun_init(struct trun *r, mode_t mode, uid_t owner, const char *ini)
{
	private_dirs();
	make_dir(r->dir, sizeof(r->dir), mode, owner);
	snprintf(r->conf, sizeof(r->conf), "%s/forkpool.ini", r->dir);
	snprintf(r->sock, sizeof(r->sock), "%s/forkpool.sock", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/log", r->dir);
	write_conf(r->conf, ini);
}

/* Start forkpoold as uid and wait for it to be ready; its pid. */
static pid_t
daemon_ready(uid_t uid, const char *logpath, const char *const *args)
{
	pid_t	pid;
	int	status = 0;

	pid = tdaemon_as(uid, -1, logpath, args);
	ck_assert_msg(twait_log_or_exit(pid, logpath, "ready:", &status) == 1,
	    "forkpoold as uid %lu did not start: status 0x%x",
	    (unsigned long)uid, status);
	return (pid);
}

/* Run the forkpool command with args; its exit status, stderr in err. */
static int
run_cli(const char *const *args, char *err, size_t len)
{
	const char	*cli = getenv("FORKPOOL");
	char		*argv[16];
	int		 p[2], status, i;
	size_t		 o = 0;
	ssize_t		 n;
	pid_t		 pid;

	ck_assert_ptr_nonnull(cli);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		memcpy(&argv[0], &cli, sizeof(char *));
		for (i = 0; args[i] != NULL && i < 14; i++)
			memcpy(&argv[i + 1], &args[i], sizeof(char *));
		argv[i + 1] = NULL;
		dup2(p[1], STDERR_FILENO);
		if ((i = open("/dev/null", O_WRONLY)) != -1)
			dup2(i, STDOUT_FILENO);
		execv(argv[0], argv);
		_exit(98);
	}
	close(p[1]);
	while ((n = read(p[0], err + o, len - 1 - o)) > 0)
		o += n;
	err[o] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	ck_assert(WIFEXITED(status));
	return (WEXITSTATUS(status));
}

START_TEST(test_cli_refuses_other_user)
{
	/*
	 * Promise (item 1, the attack of the issue): a forkpoold run by
	 * another user in a shared directory (sticky, so the daemon starts,
	 * with a warning) cannot receive the caller's tasks: `forkpool ping`
	 * refuses it (exit 2, the uid named) before sending anything, and
	 * works once the user is trusted with FORKPOOL_TRUST_USER or -T.
	 */
	struct trun	 r;
	const char	*args[] = { "-c", r.conf, "-s", r.sock, NULL };
	const char	*ping[] = { "-s", r.sock, "ping", NULL };
	const char	*ping_t[] = { "-s", r.sock, "-T", "65534", "ping",
			    NULL };
	char		 err[2048];
	pid_t		 pid;

	trun_init(&r, 01777, 0, echo_ini);
	pid = daemon_ready(NOBODY, r.log, args);
	ck_assert(tfile_has(r.log, "can be written by every user"));
	unsetenv("FORKPOOL_TRUST_USER");
	ck_assert_int_eq(run_cli(ping, err, sizeof(err)), 2);
	ck_assert_msg(strstr(err, "uid 65534 (nobody)") != NULL &&
	    strstr(err, "FORKPOOL_TRUST_USER") != NULL, "%s", err);
	setenv("FORKPOOL_TRUST_USER", "nobody", 1);
	ck_assert_msg(run_cli(ping, err, sizeof(err)) == 0, "%s", err);
	unsetenv("FORKPOOL_TRUST_USER");
	ck_assert_msg(run_cli(ping_t, err, sizeof(err)) == 0, "%s", err);
	tdaemon_stop(pid);
}
END_TEST

START_TEST(test_shared_dir_refused)
{
	/*
	 * Promise (item 1): the daemon refuses to create its socket in a
	 * directory anyone can write to without the sticky bit, and says
	 * why; a group-writable one is used with a warning.
	 */
	struct trun	 r;
	const char	*args[] = { "-c", r.conf, "-s", r.sock, NULL };
	pid_t		 pid;

	trun_init(&r, 0755, 0, echo_ini);
	ck_assert_int_eq(mkdir("/tmp/shared", 0777), 0);
	ck_assert_int_eq(chmod("/tmp/shared", 0777), 0);
	snprintf(r.sock, sizeof(r.sock), "/tmp/shared/forkpool.sock");
	daemon_refuses(0, r.log, args, "refusing to create the socket in "
	    "/tmp/shared: anyone can write to that directory (mode 0777, no "
	    "sticky bit)");
	ck_assert_int_eq(access(r.sock, F_OK), -1);

	ck_assert_int_eq(chmod("/tmp/shared", 0770), 0);
	pid = daemon_ready(0, r.log, args);
	ck_assert(tfile_has(r.log, "can be written by its group (mode 0770)"));
	tdaemon_stop(pid);
}
END_TEST

START_TEST(test_default_socket_user)
{
	/*
	 * Promise (item 1, socket_rule.md): a user's daemon with no socket
	 * named and no XDG_RUNTIME_DIR listens on
	 * /tmp/forkpool-UID/forkpool.sock in a directory it creates 0700;
	 * a directory already there that another user owns, that is a
	 * symbolic link, or that others may enter makes it refuse to start
	 * and say why.
	 */
	struct trun	 r;
	const char	*args[] = { "-c", r.conf, NULL };
	struct stat	 st;
	char		 msg[1024];
	pid_t		 pid;

	trun_init(&r, 0755, 0, echo_ini);
	pid = daemon_ready(OTHER, r.log, args);
	ck_assert_int_eq(lstat("/tmp/forkpool-4343", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_uid, OTHER);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert(tfile_has(r.log, "listening on /tmp/forkpool-4343/"
	    "forkpool.sock"));
	/* Root trusts the owner of a directory only it can write. */
	ck_assert_msg(try_connect("/tmp/forkpool-4343/forkpool.sock", NULL,
	    msg, sizeof(msg)) == FP_CLIENT_OK, "%s", msg);
	tdaemon_stop(pid);

	ck_assert_int_eq(chown("/tmp/forkpool-4343", NOBODY, NOBODY), 0);
	daemon_refuses(OTHER, r.log, args, "refusing to use "
	    "/tmp/forkpool-4343 for the socket: it is a directory owned by "
	    "uid 65534 with mode 0700");
	ck_assert_int_eq(chown("/tmp/forkpool-4343", OTHER, OTHER), 0);
	ck_assert_int_eq(chmod("/tmp/forkpool-4343", 0711), 0);
	daemon_refuses(OTHER, r.log, args, "it is a directory owned by uid "
	    "4343 with mode 0711");
	ck_assert_int_eq(rmdir("/tmp/forkpool-4343"), 0);
	ck_assert_int_eq(mkdir("/tmp/elsewhere", 0700), 0);
	ck_assert_int_eq(chown("/tmp/elsewhere", OTHER, OTHER), 0);
	ck_assert_int_eq(symlink("/tmp/elsewhere", "/tmp/forkpool-4343"), 0);
	daemon_refuses(OTHER, r.log, args, "it is a symbolic link");
}
END_TEST

START_TEST(test_default_socket_root)
{
	/*
	 * Promise (issue 11, socket_rule.md): bare forkpoold as root creates
	 * /run/forkpool (0755) and listens there; a client with no socket
	 * named finds it, as root and as a user with no per-user socket.
	 */
	struct trun	 r;
	const char	*args[] = { "-c", r.conf, NULL };
	struct fp_client *c;
	struct stat	 st;
	char		 msg[1024];
	pid_t		 pid, child;
	int		 status;

	trun_init(&r, 0755, 0, "[daemon]\nsocket_mode = 0666\n"
	    "[pool:echo]\nhandler = echo\nworkers = 1\n");
	pid = daemon_ready(0, r.log, args);
	ck_assert_int_eq(stat("/run/forkpool", &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0755);
	unsetenv("FORKPOOL_SOCKET");
	ck_assert_ptr_nonnull(c = fp_connect(NULL));
	ck_assert_msg(fp_client_err(c) == FP_CLIENT_OK, "%s",
	    fp_client_errstr(c));
	ck_assert_str_eq(fp_client_path(c), "/run/forkpool/forkpool.sock");
	ck_assert_int_eq(fp_ping(c), 0);
	fp_close(c);

	ck_assert_int_ne(child = fork(), -1);
	if (child == 0) {
		unsetenv("XDG_RUNTIME_DIR");
		if (setgroups(0, NULL) == -1 || setgid(OTHER) == -1 ||
		    setuid(OTHER) == -1)
			_exit(10);
		if ((c = fp_connect(NULL)) == NULL || fp_client_err(c) != 0)
			_exit(11);
		_exit(fp_ping(c) == 0 ? 0 : 12);
	}
	while (waitpid(child, &status, 0) == -1 && errno == EINTR)
		;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "a user's client failed: status 0x%x", status);
	tdaemon_stop(pid);

	/* Nothing there: the error names both places and what to do. */
	ck_assert_int_ne(child = fork(), -1);
	if (child == 0) {
		unsetenv("XDG_RUNTIME_DIR");
		if (setuid(OTHER) == -1)
			_exit(10);
		c = fp_connect(NULL);
		snprintf(msg, sizeof(msg), "%s", fp_client_errstr(c));
		_exit(strstr(msg, "tried /tmp/forkpool-4343/forkpool.sock and "
		    "/run/forkpool/forkpool.sock") != NULL &&
		    strstr(msg, "start it, or set FORKPOOL_SOCKET") != NULL ?
		    0 : 13);
	}
	while (waitpid(child, &status, 0) == -1 && errno == EINTR)
		;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the not-found message: status 0x%x", status);
}
END_TEST

START_TEST(test_stale_only_refused)
{
	/*
	 * Promise (item 9): only ECONNREFUSED makes a socket stale.  With
	 * socket_mode = 0400 a second forkpoold of the same user cannot
	 * connect (EACCES): it refuses to start and the first keeps its
	 * socket and serves; a socket nobody listens on is replaced.
	 */
	struct trun	 r;
	const char	*args[] = { "-c", r.conf, "-s", r.sock, NULL };
	char		 msg[1024], log2[160];
	pid_t		 pid;
	int		 status;

	trun_init(&r, 0700, OTHER, "[daemon]\nsocket_mode = 0400\n"
	    "[pool:echo]\nhandler = echo\nworkers = 1\n");
	snprintf(log2, sizeof(log2), "%s/log2", r.dir);
	pid = daemon_ready(OTHER, r.log, args);
	daemon_refuses(OTHER, log2, args, "cannot tell whether a daemon "
	    "listens on");
	ck_assert(tfile_has(log2, "Permission denied"));
	/* Root may connect whatever the mode: the first still serves. */
	ck_assert_msg(try_connect(r.sock, NULL, msg, sizeof(msg)) ==
	    FP_CLIENT_OK, "%s", msg);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	ck_assert_int_eq(access(r.sock, F_OK), 0);	/* left behind */
	/* Still 0400, it stays unprovable; one that refuses is stale. */
	daemon_refuses(OTHER, log2, args, "cannot tell whether a daemon "
	    "listens on");
	ck_assert_int_eq(chmod(r.sock, 0600), 0);
	pid = daemon_ready(OTHER, log2, args);
	ck_assert(tfile_has(log2, "removing stale socket"));
	tdaemon_stop(pid);
}
END_TEST

START_TEST(test_allow_users_narrowed)
{
	/*
	 * Promise (item 12): a reload that narrows allow_users closes the
	 * connections of users no longer allowed: FORBIDDEN id 0, then end
	 * of file; the users still allowed keep theirs.
	 */
	struct trun	 r;
	const char	*args[] = { "-c", r.conf, "-s", r.sock, NULL };
	char		*text;
	pid_t		 pid;
	int		 fd_other, fd_root;

	trun_init(&r, 0755, 0, "[daemon]\nallow_users = root 4343\n"
	    "socket_mode = 0666\n[pool:echo]\nhandler = echo\nworkers = 1\n");
	pid = daemon_ready(0, r.log, args);
	ck_assert_int_eq(seteuid(OTHER), 0);
	fd_other = tconnect(r.sock);
	ck_assert_int_eq(seteuid(0), 0);
	fd_root = tconnect(r.sock);
	tping(fd_other, 1);
	tping(fd_root, 1);
	write_conf(r.conf, "[daemon]\nallow_users = root\n"
	    "socket_mode = 0666\n[pool:echo]\nhandler = echo\nworkers = 1\n");
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	text = texpect(fd_other, FP_ERROR, FP_ERR_FORBIDDEN, 0, WAIT_MS);
	ck_assert_msg(strstr(text, "4343") != NULL, "%s", text);
	free(text);
	texpect_eof(fd_other, WAIT_MS);
	tping(fd_root, 2);
	close(fd_other);
	close(fd_root);
	tdaemon_stop(pid);
}
END_TEST

Suite *
trust_suite(void)
{
	Suite	*s = suite_create("trust");
	TCase	*tc;

	tc = tcase_create("peer");
	tcase_add_test(tc, test_peer_untrusted);
	tcase_add_test(tc, test_peer_dir_owner);
	tcase_add_test(tc, test_cli_refuses_other_user);
	suite_add_tcase(s, tc);
	tc = tcase_create("socket");
	tcase_add_test(tc, test_shared_dir_refused);
	tcase_add_test(tc, test_default_socket_user);
	tcase_add_test(tc, test_default_socket_root);
	tcase_add_test(tc, test_stale_only_refused);
	tcase_add_test(tc, test_allow_users_narrowed);
	suite_add_tcase(s, tc);
	return (s);
}

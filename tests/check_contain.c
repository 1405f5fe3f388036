/*
 * Issue 14, the worker side: workers detached from the master's terminal
 * with their output captured (item 2), cancelled prefetched tasks not run
 * (item 4), a closed channel is a dead worker (item 7), nothing a worker
 * spawned outlives it (item 10), and a minimal environment (item 12).
 * Each test's first comment names the promise it proves.
 *
 * The tests run as root: they give the daemon a terminal, run workers as
 * nobody, and read the workers' /proc files.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool/proto.h"
#include "harness.h"
#include "suites.h"

#define WAIT_MS		10000
#define NOBODY		65534

/* Session id and terminal (tty_nr) of pid, from /proc/PID/stat. */
static void
proc_session(pid_t pid, long *sid, long *tty)
{
	char	*stat, *p;

	stat = tproc_file(pid, "stat");
	ck_assert_ptr_nonnull(p = strrchr(stat, ')'));
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %ld %ld", sid, tty), 2);
	free(stat);
}

static const char *
test_dir(const char *var, const char *dflt)
{
	const char	*d = getenv(var);

	return (d != NULL ? d : dflt);
}

START_TEST(test_no_terminal)
{
	/*
	 * Promise (item 2): with the daemon run by root from a terminal,
	 * no worker can reach that terminal: each is in a session of its
	 * own with no controlling terminal and /dev/null on stdin, module
	 * workers' stdout is a pipe to the daemon's log, and TIOCSTI on
	 * stdout or /dev/tty fails; nothing reaches the terminal.
	 */
	char		 dir[64], conf[128], sock[128], logp[128], ini[512];
	char		 buf[64], link[64], *text;
	const char	*args[] = { "-c", conf, "-s", sock, NULL };
	struct pollfd	 pfd;
	long		 sid, tty;
	pid_t		 pid, wm, wp;
	int		 ptm, pts, fd, status;
	ssize_t		 n;

	snprintf(dir, sizeof(dir), "/tmp/fptty.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/forkpool.ini", dir);
	snprintf(sock, sizeof(sock), "%s/forkpool.sock", dir);
	snprintf(logp, sizeof(logp), "%s/log", dir);
	snprintf(ini, sizeof(ini), "[pool:m]\nmodule = %s/faulty.so\n"
	    "workers = 1\nuser = nobody\n[pool:p]\ncommand = %s/cupper\n"
	    "workers = 1\nuser = nobody\n",
	    test_dir("FORKPOOL_TEST_MODULE_DIR", "build/tests/modules"),
	    tprogram_dir());
	ck_assert_int_ne(fd = open(conf, O_WRONLY | O_CREAT, 0644), -1);
	ck_assert_int_eq(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
	close(fd);

	ck_assert_int_ne(ptm = posix_openpt(O_RDWR | O_NOCTTY), -1);
	ck_assert_int_eq(grantpt(ptm), 0);
	ck_assert_int_eq(unlockpt(ptm), 0);
	ck_assert_int_ne(pts = open(ptsname(ptm), O_RDWR | O_NOCTTY), -1);
	pid = tdaemon_as(0, pts, logp, args);
	close(pts);
	ck_assert_msg(twait_log_or_exit(pid, logp, "ready:", &status) == 1,
	    "status 0x%x", status);
	proc_session(pid, &sid, &tty);
	ck_assert_msg(tty != 0, "the daemon has no terminal");

	fd = tconnect(sock);
	wm = trun_pid(fd, 1, "m", "pid");
	wp = trun_pid(fd, 2, "p", "pid");
	text = tsubmit_ok(fd, 3, "m", "tty");
	ck_assert_msg(strcmp(text, "sti=ENOTTY tty=ENXIO") == 0, "%s", text);
	free(text);
	proc_session(wm, &sid, &tty);
	ck_assert_int_eq(sid, wm);
	ck_assert_int_eq(tty, 0);
	proc_session(wp, &sid, &tty);
	ck_assert_int_eq(sid, wp);
	ck_assert_int_eq(tty, 0);
	snprintf(buf, sizeof(buf), "/proc/%ld/fd/0", (long)wm);
	ck_assert_int_gt(n = readlink(buf, link, sizeof(link) - 1), 0);
	link[n] = '\0';
	ck_assert_str_eq(link, "/dev/null");
	snprintf(buf, sizeof(buf), "/proc/%ld/fd/1", (long)wm);
	ck_assert_int_gt(n = readlink(buf, link, sizeof(link) - 1), 0);
	link[n] = '\0';
	ck_assert_msg(strncmp(link, "pipe:", 5) == 0, "stdout is %s", link);
	/* Nothing was pushed into the terminal's input. */
	pfd.fd = ptm;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	close(fd);
	tdaemon_stop(pid);
	close(ptm);
}
END_TEST

START_TEST(test_module_output_logged)
{
	/*
	 * Promise (item 2): a module worker's stdout and stderr are
	 * captured like a program's: each line logged with the pool and the
	 * worker's pid, so it cannot pass for a line of the daemon's, and a
	 * line over 1 KiB is cut there.
	 */
	struct fpd	*d;
	char		 want[128], *text, *log, *p, *end;
	pid_t		 w;
	int		 fd;

	d = fpd_start("[pool:m]\nmodule = @T/faulty.so\nworkers = 1\n");
	fd = tconnect(d->sock);
	w = trun_pid(fd, 1, "m", "pid");
	free(tsubmit_ok(fd, 2, "m", "say:forkpoold: fake line"));
	snprintf(want, sizeof(want), "pool m: worker %ld: forkpoold: fake "
	    "line", (long)w);
	ck_assert_int_eq(fpd_wait_log(d, want, WAIT_MS), 0);
	snprintf(want, sizeof(want), "pool m: worker %ld: err:forkpoold: "
	    "fake line", (long)w);
	ck_assert_int_eq(fpd_wait_log(d, want, WAIT_MS), 0);
	text = tsubmit_ok(fd, 3, "m", "long:5000");
	free(text);
	snprintf(want, sizeof(want), "pool m: worker %ld: yyyy", (long)w);
	ck_assert_int_eq(fpd_wait_log(d, want, WAIT_MS), 0);
	log = fpd_log(d);
	p = strstr(log, want) + strlen(want) - 4;
	end = strchr(p, '\n');
	ck_assert_ptr_nonnull(end);
	ck_assert_int_eq(end - p, 1024);
	free(log);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

/* forkpoold -t on ini ("@T" expanded): its exit status, output in out. */
static int
run_t(const char *ini, char *out, size_t len)
{
	const char	*args[] = { "-t", NULL };
	struct fpd	*d;
	char		*log;
	int		 st;

	d = fpd_spawn(ini, args);
	st = fpd_wait_exit(d, WAIT_MS);
	log = fpd_log(d);
	snprintf(out, len, "%s", log);
	free(log);
	fpd_stop(d);
	return (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

START_TEST(test_not_dumpable)
{
	/*
	 * Promise (item 2): module workers are not dumpable, so another
	 * pool's workers running as the same user can neither ptrace them
	 * nor read their memory (their /proc files belong to root); a pool
	 * that keeps core files stays dumpable, and forkpoold -t warns
	 * about pools sharing a user that this cannot separate.
	 */
	struct fpd	*d;
	struct stat	 st;
	char		 path[64], out[2048];
	pid_t		 a, b;
	int		 fd;

	d = fpd_start("[pool:a]\nmodule = @T/faulty.so\nworkers = 1\n"
	    "user = nobody\n"
	    "[pool:b]\nmodule = @T/faulty.so\nworkers = 1\nuser = nobody\n"
	    "rlimit_core = 1M\n");
	fd = tconnect(d->sock);
	a = trun_pid(fd, 1, "a", "pid");
	b = trun_pid(fd, 2, "b", "pid");
	snprintf(path, sizeof(path), "/proc/%ld/mem", (long)a);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	snprintf(path, sizeof(path), "/proc/%ld/mem", (long)b);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, NOBODY);
	close(fd);
	fpd_stop_ok(d);
	ck_assert_int_eq(run_t("[pool:a]\nmodule = @T/faulty.so\n"
	    "user = nobody\n[pool:b]\ncommand = /bin/true\nuser = nobody\n",
	    out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "warning: pools a and b both run as uid "
	    "65534") != NULL, "%s", out);
	ck_assert_int_eq(run_t("[pool:a]\nmodule = @T/faulty.so\n"
	    "user = nobody\n[pool:b]\nmodule = @T/faulty.so\nuser = nobody\n",
	    out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "warning: pools") == NULL, "%s", out);
}
END_TEST

/* Lines in a file (0 when it does not exist). */
static int
file_lines(const char *path)
{
	char	buf[4096];
	ssize_t	n, i;
	int	fd, lines = 0;

	if ((fd = open(path, O_RDONLY)) == -1)
		return (0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return (lines);
}

/*
 * Four tasks at once to a pool of one worker with prefetch 4: a slow one,
 * then three that append to a file.  Once the queue is empty (all four
 * handed to the worker), the second and fourth are cancelled.
 */
static void
cancel_prefetched(struct fpd *d, const char *pool, const char *slow)
{
	struct fp_hdr	 hdr;
	char		 mark[300], file[280], *body;
	int		 fd, i, got[5] = { 0 };

	snprintf(file, sizeof(file), "%s/marks-%s", d->dir, pool);
	snprintf(mark, sizeof(mark), "mark:%s", file);
	fd = tconnect(d->sock);
	tsend_submit(fd, 1, pool, slow, strlen(slow));
	for (i = 2; i <= 4; i++)
		tsend_submit(fd, i, pool, mark, strlen(mark));
	twait_pool_int(d->sock, pool, "queued", 0, WAIT_MS);
	tsend(fd, FP_CANCEL, 0, 2, NULL, 0);
	tsend(fd, FP_CANCEL, 0, 4, NULL, 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(trecv(fd, &hdr, &body, WAIT_MS), 1);
		ck_assert(hdr.id >= 1 && hdr.id <= 4 && !got[hdr.id]);
		got[hdr.id] = 1;
		if (hdr.id == 2 || hdr.id == 4)
			ck_assert_msg(hdr.type == FP_ERROR &&
			    hdr.arg == FP_ERR_CANCELLED, "id %llu: 0x%x %u %s",
			    (unsigned long long)hdr.id, hdr.type, hdr.arg,
			    body);
		else
			ck_assert_msg(hdr.type == FP_RESULT && hdr.arg == 0,
			    "id %llu: 0x%x %u %s", (unsigned long long)hdr.id,
			    hdr.type, hdr.arg, body);
		free(body);
	}
	/* Nothing more for this connection, and the worker goes on. */
	tping(fd, 5);
	free(tsubmit_ok(fd, 6, pool, mark));
	ck_assert_int_eq(file_lines(file), 2);
	close(fd);
}

START_TEST(test_cancel_prefetched_not_run)
{
	/*
	 * Promise (item 4): "cancelled means not run": a task handed to a
	 * worker behind the one it runs (prefetch 4), then cancelled, is
	 * answered CANCELLED once and its side effect never happens, in a
	 * module worker and in a C program worker (fp_worker_serve); the
	 * others run, nothing is answered twice, the worker serves on.
	 */
	struct fpd	*d;
	char		 ini[512];

	snprintf(ini, sizeof(ini), "[pool:m]\nmodule = @T/faulty.so\n"
	    "workers = 1\nprefetch = 4\n"
	    "[pool:p]\ncommand = %s/cupper\nworkers = 1\nprefetch = 4\n",
	    tprogram_dir());
	d = fpd_start(ini);
	cancel_prefetched(d, "m", "sleep:300");
	cancel_prefetched(d, "p", "sleep:300");
	ck_assert_int_eq(tpool_int(d->sock, "m", "crashes"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "p", "crashes"), 0);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_closed_channel_is_dead)
{
	/*
	 * Promise (item 7): a worker that closes its channel and stays alive
	 * is killed (its group too) and its task answered WORKER_CRASHED,
	 * even with task_timeout = 0; a new worker takes its place.
	 */
	struct fpd	*d;
	char		*text;
	pid_t		 w, w2;
	int		 fd;

	d = fpd_start("[pool:m]\nmodule = @T/faulty.so\nworkers = 1\n"
	    "task_timeout = 0\n");
	fd = tconnect(d->sock);
	w = trun_pid(fd, 1, "m", "pid");
	tsend_submit(fd, 2, "m", "close", 5);
	text = texpect(fd, FP_ERROR, FP_ERR_WORKER_CRASHED, 2, WAIT_MS);
	ck_assert_msg(strstr(text, "closed its channel") != NULL, "%s", text);
	free(text);
	ck_assert_int_eq(twait_pid_gone(w, WAIT_MS), 0);
	w2 = trun_pid(fd, 3, "m", "pid");
	ck_assert_int_ne(w2, w);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_grandchildren_killed)
{
	/*
	 * Promise (item 10): what a worker spawned dies with it: its group
	 * after a crash, at recycle (max_tasks) and at stop, and a
	 * descendant that left the group (setsid after a fork) too, the
	 * master being a child subreaper.
	 */
	struct fpd	*d;
	char		*text;
	pid_t		 g[6];
	int		 fd, i;

	d = fpd_start("[pool:m]\nmodule = @T/faulty.so\nworkers = 1\n"
	    "[pool:r]\nmodule = @T/faulty.so\nworkers = 1\nmax_tasks = 2\n");
	fd = tconnect(d->sock);
	g[0] = trun_pid(fd, 1, "m", "spawn");
	g[1] = trun_pid(fd, 2, "m", "escape");
	ck_assert_int_eq(kill(g[0], 0), 0);
	ck_assert_int_eq(kill(g[1], 0), 0);
	tsend_submit(fd, 3, "m", "segv", 4);
	text = texpect(fd, FP_ERROR, FP_ERR_WORKER_CRASHED, 3, WAIT_MS);
	free(text);
	ck_assert_int_eq(twait_pid_gone(g[0], WAIT_MS), 0);
	ck_assert_int_eq(twait_pid_gone(g[1], WAIT_MS), 0);

	/* Recycled after its second task: the worker leaves once idle. */
	g[2] = trun_pid(fd, 4, "r", "spawn");
	g[3] = trun_pid(fd, 5, "r", "escape");
	ck_assert_int_eq(twait_pid_gone(g[2], WAIT_MS), 0);
	ck_assert_int_eq(twait_pid_gone(g[3], WAIT_MS), 0);

	g[4] = trun_pid(fd, 6, "m", "spawn");
	g[5] = trun_pid(fd, 7, "m", "escape");
	close(fd);
	fpd_stop_ok(d);
	for (i = 4; i < 6; i++)
		ck_assert_int_eq(twait_pid_gone(g[i], WAIT_MS), 0);
}
END_TEST

START_TEST(test_minimal_environment)
{
	/*
	 * Promise (item 12): workers do not inherit the daemon's
	 * environment (a secret set for the daemon reaches none): module
	 * and program workers get PATH, LANG, HOME of their user, the
	 * FORKPOOL_* variables, then the pool's env (and a program's
	 * command_env), in getenv() and in /proc/PID/environ alike.
	 */
	struct fpd	*d;
	char		 ini[512], *text;
	pid_t		 w;
	int		 fd;

	setenv("SECRET_TOKEN", "hunter2", 1);
	setenv("LANG", "C.UTF-8", 1);
	snprintf(ini, sizeof(ini), "[pool:m]\nmodule = @T/faulty.so\n"
	    "workers = 1\nuser = nobody\nenv = A=1 \"B=two words\"\n"
	    "[pool:p]\ncommand = %s/cupper\nworkers = 1\nenv = A=1\n"
	    "command_env = C=3\n",
	    tprogram_dir());
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	text = tsubmit_ok(fd, 1, "m", "env");
	ck_assert_msg(strstr(text, "SECRET") == NULL &&
	    strstr(text, "PATH=") != NULL &&
	    strstr(text, "LANG=C.UTF-8\n") != NULL &&
	    strstr(text, "HOME=/nonexistent\n") != NULL &&
	    strstr(text, "A=1\n") != NULL &&
	    strstr(text, "B=two words\n") != NULL, "%s", text);
	free(text);
	w = trun_pid(fd, 2, "p", "pid");
	text = tproc_file(w, "environ");
	ck_assert_msg(strstr(text, "SECRET") == NULL &&
	    strstr(text, "PATH=") != NULL &&
	    strstr(text, "HOME=/root\n") != NULL &&
	    strstr(text, "A=1\n") != NULL && strstr(text, "C=3\n") != NULL &&
	    strstr(text, "FORKPOOL_FD=3\n") != NULL, "%s", text);
	free(text);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

#define PAYLOAD_INI							\
	"[daemon]\nmax_payload = %s\n"					\
	"[pool:m]\nmodule = @T/faulty.so\nworkers = 2\n"		\
	"quarantine_after = 1\n"						\
	"[pool:p]\ncommand = %s/cupper\nworkers = 1\n"

START_TEST(test_reload_max_payload)
{
	/*
	 * Promise (item 6): a reload that raises max_payload reaches the
	 * workers: a task over the old limit is served by module and
	 * program workers alike, none crashes, nothing is quarantined, and
	 * the workers forked with the old limit were replaced.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*big, *body, ini[512];
	const char	*progs = tprogram_dir();
	size_t		 len = 2 << 20;
	pid_t		 old;
	int		 fd;

	snprintf(ini, sizeof(ini), PAYLOAD_INI, "1M", progs);
	d = fpd_start(ini);
	fd = tconnect(d->sock);
	old = trun_pid(fd, 1, "m", "pid");
	ck_assert_ptr_nonnull(big = malloc(len));
	memset(big, 'a', len);
	tsend_submit(fd, 2, "m", big, len);
	free(texpect(fd, FP_ERROR, FP_ERR_TOO_LARGE, 2, WAIT_MS));
	close(fd);

	snprintf(ini, sizeof(ini), PAYLOAD_INI, "4M", progs);
	fpd_rewrite(d, ini);
	ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
	ck_assert_int_eq(fpd_wait_log(d, "max_payload changed", WAIT_MS), 0);
	fd = tconnect(d->sock);
	tsubmit(fd, 3, "m", big, len, &hdr, &body);
	ck_assert_msg(hdr.type == FP_RESULT && hdr.len == len, "0x%x %u %s",
	    hdr.type, hdr.arg, hdr.type == FP_ERROR ? body : "");
	free(body);
	tsubmit(fd, 4, "p", big, len, &hdr, &body);
	ck_assert_msg(hdr.type == FP_RESULT && hdr.len == len &&
	    body[0] == 'A', "0x%x %u", hdr.type, hdr.arg);
	free(body);
	ck_assert_int_eq(twait_pid_gone(old, WAIT_MS), 0);
	ck_assert_int_eq(tpool_int(d->sock, "m", "crashes"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "m", "quarantined"), 0);
	ck_assert_int_eq(tpool_int(d->sock, "p", "crashes"), 0);
	free(big);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_stall_then_result)
{
	/*
	 * Promise (item 5): a timer that fires after a stall of the master
	 * (SIGSTOP) first reads what the worker sent: a task that ended in
	 * time is answered with its result, not TIMEOUT, and its worker
	 * lives.
	 */
	struct fpd	*d;
	char		*text;
	pid_t		 w;
	int		 fd, i;

	d = fpd_start("[pool:m]\nmodule = @T/faulty.so\nworkers = 1\n"
	    "task_timeout = 400ms\n");
	fd = tconnect(d->sock);
	w = trun_pid(fd, 1, "m", "pid");
	for (i = 0; i < 3; i++) {
		tsend_submit(fd, 10 + i, "m", "sleep:50", 8);
		ck_assert_int_eq(kill(d->pid, SIGSTOP), 0);
		/* The stall itself: the master sleeps past task_timeout. */
		poll(NULL, 0, 800);
		ck_assert_int_eq(kill(d->pid, SIGCONT), 0);
		text = texpect(fd, FP_RESULT, 0, 10 + i, WAIT_MS);
		ck_assert_str_eq(text, "slept");
		free(text);
	}
	ck_assert_int_eq(trun_pid(fd, 20, "m", "pid"), w);
	ck_assert_int_eq(tpool_int(d->sock, "m", "timeouts"), 0);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_start_short_of_descriptors)
{
	/*
	 * Promise (item 3): at start, a pool that cannot spawn all its
	 * workers (70 under a limit of 64 descriptors) is fatal after
	 * start_timeout with the reason, not a daemon that neither serves
	 * nor exits.
	 */
	struct rlimit	 rl = { 64, 64 };
	struct fpd	*d;
	int		 st;

	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	d = fpd_spawn("[pool:m]\nhandler = echo\nworkers = 70\n"
	    "start_timeout = 2s\n", NULL);
	st = fpd_wait_exit(d, WAIT_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "status 0x%x",
	    st);
	ck_assert_int_eq(fpd_log_count(d, "within start_timeout (2.000 s)"),
	    1);
	ck_assert_int_ge(fpd_log_count(d, "Too many open files"), 1);
	fpd_stop(d);
}
END_TEST

START_TEST(test_respawn_short_of_descriptors)
{
	/*
	 * Promise (item 3): with the master out of descriptors (clients
	 * took them all), a crashed worker is still replaced, from the
	 * descriptors kept in reserve; the next task is served and STATUS
	 * shows no worker missing.
	 */
	struct rlimit	 rl;
	struct fpd	*d;
	char		 path[64];
	int		 fd, extra[64], i, n = 0;
	pid_t		 w, w2;
	DIR		*dir;
	struct dirent	*de;

	d = fpd_start("[pool:m]\nmodule = @T/faulty.so\nworkers = 1\n");
	fd = tconnect(d->sock);
	w = trun_pid(fd, 1, "m", "pid");
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)d->pid);
	ck_assert_ptr_nonnull(dir = opendir(path));
	while ((de = readdir(dir)) != NULL)
		n += de->d_name[0] != '.';
	closedir(dir);
	/* A few descriptors to spare, then clients take them. */
	rl.rlim_cur = rl.rlim_max = n + 4;
	ck_assert_int_eq(prlimit(d->pid, RLIMIT_NOFILE, &rl, NULL), 0);
	for (i = 0; i < 16; i++)
		extra[i] = tconnect(d->sock);
	ck_assert_int_eq(fpd_wait_log(d, "accept: Too many open files",
	    WAIT_MS), 0);
	tsend_submit(fd, 2, "m", "segv", 4);
	free(texpect(fd, FP_ERROR, FP_ERR_WORKER_CRASHED, 2, WAIT_MS));
	w2 = trun_pid(fd, 3, "m", "pid");
	ck_assert_int_ne(w2, w);
	ck_assert_int_ge(fpd_log_count(d, "using the reserve"), 1);
	/* STATUS takes a connection of its own: make room first. */
	for (i = 0; i < 16; i++)
		close(extra[i]);
	ck_assert_int_eq(tpool_int(d->sock, "m", "missing"), 0);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

Suite *
contain_suite(void)
{
	Suite	*s = suite_create("contain");
	TCase	*tc;

	tc = tcase_create("terminal");
	tcase_add_test(tc, test_no_terminal);
	tcase_add_test(tc, test_module_output_logged);
	tcase_add_test(tc, test_not_dumpable);
	suite_add_tcase(s, tc);
	tc = tcase_create("faults");
	tcase_add_test(tc, test_cancel_prefetched_not_run);
	tcase_add_test(tc, test_closed_channel_is_dead);
	tcase_add_test(tc, test_grandchildren_killed);
	tcase_add_test(tc, test_minimal_environment);
	tcase_add_test(tc, test_reload_max_payload);
	tcase_add_test(tc, test_stall_then_result);
	suite_add_tcase(s, tc);
	tc = tcase_create("spawn");
	tcase_add_test(tc, test_start_short_of_descriptors);
	tcase_add_test(tc, test_respawn_short_of_descriptors);
	suite_add_tcase(s, tc);
	return (s);
}

/*
 * What a forked worker does before it serves: reset what it inherited
 * from the master, contain itself, then exec the pool's program or run
 * the module's worker_init and the worker loop (lib/wloop.c).  Plain
 * blocking I/O and no libevent call, ever: the master's event_base is not
 * ours to touch after fork.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "wloop.h"

/* Set-up failed: tell the master why, and leave as a failed start. */
static __attribute__((noreturn)) void
child_fail(const char *why)
{
	(void)fp_wloop_say(CHILD_CHANNEL_FD, FP_ERROR, FP_ERR_INTERNAL, why);
	_exit(CHILD_EXIT_INIT_FAILED);
}

/*
 * Undo what the master set up that a worker must not keep.  The channel
 * ends up on descriptor 3; out_fd, when not -1, becomes stdout and stderr.
 */
static void
child_reset(int fd, pid_t master_pid, int out_fd)
{
	sigset_t	mask;
	int		sig, null;

	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&mask);
	sigprocmask(SIG_SETMASK, &mask, NULL);

	/*
	 * Its own session, so no controlling terminal of the master's can
	 * be reached (TIOCSTI, /dev/tty), and its own process group, so a
	 * kill of the group reaches what it spawned.
	 */
	if (setsid() == -1)
		_exit(1);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != master_pid)	/* the master died before prctl */
		_exit(1);

	if (fd != CHILD_CHANNEL_FD) {
		if (dup2(fd, CHILD_CHANNEL_FD) == -1)
			_exit(1);
		close(fd);
	}
	if ((null = open("/dev/null", O_RDONLY)) != -1) {
		dup2(null, STDIN_FILENO);
		if (null != STDIN_FILENO)
			close(null);
	}
	if (out_fd != -1) {
		dup2(out_fd, STDOUT_FILENO);
		dup2(out_fd, STDERR_FILENO);
	}
	/* Nothing of the master's: no listener, clients or other channels. */
	close_range(CHILD_CHANNEL_FD + 1, ~0U, 0);
}

/* ASAN_OPTIONS and the like: how a sanitized build reports, no secret. */
static int
child_sanitizer_var(const char *var)
{
	const char	*eq = strchr(var, '=');

	return (eq != NULL && eq - var > 11 &&
	    strncmp(eq - 11, "SAN_OPTIONS", 11) == 0);
}

/*
 * A worker's environment is not the daemon's, which may hold secrets:
 * PATH, LANG and HOME (of the worker's user), the daemon's FORKPOOL_*
 * variables, then the pool's env = pairs.  Program workers add theirs
 * (command_env, FORKPOOL_FD, ...) on top.
 */
static void
child_environ(struct worker *w)
{
	struct pool_config	*pc = w->gen->conf;
	struct passwd		*pw;
	extern char		**environ;
	char			**keep, *path, *lang, *home = NULL;
	size_t			 i, n = 0;

	for (i = 0; environ[i] != NULL; i++)
		n++;
	keep = calloc(n + 1, sizeof(*keep));
	for (i = 0, n = 0; keep != NULL && environ[i] != NULL; i++)
		if (strncmp(environ[i], "FORKPOOL_", 9) == 0 ||
		    child_sanitizer_var(environ[i]))
			keep[n++] = environ[i];
	path = getenv("PATH");
	lang = getenv("LANG");
	if ((pw = getpwuid(pc->uid != -1 ? (uid_t)pc->uid : getuid())) != NULL)
		home = pw->pw_dir;
	clearenv();
	setenv("PATH", path != NULL ? path : "/usr/local/bin:/usr/bin:/bin", 1);
	if (lang != NULL)
		setenv("LANG", lang, 1);
	if (home != NULL)
		setenv("HOME", home, 1);
	for (i = 0; i < n; i++)
		putenv(keep[i]);
	for (i = 0; pc->env_words != NULL && pc->env_words[i] != NULL; i++)
		putenv(pc->env_words[i]);
}

/*
 * A program worker: the same reset, then exec the pool's command with the
 * channel on descriptor 3 (spec/PROTOCOL.md, "Program workers").  What it
 * prints reaches the master through out_fd, to be logged.
 */
void
child_exec(struct worker *w, int fd, pid_t master_pid, int out_fd)
{
	struct pool_config	*pc = w->gen->conf;
	char			 err[256];
	size_t			 i;

	child_reset(fd, master_pid, out_fd);
	if (contain_apply(pc, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		_exit(CHILD_EXIT_INIT_FAILED);
	}
	child_environ(w);
	for (i = 0; pc->envv != NULL && pc->envv[i] != NULL; i++)
		putenv(pc->envv[i]);
	snprintf(err, sizeof(err), "%u", w->max_payload);
	setenv("FORKPOOL_MAX_PAYLOAD", err, 1);
	setenv("FORKPOOL_FD", "3", 1);
	setenv("FORKPOOL_POOL", pc->name, 1);
	if (pc->command_dir != NULL && chdir(pc->command_dir) == -1) {
		fprintf(stderr, "cannot change to command_dir %s: %s\n",
		    pc->command_dir, strerror(errno));
		_exit(CHILD_EXIT_EXEC_FAILED);
	}
	execvp(pc->argv[0], pc->argv);
	fprintf(stderr, "cannot run %s: %s\n", pc->argv[0], strerror(errno));
	_exit(CHILD_EXIT_EXEC_FAILED);
}

/*
 * A module worker: set up, then serve tasks until the channel closes
 * (the worker loop says PONG first).
 */
void
child_main(struct worker *w, int fd, pid_t master_pid, int out_fd)
{
	const struct fp_module	*mod = w->gen->module;
	char			 err[512] = "";

	child_reset(fd, master_pid, out_fd);
	child_environ(w);
	if (contain_apply(w->gen->conf, err, sizeof(err)) == -1)
		child_fail(err);
	/*
	 * Not dumpable: another pool's workers running as the same user can
	 * neither ptrace this one nor read its memory, and its /proc files
	 * belong to root.  Unless the pool asked for core files, which a
	 * process that is not dumpable never writes (and which a switch of
	 * user would otherwise have turned off).
	 */
	prctl(PR_SET_DUMPABLE, w->gen->conf->rlimit_core != RLIMIT_UNSET &&
	    w->gen->conf->rlimit_core > 0 ? 1 : 0, 0, 0, 0);
	if (mod->worker_init != NULL &&
	    mod->worker_init(w->gen->module_state, err, sizeof(err)) == -1)
		child_fail(err[0] != '\0' ? err : "worker_init failed and gave "
		    "no reason");
	if (w->gen->conf->sandbox == SANDBOX_SECCOMP &&
	    contain_sandbox(err, sizeof(err)) == -1)
		child_fail(err);
	/* 0: the master closed, we are done; -1: a broken channel. */
	_exit(fp_wloop_serve(CHILD_CHANNEL_FD, w->max_payload, mod->handle,
	    w->gen->module_state) == 0 ? 0 : 1);
}

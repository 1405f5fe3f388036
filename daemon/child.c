/*
 * The worker side: runs only in a forked worker.  Plain blocking I/O on the
 * channel and no libevent call, ever: the master's event_base is not ours
 * to touch after fork.  The loop reads as many tasks as have arrived (a
 * prefetching master sends several in one write) and runs them in order.
 * Each result is written as soon as its task ends, not batched with the
 * next: the master starts the next task's timeout from that result, and a
 * quick task must not wait behind a slow one.
 */
#include <sys/prctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"
#include "wchan.h"

/* The output buffer: results waiting to be written, headers included. */
struct obuf {
	uint8_t	*data;
	size_t	 len;
	size_t	 cap;
};

/* The fp_out a handler writes through; it appends to the obuf. */
struct child_out {
	struct fp_out	 out;
	struct obuf	*ob;
	int		 overflow;
};

static int	child_fd = CHILD_CHANNEL_FD;

static void
obuf_reserve(struct obuf *ob, size_t want)
{
	size_t	cap;

	if (ob->cap - ob->len >= want)
		return;
	cap = ob->cap == 0 ? 65536 : ob->cap;
	while (cap - ob->len < want)
		cap *= 2;
	if ((ob->data = realloc(ob->data, cap)) == NULL)
		_exit(1);	/* the master answers WORKER_CRASHED */
	ob->cap = cap;
}

static int
out_write(struct fp_out *out, const void *data, size_t len)
{
	struct child_out	*co = out->priv;

	if (len > out->max - out->len) {
		co->overflow = 1;
		return (-1);
	}
	obuf_reserve(co->ob, len);
	memcpy(co->ob->data + co->ob->len, data, len);
	co->ob->len += len;
	out->len += len;
	return (0);
}

static void *
out_reserve(struct fp_out *out, size_t want, size_t *got)
{
	struct child_out	*co = out->priv;
	size_t			 room = out->max - out->len;

	if (room == 0 || want > room) {
		co->overflow = 1;
		return (NULL);
	}
	obuf_reserve(co->ob, want);
	*got = co->ob->cap - co->ob->len;
	if (*got > room)
		*got = room;
	return (co->ob->data + co->ob->len);
}

static void
out_commit(struct fp_out *out, size_t used)
{
	struct child_out	*co = out->priv;

	co->ob->len += used;
	out->len += used;
}

/* Write all of buf, or die: the master is gone or broken if this fails. */
static void
child_write_all(const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(child_fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		p += n;
		len -= n;
	}
}

static void
child_send(uint8_t type, uint16_t arg, uint64_t id, const char *text)
{
	struct fp_hdr	hdr = { 0 };
	uint8_t		buf[FP_HDR_LEN + 512];
	size_t		len = text != NULL ? strlen(text) : 0;

	if (len > 512)
		len = 512;
	hdr.len = len;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = type;
	hdr.arg = arg;
	hdr.id = id;
	fp_hdr_encode(buf, &hdr);
	if (len > 0)
		memcpy(buf + FP_HDR_LEN, text, len);
	child_write_all(buf, FP_HDR_LEN + len);
}

/* Set-up failed: tell the master why, and leave as a failed start. */
static __attribute__((noreturn)) void
child_fail(const char *why)
{
	child_send(FP_ERROR, FP_ERR_INTERNAL, 0, why);
	_exit(CHILD_EXIT_INIT_FAILED);
}

/* Run one task and append its RESULT (or ERROR) to ob. */
static void
child_run(struct worker *w, const struct fp_hdr *in, const uint8_t *body,
    struct obuf *ob)
{
	struct child_out	co;
	struct fp_hdr		hdr = { 0 };
	size_t			start;
	int			status;
	char			text[128];

	obuf_reserve(ob, FP_HDR_LEN);
	start = ob->len;
	ob->len += FP_HDR_LEN;

	memset(&co, 0, sizeof(co));
	co.out.write = out_write;
	co.out.reserve = out_reserve;
	co.out.commit = out_commit;
	co.out.max = w->max_payload;
	co.out.priv = &co;
	co.ob = ob;
	status = w->gen->module->handle(w->gen->module_state, body + in->arg,
	    in->len - in->arg, &co.out);

	hdr.version = FP_PROTO_VERSION;
	hdr.id = in->id;
	if (status >= 0 && status <= UINT16_MAX && !co.overflow) {
		hdr.type = FP_RESULT;
		hdr.arg = status;
		hdr.len = co.out.len;
		fp_hdr_encode(ob->data + start, &hdr);
		return;
	}
	/* Drop the partial output and say what went wrong instead. */
	ob->len = start + FP_HDR_LEN;
	if (status == FP_HANDLE_TOO_LARGE || co.overflow) {
		hdr.arg = FP_ERR_TOO_LARGE;
		snprintf(text, sizeof(text), "the handler's output is over "
		    "max_payload (%u bytes)", w->max_payload);
	} else {
		hdr.arg = FP_ERR_INTERNAL;
		snprintf(text, sizeof(text), "the handler returned %d, which "
		    "is not a status (0..65535)", status);
	}
	hdr.type = FP_ERROR;
	hdr.len = strlen(text);
	obuf_reserve(ob, hdr.len);
	memcpy(ob->data + ob->len, text, hdr.len);
	ob->len += hdr.len;
	fp_hdr_encode(ob->data + start, &hdr);
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
 * Set up, say PONG, then serve tasks until the channel closes.  Tasks the
 * master cancels before they start are skipped and not answered (see
 * lib/wchan.h for the frames): the master has answered them CANCELLED,
 * and a reply for a later task tells it that they were skipped.
 */
void
child_main(struct worker *w, int fd, pid_t master_pid, int out_fd)
{
	const struct fp_module	*mod = w->gen->module;
	struct fp_wchan		 ch;
	struct fp_hdr		 hdr;
	const uint8_t		*body;
	struct obuf		 ob = { NULL, 0, 0 };
	char			 err[512] = "";
	int			 rc;

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
	child_send(FP_PONG, 0, 0, NULL);

	fp_wchan_init(&ch, child_fd, w->max_payload + FP_POOL_NAME_MAX);
	while ((rc = fp_wchan_next(&ch, &hdr, &body)) == 1) {
		child_run(w, &hdr, body, &ob);
		child_write_all(ob.data, ob.len);
		ob.len = 0;
	}
	/* 0: the master closed, we are done; -1: a broken channel. */
	_exit(rc == 0 ? 0 : 1);
}

/*
 * faulty: the test module.  It misbehaves on request, so the tests can prove
 * what the daemon does when a handler crashes, hangs or fails.
 *
 * The payload says what to do:
 *	segv		raise SIGSEGV
 *	abort		abort()
 *	exit:N		_exit(N)
 *	sleep:MS	sleep MS milliseconds, then return "slept"
 *	hang		block forever
 *	fail:N:TEXT	return status N with output TEXT (N up to 10^8, so
 *			a status out of range can be asked for)
 *	big:N		write N bytes of 'x'
 *	pid		return the worker's pid in decimal
 *	open		open /etc/passwd, return "opened" (a sandbox kills it)
 *	exec		execve /bin/true (a sandbox kills it)
 *	alloc:N		allocate and touch N bytes, keep them, return "held"
 *	say:TEXT	print TEXT on stdout and "err:TEXT" on stderr
 *	long:N		print a line of N 'y's on stdout
 *	tty		try TIOCSTI on stdout and open /dev/tty; say what
 *			each did ("sti=ERRNO-NAME tty=ERRNO-NAME", or "ok")
 *	spawn		fork a child that sleeps, in the worker's group;
 *			return its pid
 *	escape		fork a child that leaves the group (setsid) and
 *			forks a sleeper, then exits; return the sleeper's pid
 *	env		return the environment, one NAME=value a line
 *	close		close the channel (descriptor 3) and block forever
 *	mark:PATH	append one line, "mark", to the file PATH
 *	anything else	echo the payload
 *
 * module_args, separated by spaces, may combine:
 *	initfail	worker_init fails
 *	masterfail	init (in the master) fails
 *	crashloop=PATH	worker_init calls abort() while the file PATH exists
 */
#include <sys/ioctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forkpool/module.h"

/* What alloc: keeps; only the last block is still referenced. */
static void	*held;

struct faulty {
	int	 initfail;
	char	*crashloop;		/* NULL: off */
};

/* In the master: read the arguments. */
static void *
faulty_init(const char *args, char *err, size_t errlen)
{
	struct faulty	*f;
	char		*copy, *p, *tok;

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (copy = strdup(args != NULL ? args : "")) == NULL) {
		free(f);
		snprintf(err, errlen, "faulty: out of memory");
		return (NULL);
	}
	p = copy;
	while ((tok = strsep(&p, " \t")) != NULL) {
		if (*tok == '\0')
			continue;
		if (strcmp(tok, "initfail") == 0)
			f->initfail = 1;
		else if (strcmp(tok, "masterfail") == 0) {
			snprintf(err, errlen, "faulty: init failed "
			    "(masterfail)");
			goto fail;
		} else if (strncmp(tok, "crashloop=", 10) == 0 &&
		    tok[10] != '\0') {
			free(f->crashloop);
			if ((f->crashloop = strdup(tok + 10)) == NULL) {
				snprintf(err, errlen, "faulty: out of memory");
				goto fail;
			}
		} else {
			snprintf(err, errlen, "faulty: unknown argument "
			    "\"%s\"", tok);
			goto fail;
		}
	}
	free(copy);
	return (f);

fail:
	free(copy);
	free(f->crashloop);
	free(f);
	return (NULL);
}

/* In a worker: fail or crash if asked to. */
static int
faulty_worker_init(void *arg, char *err, size_t errlen)
{
	struct faulty	*f = arg;

	/* crashloop first: with both, a crash until the file goes away. */
	if (f->crashloop != NULL && access(f->crashloop, F_OK) == 0)
		abort();
	if (f->initfail) {
		snprintf(err, errlen, "faulty: worker_init failed (initfail)");
		return (-1);
	}
	return (0);
}

/*
 * If the payload is prefix followed by a decimal number, store it and
 * return a pointer past the digits; NULL otherwise.
 */
static const char *
faulty_num(const char *p, size_t len, const char *prefix, unsigned long *num)
{
	size_t	plen = strlen(prefix), i;

	if (len <= plen || memcmp(p, prefix, plen) != 0)
		return (NULL);
	*num = 0;
	for (i = plen; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		if (*num > 100000000)	/* big enough for any test */
			return (NULL);
		*num = *num * 10 + (p[i] - '0');
	}
	if (i == plen)
		return (NULL);
	return (p + i);
}

/* Is the payload exactly word? */
static int
faulty_is(const char *p, size_t len, const char *word)
{
	return (len == strlen(word) && memcmp(p, word, len) == 0);
}

/* Write n bytes of 'x'. */
static int
faulty_big(struct fp_out *out, unsigned long n)
{
	char	xs[65536];
	size_t	chunk;

	memset(xs, 'x', sizeof(xs));
	while (n > 0) {
		chunk = n < sizeof(xs) ? n : sizeof(xs);
		if (fp_out_write(out, xs, chunk) == -1)
			return (FP_HANDLE_TOO_LARGE);
		n -= chunk;
	}
	return (0);
}

/*
 * Write to every page through a volatile pointer, so the compiler cannot
 * drop the stores to memory nobody reads and the pages become resident.
 */
static void
faulty_touch(char *p, size_t n)
{
	volatile char	*v = p;
	size_t		 i;

	for (i = 0; i < n; i += 4096)
		v[i] = 1;
}

/* Write all of a string to fd, ignoring failures. */
static void
faulty_say(int fd, const char *prefix, const char *p, size_t len)
{
	(void)!write(fd, prefix, strlen(prefix));
	(void)!write(fd, p, len);
	(void)!write(fd, "\n", 1);
}

/* TIOCSTI on stdout and open("/dev/tty"): what each did. */
static int
faulty_tty(struct fp_out *out)
{
	char	buf[128];
	int	sti, tty, fd, blen;
	char	c = 'x';

	sti = ioctl(STDOUT_FILENO, TIOCSTI, &c) == -1 ? errno : 0;
	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY)) == -1)
		tty = errno;
	else {
		tty = ioctl(fd, TIOCSTI, &c) == -1 ? errno : 0;
		close(fd);
	}
	blen = snprintf(buf, sizeof(buf), "sti=%s tty=%s",
	    sti ? strerrorname_np(sti) : "ok", tty ? strerrorname_np(tty) :
	    "ok");
	return (fp_out_write(out, buf, blen) == -1 ? FP_HANDLE_TOO_LARGE : 0);
}

/* Fork a sleeper, in the group or escaped from it; return its pid. */
static int
faulty_spawn(struct fp_out *out, int escape)
{
	struct timespec	ts = { 3600, 0 };
	char		buf[32];
	pid_t		pid, sleeper = -1;
	int		p[2], blen, status;

	if (pipe(p) == -1 || (pid = fork()) == -1)
		return (1);
	if (pid == 0) {
		if (escape) {
			setsid();
			if ((sleeper = fork()) != 0) {
				(void)!write(p[1], &sleeper, sizeof(sleeper));
				_exit(0);
			}
		} else {
			sleeper = getpid();
			(void)!write(p[1], &sleeper, sizeof(sleeper));
		}
		for (;;)
			nanosleep(&ts, NULL);
	}
	if (read(p[0], &sleeper, sizeof(sleeper)) != sizeof(sleeper))
		return (1);
	close(p[0]);
	close(p[1]);
	if (escape)
		waitpid(pid, &status, 0);
	blen = snprintf(buf, sizeof(buf), "%ld", (long)sleeper);
	return (fp_out_write(out, buf, blen) == -1 ? FP_HANDLE_TOO_LARGE : 0);
}

/* The environment, one variable a line. */
static int
faulty_env(struct fp_out *out)
{
	extern char	**environ;
	size_t		  i;

	for (i = 0; environ[i] != NULL; i++)
		if (fp_out_write(out, environ[i], strlen(environ[i])) == -1 ||
		    fp_out_write(out, "\n", 1) == -1)
			return (FP_HANDLE_TOO_LARGE);
	return (0);
}

/* Append "mark" to the file named: a side effect a test can see. */
static int
faulty_mark(struct fp_out *out, const char *p, size_t len)
{
	char	path[256];
	int	fd;

	if (len >= sizeof(path))
		return (1);
	memcpy(path, p, len);
	path[len] = '\0';
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644)) == -1)
		return (1);
	(void)!write(fd, "mark\n", 5);
	close(fd);
	return (fp_out_write(out, "marked", 6) == -1 ? FP_HANDLE_TOO_LARGE : 0);
}

/* Do what the payload says. */
static int
faulty_handle(void *arg, const void *payload, size_t len, struct fp_out *out)
{
	const char	*p = payload, *end = p + len, *rest;
	char		 arg0[] = "true";
	char		*argv[] = { arg0, NULL }, *envp[] = { NULL };
	unsigned long	 n;
	struct timespec	 ts;
	char		 buf[32];
	int		 blen, fd;

	(void)arg;
	if (faulty_is(p, len, "segv")) {
		raise(SIGSEGV);
		/* Only reached if the daemon left SIGSEGV blocked or caught. */
		fp_out_write(out, "faulty: SIGSEGV did not kill me", 31);
		return (1);
	}
	if (faulty_is(p, len, "abort"))
		abort();
	if (faulty_is(p, len, "hang"))
		for (;;)
			pause();
	if (faulty_is(p, len, "pid")) {
		blen = snprintf(buf, sizeof(buf), "%ld", (long)getpid());
		return (fp_out_write(out, buf, blen) == -1 ?
		    FP_HANDLE_TOO_LARGE : 0);
	}
	if (faulty_is(p, len, "open")) {
		if ((fd = open("/etc/passwd", O_RDONLY)) == -1)
			return (fp_out_write(out, "open failed", 11) == -1 ?
			    FP_HANDLE_TOO_LARGE : 1);
		close(fd);
		return (fp_out_write(out, "opened", 6) == -1 ?
		    FP_HANDLE_TOO_LARGE : 0);
	}
	if (faulty_is(p, len, "exec")) {
		execve("/bin/true", argv, envp);
		return (fp_out_write(out, "exec failed", 11) == -1 ?
		    FP_HANDLE_TOO_LARGE : 1);
	}
	if ((rest = faulty_num(p, len, "alloc:", &n)) != NULL && rest == end) {
		/* Kept on purpose: the worker's RSS must grow and stay. */
		if ((held = malloc(n)) == NULL)
			return (fp_out_write(out, "alloc failed", 12) == -1 ?
			    FP_HANDLE_TOO_LARGE : 1);
		faulty_touch(held, n);
		return (fp_out_write(out, "held", 4) == -1 ?
		    FP_HANDLE_TOO_LARGE : 0);
	}
	if ((rest = faulty_num(p, len, "exit:", &n)) != NULL && rest == end)
		_exit((int)n);
	if ((rest = faulty_num(p, len, "sleep:", &n)) != NULL && rest == end) {
		ts.tv_sec = n / 1000;
		ts.tv_nsec = (n % 1000) * 1000000;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			continue;
		return (fp_out_write(out, "slept", 5) == -1 ?
		    FP_HANDLE_TOO_LARGE : 0);
	}
	if ((rest = faulty_num(p, len, "fail:", &n)) != NULL && rest < end &&
	    *rest == ':') {
		rest++;
		if (fp_out_write(out, rest, end - rest) == -1)
			return (FP_HANDLE_TOO_LARGE);
		return ((int)n);
	}
	if ((rest = faulty_num(p, len, "big:", &n)) != NULL && rest == end)
		return (faulty_big(out, n));
	if (len >= 4 && memcmp(p, "say:", 4) == 0) {
		faulty_say(STDOUT_FILENO, "", p + 4, len - 4);
		faulty_say(STDERR_FILENO, "err:", p + 4, len - 4);
		return (fp_out_write(out, "said", 4) == -1 ?
		    FP_HANDLE_TOO_LARGE : 0);
	}
	if ((rest = faulty_num(p, len, "long:", &n)) != NULL && rest == end) {
		while (n-- > 0)
			(void)!write(STDOUT_FILENO, "y", 1);
		(void)!write(STDOUT_FILENO, "\n", 1);
		return (fp_out_write(out, "said", 4) == -1 ?
		    FP_HANDLE_TOO_LARGE : 0);
	}
	if (faulty_is(p, len, "tty"))
		return (faulty_tty(out));
	if (faulty_is(p, len, "spawn") || faulty_is(p, len, "escape"))
		return (faulty_spawn(out, faulty_is(p, len, "escape")));
	if (faulty_is(p, len, "env"))
		return (faulty_env(out));
	if (faulty_is(p, len, "close")) {
		close(3);
		for (;;)
			pause();
	}
	if (len > 5 && memcmp(p, "mark:", 5) == 0)
		return (faulty_mark(out, p + 5, len - 5));

	return (fp_out_write(out, payload, len) == -1 ? FP_HANDLE_TOO_LARGE :
	    0);
}

/* In the master at stop. */
static void
faulty_fini(void *arg)
{
	struct faulty	*f = arg;

	if (f != NULL) {
		free(f->crashloop);
		free(f);
	}
}

/* Exported whatever -fvisibility the build uses. */
__attribute__((visibility("default")))
const struct fp_module fp_module = {
	.abi = FP_MODULE_ABI,
	.name = "faulty",
	.init = faulty_init,
	.worker_init = faulty_worker_init,
	.handle = faulty_handle,
	.fini = faulty_fini,
};

/*
 * Helpers the suites share, beside the daemon harness of harness.c: files,
 * STATUS about a pool's workers, replies that must be a result or an
 * error.  Each fails the test itself, with what it saw.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

/* Where the test programs are: $FORKPOOL_TEST_PROGRAM_DIR, or the build's. */
const char *
tprogram_dir(void)
{
	const char	*dir = getenv("FORKPOOL_TEST_PROGRAM_DIR");

	return (dir != NULL ? dir : "build/tests/programs");
}

/* Pause between two looks at a condition (never a synchronisation). */
void
tnap(int ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Read a whole file, malloc'd and NUL-terminated; NULL when unreadable. */
char *
tread_file(const char *path)
{
	FILE	*f;
	char	*buf = NULL, *nbuf;
	size_t	 len = 0, cap = 0, n;

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			if ((nbuf = realloc(buf, cap + 1)) == NULL) {
				free(buf);
				fclose(f);
				return (NULL);
			}
			buf = nbuf;
		}
		if ((n = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	fclose(f);
	buf[len] = '\0';
	return (buf);
}

/* A file under /proc/PID, malloc'd and NUL-terminated ('\0's as '\n'). */
char *
tproc_file(pid_t pid, const char *name)
{
	char	 path[64], *buf;
	ssize_t	 n, i;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, name);
	ck_assert_msg((fd = open(path, O_RDONLY)) != -1, "%s: %s", path,
	    strerror(errno));
	ck_assert_ptr_nonnull(buf = malloc(65536));
	n = read(fd, buf, 65535);
	close(fd);
	ck_assert_msg(n >= 0, "%s: %s", path, strerror(errno));
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = '\n';
	buf[n] = '\0';
	return (buf);
}

/* The parent of pid, from /proc; -1 when it cannot be read. */
pid_t
tparent_of(pid_t pid)
{
	char	 path[64], buf[512], *p;
	FILE	*f;
	long	 ppid = -1;
	size_t	 n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) state ppid ...": comm may hold anything but ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %ld", &ppid) != 1)
		return (-1);
	return ((pid_t)ppid);
}

/* Remove one entry of a directory (nftw, depth first). */
static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return (0);
}

/* Remove dir and all in it, unless FORKPOOL_TEST_KEEP asks to keep it. */
void
trm_dir(const char *dir)
{
	if (getenv("FORKPOOL_TEST_KEEP") != NULL || dir[0] == '\0')
		return;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * The workers array of pool in a fresh STATUS; *st to json_decref.  Not
 * an argument of json_array_foreach, which evaluates it every turn.
 */
static json_t *
pool_workers(const char *sock, const char *pool, json_t **st)
{
	json_t	*p;

	*st = tstatus(sock);
	p = tstatus_pool(*st, pool);
	ck_assert_msg(p != NULL, "STATUS has no pool %s", pool);
	return (json_object_get(p, "workers"));
}

/* The pids of pool's workers from STATUS; returns how many (at most max). */
int
tpool_pids(const char *sock, const char *pool, pid_t *pids, int max)
{
	json_t	*st, *workers, *w;
	size_t	 i;
	int	 n = 0;

	workers = pool_workers(sock, pool, &st);
	json_array_foreach(workers, i, w)
		if (n < max)
			pids[n++] = json_integer_value(json_object_get(w,
			    "pid"));
	json_decref(st);
	return (n);
}

/* 1 when STATUS lists pid among pool's workers. */
int
tpool_has_pid(const char *sock, const char *pool, pid_t pid)
{
	json_t	*st, *workers, *w;
	size_t	 i;
	int	 found = 0;

	workers = pool_workers(sock, pool, &st);
	json_array_foreach(workers, i, w)
		if (json_integer_value(json_object_get(w, "pid")) == pid)
			found = 1;
	json_decref(st);
	return (found);
}

/* The tasks served by pool's current workers, summed (from STATUS). */
long long
tpool_tasks(const char *sock, const char *pool)
{
	json_t		*st, *workers, *w;
	long long	 sum = 0;
	size_t		 i;

	workers = pool_workers(sock, pool, &st);
	json_array_foreach(workers, i, w) {
		ck_assert(json_is_integer(json_object_get(w, "tasks")));
		sum += json_integer_value(json_object_get(w, "tasks"));
	}
	json_decref(st);
	return (sum);
}

/* How many of pool's workers are busy, their pids in pids (room for n). */
static int
busy_pids(const char *sock, const char *pool, int n, pid_t *pids)
{
	json_t		*st, *workers, *w;
	const char	*state;
	size_t		 i;
	int		 found = 0;

	workers = pool_workers(sock, pool, &st);
	json_array_foreach(workers, i, w) {
		state = json_string_value(json_object_get(w, "state"));
		if (found < n && state != NULL && strcmp(state, "busy") == 0)
			pids[found++] = json_integer_value(json_object_get(w,
			    "pid"));
	}
	json_decref(st);
	return (found);
}

/* Wait until pool has at least n busy workers; their pids go in pids. */
void
twait_busy(const char *sock, const char *pool, int n, pid_t *pids)
{
	long long	deadline = tnow_ms() + T_WAIT_MS;

	while (busy_pids(sock, pool, n, pids) < n) {
		ck_assert_msg(tnow_ms() < deadline,
		    "pool %s never had %d busy workers", pool, n);
		tnap(T_POLL_MS);
	}
}

/* Read one frame; fails the test at end of file or past T_WAIT_MS. */
void
treply(int fd, struct fp_hdr *hdr, char **body)
{
	ck_assert_msg(trecv(fd, hdr, body, T_WAIT_MS) == 1,
	    "the daemon closed the connection instead of replying");
}

/* The reply must be ERROR code for id; its text stays in body. */
void
tcheck_error(const struct fp_hdr *hdr, const char *body, uint64_t id,
    int code)
{
	ck_assert_msg(hdr->type == FP_ERROR && hdr->arg == code,
	    "id %llu: wanted ERROR %s, got type 0x%x arg %u (%s): %s",
	    (unsigned long long)id, fp_err_name(code), hdr->type, hdr->arg,
	    hdr->type == FP_ERROR ? fp_err_name(hdr->arg) : "-", body);
	ck_assert_uint_eq(hdr->id, id);
}

/* Submit a string; insist on RESULT 0 and return its malloc'd output. */
char *
tsubmit_ok(int fd, uint64_t id, const char *pool, const char *payload)
{
	struct fp_hdr	 hdr;
	char		*body;

	tsubmit(fd, id, pool, payload, strlen(payload), &hdr, &body);
	ck_assert_msg(hdr.type == FP_RESULT && hdr.arg == 0,
	    "id %llu (%s): wanted RESULT 0, got type 0x%x arg %u (%s): %s",
	    (unsigned long long)id, payload, hdr.type, hdr.arg,
	    hdr.type == FP_ERROR ? fp_err_name(hdr.arg) : "-", body);
	return (body);
}

/* Submit a string; insist on ERROR code and return its malloc'd text. */
char *
tsubmit_error(int fd, uint64_t id, const char *pool, const char *payload,
    int code)
{
	struct fp_hdr	 hdr;
	char		*body;

	tsubmit(fd, id, pool, payload, strlen(payload), &hdr, &body);
	tcheck_error(&hdr, body, id, code);
	return (body);
}

/* Submit payload, whose output is a worker's pid; insist on one. */
pid_t
trun_pid(int fd, uint64_t id, const char *pool, const char *payload)
{
	char	*body, *end;
	long	 pid;

	body = tsubmit_ok(fd, id, pool, payload);
	pid = strtol(body, &end, 10);
	ck_assert_msg(*body != '\0' && *end == '\0' && pid > 1,
	    "%s answered \"%s\"", payload, body);
	free(body);
	return ((pid_t)pid);
}

/* The next frame must be RESULT 0 for id, with body want. */
void
texpect_result(int fd, uint64_t id, const char *want)
{
	char	*body;

	body = texpect(fd, FP_RESULT, 0, id, T_WAIT_MS);
	ck_assert_str_eq(body, want);
	free(body);
}

/*
 * The integration tests' harness: a real forkpoold started by the test in a
 * fresh temporary directory, synchronised on events (READY=1 on the test's
 * own NOTIFY_SOCKET, replies, a pid's exit), never on fixed sleeps.  Every
 * wait has a deadline and fails the test with the daemon's log when it
 * passes.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "forkpool/proto.h"

struct fpd {
	pid_t	 pid;			/* -1 once reaped */
	int	 status;		/* wait status once reaped */
	char	 dir[256];		/* the run's temporary directory */
	char	 sock[320];		/* its socket */
	char	 conf[320];		/* the ini file written from the text */
	char	 log[320];		/* the daemon's stderr */
	int	 notify_fd;		/* our NOTIFY_SOCKET datagram socket */
};

/*
 * Write ini to a file in a new temporary directory and start forkpoold on
 * it with -s pointing into that directory, FORKPOOL_MODULE_DIR set to the
 * build's modules, and NOTIFY_SOCKET set to our own socket.  Waits for
 * READY=1 (10 s); fails the test, printing the log, otherwise.  "@T" in ini
 * is replaced by the test modules' directory.
 */
struct fpd	*fpd_start(const char *ini);
/* The same, with extra forkpoold arguments, not waiting for READY=1. */
struct fpd	*fpd_spawn(const char *ini, const char *const *extra_args);
/* Wait for the process to exit (fails the test past timeout_ms). */
int		 fpd_wait_exit(struct fpd *d, int timeout_ms);
/* SIGTERM, wait for exit, remove the directory; returns the wait status. */
int		 fpd_stop(struct fpd *d);
/* Wait for a notify datagram containing needle; 0, or -1 at the deadline. */
int		 fpd_wait_notify(struct fpd *d, const char *needle,
		    int timeout_ms);
/* The daemon's log so far, malloc'd. */
char		*fpd_log(struct fpd *d);
/* Count the lines of the log that contain needle. */
int		 fpd_log_count(struct fpd *d, const char *needle);
/* Wait until the log holds a line containing needle. */
int		 fpd_wait_log(struct fpd *d, const char *needle,
		    int timeout_ms);
/*
 * Replace the run's configuration file with ini ("@T" expanded as above),
 * atomically, for a reload.
 */
void		 fpd_rewrite(struct fpd *d, const char *ini);

/* Milliseconds on the monotonic clock, for deadlines. */
long long	 tnow_ms(void);
/* fpd_stop, failing the test unless the daemon exited 0. */
void		 fpd_stop_ok(struct fpd *d);
/* Wait until an integer of pool in STATUS has the value want. */
void		 twait_pool_int(const char *sock, const char *pool,
		    const char *key, long long want, int timeout_ms);

/* Raw-frame client, for proving the protocol byte by byte. */
int		 tconnect(const char *sock);
void		 tsend(int fd, uint8_t type, uint16_t arg, uint64_t id,
		    const void *body, size_t len);
void		 tsend_submit(int fd, uint64_t id, const char *pool,
		    const void *payload, size_t len);
/*
 * Read one frame: 1 and a malloc'd body (NUL-terminated), 0 at end of
 * file; fails the test past timeout_ms.
 */
int		 trecv(int fd, struct fp_hdr *hdr, char **body, int timeout_ms);
/* Submit and wait for the reply with that id. */
void		 tsubmit(int fd, uint64_t id, const char *pool,
		    const void *payload, size_t len, struct fp_hdr *hdr,
		    char **body);
/* The STATUS document, parsed. */
json_t		*tstatus(const char *sock);
/* The pid of worker i of pool (from STATUS), or -1. */
pid_t		 tworker_pid(const char *sock, const char *pool, int i);
/* Wait until pool has n idle workers (from STATUS). */
void		 twait_idle(const char *sock, const char *pool, int n,
		    int timeout_ms);
/* Wait until pid no longer exists. */
int		 twait_pid_gone(pid_t pid, int timeout_ms);

/* Send bytes exactly as given (a malformed frame, say). */
void		 tsend_raw(int fd, const void *buf, size_t len);
/*
 * Read exactly len bytes; returns fewer only at end of file.  Fails the
 * test past timeout_ms.
 */
size_t		 trecv_raw(int fd, void *buf, size_t len, int timeout_ms);
/*
 * The next frame must be exactly this one (type, arg, id); fails the test
 * otherwise.  Returns its malloc'd, NUL-terminated body.
 */
char		*texpect(int fd, uint8_t type, uint16_t arg, uint64_t id,
		    int timeout_ms);
/* The next thing on fd must be end of file. */
void		 texpect_eof(int fd, int timeout_ms);
/*
 * PING with id; the very next frame must be its PONG: the connection is
 * open and nothing else was pending.
 */
void		 tping(int fd, uint64_t id);
/* The object of pool in a STATUS document (borrowed), or NULL. */
json_t		*tstatus_pool(json_t *status, const char *pool);
/* One integer of pool in a fresh STATUS ("completed"); fails if absent. */
long long	 tpool_int(const char *sock, const char *pool, const char *key);
/* Wait until pool has at least n workers in state (from STATUS). */
void		 twait_state(const char *sock, const char *pool,
		    const char *state, int n, int timeout_ms);

/*
 * forkpoold run by hand, for what fpd_start cannot do (another user, no
 * socket named, a controlling terminal): run as uid with args
 * (NULL-terminated, after argv[0]), its output in logpath, without
 * FORKPOOL_SOCKET, XDG_RUNTIME_DIR or NOTIFY_SOCKET; with tty not -1, in
 * a session of its own whose controlling terminal is tty.  Its pid.
 */
pid_t		 tdaemon_as(uid_t uid, int tty, const char *logpath,
		    const char *const *args);
/* Does the file at path hold needle? */
int		 tfile_has(const char *path, const char *needle);
/*
 * Wait until the log holds needle (1) or the daemon has exited (0, its
 * wait status in *status); fails the test after 10 s.
 */
int		 twait_log_or_exit(pid_t pid, const char *logpath,
		    const char *needle, int *status);
/* SIGTERM a daemon of tdaemon_as, and insist on a clean exit. */
void		 tdaemon_stop(pid_t pid);

/*
 * Helpers the suites share.  Deadlines are T_WAIT_MS (what should be
 * quick), STATUS is looked at again every T_POLL_MS.
 */
#define T_WAIT_MS	10000
#define T_POLL_MS	10
/* Pause between two looks at a condition (never a synchronisation). */
void		 tnap(int ms);
/* Where the test programs are: $FORKPOOL_TEST_PROGRAM_DIR, or the build's. */
const char	*tprogram_dir(void);
/* A whole file, malloc'd and NUL-terminated; NULL when unreadable. */
char		*tread_file(const char *path);
/*
 * A file under /proc/PID, malloc'd and NUL-terminated ('\0's as '\n', so
 * environ reads as lines); fails the test when unreadable.
 */
char		*tproc_file(pid_t pid, const char *name);
/* The parent of pid, from /proc; -1 when it cannot be read. */
pid_t		 tparent_of(pid_t pid);
/* Remove dir and all in it, unless FORKPOOL_TEST_KEEP asks to keep it. */
void		 trm_dir(const char *dir);
/* The pids of pool's workers from STATUS; returns how many (at most max). */
int		 tpool_pids(const char *sock, const char *pool, pid_t *pids,
		    int max);
/* 1 when STATUS lists pid among pool's workers. */
int		 tpool_has_pid(const char *sock, const char *pool, pid_t pid);
/* The tasks served by pool's current workers, summed (from STATUS). */
long long	 tpool_tasks(const char *sock, const char *pool);
/*
 * Wait until pool has at least n busy workers; their pids go in pids
 * (room for n).
 */
void		 twait_busy(const char *sock, const char *pool, int n,
		    pid_t *pids);
/* Read one frame; fails the test at end of file or past T_WAIT_MS. */
void		 treply(int fd, struct fp_hdr *hdr, char **body);
/* The reply must be ERROR code for id; its text stays in body. */
void		 tcheck_error(const struct fp_hdr *hdr, const char *body,
		    uint64_t id, int code);
/* Submit a string; insist on RESULT 0 and return its malloc'd output. */
char		*tsubmit_ok(int fd, uint64_t id, const char *pool,
		    const char *payload);
/* Submit a string; insist on ERROR code and return its malloc'd text. */
char		*tsubmit_error(int fd, uint64_t id, const char *pool,
		    const char *payload, int code);
/*
 * Submit payload ("pid", say) whose output is the pid of the worker that
 * ran it; insist on RESULT 0 and a pid, and return it.
 */
pid_t		 trun_pid(int fd, uint64_t id, const char *pool,
		    const char *payload);
/* The next frame must be RESULT 0 for id, with body want. */
void		 texpect_result(int fd, uint64_t id, const char *want);

#endif /* HARNESS_H */

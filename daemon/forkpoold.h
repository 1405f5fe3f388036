/*
 * forkpoold: the master's private header.  Structures first, then one
 * prototype section per source file, named for it.
 */
#ifndef FORKPOOLD_H
#define FORKPOOLD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>
#include <event2/buffer.h>

#include "forkpool/module.h"
#include "forkpool/proto.h"

#ifndef FORKPOOL_VERSION		/* the Makefile passes LIBVERSION */
#define FORKPOOL_VERSION	"0.1.0"
#endif
#define DEFAULT_CONFIG		"/etc/forkpool/forkpool.ini"

#ifndef FP_MODULE_DIR
#define FP_MODULE_DIR		"/usr/local/lib/forkpool/modules"
#endif

/* A worker whose set-up failed exits with this, so it is not a crash. */
#define CHILD_EXIT_INIT_FAILED	2
/* A program worker that could not be run, as a shell says it. */
#define CHILD_EXIT_EXEC_FAILED	127
/* The channel to the master, in every worker (and program workers). */
#define CHILD_CHANNEL_FD	3

#define RLIMIT_UNSET	UINT64_MAX
#define PREFETCH_AUTO	0	/* prefetch = auto: from the tasks' times */
#define SANDBOX_NONE	0
#define SANDBOX_SECCOMP	1
#define MAX_ALLOW	64	/* users or groups in an allow list */

/* One [pool:NAME] section as parsed. */
struct pool_config {
	TAILQ_ENTRY(pool_config) entry;
	char		 name[FP_POOL_NAME_MAX + 1];
	int		 line;		/* where the section started */
	char		*handler;	/* built-in: "echo" */
	char		*module;	/* path or bare name of a .so */
	char		*module_args;
	char		*command;	/* a program worker, as written */
	char		*command_dir;
	char		*command_env;
	char		**argv;		/* command split into words */
	char		**envv;		/* command_env split into words */
	char		*env;		/* env = NAME=value ..., any worker */
	char		**env_words;	/* env split into words */
	uint64_t	 start_timeout_ms;	/* until the worker's PONG */
	unsigned int	 workers;	/* "auto" resolved at parse time */
	unsigned int	 queue_limit;
	uint64_t	 task_timeout_ms;	/* 0: none */
	uint64_t	 max_tasks;	/* 0: never */
	uint64_t	 max_rss;	/* bytes; 0: never */
	unsigned int	 prefetch;	/* PREFETCH_AUTO, or a number */
	unsigned int	 prefetch_min;	/* auto's floor */
	unsigned int	 restart_burst;
	uint64_t	 restart_window_ms;
	unsigned int	 retries;
	uint64_t	 slow_task_ms;	/* log a task running this long; 0: off */
	unsigned int	 quarantine_after;	/* crashes; 0: off */
	uint64_t	 quarantine_window_ms;
	int64_t		 uid;		/* user: run as; -1: the master's */
	int64_t		 gid;		/* group; -1: the user's, or ours */
	int64_t		 user_gid;	/* the user's own group */
	uint64_t	 rlimit_as;	/* RLIMIT_UNSET: inherited */
	uint64_t	 rlimit_cpu_ms;
	uint64_t	 rlimit_nofile;
	uint64_t	 rlimit_core;
	int		 sandbox;	/* SANDBOX_NONE or SANDBOX_SECCOMP */
};

TAILQ_HEAD(pool_config_list, pool_config);

/* The whole file as parsed; swapped in only when valid. */
struct config {
	char		*path;		/* "(built-in default)" when embedded */
	char		*socket;
	mode_t		 socket_mode;
	unsigned int	 max_clients;
	unsigned int	 max_inflight;
	uint32_t	 max_payload;
	uint64_t	 client_timeout_ms;
	uint64_t	 shutdown_timeout_ms;
	int		 log_level;	/* LOG_ERR .. LOG_DEBUG (syslog.h) */
	int64_t		 socket_gid;	/* -1: not changed */
	uint64_t	 max_client_buffer;	/* unsent reply bytes */
	uint64_t	 max_memory;	/* all clients' bytes held, together */
	uid_t		 allow_uids[MAX_ALLOW];	/* empty lists: anyone */
	unsigned int	 n_allow_uids;
	gid_t		 allow_gids[MAX_ALLOW];
	unsigned int	 n_allow_gids;
	struct pool_config_list pools;
};

struct client;
struct pool;
struct share;
struct worker;

enum task_state {
	TASK_QUEUED,		/* in its pool's queue */
	TASK_SENT,		/* handed to a worker */
	TASK_DONE
};

/* One SUBMIT from the moment it is accepted until it is answered. */
struct task {
	TAILQ_ENTRY(task) entry;	/* pool queue, or worker's in-flight */
	TAILQ_ENTRY(task) centry;	/* its client's tasks */
	struct client	*client;	/* NULL once the client has gone */
	struct pool	*pool;
	struct share	*share;		/* its client's queue in pool */
	struct worker	*worker;	/* while TASK_SENT */
	enum task_state	 state;
	uint64_t	 id;		/* the client's id */
	uint64_t	 seq;		/* the id on the worker channel */
	uint16_t	 namelen;	/* the pool name at the front of body */
	unsigned int	 attempts;	/* times it started on a worker */
	int		 cancelled;	/* answered; discard the output */
	uint8_t		*frame;		/* room for a header, then body */
	uint8_t		*body;		/* pool name then payload, as sent */
	uint32_t	 len;		/* of body */
	uint32_t	 cap;		/* frame's size, kept for reuse */
	uint64_t	 queued_us;	/* clock_now_us() */
	uint64_t	 started_us;
	uint64_t	 held_len;	/* its body, counted in master->held */
	uint64_t	*held_by;	/* and in its client's count, or NULL */
};
TAILQ_HEAD(task_list, task);

/*
 * One client's queue in one pool (fair share): the pool starts the first
 * task of each share in turn, so a client with thousands queued does not
 * put another's next task behind them.  Made at a client's first task for
 * the pool; freed when the client or the pool goes, never per task.
 */
struct share {
	TAILQ_ENTRY(share) ring;	/* the pool's turn order, while queued */
	TAILQ_ENTRY(share) pentry;	/* every share of the pool */
	TAILQ_ENTRY(share) centry;	/* every share of the client */
	struct share_list *clist;	/* the client's list, to leave it */
	struct pool	*pool;
	struct client	*client;
	struct task_list queue;		/* first in, first out */
	unsigned int	 nqueued;
	uint64_t	 bulk_us;	/* when it last had many queued */
};
TAILQ_HEAD(share_list, share);

/*
 * A worker's life, owned by worker.c: other files ask its predicates
 * (worker_can_take() and the rest) rather than read the state, so one
 * reader cannot forget one case (a killed worker once got tasks that way).
 */
enum worker_state {
	WORKER_STARTING,	/* forked; has not said PONG */
	WORKER_IDLE,		/* ready, no task */
	WORKER_BUSY,		/* ready, running tasks */
	WORKER_RETIRING,	/* due for replacement: ends its tasks, no more */
	WORKER_STOPPING,	/* we closed its channel: it exits on the EOF */
	WORKER_LOST,		/* its channel closed on its side: it is dying */
	WORKER_KILLED,		/* sent SIGKILL: its task gets kill_code */
	WORKER_EXITED		/* reaped; being buried */
};

/* The four states STATUS and METRICS name (PROTOCOL.md). */
enum worker_shown {
	SHOWN_STARTING,
	SHOWN_IDLE,
	SHOWN_BUSY,
	SHOWN_STOPPING
};
#define SHOWN_MAX	(SHOWN_STOPPING + 1)

/* The master's handle on one worker process. */
struct worker {
	TAILQ_ENTRY(worker) entry;
	struct pool	*pool;
	struct gen	*gen;		/* what it was forked from */
	uint32_t	 max_payload;	/* the limit it was forked with */
	pid_t		 pid;		/* -1 once reaped */
	struct conn	*conn;		/* channel; NULL once closed */
	enum worker_state state;
	struct task_list inflight;	/* first one is running */
	unsigned int	 ninflight;
	uint64_t	 tasks;		/* served */
	uint64_t	 ready_ms;	/* when it said PONG; 0: never */
	uint64_t	 task_limit;	/* max_tasks plus jitter; 0: none */
	int		 kill_code;	/* WORKER_KILLED: its task's error code */
	char		 kill_reason[192];	/* ... and the error's text */
	struct event	*timer;		/* task_timeout, or start_timeout */
	struct event	*slow_timer;	/* slow_task */
	struct output	*out;		/* its stdout and stderr, logged */
	struct timeval	 spawned_at;
	char		 start_error[256];	/* sent by a worker that failed */
};
TAILQ_HEAD(worker_list, worker);

/*
 * A worker's end, as worker.c reports it to the pool, which decides
 * (pool_worker_exited): what becomes of its tasks, and of the pool.
 */
struct worker_exit {
	pid_t		 pid;
	char		 why[64];	/* "killed by SIGSEGV", "exited ..." */
	int		 unexpected;	/* held against restart intensity */
	double		 lived_s;	/* since it was forked */
	struct task	*task;		/* the one it was running, or NULL */
	double		 ran_s;		/* ... for this long */
	const struct rusage *ru;
	int		 kill_code;	/* we killed it: task's code; or 0 */
	const char	*kill_reason;	/* ... and the error's text */
	struct task_list *unstarted;	/* prefetched, never started */
};

/* A task's fingerprint: XXH3-128 of its pool name and payload. */
struct fp_fingerprint {
	uint64_t	 hi;
	uint64_t	 lo;
};

/* One fingerprint that crashed workers (quarantine.c). */
#define QUARANTINE_MAX	256
struct quarantine_entry {
	struct fp_fingerprint fp;
	unsigned int	 crashes;
	int		 quarantined;
	uint64_t	 first_ms;	/* its first crash */
	uint64_t	 expires_ms;	/* forgotten then */
};

/* A latency histogram: fixed bounds (metrics.c), one slot past the last. */
#define HISTOGRAM_BUCKETS	18
struct histogram {
	uint64_t	 buckets[HISTOGRAM_BUCKETS + 1];
	uint64_t	 count;
	uint64_t	 sum_us;
};

/*
 * A generation: one pool section and the handler loaded from it.  Workers
 * are forked from a generation and keep it until they exit, so a reload
 * can load a pool's new handler while its old workers still run the old.
 */
struct gen {
	struct pool_config *conf;	/* owned */
	const struct fp_module *module;
	void		*module_state;
	void		*dl;		/* dlopen handle, NULL for built-ins */
	unsigned int	 refs;		/* its workers, and the pool's use */
};

/* A pool: a FIFO queue and its workers. */
struct pool {
	TAILQ_ENTRY(pool) entry;
	char		 name[FP_POOL_NAME_MAX + 1];
	struct pool_config *conf;	/* gen->conf */
	struct gen	*gen;		/* what new workers are forked from */
	struct gen	*prev_gen;	/* before a reload, to roll back to */
	int		 reshaping;	/* workers to replace, add or retire */
	int		 removed;	/* dropped by a reload: drain, then free */
	int		 fresh;		/* added by a reload; no worker ready yet */
	int		 unavailable;	/* no worker for start_timeout: refuse */
	struct event	*unavail_timer;	/* start_timeout without a worker */
	struct event	*free_ev;	/* frees a drained pool from the loop */
	struct share_list ring;		/* shares with tasks queued, in turn */
	struct share_list shares;	/* every client's share of the pool */
	unsigned int	 nqueued;
	unsigned int	 nwaiting;	/* shares in the ring */
	unsigned int	 auto_prefetch;	/* what prefetch = auto chose */
	uint64_t	 light_us;	/* a client's task met others' queue */
	const struct share *light_share; /* whose; compared, never read */
	uint64_t	 task_avg;	/* moving average task time, us * 16 */
	struct worker_list workers;
	unsigned int	 nworkers;	/* processes that exist */
	unsigned int	 nready;	/* have said PONG at least once */
	struct intensity *intensity;
	struct event	*spawn_timer;	/* back-off before the next spawn */
	struct event	*quiet_timer;	/* ends back-off after a quiet window */
	int		 backoff;	/* 1 while spawns are delayed */
	unsigned int	 backoff_ms;
	uint64_t	 log_window_start;	/* spawn/exit log rate limit */
	unsigned int	 log_lines;
	unsigned int	 log_suppressed;
	/* Counters for STATUS (and METRICS later). */
	uint64_t	 restarts;
	uint64_t	 completed;
	uint64_t	 failed;
	uint64_t	 timeouts;
	uint64_t	 crashes;
	uint64_t	 overloaded;
	uint64_t	 cancelled;
	uint64_t	 shutting_down;
	uint64_t	 errors;		/* TOO_LARGE, INTERNAL */
	uint64_t	 quarantined;	/* tasks refused as poison */
	uint64_t	 recycled;	/* workers retired by max_tasks/max_rss */
	uint64_t	 retried;	/* runs again after a crash */
	uint64_t	 refused_unavailable;	/* tasks answered UNAVAILABLE */
	struct quarantine *quarantine;
	uint64_t	 bytes_in;	/* payload bytes of accepted tasks */
	uint64_t	 bytes_out;	/* output bytes of results */
	struct histogram duration;	/* time tasks ran */
	struct histogram wait;		/* time tasks were queued */
	char		 last_error[256];	/* why the last worker failed */
	unsigned int	 missing;	/* workers it should have and has not */
	unsigned int	 spawn_failures;	/* in a row, not yet overcome */
};
TAILQ_HEAD(pool_list, pool);

/* The daemon: one per process. */
struct master {
	struct event_base *base;
	struct config	*conf;
	struct pool_list pools;		/* serving */
	struct pool_list draining;	/* removed by a reload, finishing */
	unsigned int	 npools;
	const char	*socket_path;
	int		 listen_fd;
	struct event	*listen_ev;
	struct event	*accept_pause;	/* out of descriptors: wait a little */
	struct timeval	 started_at;
	int		 starting;	/* until every pool is up */
	int		 stopping;
	struct event	*stop_timer;
	uint64_t	 stop_deadline_ms;	/* shutdown_timeout runs out */
	int		 trim_wanted;	/* a big client left: malloc_trim */
	uint64_t	 held;		/* bytes held for clients (max_memory) */
	uint64_t	 held_peak;	/* since the last malloc_trim */
	uint64_t	 next_seq;	/* task ids on worker channels */
	char		 reload_error[1040];	/* why the last reload failed */
};

extern struct master *master;

/* config_value.c */
enum num_result {
	NUM_OK,
	NUM_SYNTAX,		/* not a number of this kind at all */
	NUM_RANGE		/* well formed, but past 2^64 - 1 */
};
enum num_result	 config_number(const char *s, uint64_t *v);
enum num_result	 config_duration(const char *s, uint64_t *ms);
enum num_result	 config_size(const char *s, uint64_t *bytes);
unsigned int	 config_distance(const char *a, const char *b);

int		 config_parse_duration(const char *s, uint64_t *ms);
int		 config_parse_size(const char *s, uint64_t *bytes);
int		 config_split_words(const char *s, char ***out, char *why,
		    size_t whylen);
void		 config_words_free(char **words);

/* config_key.c */
#define CONFIG_MAX_KEYS	48	/* in one section; checked at compile time */
struct key;
enum key_section {
	KEYS_DAEMON,
	KEYS_POOL
};
/* How a reload applies a key, as each key's row says. */
enum key_reload {
	RELOAD_LIVE,		/* in place */
	RELOAD_WORKERS,		/* new workers; for [daemon], every pool's */
	RELOAD_RESTART		/* only by a restart; a reload warns */
};
const struct key *config_key_at(enum key_section, size_t i);
int		 config_key_index(enum key_section, const char *name);
const char	*config_key_nearest(enum key_section, const char *name);
const char	*config_key_name(const struct key *k);
enum key_reload	 config_key_reload(const struct key *k);
int		 config_key_set(const struct key *k, void *base,
		    const char *value, char *why, size_t whylen);
int		 config_key_text(const struct key *k, const void *base,
		    char *buf, size_t len);
int		 config_key_equal(const struct key *k, const void *a,
		    const void *b);
void		 config_key_copy(const struct key *k, void *to,
		    const void *from);
void		 config_keys_default(enum key_section, void *base);
void		 config_keys_computed(enum key_section, void *base,
		    const int *line);
int		 config_pool_equal(const struct pool_config *a,
		    const struct pool_config *b);
int		 config_pool_same_workers(const struct pool_config *a,
		    const struct pool_config *b);
void		 config_pool_copy_live(struct pool_config *to,
		    const struct pool_config *from);
void		 config_pool_free(struct pool_config *pc);

/* config.c */
struct config_parse;
struct config	*config_new(const char *name);
void		 config_free(struct config *conf);
struct pool_config *config_find_pool(struct config *conf, const char *name);
int		 config_start_section(struct config_parse *p,
		    const char *name, size_t len);
int		 config_finish(struct config_parse *p);
int		 config_handler(void *arg, const char *section,
		    const char *name, const char *value);

/* config_read.c */
enum config_section {
	SECTION_NONE,
	SECTION_DAEMON,
	SECTION_POOL
};
/* The state of one parse, shared by the reader and the handler. */
struct config_parse {
	struct config	*conf;
	const char	*name;		/* the file, for messages */
	FILE		*fp;		/* read lines from this, or */
	const char	*text;		/* from this string */
	char		*buf;		/* getline's buffer */
	size_t		 bufsize;
	int		 line;		/* lines given to inih so far */
	int		 done;		/* end of input reached */
	enum config_section section;
	struct pool_config *pool;	/* the open [pool:NAME] */
	int		 daemon_line;	/* where [daemon] was, or 0 */
	int		 key_line[CONFIG_MAX_KEYS];	/* where each key was */
	char		*err;
	size_t		 errlen;
	int		 failed;
};
struct config	*config_load(const char *path, char *err, size_t errlen);
struct config	*config_load_string(const char *text, const char *name,
		    char *err, size_t errlen);
struct config	*config_default(char *err, size_t errlen);
struct config	*config_reload(const struct config *conf, char *err,
		    size_t errlen);
int		 config_error(struct config_parse *p, int line,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ids.c */
int		 ids_user(const char *s, uid_t *uid, gid_t *gid);
int		 ids_group(const char *s, gid_t *gid);

/* intensity.c: restart intensity, pure so it can be tested alone. */
struct intensity *intensity_new(unsigned int burst, uint64_t window_ms);
void		 intensity_free(struct intensity *in);
/* Record an unexpected exit at now_ms; returns the delay before a respawn. */
unsigned int	 intensity_exit(struct intensity *in, uint64_t now_ms);
/* The delay now (0 when not backing off), having let a quiet window pass. */
unsigned int	 intensity_delay(struct intensity *in, uint64_t now_ms);

/* taskmap.c: a client's tasks by id, for duplicate ids and CANCEL. */
struct taskmap;
struct taskmap	*taskmap_new(void);
void		 taskmap_free(struct taskmap *map);
/* 0, or -1 when id is already there. */
int		 taskmap_add(struct taskmap *map, uint64_t id, void *value);
void		*taskmap_find(const struct taskmap *map, uint64_t id);
void		*taskmap_lookup(const struct taskmap *map, uint64_t id,
		    size_t *pos);
void		 taskmap_add_at(struct taskmap *map, size_t pos, uint64_t id,
		    void *value);
/* The value removed, or NULL when id was not there. */
void		*taskmap_remove(struct taskmap *map, uint64_t id);
size_t		 taskmap_count(const struct taskmap *map);

/* clock.c: the loop's clock, read once per turn. */
void		 clock_turn(void);
uint64_t	 clock_now_us(void);
uint64_t	 clock_now_ms(void);
void		 clock_arm_ms(struct event *ev, uint64_t ms);

/* master.c */
int		 master_run(struct config *conf, const char *socket_path);
void		 master_pool_ready(struct pool *pool);
void		 master_check_stopped(void);
int		 master_fd_reserve_use(void);
__attribute__((noreturn))
void		 master_fatal(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));

/* listen.c */
char		*listen_default_path(char *buf, size_t len, char *err,
		    size_t errlen);
int		 listen_open(const char *path, mode_t mode, char *err,
		    size_t errlen);
int		 listen_adopt(int fd, char *err, size_t errlen);
void		 listen_start(void);
void		 listen_client_gone(void);
void		 listen_close(void);

/* conn.c */
struct conn;
void		 conn_account(struct conn *c, uint64_t *mine);
struct conn	*conn_new(int fd, void (*read_cb)(void *),
		    void (*drained_cb)(void *), void (*close_cb)(void *, int),
		    void *arg);
void		 conn_free(struct conn *c);
struct evbuffer	*conn_input(struct conn *c);
struct evbuffer	*conn_output(struct conn *c);
void		 conn_add(struct conn *c, const void *data, size_t len);
void		 conn_add_buffer(struct conn *c, struct evbuffer *from,
		    size_t len, size_t copy_max);
void		 conn_discard_input(struct conn *c);
size_t		 conn_unsent(const struct conn *c);
int		 conn_fd(struct conn *c);
void		 conn_pause_read(struct conn *c);
void		 conn_resume_read(struct conn *c);
void		 conn_read_now(struct conn *c);
void		 conn_flush_all(void);
/* Frames read in place from a conn's input (conn_take, conn_taken). */
struct conn_cursor {
	const uint8_t	*base;		/* contiguous input */
	size_t		 off;		/* taken so far, drained at conn_taken */
	size_t		 have;		/* bytes at base */
};
int		 conn_refill(struct conn *c, struct conn_cursor *cur,
		    size_t need);
void		 conn_taken(struct conn *c, struct conn_cursor *cur);
/* Inline: twice per frame, and almost always the first test answers. */
static inline int
conn_take(struct conn *c, struct conn_cursor *cur, size_t need)
{
	if (cur->base != NULL && cur->off + need <= cur->have)
		return (1);
	return (conn_refill(c, cur, need));
}

/* client.c */
void		 client_accept(int fd);
void		 client_send(struct client *c, uint8_t type, uint16_t arg,
		    uint64_t id, const void *data, size_t len);
void		 client_send_buffer(struct client *c, uint8_t type,
		    uint16_t arg, uint64_t id, struct evbuffer *from, size_t len);
void		 client_task_done(struct client *c, struct task *task);
int		 client_overflowed(const struct client *c);
void		 client_stop_all(void);
void		 client_recheck_all(void);
void		 client_flush_all(void);
void		 client_free_all(void);
unsigned int	 client_count(void);
void		 client_held_changed(void);

/* task.c */
struct task	*task_new(struct client *client, struct pool *pool,
		    uint64_t id, uint16_t namelen, const uint8_t *frame,
		    uint32_t len);
void		 task_free(struct task *task);
void		 task_free_all(void);
void		 task_result(struct task *task, uint16_t status,
		    const uint8_t *data, size_t len);
void		 task_result_buffer(struct task *task, uint16_t status,
		    struct evbuffer *from, size_t len);
void		 task_fail(struct task *task, int code, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
void		 task_cancel_sent(struct task *task);
void		 task_hold(struct task *task, uint64_t *by);

/* contain.c: runs only in a forked worker. */
int		 contain_apply(const struct pool_config *pc, char *err,
		    size_t errlen);
int		 contain_sandbox(char *err, size_t errlen);

/* gen.c */
struct gen	*gen_new(struct pool_config *pc, char *err, size_t errlen);
void		 gen_ref(struct gen *gen);
void		 gen_unref(struct gen *gen);

/* reload.c */
void		 reload_run(void);
const char	*reload_last(unsigned long long *);
void		 reload_failed(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));

/* pool.c */
struct pool	*pool_create(struct gen *gen);
struct pool	*pool_find(const char *name, size_t len);
void		 pool_submit(struct pool *pool, struct task *task);
void		 pool_dispatch(struct pool *pool);
unsigned int	 pool_prefetch(const struct pool *pool);
void		 pool_task_ran(struct pool *pool, const struct task *task);
void		 pool_reconcile(struct pool *pool);
void		 pool_set_gen(struct pool *pool, struct gen *gen);
void		 pool_remove(struct pool *pool);
void		 pool_worker_ready(struct pool *pool, struct worker *w);
void		 pool_worker_answered(struct pool *pool, struct worker *w);
void		 pool_worker_exited(struct pool *pool, struct worker *w,
		    const struct worker_exit *ex);
void		 pool_stop(struct pool *pool);
void		 pool_free(struct pool *pool);

/* share.c: one queue per client in each pool, served in turn. */
struct share	*share_get(struct pool *pool, struct client *c,
		    struct share_list *list);
void		 share_free(struct share *share);
/*
 * Inline, as they were in pool.c: each runs once per task (pool_submit,
 * pool_dispatch), and a call apiece would cost the hot path.
 */

/* Queue task last in its share, or first when at_head (it ran before). */
static inline void
share_enqueue(struct pool *pool, struct task *task, int at_head)
{
	struct share	*share = task->share;

	task->worker = NULL;
	task->state = TASK_QUEUED;
	if (share->nqueued++ == 0) {
		if (at_head)
			TAILQ_INSERT_HEAD(&pool->ring, share, ring);
		else
			TAILQ_INSERT_TAIL(&pool->ring, share, ring);
		pool->nwaiting++;
	}
	if (at_head)
		TAILQ_INSERT_HEAD(&share->queue, task, entry);
	else
		TAILQ_INSERT_TAIL(&share->queue, task, entry);
	pool->nqueued++;
}

static inline void
share_unqueue(struct task *task)
{
	struct share	*share = task->share;
	struct pool	*pool = task->pool;

	TAILQ_REMOVE(&share->queue, task, entry);
	pool->nqueued--;
	if (--share->nqueued == 0) {
		TAILQ_REMOVE(&pool->ring, share, ring);
		pool->nwaiting--;
	}
}

/*
 * The next task to start, taken off its share, whose turn then passes to
 * the next share.  A client over max_client_buffer is closed on the next
 * turn of the loop and none of its tasks may start meanwhile (client_free
 * drops them): its share waits at the back.
 */
static inline struct task *
share_next(struct pool *pool)
{
	struct share	*share;
	struct task	*task;
	unsigned int	 n;

	for (n = pool->nwaiting; n > 0; n--) {
		share = TAILQ_FIRST(&pool->ring);
		if (n > 1) {		/* the turn passes to the next share */
			TAILQ_REMOVE(&pool->ring, share, ring);
			TAILQ_INSERT_TAIL(&pool->ring, share, ring);
		}
		if (client_overflowed(share->client))
			continue;
		task = TAILQ_FIRST(&share->queue);
		share_unqueue(task);
		return (task);
	}
	return (NULL);
}

/* worker.c */
struct worker	*worker_spawn(struct pool *pool);
void		 worker_send(struct worker *w, struct task *task);
struct task	*worker_answered(struct worker *w);
void		 worker_cancel(struct worker *w, struct task *task);
void		 worker_reaped(struct worker *w, int status,
		    const struct rusage *ru);
struct worker	*worker_find(pid_t pid);
void		 worker_kill(struct worker *w, int code, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
void		 worker_retire(struct worker *w);
void		 worker_recycle(struct worker *w);
int		 worker_can_take(const struct worker *w, unsigned int prefetch);
int		 worker_is_idle(const struct worker *w);
int		 worker_is_serving(const struct worker *w);
int		 worker_is_live(const struct worker *w);
int		 worker_is_stale(const struct worker *w);
int		 worker_was_ready(const struct worker *w);
enum worker_shown worker_shown(const struct worker *w);
const char	*worker_shown_name(enum worker_shown shown);
long		 worker_rss(pid_t pid);

/* wframe.c: the frames a worker sends, read and checked. */
int		 wframe_read(struct worker *w);

/* output.c: a worker's stdout and stderr, logged line by line. */
struct output;
struct output	*output_new(struct event_base *base, int fd,
		    const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
void		 output_end(struct output *out);
void		 output_last_words(const struct output *out, char *buf,
		    size_t len);
void		 output_free(struct output *out);

/* child.c: runs only in a forked worker. */
__attribute__((noreturn))
void		 child_main(struct worker *w, int fd, pid_t master_pid,
		    int out_fd);
__attribute__((noreturn))
void		 child_exec(struct worker *w, int fd, pid_t master_pid,
		    int out_fd);

/* module.c */
int		 module_load(struct gen *gen, char *err, size_t errlen);
void		 module_unload(struct gen *gen);

/* quarantine.c */
struct quarantine *quarantine_new(void);
void		 quarantine_free(struct quarantine *q);
struct fp_fingerprint quarantine_fingerprint(const void *data, size_t len);
unsigned int	 quarantine_count(struct quarantine *q, uint64_t now);
int		 quarantine_empty(const struct quarantine *q);
const struct quarantine_entry *quarantine_check(struct quarantine *q,
		    struct fp_fingerprint fp, uint64_t now);
int		 quarantine_crash(struct quarantine *q, struct fp_fingerprint fp,
		    unsigned int after, uint64_t window_ms, uint64_t now);
const struct quarantine_entry *quarantine_entry(const struct quarantine *q,
		    unsigned int i);

/* metrics.c */
void		 metrics_observe(struct histogram *h, uint64_t us);
uint64_t	 metrics_quantile_us(const struct histogram *h, double q);
void		 metrics_task_ran(struct pool *pool, const struct task *task,
		    uint64_t now_us);
long		 metrics_master_rss(void);
void		 metrics_text(struct evbuffer *b);

/* status.c */
char		*status_json(void);

/* sdnotify.c: the only file that knows systemd. */
void		 sdnotify_init(void);
int		 sdnotify_listen_fd(void);
void		 sdnotify_start(struct event_base *base);
void		 sdnotify_stop(void);
void		 sdnotify_send(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
void		 sdnotify_status(const char *line);
uint64_t	 sdnotify_monotonic_usec(void);

/* xmalloc.c */
void		*xcalloc(size_t n, size_t size);
void		*xrealloc(void *p, size_t n, size_t size);
char		*xstrdup(const char *s);
int		 xasprintf(char **ret, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

#endif /* FORKPOOLD_H */

/*
 * forkpool-redis: feeds the local forkpoold from Redis Streams.
 *
 * One process, one event_base.  Each [redis:NAME] section is a feed: two
 * Redis connections (a reader that may sit in XREADGROUP BLOCK, and a
 * writer for everything else, so outcomes never wait behind a blocked
 * read) and a window of held entries.  All feeds share one connection to
 * forkpoold, spoken with libforkpool's codec.
 */
#ifndef BRIDGE_H
#define BRIDGE_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct redisAsyncContext;

#define BRIDGE_ID_MAX		64	/* "1700000000000-123" and then some */

/* One connection to Redis and its reconnect timer. */
enum rlink_state {
	RLINK_DOWN,
	RLINK_CONNECTING,
	RLINK_UP
};

struct rlink {
	struct feed			*feed;
	const char			*role;		/* "reader", "writer" */
	struct redisAsyncContext	*ac;
	enum rlink_state		 state;
	struct event			*retry;
	uint64_t			 backoff_ms;
	uint64_t			 generation;	/* bumped per connection */
};

/*
 * The life of an entry we hold, one state owned by feed.c.  WAIT_ROOM:
 * forkpoold said OVERLOADED; WAIT_LOCAL: no connection to forkpoold;
 * RUNNING: submitted; LOST: another consumer owns it now, its reply is
 * dropped; WRITING: its outcome is on its way to Redis; UNSURE: that write
 * was cut off, XPENDING will tell whether it landed.
 */
enum entry_state {
	ENTRY_FREE,
	ENTRY_COUNTING,
	ENTRY_WAIT_ROOM,
	ENTRY_WAIT_LOCAL,
	ENTRY_RUNNING,
	ENTRY_RETRYING,
	ENTRY_LOST,
	ENTRY_QUEUED,
	ENTRY_WRITING,
	ENTRY_UNSURE
};

/* What an entry ended with. */
enum outcome_type {
	OUTCOME_RESULT,
	OUTCOME_ERROR,
	OUTCOME_EXPIRED
};

struct entry {
	struct feed		*feed;
	unsigned int		 slot;
	uint32_t		 gen;		/* half of the forkpoold id */
	enum entry_state	 state;
	char			 id[BRIDGE_ID_MAX];
	char			*payload;
	size_t			 payload_len;
	char			*pool;
	char			*reply_to;
	int64_t			 deadline_ms;	/* 0: none */
	unsigned int		 deliveries;

	/* The outcome, once known. */
	enum outcome_type	 outcome;
	int			 dead;		/* goes to the dead letters */
	unsigned int		 status;
	int			 code;		/* ERROR code, last one if dead */
	char			*text;		/* error text, or NULL */
	char			*output;
	size_t			 output_len;

	TAILQ_ENTRY(entry)	 entry;		/* a feed's queue */
};
TAILQ_HEAD(entryq, entry);

/* An entry named in a Redis command's callback: stale once reused. */
struct eref {
	unsigned int		 slot;
	uint32_t		 gen;
};

/* The entries one Redis command is about. */
struct ebatch {
	struct feed		*feed;
	unsigned int		 n;
	struct eref		 refs[];
};

enum feed_counter {
	FC_READ,
	FC_CLAIMED,
	FC_ACKED,
	FC_DEAD,
	FC_RESULT,
	FC_ERROR,
	FC_EXPIRED,
	FC_REDELIVERED,
	FC_LOST,
	FC_RECONNECTS,
	FC_MAX
};

struct feed {
	/* Configuration: the [redis:NAME] section. */
	char			*name;
	char			*redis;		/* unix:PATH or HOST:PORT */
	char			*password_file;
	char			*stream;
	char			*group;
	char			*consumer;
	char			*pool;		/* NULL: the entry's own */
	unsigned int		 window;
	uint64_t		 claim_idle_ms;
	uint64_t		 refresh_ms;
	unsigned int		 max_deliveries;
	char			*results;
	char			*dead_letter;
	uint64_t		 reply_ttl_ms;
	int			 line;		/* for errors: the section's,
					   or claim_idle's or refresh's */

	/* Running. */
	unsigned int		 index;
	struct rlink		 rd;
	struct rlink		 wr;
	struct entry		*slots;
	unsigned int		 held;
	int			 reading;	/* an XREADGROUP is out */
	int			 claiming;	/* an XAUTOCLAIM is out */
	int			 claim_due;	/* one waits for room */
	unsigned int		 reserved_read;	/* slots an XREADGROUP may fill */
	unsigned int		 reserved_claim;
	int			 history;	/* reading our own PEL first */
	char			 history_id[BRIDGE_ID_MAX];
	char			 claim_cursor[BRIDGE_ID_MAX];
	struct entryq		 waitq;		/* WAIT_ROOM */
	struct entryq		 outq;		/* QUEUED outcomes */
	struct event		*room_ev;
	uint64_t		 room_ms;
	struct event		*refresh_ev;
	struct event		*claim_ev;
	struct event		*flush_ev;
	struct event		*pump_ev;
	uint64_t		 counters[FC_MAX];
	long long		 lag;		/* -1: unknown */
	long long		 pending;

	TAILQ_ENTRY(feed)	 entry;
};
TAILQ_HEAD(feedq, feed);

struct bridge_conf {
	const char		*path;
	char			*socket;	/* [daemon] socket; NULL: default */
	char			*metrics_file;	/* [bridge] */
	uint64_t		 metrics_interval_ms;
	uint64_t		 shutdown_timeout_ms;
	int			 log_level;
	struct feedq		 feeds;
	unsigned int		 nfeeds;
};

/* daemon/xmalloc.c, shared with forkpoold: running out of memory is fatal. */
void		*xcalloc(size_t n, size_t size);
void		*xrealloc(void *p, size_t n, size_t size);
char		*xstrdup(const char *s);
int		 xasprintf(char **ret, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* main.c */
extern struct event_base	*bridge_base;
extern struct bridge_conf	*bridge_conf;
extern int			 bridge_stopping;
uint64_t	 bridge_now_ms(void);
int64_t		 bridge_wall_ms(void);
void		 bridge_timer(struct event *ev, uint64_t ms);
void		 bridge_check_drained(void);

/* config.c */
struct bridge_conf *conf_load(const char *path, char *err, size_t errlen);
void		 conf_free(struct bridge_conf *conf);
char		*conf_hostname(void);

/* rlink.c */
void		 rlink_init(struct rlink *l, struct feed *f, const char *role);
void		 rlink_connect(struct rlink *l);
void		 rlink_close(struct rlink *l);
int		 rlink_up(const struct rlink *l);
int		 rlink_argv(struct rlink *l, void (*cb)(struct redisAsyncContext *,
		    void *, void *), void *arg, int argc, const char **argv,
		    const size_t *argvlen);
void		 rlink_fail(struct rlink *l, const char *what, const char *why);

/* feed.c */
void		 feed_start(struct feed *f);
void		 feed_stop(struct feed *f);
void		 feed_free(struct feed *f);
void		 feed_link_up(struct rlink *l);
void		 feed_pump(struct feed *f);
void		 feed_reply(struct entry *e, int type, unsigned int arg,
		    const void *body, size_t len);
void		 feed_local_up(void);
void		 feed_local_lost(void);
void		 feed_flush(struct feed *f);
struct entry	*entry_alloc(struct feed *f, const char *id);
unsigned int	 feed_room(const struct feed *f);
struct ebatch	*ebatch_new(struct feed *f, unsigned int max);
void		 ebatch_add(struct ebatch *b, const struct entry *e);
struct entry	*ebatch_get(const struct ebatch *b, unsigned int i);
void		 entry_begin(struct entry *e);
void		 entry_release(struct entry *e);
struct entry	*feed_find(struct feed *f, const char *id);

/* take.c: reading, claiming and refreshing entries */
void		 take_read(struct feed *f);
void		 take_claim(struct feed *f);
void		 take_redeliver(struct entry *e);
void		 take_refresh(struct feed *f);

/* outcome.c */
void		 outcome_set_result(struct entry *e, unsigned int status,
		    const void *out, size_t len);
void		 outcome_set_error(struct entry *e, enum outcome_type type,
		    int code, const char *text);
void		 outcome_queue(struct entry *e);
void		 outcome_flush(struct feed *f);
void		 outcome_link_up(struct feed *f);
const char	*outcome_code_name(int code, char *buf, size_t len);

/* local.c: the connection to forkpoold */
void		 local_start(const char *path);
void		 local_stop(void);
int		 local_up(void);
int		 local_submit(struct entry *e);
void		 local_cancel(struct entry *e);

/* metrics.c */
void		 metrics_start(void);
void		 metrics_stop(void);
void		 metrics_write(void);

/* submit.c: the producer commands */
int		 submit_main(int argc, char **argv, const char *conf_path,
		    const char *feed, const char *redis, const char *stream);

#endif /* BRIDGE_H */

/*
 * rlink_*: one asynchronous connection to Redis (hiredis on our libevent
 * loop), its authentication, its consumer group, and reconnecting with
 * back-off when it breaks.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "bridge.h"
#include "log.h"

#define RLINK_BACKOFF_MIN_MS	100
#define RLINK_BACKOFF_MAX_MS	5000

static void	rlink_retry_cb(evutil_socket_t, short, void *);

void
rlink_init(struct rlink *l, struct feed *f, const char *role)
{
	l->feed = f;
	l->role = role;
	l->state = RLINK_DOWN;
	l->backoff_ms = RLINK_BACKOFF_MIN_MS;
	l->retry = evtimer_new(bridge_base, rlink_retry_cb, l);
	if (l->retry == NULL)
		fatalx("evtimer_new");
}

int
rlink_up(const struct rlink *l)
{
	return (l->state == RLINK_UP && l->ac != NULL);
}

/* Try again later, a little later each time. */
static void
rlink_schedule(struct rlink *l)
{
	if (bridge_stopping && (l == &l->feed->rd || l->feed->held == 0))
		return;
	bridge_timer(l->retry, l->backoff_ms);
	l->backoff_ms *= 2;
	if (l->backoff_ms > RLINK_BACKOFF_MAX_MS)
		l->backoff_ms = RLINK_BACKOFF_MAX_MS;
}

static void
rlink_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	rlink_connect(arg);
}

/* A command failed in a way that says the connection is no good. */
void
rlink_fail(struct rlink *l, const char *what, const char *why)
{
	log_warnx("feed %s: redis %s: %s: %s", l->feed->name, l->role, what,
	    why);
	if (l->ac != NULL && l->state != RLINK_DOWN)
		redisAsyncDisconnect(l->ac);
}

static void
rlink_group_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct rlink	*l = arg;
	redisReply	*reply = r;

	(void)ac;
	if (reply == NULL)
		return;
	if (reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "BUSYGROUP", 9) != 0) {
		rlink_fail(l, "XGROUP CREATE", reply->str);
		return;
	}
	if (l->state != RLINK_CONNECTING)
		return;
	if (l->generation > 0) {
		log_info("feed %s: redis %s connected again to %s",
		    l->feed->name, l->role, l->feed->redis);
		l->feed->counters[FC_RECONNECTS]++;
	}
	l->generation++;
	l->state = RLINK_UP;
	l->backoff_ms = RLINK_BACKOFF_MIN_MS;
	feed_link_up(l);
}

static void
rlink_auth_cb(redisAsyncContext *ac, void *r, void *arg)
{
	redisReply	*reply = r;

	(void)ac;
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		rlink_fail(arg, "AUTH", reply->str);
}

/*
 * AUTH from password_file: its first line is the password, or an ACL
 * user and its password separated by a space.  Read at each connection,
 * so a changed password needs no restart.
 */
static int
rlink_auth(struct rlink *l)
{
	const char	*argv[3];
	char		 line[1024], *sp;
	FILE		*fp;
	int		 argc;

	if (l->feed->password_file == NULL)
		return (0);
	if ((fp = fopen(l->feed->password_file, "r")) == NULL) {
		log_warn("feed %s: %s", l->feed->name, l->feed->password_file);
		return (-1);
	}
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
	argv[0] = "AUTH";
	if ((sp = strchr(line, ' ')) != NULL) {
		*sp = '\0';
		argv[1] = line;
		argv[2] = sp + 1;
		argc = 3;
	} else {
		argv[1] = line;
		argc = 2;
	}
	redisAsyncCommandArgv(l->ac, rlink_auth_cb, l, argc, argv, NULL);
	explicit_bzero(line, sizeof(line));
	return (0);
}

static void
rlink_connect_cb(const redisAsyncContext *ac, int status)
{
	struct rlink	*l = ac->data;
	struct feed	*f = l->feed;
	const char	*argv[] = { "XGROUP", "CREATE", f->stream, f->group,
			    "0", "MKSTREAM" };

	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		if (l->backoff_ms == RLINK_BACKOFF_MIN_MS)
			log_warnx("feed %s: redis %s: cannot connect to %s: "
			    "%s; retrying", f->name, l->role, f->redis,
			    ac->errstr);
		l->ac = NULL;
		l->state = RLINK_DOWN;
		rlink_schedule(l);
		return;
	}
	if (rlink_auth(l) == -1) {
		redisAsyncDisconnect(l->ac);
		return;
	}
	redisAsyncCommandArgv(l->ac, rlink_group_cb, l, 6, argv, NULL);
}

static void
rlink_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct rlink	*l = ac->data;

	if (l->retry == NULL) {		/* rlink_close */
		l->ac = NULL;
		return;
	}
	if (l->state == RLINK_UP && !bridge_stopping)
		log_warnx("feed %s: redis %s lost %s: %s; reconnecting",
		    l->feed->name, l->role, l->feed->redis,
		    status == REDIS_OK ? "closed" : ac->errstr);
	l->ac = NULL;
	l->state = RLINK_DOWN;
	rlink_schedule(l);
	feed_link_up(l);		/* tell the feed either way */
}

/* Open the connection: unix:PATH or HOST:PORT. */
void
rlink_connect(struct rlink *l)
{
	const char	*addr = l->feed->redis;
	char		 host[256], *colon;
	int		 port;

	if (l->ac != NULL)
		return;
	if (strncmp(addr, "unix:", 5) == 0)
		l->ac = redisAsyncConnectUnix(addr + 5);
	else {
		snprintf(host, sizeof(host), "%s", addr);
		if ((colon = strrchr(host, ':')) == NULL) {
			port = 6379;
		} else {
			*colon = '\0';
			port = atoi(colon + 1);
		}
		l->ac = redisAsyncConnect(host, port);
	}
	if (l->ac == NULL)
		fatalx("redisAsyncConnect: out of memory");
	if (l->ac->err) {
		if (l->backoff_ms == RLINK_BACKOFF_MIN_MS)
			log_warnx("feed %s: redis %s: cannot connect to %s: "
			    "%s; retrying", l->feed->name, l->role, addr,
			    l->ac->errstr);
		redisAsyncFree(l->ac);
		l->ac = NULL;
		rlink_schedule(l);
		return;
	}
	l->ac->data = l;
	l->state = RLINK_CONNECTING;
	redisLibeventAttach(l->ac, bridge_base);
	redisAsyncSetConnectCallback(l->ac, rlink_connect_cb);
	redisAsyncSetDisconnectCallback(l->ac, rlink_disconnect_cb);
}

/* Close for good: pending callbacks run with a NULL reply. */
void
rlink_close(struct rlink *l)
{
	if (l->retry != NULL) {
		event_free(l->retry);
		l->retry = NULL;
	}
	if (l->ac != NULL) {
		l->state = RLINK_DOWN;
		redisAsyncFree(l->ac);
		l->ac = NULL;
	}
}

int
rlink_argv(struct rlink *l, void (*cb)(redisAsyncContext *, void *, void *),
    void *arg, int argc, const char **argv, const size_t *argvlen)
{
	if (!rlink_up(l))
		return (-1);
	if (redisAsyncCommandArgv(l->ac, cb, arg, argc, argv,
	    argvlen) != REDIS_OK)
		return (-1);
	return (0);
}

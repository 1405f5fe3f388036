/*
 * One client connection: frames in, replies out.  Any number of requests
 * may be in flight; replies go out as tasks finish, matched by id.
 *
 * Backpressure: a connection with max_inflight tasks outstanding is not
 * read until replies drain (le-proxy's rule: stop reading, never buffer
 * without bound).  A client that breaks the protocol is "closing": nothing
 * more is read, the replies of its tasks in flight are still sent, then it
 * is closed.  A client that goes away abandons its queued tasks; those
 * already running finish and their output is dropped.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"
#include "proto_int.h"

struct client {
	TAILQ_ENTRY(client) entry;
	struct conn	*conn;
	struct taskmap	*tasks;		/* in flight, by the client's id */
	struct task_list tlist;		/* the same tasks, to walk at close */
	struct share_list shares;	/* its queue in each pool it used */
	unsigned int	 ninflight;
	int		 closing;	/* read nothing more; flush, then close */
	int		 paused;	/* reading stopped for max_inflight */
	int		 overflow;	/* over max_client_buffer: being closed */
	int		 lingering;	/* refused: discard its input, then close */
	struct event	*close_ev;	/* closes it from the loop */
	struct event	*resume_ev;	/* go on reading what is buffered */
	struct event	*partial_ev;	/* client_timeout on a half frame */
	int		 fd;
	uint64_t	 held_bufs;	/* bytes in its connection's buffers */
	uint64_t	 held_tasks;	/* payload bytes of its tasks */
	int		 mem_paused;	/* not read: over max_memory */
};
TAILQ_HEAD(client_list, client);

/* How long a refused client may still write before it is closed. */
#define LINGER_MS	1000

/* A client leaving with more than this buffered asks for malloc_trim. */
#define TRIM_AFTER	(1024 * 1024)

/* Bodies up to this are copied, not moved (see conn_add_buffer). */
#define CLIENT_COPY_MAX	(64 * 1024)
/* Up to this, a reply's body and its header go in one conn_add. */
#define SEND_JOIN_MAX	512

static struct client_list clients = TAILQ_HEAD_INITIALIZER(clients);
static unsigned int	 nclients;
static unsigned int	 nmem_paused;	/* clients not read for max_memory */
static struct event	*mem_resume_ev;

static void	client_read_cb(void *);
static void	client_read_frames(struct client *);
static void	client_drained_cb(void *);
static void	client_close_conn_cb(void *, int);
static void	client_resume_cb(evutil_socket_t, short, void *);
static void	client_partial_cb(evutil_socket_t, short, void *);
static void	client_free(struct client *);
static void	client_close_cb(evutil_socket_t, short, void *);
static void	client_close_after_flush(struct client *);
static void	client_linger(struct client *);

unsigned int
client_count(void)
{
	return (nclients);
}

static int
client_gid_listed(gid_t gid)
{
	unsigned int	i;

	for (i = 0; i < master->conf->n_allow_gids; i++)
		if (master->conf->allow_gids[i] == gid)
			return (1);
	return (0);
}

/*
 * allow_users and allow_groups, checked from the peer's credentials as the
 * kernel gives them (SO_PEERCRED, SO_PEERGROUPS): a client not allowed is
 * told FORBIDDEN and closed.  With both lists empty anyone who can open
 * the socket may use it (socket_mode and socket_group decide that).  The
 * daemon's own user is always admitted, unless it is root.
 */
static int
client_allowed(struct client *c)
{
	struct config	*conf = master->conf;
	struct ucred	 cred;
	gid_t		 groups[256];
	socklen_t	 len = sizeof(cred);
	unsigned int	 i;
	char		 text[128];

	if (conf->n_allow_uids == 0 && conf->n_allow_gids == 0)
		return (1);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("client %d: SO_PEERCRED", c->fd);
		cred.uid = (uid_t)-1;
		cred.gid = (gid_t)-1;
	}
	/*
	 * Its own unprivileged user (forkpool under systemd) could signal
	 * or trace it anyway, and `forkpool reload` (ExecReload=) runs as
	 * that user.  Root gets no such pass: the lists decide for it.
	 */
	if (cred.uid == geteuid() && cred.uid != 0)
		return (1);
	for (i = 0; i < conf->n_allow_uids; i++)
		if (conf->allow_uids[i] == cred.uid)
			return (1);
	if (client_gid_listed(cred.gid))
		return (1);
	len = sizeof(groups);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (i = 0; i < len / sizeof(gid_t); i++)
			if (client_gid_listed(groups[i]))
				return (1);
	log_info("client %d: user %u (group %u) is not in allow_users or "
	    "allow_groups; refused", c->fd, (unsigned)cred.uid,
	    (unsigned)cred.gid);
	snprintf(text, sizeof(text), "user %u (group %u) may not use this "
	    "daemon's socket", (unsigned)cred.uid, (unsigned)cred.gid);
	client_send(c, FP_ERROR, FP_ERR_FORBIDDEN, 0, text, strlen(text));
	return (0);
}

/* What the master holds for this client: buffers and task payloads. */
static uint64_t
client_held(const struct client *c)
{
	return (c->held_bufs + c->held_tasks);
}

/*
 * Past max_memory, the largest holders are refused first: a client
 * holding at least an even share of the bound takes no new task
 * (OVERLOADED) and is not read, so the small ones go on being served
 * and nobody is cut.
 */
static int
client_over_memory(const struct client *c)
{
	return (master->held > master->conf->max_memory &&
	    client_held(c) * (nclients > 0 ? nclients : 1) >=
	    master->conf->max_memory);
}

/* Stop reading a large holder while the master is over max_memory. */
static int
client_mem_pause(struct client *c)
{
	if (c->mem_paused)
		return (1);
	if (!client_over_memory(c))
		return (0);
	c->mem_paused = 1;
	nmem_paused++;
	conn_pause_read(c->conn);
	/* Not its fault that its half frame does not move now. */
	evtimer_del(c->partial_ev);
	return (1);
}

static void
client_mem_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	struct client	*c, *next;

	(void)fd;
	(void)events;
	(void)arg;
	for (c = TAILQ_FIRST(&clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!c->mem_paused || client_over_memory(c))
			continue;
		c->mem_paused = 0;
		nmem_paused--;
		if (!c->paused && !c->closing) {
			conn_resume_read(c->conn);
			client_read_frames(c);
		}
	}
}

/*
 * Bytes were let go (conn.c, task.c): clients paused for max_memory may
 * be read again.  Checked from the loop, once per turn.
 */
void
client_held_changed(void)
{
	if (nmem_paused == 0 || master->held > master->conf->max_memory)
		return;
	if (mem_resume_ev == NULL && (mem_resume_ev = event_new(master->base,
	    -1, 0, client_mem_resume_cb, NULL)) == NULL)
		fatalx("event_new");
	event_active(mem_resume_ev, 0, 0);
}

/* A new connection from the listener. */
void
client_accept(int fd)
{
	struct client	*c;

	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->tasks = taskmap_new();
	TAILQ_INIT(&c->tlist);
	TAILQ_INIT(&c->shares);
	c->conn = conn_new(fd, client_read_cb, client_drained_cb,
	    client_close_conn_cb, c);
	conn_account(c->conn, &c->held_bufs);
	c->resume_ev = event_new(master->base, -1, 0, client_resume_cb, c);
	c->partial_ev = evtimer_new(master->base, client_partial_cb, c);
	c->close_ev = event_new(master->base, -1, 0, client_close_cb, c);
	if (c->resume_ev == NULL || c->partial_ev == NULL ||
	    c->close_ev == NULL)
		fatalx("event_new");
	TAILQ_INSERT_TAIL(&clients, c, entry);
	nclients++;
	log_debug("client %d: connected", fd);
	if (!client_allowed(c))
		client_linger(c);
}

/*
 * A refused client: FORBIDDEN goes out, then what it sends is read and
 * dropped for up to LINGER_MS.  Closing at once with its bytes unread
 * would reset the connection, and a client that writes first would fail
 * on a broken pipe without ever reading why.
 */
static void
client_linger(struct client *c)
{
	c->closing = 1;
	c->lingering = 1;
	clock_arm_ms(c->close_ev, LINGER_MS);
}

/* A reply's header, into buf. */
static void
client_header(uint8_t *buf, uint8_t type, uint16_t arg, uint64_t id,
    size_t len)
{
	fp_hdr_put(buf, type, arg, id, len);
}

static void
client_put_header(struct client *c, uint8_t type, uint16_t arg, uint64_t id,
    size_t len)
{
	uint8_t		buf[FP_HDR_LEN];

	client_header(buf, type, arg, id, len);
	conn_add(c->conn, buf, sizeof(buf));
}

/*
 * A client that does not read its replies may hold only max_client_buffer
 * of them: past that it is closed (from the loop, since we are inside some
 * task's answer), its queued tasks dropped and its memory released.
 */
static int
client_over_limit(struct client *c, size_t adding)
{
	size_t	unsent = conn_unsent(c->conn);

	if (c->overflow)
		return (1);
	/* One reply larger than the bound still reaches a client that reads. */
	if (unsent == 0 || unsent + adding <= master->conf->max_client_buffer)
		return (0);
	log_warnx("client %d: %zu bytes of replies unread, over "
	    "max_client_buffer; closing it", c->fd, unsent + adding);
	c->overflow = 1;
	conn_pause_read(c->conn);
	event_active(c->close_ev, 0, 0);
	return (1);
}

static void
client_close_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	client_free(arg);
}

/* Queue one reply frame. */
void
client_send(struct client *c, uint8_t type, uint16_t arg, uint64_t id,
    const void *data, size_t len)
{
	uint8_t	buf[FP_HDR_LEN + SEND_JOIN_MAX];

	if (client_over_limit(c, FP_HDR_LEN + len))
		return;
	if (len <= SEND_JOIN_MAX) {
		client_header(buf, type, arg, id, len);
		if (len > 0)		/* data is NULL for an empty body */
			memcpy(buf + FP_HDR_LEN, data, len);
		conn_add(c->conn, buf, FP_HDR_LEN + len);
		return;
	}
	client_put_header(c, type, arg, id, len);
	conn_add(c->conn, data, len);
}

/* Queue one reply whose body comes from the front of from. */
void
client_send_buffer(struct client *c, uint8_t type, uint16_t arg, uint64_t id,
    struct evbuffer *from, size_t len)
{
	uint8_t	buf[FP_HDR_LEN + SEND_JOIN_MAX];

	if (client_over_limit(c, FP_HDR_LEN + len)) {
		evbuffer_drain(from, len);
		return;
	}
	/* A small reply goes out with its header in one add. */
	if (len <= SEND_JOIN_MAX) {
		client_header(buf, type, arg, id, len);
		evbuffer_remove(from, buf + FP_HDR_LEN, len);
		conn_add(c->conn, buf, FP_HDR_LEN + len);
		return;
	}
	client_put_header(c, type, arg, id, len);
	conn_add_buffer(c->conn, from, len, CLIENT_COPY_MAX);
}

/* Its replies are over max_client_buffer: run none of its queued tasks. */
int
client_overflowed(const struct client *c)
{
	return (c->overflow);
}

static void
client_send_error(struct client *c, int code, uint64_t id, const char *text)
{
	client_send(c, FP_ERROR, code, id, text, strlen(text));
}

/* Stop reading for good; close once the in-flight replies are out. */
static void
client_close_after_flush(struct client *c)
{
	c->closing = 1;
	conn_pause_read(c->conn);
	evtimer_del(c->partial_ev);
	if (c->ninflight == 0 &&
	    conn_unsent(c->conn) == 0)
		client_free(c);
}

/* The task has been answered (or dropped): forget it. */
void
client_task_done(struct client *c, struct task *task)
{
	taskmap_remove(c->tasks, task->id);
	TAILQ_REMOVE(&c->tlist, task, centry);
	task->client = NULL;
	task_hold(task, NULL);
	c->ninflight--;
	if (c->closing) {
		if (c->ninflight == 0 &&
		    conn_unsent(c->conn) == 0)
			client_free(c);
		return;
	}
	/*
	 * Resume from the loop, not from here: we may be deep inside a
	 * worker's read callback, and reading new requests now would
	 * dispatch to that same worker under its feet.
	 */
	if (c->paused && c->ninflight < master->conf->max_inflight)
		event_active(c->resume_ev, 0, 0);
}

static void
client_submit(struct client *c, const struct fp_hdr *hdr,
    const uint8_t *frame)
{
	struct pool	*pool;
	struct share	*last = TAILQ_FIRST(&c->shares);
	struct task	*task;
	size_t		 slot;
	char		 name[FP_POOL_NAME_MAX + 1], text[160];

	if (hdr->arg == 0 || hdr->arg > FP_POOL_NAME_MAX ||
	    hdr->arg > hdr->len) {
		snprintf(text, sizeof(text), "the pool name length (arg) is %u; "
		    "it must be 1 to %d and within the body of %u bytes",
		    hdr->arg, FP_POOL_NAME_MAX, hdr->len);
		client_send_error(c, FP_ERR_BAD_REQUEST, hdr->id, text);
		return;
	}
	memcpy(name, frame + FP_HDR_LEN, hdr->arg);
	name[hdr->arg] = '\0';
	/* The pool of its last task again (the usual case): known valid. */
	pool = last != NULL && !last->pool->removed &&
	    last->pool->name[hdr->arg] == '\0' &&
	    memcmp(last->pool->name, name, hdr->arg) == 0 ? last->pool : NULL;
	if (pool == NULL && !fp_pool_name_valid(name, hdr->arg)) {
		client_send_error(c, FP_ERR_BAD_REQUEST, hdr->id, "the pool "
		    "name may hold only A-Z a-z 0-9 _ . -");
		return;
	}
	/* Where the task goes: nothing changes the map before it is added. */
	if (taskmap_lookup(c->tasks, hdr->id, &slot) != NULL) {
		snprintf(text, sizeof(text), "id %llu is already in flight on "
		    "this connection", (unsigned long long)hdr->id);
		client_send_error(c, FP_ERR_BAD_REQUEST, hdr->id, text);
		return;
	}
	if (pool == NULL && (pool = pool_find(name, hdr->arg)) == NULL) {
		snprintf(text, sizeof(text), "no pool is named \"%s\"", name);
		client_send_error(c, FP_ERR_UNKNOWN_POOL, hdr->id, text);
		return;
	}
	if (master->stopping) {
		pool->shutting_down++;
		client_send_error(c, FP_ERR_SHUTTING_DOWN, hdr->id,
		    "the daemon is stopping; the task was not run");
		return;
	}
	if (pool->nqueued >= pool->conf->queue_limit) {
		pool->overloaded++;
		snprintf(text, sizeof(text), "pool %s has %u tasks queued, its "
		    "queue_limit; nothing was run", pool->name, pool->nqueued);
		client_send_error(c, FP_ERR_OVERLOADED, hdr->id, text);
		return;
	}

	if (client_over_memory(c)) {
		pool->overloaded++;
		snprintf(text, sizeof(text), "the daemon holds %llu bytes for "
		    "its clients, over max_memory (%llu), and this connection "
		    "holds %llu of them; nothing was run",
		    (unsigned long long)master->held,
		    (unsigned long long)master->conf->max_memory,
		    (unsigned long long)client_held(c));
		client_send_error(c, FP_ERR_OVERLOADED, hdr->id, text);
		return;
	}

	pool->bytes_in += hdr->len - hdr->arg;
	task = task_new(c, pool, hdr->id, hdr->arg, frame, hdr->len);
	task_hold(task, &c->held_tasks);
	task->share = share_get(pool, c, &c->shares);
	taskmap_add_at(c->tasks, slot, hdr->id, task);
	TAILQ_INSERT_TAIL(&c->tlist, task, centry);
	c->ninflight++;
	pool_submit(pool, task);
}

/* CANCEL: drop the named task if it has not started; otherwise nothing. */
static void
client_cancel(struct client *c, uint64_t id)
{
	struct task	*task;

	if ((task = taskmap_find(c->tasks, id)) == NULL)
		return;
	switch (task->state) {
	case TASK_QUEUED:
		share_unqueue(task);
		task_fail(task, FP_ERR_CANCELLED, "cancelled before it started");
		break;
	case TASK_SENT:
		if (task != TAILQ_FIRST(&task->worker->inflight))
			task_cancel_sent(task);
		break;
	case TASK_DONE:
		break;
	}
}

static void
client_metrics(struct client *c, uint64_t id)
{
	struct evbuffer	*text;

	if ((text = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	metrics_text(text);
	client_send_buffer(c, FP_METRICS_REPLY, 0, id, text,
	    evbuffer_get_length(text));
	evbuffer_free(text);
}

/* One whole frame, in place: its header, then hdr->len bytes. */
static void
client_frame(struct client *c, const struct fp_hdr *hdr,
    const uint8_t *frame)
{
	char	*json, text[96];

	if (hdr->type == FP_SUBMIT) {
		client_submit(c, hdr, frame);
		return;
	}
	if (hdr->len != 0 && (hdr->type == FP_PING || hdr->type == FP_STATUS ||
	    hdr->type == FP_METRICS || hdr->type == FP_CANCEL)) {
		snprintf(text, sizeof(text), "a frame of type 0x%02x carries no "
		    "body, this one has %u bytes", hdr->type, hdr->len);
		client_send_error(c, FP_ERR_BAD_REQUEST, hdr->id, text);
		return;
	}
	switch (hdr->type) {
	case FP_PING:
		client_send(c, FP_PONG, 0, hdr->id, NULL, 0);
		break;
	case FP_STATUS:
		json = status_json();
		client_send(c, FP_STATUS_REPLY, 0, hdr->id, json, strlen(json));
		free(json);
		break;
	case FP_METRICS:
		client_metrics(c, hdr->id);
		break;
	case FP_CANCEL:
		client_cancel(c, hdr->id);
		break;
	default:
		snprintf(text, sizeof(text), "unknown frame type 0x%02x",
		    hdr->type);
		client_send_error(c, FP_ERR_BAD_REQUEST, hdr->id, text);
		break;
	}
}

/*
 * A SUBMIT whose header already says its payload is over max_payload is
 * answered TOO_LARGE at once, before a byte of its body is kept (a client
 * that stops sending would otherwise wait for ever), and the connection
 * closes.
 */
static int
client_too_large(struct client *c, const struct fp_hdr *hdr)
{
	char	text[128];

	if (hdr->type != FP_SUBMIT || hdr->arg > hdr->len ||
	    hdr->len - hdr->arg <= master->conf->max_payload)
		return (0);
	snprintf(text, sizeof(text), "the payload of %u bytes is over "
	    "max_payload (%u bytes)", hdr->len - hdr->arg,
	    master->conf->max_payload);
	client_send_error(c, FP_ERR_TOO_LARGE, hdr->id, text);
	client_close_after_flush(c);
	return (1);
}

/* Take every whole frame the input holds, as far as backpressure allows. */
static void
client_read_frames(struct client *c)
{
	struct conn_cursor	 cur = { NULL, 0, 0 };
	struct fp_hdr		 hdr;
	uint32_t		 max_body;
	int			 rc, progress = 0;
	char			 text[128];

	/* Frames are read in place and drained together (conn_take). */
	max_body = master->conf->max_payload + FP_POOL_NAME_MAX;
	while (!c->closing && !c->mem_paused) {
		if (c->ninflight >= master->conf->max_inflight) {
			c->paused = 1;
			conn_pause_read(c->conn);
			break;
		}
		if (!conn_take(c->conn, &cur, FP_HDR_LEN))
			break;
		rc = fp_hdr_decode(cur.base + cur.off, &hdr, max_body);
		if (rc != 0) {
			if (rc == FP_ERR_PROTOCOL)
				snprintf(text, sizeof(text), "protocol version "
				    "%u is not supported; this daemon speaks "
				    "%d", hdr.version, FP_PROTO_VERSION);
			else
				snprintf(text, sizeof(text), "a body of %u "
				    "bytes is over the limit (max_payload %u "
				    "plus the pool name)", hdr.len, max_body -
				    FP_POOL_NAME_MAX);
			log_debug("client %d: %s", c->fd, text);
			conn_taken(c->conn, &cur);
			client_send_error(c, rc, hdr.id, text);
			client_close_after_flush(c);
			return;
		}
		if (client_too_large(c, &hdr)) {
			conn_taken(c->conn, &cur);
			return;
		}
		/* Not all of it yet: wait for the rest. */
		if (!conn_take(c->conn, &cur, FP_HDR_LEN + (size_t)hdr.len))
			break;
		client_frame(c, &hdr, cur.base + cur.off);
		cur.off += FP_HDR_LEN + (size_t)hdr.len;
		progress = 1;
	}
	conn_taken(c->conn, &cur);
	if (c->closing)
		return;
	/* A partial frame of a large holder waits for memory to free up. */
	if (evbuffer_get_length(conn_input(c->conn)) > 0 &&
	    client_mem_pause(c))
		return;
	/* client_timeout runs while a frame is half-sent and nothing moves. */
	if (evbuffer_get_length(conn_input(c->conn)) == 0 || c->paused)
		evtimer_del(c->partial_ev);
	else if ((progress || !evtimer_pending(c->partial_ev, NULL)) &&
	    master->conf->client_timeout_ms > 0)
		clock_arm_ms(c->partial_ev, master->conf->client_timeout_ms);
}

static void
client_read_cb(void *arg)
{
	struct client	*c = arg;

	if (c->lingering) {
		conn_discard_input(c->conn);
		return;
	}
	client_read_frames(c);
}

static void
client_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	struct client	*c = arg;

	(void)fd;
	(void)events;
	if (c->closing || !c->paused ||
	    c->ninflight >= master->conf->max_inflight)
		return;
	c->paused = 0;
	conn_resume_read(c->conn);
	client_read_frames(c);
}

static void
client_partial_cb(evutil_socket_t fd, short events, void *arg)
{
	struct client	*c = arg;

	(void)fd;
	(void)events;
	log_info("client %d: half a frame for longer than client_timeout; "
	    "closing", c->fd);
	client_close_after_flush(c);
}

/* Everything queued has been written. */
static void
client_drained_cb(void *arg)
{
	struct client	*c = arg;

	/* Refused: the reason is out; EOF tells it there is no more. */
	if (c->lingering) {
		shutdown(c->fd, SHUT_WR);
		return;
	}
	if (c->closing && c->ninflight == 0)
		client_free(c);
}

/* End of file or an error: the client is gone. */
static void
client_close_conn_cb(void *arg, int err)
{
	struct client	*c = arg;

	if (err != 0)
		log_debug("client %d: %s", c->fd, strerror(err));
	else
		log_debug("client %d: disconnected", c->fd);
	client_free(c);
}

/*
 * Let go of a connection.  Queued tasks are dropped without being run;
 * tasks already on a worker lose their client and their output is dropped.
 */
static void
client_free(struct client *c)
{
	struct task	*task;
	struct share	*share;

	/* Give a big client's memory back to the system soon (master.c). */
	if (conn_unsent(c->conn) +
	    evbuffer_get_length(conn_input(c->conn)) > TRIM_AFTER ||
	    c->ninflight > 1000)
		master->trim_wanted = 1;
	while ((task = TAILQ_FIRST(&c->tlist)) != NULL) {
		TAILQ_REMOVE(&c->tlist, task, centry);
		task->client = NULL;
		task_hold(task, NULL);
		if (task->state == TASK_QUEUED) {
			share_unqueue(task);
			task_free(task);
		} else
			task->share = NULL;
	}
	while ((share = TAILQ_FIRST(&c->shares)) != NULL)
		share_free(share);
	if (c->mem_paused)
		nmem_paused--;
	TAILQ_REMOVE(&clients, c, entry);
	nclients--;
	taskmap_free(c->tasks);
	event_free(c->resume_ev);
	event_free(c->partial_ev);
	event_free(c->close_ev);
	conn_free(c->conn);
	free(c);
	listen_client_gone();
	if (master->stopping)
		master_check_stopped();
}

/* At stop, once no task runs: close every client, after its replies. */
void
client_stop_all(void)
{
	struct client	*c, *next;

	for (c = TAILQ_FIRST(&clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!c->closing)
			client_close_after_flush(c);
	}
}

/* Exit now: one non-blocking write of what each client is owed. */
void
client_flush_all(void)
{
	struct client	*c;

	TAILQ_FOREACH(c, &clients, entry)
		evbuffer_write(conn_output(c->conn), c->fd);
}

/* Exit now: drop every connection whatever it still holds. */
void
client_free_all(void)
{
	struct client	*c;

	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_free(c);
	if (mem_resume_ev != NULL) {
		event_free(mem_resume_ev);
		mem_resume_ev = NULL;
	}
}

/*
 * After a reload narrowed allow_users or allow_groups: a client no longer
 * allowed is told FORBIDDEN, its queued tasks are refused, and it is
 * closed once the replies of those already running are out.
 */
void
client_recheck_all(void)
{
	struct client	*c, *next;
	struct task	*task, *tnext;

	for (c = TAILQ_FIRST(&clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->closing || client_allowed(c))
			continue;
		for (task = TAILQ_FIRST(&c->tlist); task != NULL;
		    task = tnext) {
			tnext = TAILQ_NEXT(task, centry);
			if (task->state != TASK_QUEUED)
				continue;
			share_unqueue(task);
			task_fail(task, FP_ERR_FORBIDDEN, "this user may no "
			    "longer use the daemon (allow_users or "
			    "allow_groups changed); the task was not run");
		}
		client_close_after_flush(c);
	}
}

/*
 * feed_*: one [redis:NAME] section at work: its window of held entries
 * and the life of each, from taken to acknowledged.  What to do with a
 * reply from forkpoold is decided here.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bridge.h"
#include "forkpool/proto.h"
#include "log.h"

#define FEED_ROOM_MIN_MS	5
#define FEED_ROOM_MAX_MS	500

static void	feed_room_cb(evutil_socket_t, short, void *);
static void	feed_pump_cb(evutil_socket_t, short, void *);
static void	feed_refresh_cb(evutil_socket_t, short, void *);
static void	feed_claim_cb(evutil_socket_t, short, void *);
static void	feed_flush_cb(evutil_socket_t, short, void *);

static struct event *
feed_event(struct feed *f, event_callback_fn cb)
{
	struct event	*ev;

	if ((ev = evtimer_new(bridge_base, cb, f)) == NULL)
		fatalx("evtimer_new");
	return (ev);
}

/* Connect to Redis and start taking entries. */
void
feed_start(struct feed *f)
{
	unsigned int	i;

	f->slots = xcalloc(f->window, sizeof(*f->slots));
	for (i = 0; i < f->window; i++) {
		f->slots[i].feed = f;
		f->slots[i].slot = i;
	}
	TAILQ_INIT(&f->waitq);
	TAILQ_INIT(&f->outq);
	f->room_ev = feed_event(f, feed_room_cb);
	f->pump_ev = feed_event(f, feed_pump_cb);
	f->refresh_ev = feed_event(f, feed_refresh_cb);
	f->claim_ev = feed_event(f, feed_claim_cb);
	f->flush_ev = feed_event(f, feed_flush_cb);
	f->room_ms = FEED_ROOM_MIN_MS;
	snprintf(f->claim_cursor, sizeof(f->claim_cursor), "0-0");
	rlink_init(&f->rd, f, "reader");
	rlink_init(&f->wr, f, "writer");
	rlink_connect(&f->wr);
	rlink_connect(&f->rd);
	bridge_timer(f->refresh_ev, f->refresh_ms);
	bridge_timer(f->claim_ev, f->refresh_ms);
}

/* SIGTERM: take nothing more; what has not started stays pending. */
void
feed_stop(struct feed *f)
{
	unsigned int	 i;
	struct entry	*e;

	event_del(f->claim_ev);
	event_del(f->pump_ev);
	rlink_close(&f->rd);
	f->reading = 0;
	for (i = 0; i < f->window; i++) {
		e = &f->slots[i];
		if (e->state == ENTRY_WAIT_ROOM || e->state == ENTRY_WAIT_LOCAL)
			entry_release(e);
	}
	log_info("feed %s: stopping, %u entries still running", f->name,
	    f->held);
}

static void
entry_clear(struct entry *e)
{
	free(e->payload);
	free(e->pool);
	free(e->reply_to);
	free(e->text);
	free(e->output);
	e->payload = e->pool = e->reply_to = e->text = e->output = NULL;
	e->payload_len = e->output_len = 0;
	e->deadline_ms = 0;
	e->deliveries = 0;
	e->dead = 0;
	e->code = 0;
	e->status = 0;
	e->id[0] = '\0';
}

void
feed_free(struct feed *f)
{
	unsigned int	i;

	if (f->slots != NULL) {
		for (i = 0; i < f->window; i++)
			entry_clear(&f->slots[i]);
		free(f->slots);
	}
	rlink_close(&f->rd);
	rlink_close(&f->wr);
	if (f->room_ev != NULL) {
		event_free(f->room_ev);
		event_free(f->pump_ev);
		event_free(f->refresh_ev);
		event_free(f->claim_ev);
		event_free(f->flush_ev);
	}
	free(f->name);
	free(f->redis);
	free(f->password_file);
	free(f->stream);
	free(f->group);
	free(f->consumer);
	free(f->pool);
	free(f->results);
	free(f->dead_letter);
	free(f);
}

/* A free slot, or NULL when the window is full. */
struct entry *
entry_alloc(struct feed *f, const char *id)
{
	unsigned int	 i;
	struct entry	*e;

	for (i = 0; i < f->window; i++) {
		e = &f->slots[i];
		if (e->state != ENTRY_FREE)
			continue;
		e->gen++;
		snprintf(e->id, sizeof(e->id), "%s", id);
		e->state = ENTRY_COUNTING;
		f->held++;
		return (e);
	}
	return (NULL);
}

/* The entry with this id that we hold, or NULL. */
struct entry *
feed_find(struct feed *f, const char *id)
{
	unsigned int	i;

	for (i = 0; i < f->window; i++) {
		if (f->slots[i].state != ENTRY_FREE &&
		    strcmp(f->slots[i].id, id) == 0)
			return (&f->slots[i]);
	}
	return (NULL);
}

/*
 * Forget an entry without acknowledging it: it stays in our pending list
 * and is read again (or taken over) later.
 */
void
entry_release(struct entry *e)
{
	struct feed	*f = e->feed;

	if (e->state == ENTRY_FREE)
		return;
	if (e->state == ENTRY_WAIT_ROOM)
		TAILQ_REMOVE(&f->waitq, e, entry);
	else if (e->state == ENTRY_QUEUED)
		TAILQ_REMOVE(&f->outq, e, entry);
	entry_clear(e);
	e->state = ENTRY_FREE;
	f->held--;
	feed_pump(f);
	bridge_check_drained();
}

/* Hand the entry to forkpoold, or wait for it to be there. */
static void
entry_submit(struct entry *e)
{
	if (e->deadline_ms != 0 && bridge_wall_ms() >= e->deadline_ms) {
		outcome_set_error(e, OUTCOME_EXPIRED, 0,
		    "its deadline passed before it could run");
		outcome_queue(e);
	} else if (!local_up())
		e->state = ENTRY_WAIT_LOCAL;
	else if (local_submit(e) == 0)
		e->state = ENTRY_RUNNING;
	else
		e->state = ENTRY_WAIT_LOCAL;
}

/* An entry taken, its delivery count known: run it or settle it. */
void
entry_begin(struct entry *e)
{
	struct feed	*f = e->feed;
	char		*why;

	if (bridge_stopping) {
		entry_release(e);
		return;
	}
	if (e->deliveries > f->max_deliveries) {
		xasprintf(&why, "delivered %u times, more than max_deliveries "
		    "(%u); last error: %s", e->deliveries, f->max_deliveries,
		    e->text != NULL ? e->text : "the consumers holding it "
		    "stopped answering");
		e->dead = 1;
		outcome_set_error(e, OUTCOME_ERROR,
		    e->code != 0 ? e->code : FP_ERR_WORKER_CRASHED, why);
		free(why);
		log_warnx("feed %s: entry %s to %s after %u deliveries",
		    f->name, e->id, f->dead_letter, e->deliveries);
		outcome_queue(e);
		return;
	}
	if (e->pool == NULL) {
		outcome_set_error(e, OUTCOME_ERROR, FP_ERR_BAD_REQUEST,
		    "the entry has no pool field and the feed names no pool");
		outcome_queue(e);
		return;
	}
	entry_submit(e);
}

/* What forkpoold answered for a task of ours. */
void
feed_reply(struct entry *e, int type, unsigned int arg, const void *body,
    size_t len)
{
	struct feed	*f = e->feed;
	char		 text[512];

	if (e->state == ENTRY_LOST) {
		entry_release(e);
		return;
	}
	if (type == FP_RESULT) {
		f->room_ms = FEED_ROOM_MIN_MS;
		outcome_set_result(e, arg, body, len);
		outcome_queue(e);
		return;
	}
	if (type != FP_ERROR) {
		outcome_set_error(e, OUTCOME_ERROR, FP_ERR_INTERNAL,
		    "forkpoold sent a frame of an unexpected type");
		outcome_queue(e);
		return;
	}
	snprintf(text, sizeof(text), "%.*s", (int)len, (const char *)body);
	switch (arg) {
	case FP_ERR_OVERLOADED:
		/* Nothing ran: wait for room and submit again. */
		e->state = ENTRY_WAIT_ROOM;
		TAILQ_INSERT_TAIL(&f->waitq, e, entry);
		if (!evtimer_pending(f->room_ev, NULL))
			bridge_timer(f->room_ev, f->room_ms);
		break;
	case FP_ERR_SHUTTING_DOWN:
		/* Nothing ran; forkpoold is going: again once it is back. */
		if (bridge_stopping)
			entry_release(e);
		else
			e->state = ENTRY_WAIT_LOCAL;
		break;
	case FP_ERR_CANCELLED:
		entry_release(e);
		break;
	case FP_ERR_WORKER_CRASHED:
	case FP_ERR_TIMEOUT:
	case FP_ERR_QUARANTINED:
		/*
		 * Not an outcome: the entry is delivered again, and counted,
		 * until max_deliveries sends it to the dead letters.
		 */
		e->code = arg;
		free(e->text);
		e->text = xstrdup(text);
		if (bridge_stopping)
			entry_release(e);
		else
			take_redeliver(e);
		break;
	default:
		/* UNKNOWN_POOL, UNAVAILABLE, codes we do not know: outcomes. */
		outcome_set_error(e, OUTCOME_ERROR, arg, text);
		outcome_queue(e);
		break;
	}
}

/* Submit again what forkpoold had no room for. */
static void
feed_room_cb(evutil_socket_t fd, short events, void *arg)
{
	struct feed	*f = arg;
	struct entryq	 q;
	struct entry	*e;

	(void)fd;
	(void)events;
	TAILQ_INIT(&q);
	TAILQ_CONCAT(&q, &f->waitq, entry);
	if (f->room_ms < FEED_ROOM_MAX_MS)
		f->room_ms *= 2;
	while ((e = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, e, entry);
		entry_submit(e);
	}
}

/* forkpoold is back: submit what was waiting for it. */
void
feed_local_up(void)
{
	struct feed	*f;
	unsigned int	 i;

	TAILQ_FOREACH(f, &bridge_conf->feeds, entry) {
		for (i = 0; i < f->window; i++) {
			if (f->slots[i].state == ENTRY_WAIT_LOCAL)
				entry_submit(&f->slots[i]);
		}
	}
}

/*
 * The connection to forkpoold is gone, and with it every reply we were
 * owed.  Those tasks are not acknowledged; they run again once forkpoold
 * is back (at least once).
 */
void
feed_local_lost(void)
{
	struct feed	*f;
	struct entry	*e;
	unsigned int	 i, n;

	TAILQ_FOREACH(f, &bridge_conf->feeds, entry) {
		n = 0;
		for (i = 0; i < f->window; i++) {
			e = &f->slots[i];
			if (e->state == ENTRY_LOST)
				entry_release(e);
			else if (e->state == ENTRY_RUNNING) {
				e->state = bridge_stopping ? e->state :
				    ENTRY_WAIT_LOCAL;
				if (bridge_stopping)
					entry_release(e);
				n++;
			}
		}
		if (n > 0)
			log_warnx("feed %s: %u tasks were running in forkpoold;"
			    " they will run again", f->name, n);
	}
}

/* A Redis connection came up or went down. */
void
feed_link_up(struct rlink *l)
{
	struct feed	*f = l->feed;

	if (l == &f->rd) {
		f->reading = 0;
		f->reserved_read = 0;
		if (rlink_up(l)) {
			/*
			 * A read cut off may have been delivered to us without
			 * our seeing it: read our own pending entries first.
			 */
			f->history = 1;
			snprintf(f->history_id, sizeof(f->history_id), "0");
			feed_pump(f);
		}
		return;
	}
	f->claiming = 0;
	f->reserved_claim = 0;
	if (rlink_up(l))
		outcome_link_up(f);
}

void
feed_pump(struct feed *f)
{
	if (!bridge_stopping && f->pump_ev != NULL)
		event_active(f->pump_ev, EV_TIMEOUT, 0);
}

static void
feed_pump_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	take_read(arg);
}

static void
feed_refresh_cb(evutil_socket_t fd, short events, void *arg)
{
	struct feed	*f = arg;

	(void)fd;
	(void)events;
	take_refresh(f);
	bridge_timer(f->refresh_ev, f->refresh_ms);
}

static void
feed_claim_cb(evutil_socket_t fd, short events, void *arg)
{
	struct feed	*f = arg;

	(void)fd;
	(void)events;
	take_claim(f);
	if (!bridge_stopping)
		bridge_timer(f->claim_ev, f->refresh_ms);
}

void
feed_flush(struct feed *f)
{
	event_active(f->flush_ev, EV_TIMEOUT, 0);
}

static void
feed_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	outcome_flush(arg);
}

/* Slots neither held nor promised to a read or claim in flight. */
unsigned int
feed_room(const struct feed *f)
{
	unsigned int	used = f->held + f->reserved_read + f->reserved_claim;

	return (used >= f->window ? 0 : f->window - used);
}

struct ebatch *
ebatch_new(struct feed *f, unsigned int max)
{
	struct ebatch	*b;

	b = xcalloc(1, sizeof(*b) + max * sizeof(b->refs[0]));
	b->feed = f;
	return (b);
}

void
ebatch_add(struct ebatch *b, const struct entry *e)
{
	b->refs[b->n].slot = e->slot;
	b->refs[b->n].gen = e->gen;
	b->n++;
}

/* The batch's i-th entry, or NULL when its slot has moved on since. */
struct entry *
ebatch_get(const struct ebatch *b, unsigned int i)
{
	struct entry	*e = &b->feed->slots[b->refs[i].slot];

	if (e->state == ENTRY_FREE || e->gen != b->refs[i].gen)
		return (NULL);
	return (e);
}

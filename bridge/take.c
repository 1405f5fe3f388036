/*
 * take_*: how entries come to us and stay ours.  New entries with
 * XREADGROUP; our own pending ones after a restart by reading our history;
 * a dead consumer's with XAUTOCLAIM once idle past claim_idle; and while
 * we hold entries, XCLAIM JUSTID every refresh so nobody takes them.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "bridge.h"
#include "forkpool/proto.h"
#include "log.h"

#define TAKE_BLOCK_MS	"2000"

/*
 * Refresh only what is still ours: an entry another consumer took while
 * we were cut off must not be taken back, or both would run it.  Returns
 * the ids that are no longer ours.
 */
static const char take_refresh_lua[] =
    "local lost, claim = {}, {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}\n"
    "for i = 3, #ARGV do\n"
    "  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i],"
    " ARGV[i], 1)\n"
    "  if p[1] and p[1][2] == ARGV[2] then claim[#claim + 1] = ARGV[i]\n"
    "  else lost[#lost + 1] = ARGV[i] end\n"
    "end\n"
    "if #claim > 5 then\n"
    "  claim[#claim + 1] = 'JUSTID'\n"
    "  redis.call(unpack(claim))\n"
    "end\n"
    "return lost\n";

static void	take_count(struct feed *, struct rlink *, struct ebatch *);

static int
take_is(const redisReply *r, int type)
{
	return (r != NULL && r->type == type);
}

/* An entry's fields into e; the feed's pool, if it names one, wins. */
static void
take_fields(struct feed *f, struct entry *e, const redisReply *fields)
{
	const redisReply	*k, *v;
	size_t			 i;

	for (i = 0; i + 1 < fields->elements; i += 2) {
		k = fields->element[i];
		v = fields->element[i + 1];
		if (!take_is(k, REDIS_REPLY_STRING) ||
		    !take_is(v, REDIS_REPLY_STRING))
			continue;
		if (strcmp(k->str, "payload") == 0 && e->payload == NULL) {
			e->payload = xcalloc(1, v->len + 1);
			memcpy(e->payload, v->str, v->len);
			e->payload_len = v->len;
		} else if (strcmp(k->str, "pool") == 0 && e->pool == NULL &&
		    f->pool == NULL && fp_pool_name_valid(v->str, v->len))
			e->pool = xstrdup(v->str);
		else if (strcmp(k->str, "reply_to") == 0 &&
		    e->reply_to == NULL && v->len > 0)
			e->reply_to = xstrdup(v->str);
		else if (strcmp(k->str, "deadline") == 0)
			e->deadline_ms = strtoll(v->str, NULL, 10);
	}
	if (f->pool != NULL)
		e->pool = xstrdup(f->pool);
	if (e->payload == NULL)
		e->payload = xcalloc(1, 1);
}

/* An entry deleted from the stream while pending: nothing to run. */
static void
take_ack_deleted(struct feed *f, const char *id)
{
	const char	*argv[] = { "XACK", f->stream, f->group, id };

	log_info("feed %s: entry %s was deleted from %s; acknowledged",
	    f->name, id, f->stream);
	rlink_argv(&f->wr, NULL, NULL, 4, argv, NULL);
}

/*
 * Hold the entries of an XREADGROUP or XAUTOCLAIM reply.  New entries
 * (counting 0) are on their first delivery; the others need their
 * delivery count from XPENDING before they may run.
 */
static unsigned int
take_entries(struct feed *f, struct rlink *l, const redisReply *arr,
    int counting)
{
	const redisReply	*el;
	struct ebatch		*b;
	struct entry		*e;
	size_t			 i;
	unsigned int		 n = 0;

	b = ebatch_new(f, arr->elements);
	for (i = 0; i < arr->elements; i++) {
		el = arr->element[i];
		if (!take_is(el, REDIS_REPLY_ARRAY) || el->elements < 2 ||
		    !take_is(el->element[0], REDIS_REPLY_STRING))
			continue;
		if (feed_find(f, el->element[0]->str) != NULL)
			continue;
		if (!take_is(el->element[1], REDIS_REPLY_ARRAY)) {
			take_ack_deleted(f, el->element[0]->str);
			continue;
		}
		if ((e = entry_alloc(f, el->element[0]->str)) == NULL) {
			log_warnx("feed %s: window full; entry %s left "
			    "pending", f->name, el->element[0]->str);
			continue;
		}
		take_fields(f, e, el->element[1]);
		n++;
		if (counting)
			ebatch_add(b, e);
		else {
			e->deliveries = 1;
			entry_begin(e);
		}
	}
	if (b->n > 0)
		take_count(f, l, b);
	else
		free(b);
	return (n);
}

static void
take_read_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct feed		*f = arg;
	redisReply		*reply = r;
	const redisReply	*entries;

	(void)ac;
	f->reading = 0;
	f->reserved_read = 0;
	if (reply == NULL || bridge_stopping)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		rlink_fail(&f->rd, "XREADGROUP", reply->str);
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
	    take_is(reply->element[0], REDIS_REPLY_ARRAY) &&
	    reply->element[0]->elements == 2 &&
	    take_is(reply->element[0]->element[1], REDIS_REPLY_ARRAY)) {
		entries = reply->element[0]->element[1];
		f->counters[FC_READ] += take_entries(f, &f->rd, entries,
		    f->history);
		if (f->history && entries->elements > 0 &&
		    take_is(entries->element[entries->elements - 1],
		    REDIS_REPLY_ARRAY))
			snprintf(f->history_id, sizeof(f->history_id), "%s",
			    entries->element[entries->elements - 1]->
			    element[0]->str);
		else if (f->history)
			f->history = 0;
	} else if (f->history)
		f->history = 0;
	take_read(f);
}

/* Ask for as many entries as the window has room for. */
void
take_read(struct feed *f)
{
	char		 count[16];
	unsigned int	 room;
	const char	*argv[11];

	if (bridge_stopping || f->reading || !rlink_up(&f->rd))
		return;
	if (f->claim_due)
		take_claim(f);
	if ((room = feed_room(f)) == 0)
		return;
	snprintf(count, sizeof(count), "%u", room);
	argv[0] = "XREADGROUP";
	argv[1] = "GROUP";
	argv[2] = f->group;
	argv[3] = f->consumer;
	argv[4] = "COUNT";
	argv[5] = count;
	argv[6] = "BLOCK";
	argv[7] = TAKE_BLOCK_MS;
	argv[8] = "STREAMS";
	argv[9] = f->stream;
	argv[10] = f->history ? f->history_id : ">";
	if (rlink_argv(&f->rd, take_read_cb, f, 11, argv, NULL) == 0) {
		f->reading = 1;
		f->reserved_read = room;
	}
}

/* The delivery counts of claimed or re-read entries. */
static void
take_count_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct ebatch		*b = arg;
	redisReply		*reply = r;
	const redisReply	*row;
	struct entry		*e;
	size_t			 i;
	unsigned int		 j;

	(void)ac;
	for (i = 0; take_is(reply, REDIS_REPLY_ARRAY) && i < reply->elements;
	    i++) {
		row = reply->element[i];
		if (!take_is(row, REDIS_REPLY_ARRAY) || row->elements < 4 ||
		    !take_is(row->element[0], REDIS_REPLY_STRING))
			continue;
		for (j = 0; j < b->n; j++) {
			e = ebatch_get(b, j);
			if (e == NULL || e->state != ENTRY_COUNTING ||
			    strcmp(e->id, row->element[0]->str) != 0)
				continue;
			e->deliveries = row->element[3]->integer;
			entry_begin(e);
			break;
		}
	}
	/* Not in our pending list any more: not ours to run. */
	for (j = 0; j < b->n; j++) {
		if ((e = ebatch_get(b, j)) != NULL &&
		    e->state == ENTRY_COUNTING)
			entry_release(e);
	}
	free(b);
}

static void
take_count(struct feed *f, struct rlink *l, struct ebatch *b)
{
	char		 count[16];
	const char	*argv[7];
	unsigned int	 j;
	struct entry	*e;

	snprintf(count, sizeof(count), "%u", b->n + f->window);
	argv[0] = "XPENDING";
	argv[1] = f->stream;
	argv[2] = f->group;
	argv[3] = ebatch_get(b, 0)->id;
	argv[4] = ebatch_get(b, b->n - 1)->id;
	argv[5] = count;
	argv[6] = f->consumer;
	if (rlink_argv(l, take_count_cb, b, 7, argv, NULL) == 0)
		return;
	for (j = 0; j < b->n; j++) {
		if ((e = ebatch_get(b, j)) != NULL)
			entry_release(e);
	}
	free(b);
}

static void
take_claim_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct feed		*f = arg;
	redisReply		*reply = r;
	unsigned int		 room = f->reserved_claim, n;

	(void)ac;
	f->claiming = 0;
	f->reserved_claim = 0;
	/*
	 * The room this claim held is free again, and a read may have been
	 * held back for it: with nothing held and nothing claimed, no entry's
	 * release would ever start reading again.
	 */
	feed_pump(f);
	if (reply == NULL || bridge_stopping)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		log_warnx("feed %s: XAUTOCLAIM: %s", f->name, reply->str);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
	    !take_is(reply->element[0], REDIS_REPLY_STRING) ||
	    !take_is(reply->element[1], REDIS_REPLY_ARRAY))
		return;
	snprintf(f->claim_cursor, sizeof(f->claim_cursor), "%s",
	    reply->element[0]->str);
	n = take_entries(f, &f->wr, reply->element[1], 1);
	if (n > 0) {
		log_info("feed %s: took over %u entries idle for more than "
		    "%llu ms", f->name, n,
		    (unsigned long long)f->claim_idle_ms);
		f->counters[FC_CLAIMED] += n;
	}
	/* More may be waiting: look again at once rather than next round. */
	if (reply->element[1]->elements >= room &&
	    strcmp(f->claim_cursor, "0-0") != 0)
		bridge_timer(f->claim_ev, 0);
}

/* Take over entries their consumer has left idle past claim_idle. */
void
take_claim(struct feed *f)
{
	char		 idle[32], count[16];
	unsigned int	 room;
	const char	*argv[8];

	if (bridge_stopping || f->claiming || !rlink_up(&f->wr))
		return;
	/*
	 * A blocked XREADGROUP holds the room it asked for until it returns
	 * (within TAKE_BLOCK_MS): claim then, before the next read.
	 */
	if ((room = feed_room(f)) == 0) {
		f->claim_due = 1;
		return;
	}
	f->claim_due = 0;
	snprintf(idle, sizeof(idle), "%llu",
	    (unsigned long long)f->claim_idle_ms);
	snprintf(count, sizeof(count), "%u", room);
	argv[0] = "XAUTOCLAIM";
	argv[1] = f->stream;
	argv[2] = f->group;
	argv[3] = f->consumer;
	argv[4] = idle;
	argv[5] = f->claim_cursor;
	argv[6] = "COUNT";
	argv[7] = count;
	if (rlink_argv(&f->wr, take_claim_cb, f, 8, argv, NULL) == 0) {
		f->claiming = 1;
		f->reserved_claim = room;
	}
}

static void
take_redeliver_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct ebatch	*b = arg;
	redisReply	*reply = r;
	struct entry	*e = ebatch_get(b, 0);

	(void)ac;
	free(b);
	if (e == NULL || e->state != ENTRY_RETRYING)
		return;
	if (!take_is(reply, REDIS_REPLY_ARRAY) || reply->elements == 0) {
		entry_release(e);
		return;
	}
	e->deliveries++;
	e->feed->counters[FC_REDELIVERED]++;
	entry_begin(e);
}

/*
 * The task crashed its worker or timed out: deliver it again, counted by
 * Redis (XCLAIM without JUSTID adds one), so max_deliveries holds across
 * hosts.
 */
void
take_redeliver(struct entry *e)
{
	struct feed	*f = e->feed;
	struct ebatch	*b;
	const char	*argv[] = { "XCLAIM", f->stream, f->group, f->consumer,
			    "0", e->id };

	e->state = ENTRY_RETRYING;
	b = ebatch_new(f, 1);
	ebatch_add(b, e);
	if (rlink_argv(&f->wr, take_redeliver_cb, b, 6, argv, NULL) == -1) {
		free(b);
		entry_release(e);
	}
}

static void
take_refresh_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct ebatch		*b = arg;
	struct feed		*f = b->feed;
	redisReply		*reply = r;
	struct entry		*e;
	size_t			 i;
	unsigned int		 j, lost = 0;

	(void)ac;
	if (take_is(reply, REDIS_REPLY_ERROR))
		log_warnx("feed %s: refresh: %s", f->name, reply->str);
	for (i = 0; take_is(reply, REDIS_REPLY_ARRAY) && i < reply->elements;
	    i++) {
		for (j = 0; j < b->n; j++) {
			e = ebatch_get(b, j);
			if (e == NULL || strcmp(e->id,
			    reply->element[i]->str) != 0)
				continue;
			if (e->state == ENTRY_RUNNING) {
				local_cancel(e);
				e->state = ENTRY_LOST;
			} else if (e->state == ENTRY_WAIT_ROOM ||
			    e->state == ENTRY_WAIT_LOCAL)
				entry_release(e);
			else
				continue;
			lost++;
			break;
		}
	}
	if (lost > 0) {
		log_warnx("feed %s: %u entries were taken over by another "
		    "consumer (was this bridge cut off for longer than "
		    "claim_idle?); dropped here", f->name, lost);
		f->counters[FC_LOST] += lost;
	}
	free(b);
}

/* Keep the entries we hold fresh, so that no live host's work is taken. */
void
take_refresh(struct feed *f)
{
	struct ebatch	*b;
	struct entry	*e;
	const char	**argv;
	unsigned int	 i, argc;

	if (f->held == 0 || !rlink_up(&f->wr))
		return;
	b = ebatch_new(f, f->window);
	argv = xcalloc(f->window + 6, sizeof(*argv));
	argv[0] = "EVAL";
	argv[1] = take_refresh_lua;
	argv[2] = "1";
	argv[3] = f->stream;
	argv[4] = f->group;
	argv[5] = f->consumer;
	argc = 6;
	for (i = 0; i < f->window; i++) {
		e = &f->slots[i];
		if (e->state == ENTRY_FREE || e->state == ENTRY_COUNTING ||
		    e->state == ENTRY_LOST)
			continue;
		ebatch_add(b, e);
		argv[argc++] = e->id;
	}
	if (b->n == 0 || rlink_argv(&f->wr, take_refresh_cb, b, argc, argv,
	    NULL) == -1)
		free(b);
	free(argv);
}

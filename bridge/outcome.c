/*
 * outcome_*: writing what became of entries.  Each batch is one
 * MULTI/EXEC: the outcomes go to the results stream (and to each entry's
 * reply_to list), the dead letters to theirs, then XACK; so no entry is
 * ever acknowledged without its outcome written.
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

#define OUTCOME_BATCH	256	/* entries per MULTI/EXEC */
#define OUTCOME_ARGS	24	/* the most arguments one command takes */

/* The arguments of the commands of one batch, built before sending. */
struct outcome_cmd {
	int		 argc;
	const char	*argv[OUTCOME_ARGS];
	size_t		 argvlen[OUTCOME_ARGS];
};

static const char *const outcome_names[] = {
	[OUTCOME_RESULT] = "result",
	[OUTCOME_ERROR] = "error",
	[OUTCOME_EXPIRED] = "expired"
};

void
outcome_set_result(struct entry *e, unsigned int status, const void *out,
    size_t len)
{
	e->outcome = OUTCOME_RESULT;
	e->status = status;
	free(e->output);
	e->output = xcalloc(1, len + 1);
	memcpy(e->output, out, len);
	e->output_len = len;
}

void
outcome_set_error(struct entry *e, enum outcome_type type, int code,
    const char *text)
{
	e->outcome = type;
	e->code = code;
	free(e->text);
	e->text = xstrdup(text);
}

/*
 * An error code's name: "UNKNOWN_POOL"; one this build does not know
 * (a newer daemon's) goes out as its number, never as a wrong name.
 */
const char *
outcome_code_name(int code, char *buf, size_t len)
{
	const char	*name = fp_err_name(code);

	if (strcmp(name, "UNKNOWN") != 0)
		return (name);
	snprintf(buf, len, "%d", code);
	return (buf);
}

void
outcome_queue(struct entry *e)
{
	struct feed	*f = e->feed;

	e->state = ENTRY_QUEUED;
	TAILQ_INSERT_TAIL(&f->outq, e, entry);
	feed_flush(f);
}

static void
outcome_arg(struct outcome_cmd *c, const char *s, size_t len)
{
	c->argv[c->argc] = s;
	c->argvlen[c->argc] = len;
	c->argc++;
}

static void
outcome_str(struct outcome_cmd *c, const char *s)
{
	outcome_arg(c, s, strlen(s));
}

static int
outcome_send(struct feed *f, struct outcome_cmd *c,
    void (*cb)(redisAsyncContext *, void *, void *), void *arg)
{
	return (rlink_argv(&f->wr, cb, arg, c->argc, c->argv, c->argvlen));
}

/*
 * What a reply_to list receives: one line "ENTRY OUTCOME STATUS|CODE
 * CONSUMER", a newline, then the output (or the error's text).
 */
static char *
outcome_blob(const struct entry *e, const char *what, size_t *len)
{
	const char	*body = e->outcome == OUTCOME_RESULT ? e->output :
			    e->text;
	size_t		 blen = e->outcome == OUTCOME_RESULT ? e->output_len :
			    strlen(e->text);
	char		*head, *blob;
	int		 hlen;

	hlen = xasprintf(&head, "%s %s %s %s\n", e->id,
	    outcome_names[e->outcome], what, e->feed->consumer);
	blob = xcalloc(1, hlen + blen + 1);
	memcpy(blob, head, hlen);
	memcpy(blob + hlen, body, blen);
	*len = hlen + blen;
	free(head);
	return (blob);
}

/* XADD results, the reply_to list, and the dead letter of one entry. */
static void
outcome_entry_cmds(struct feed *f, struct entry *e)
{
	struct outcome_cmd	 c;
	char			 status[16], ttl[32], deliveries[16], code[16];
	const char		*what;
	char			*blob;
	size_t			 bloblen;

	snprintf(deliveries, sizeof(deliveries), "%u", e->deliveries);
	if (e->outcome == OUTCOME_RESULT) {
		snprintf(status, sizeof(status), "%u", e->status);
		what = status;
	} else if (e->outcome == OUTCOME_EXPIRED)
		what = "EXPIRED";
	else
		what = outcome_code_name(e->code, code, sizeof(code));

	c.argc = 0;
	outcome_str(&c, "XADD");
	outcome_str(&c, f->results);
	outcome_str(&c, "*");
	outcome_str(&c, "entry");
	outcome_str(&c, e->id);
	outcome_str(&c, "outcome");
	outcome_str(&c, outcome_names[e->outcome]);
	if (e->outcome == OUTCOME_RESULT) {
		outcome_str(&c, "status");
		outcome_str(&c, status);
		outcome_str(&c, "output");
		outcome_arg(&c, e->output, e->output_len);
	} else {
		outcome_str(&c, "code");
		outcome_str(&c, what);
		outcome_str(&c, "text");
		outcome_str(&c, e->text);
	}
	outcome_str(&c, "consumer");
	outcome_str(&c, f->consumer);
	outcome_str(&c, "deliveries");
	outcome_str(&c, deliveries);
	outcome_send(f, &c, NULL, NULL);

	if (e->reply_to != NULL) {
		blob = outcome_blob(e, what, &bloblen);
		c.argc = 0;
		outcome_str(&c, "LPUSH");
		outcome_str(&c, e->reply_to);
		outcome_arg(&c, blob, bloblen);
		outcome_send(f, &c, NULL, NULL);
		free(blob);
		snprintf(ttl, sizeof(ttl), "%llu",
		    (unsigned long long)f->reply_ttl_ms);
		c.argc = 0;
		outcome_str(&c, "PEXPIRE");
		outcome_str(&c, e->reply_to);
		outcome_str(&c, ttl);
		outcome_send(f, &c, NULL, NULL);
	}

	if (e->dead) {
		c.argc = 0;
		outcome_str(&c, "XADD");
		outcome_str(&c, f->dead_letter);
		outcome_str(&c, "*");
		outcome_str(&c, "entry");
		outcome_str(&c, e->id);
		outcome_str(&c, "payload");
		outcome_arg(&c, e->payload, e->payload_len);
		if (e->pool != NULL) {
			outcome_str(&c, "pool");
			outcome_str(&c, e->pool);
		}
		if (e->reply_to != NULL) {
			outcome_str(&c, "reply_to");
			outcome_str(&c, e->reply_to);
		}
		outcome_str(&c, "deliveries");
		outcome_str(&c, deliveries);
		outcome_str(&c, "code");
		outcome_str(&c, what);
		outcome_str(&c, "text");
		outcome_str(&c, e->text);
		outcome_str(&c, "consumer");
		outcome_str(&c, f->consumer);
		outcome_send(f, &c, NULL, NULL);
	}
}

static void
outcome_count(struct feed *f, const struct entry *e)
{
	if (e->dead)
		f->counters[FC_DEAD]++;
	if (e->outcome == OUTCOME_RESULT)
		f->counters[FC_RESULT]++;
	else if (e->outcome == OUTCOME_EXPIRED)
		f->counters[FC_EXPIRED]++;
	else
		f->counters[FC_ERROR]++;
}

static void
outcome_exec_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct ebatch		*b = arg;
	struct feed		*f = b->feed;
	redisReply		*reply = r;
	struct entry		*e;
	unsigned int		 j;

	(void)ac;
	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements > 0) {
		if (reply->element[reply->elements - 1]->type ==
		    REDIS_REPLY_INTEGER)
			f->counters[FC_ACKED] +=
			    reply->element[reply->elements - 1]->integer;
		for (j = 0; j < b->n; j++) {
			if ((e = ebatch_get(b, j)) != NULL &&
			    e->state == ENTRY_WRITING) {
				outcome_count(f, e);
				entry_release(e);
			}
		}
		free(b);
		return;
	}
	/*
	 * Cut off (NULL) we cannot tell whether EXEC ran: XPENDING will, once
	 * connected again.  Refused, the entries stay pending for a later try.
	 */
	if (reply != NULL)
		log_warnx("feed %s: writing %u outcomes failed: %s", f->name,
		    b->n, reply->type == REDIS_REPLY_ERROR ? reply->str :
		    "EXEC was aborted");
	for (j = 0; j < b->n; j++) {
		if ((e = ebatch_get(b, j)) == NULL ||
		    e->state != ENTRY_WRITING)
			continue;
		if (reply == NULL)
			e->state = ENTRY_UNSURE;
		else
			entry_release(e);
	}
	free(b);
}

/* Write queued outcomes, a batch per MULTI/EXEC. */
void
outcome_flush(struct feed *f)
{
	struct outcome_cmd	 ack;
	struct ebatch		*b;
	struct entry		*e;
	const char		**ids;
	size_t			*lens;
	unsigned int		 n;

	while (!TAILQ_EMPTY(&f->outq) && rlink_up(&f->wr)) {
		b = ebatch_new(f, OUTCOME_BATCH);
		ids = xcalloc(OUTCOME_BATCH + 3, sizeof(*ids));
		lens = xcalloc(OUTCOME_BATCH + 3, sizeof(*lens));
		ids[0] = "XACK";
		ids[1] = f->stream;
		ids[2] = f->group;
		for (n = 0; n < 3; n++)
			lens[n] = strlen(ids[n]);
		ack.argc = 1;
		ack.argv[0] = "MULTI";
		ack.argvlen[0] = 5;
		outcome_send(f, &ack, NULL, NULL);
		while (b->n < OUTCOME_BATCH &&
		    (e = TAILQ_FIRST(&f->outq)) != NULL) {
			TAILQ_REMOVE(&f->outq, e, entry);
			e->state = ENTRY_WRITING;
			outcome_entry_cmds(f, e);
			ids[3 + b->n] = e->id;
			lens[3 + b->n] = strlen(e->id);
			ebatch_add(b, e);
		}
		rlink_argv(&f->wr, NULL, NULL, 3 + b->n, ids, lens);
		free(ids);
		free(lens);
		ack.argv[0] = "EXEC";
		ack.argvlen[0] = 4;
		if (outcome_send(f, &ack, outcome_exec_cb, b) == -1)
			outcome_exec_cb(NULL, NULL, b);
	}
}

static void
outcome_check_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct ebatch	*b = arg;
	redisReply	*reply = r;
	struct entry	*e = ebatch_get(b, 0);

	(void)ac;
	free(b);
	if (e == NULL || e->state != ENTRY_UNSURE || reply == NULL ||
	    reply->type != REDIS_REPLY_ARRAY)
		return;
	if (reply->elements == 0) {
		/* Not pending: the EXEC ran before the connection broke. */
		e->feed->counters[FC_ACKED]++;
		outcome_count(e->feed, e);
		entry_release(e);
	} else
		outcome_queue(e);
}

/*
 * The writer is connected (again): settle the writes that were cut off,
 * then write what waited.
 */
void
outcome_link_up(struct feed *f)
{
	struct ebatch	*b;
	struct entry	*e;
	unsigned int	 i;
	const char	*argv[6];

	for (i = 0; i < f->window; i++) {
		e = &f->slots[i];
		if (e->state != ENTRY_UNSURE)
			continue;
		argv[0] = "XPENDING";
		argv[1] = f->stream;
		argv[2] = f->group;
		argv[3] = e->id;
		argv[4] = e->id;
		argv[5] = "1";
		b = ebatch_new(f, 1);
		ebatch_add(b, e);
		if (rlink_argv(&f->wr, outcome_check_cb, b, 6, argv,
		    NULL) == -1)
			free(b);
	}
	outcome_flush(f);
}

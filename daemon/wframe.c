/*
 * Frames from a worker's channel: read in place, checked against what the
 * worker may send now, and turned into answers to its tasks.  What a
 * worker sends is untrusted: a malformed or unexpected frame kills it and
 * its task is answered INTERNAL (worker_kill); worker.c then closes the
 * channel.
 */
#include <stdio.h>
#include <string.h>

#include "forkpoold.h"
#include "log.h"
#include "proto_int.h"

/* Results up to this are read in place; larger ones moved as chains. */
#define INPLACE_MAX	(64 * 1024)

/*
 * The worker answered a later task: the cancelled ones before it were
 * skipped.  The clock of the one it ran started when they would have.
 */
static void
wframe_skipped(struct worker *w, struct task *task)
{
	struct task	*next = TAILQ_NEXT(task, entry);

	TAILQ_REMOVE(&w->inflight, task, entry);
	w->ninflight--;
	if (next != NULL) {
		next->started_us = task->started_us;
		next->attempts++;
	}
	task_free(task);
}

static void
wframe_violation(struct worker *w, const char *what)
{
	log_warnx("pool %s: worker %ld broke the protocol (%s); killing it",
	    w->pool->name, (long)w->pid, what);
	worker_kill(w, FP_ERR_INTERNAL, "worker %ld broke the protocol: %s",
	    (long)w->pid, what);
}

/* A RESULT or ERROR for the running task, its body in place. */
static void
wframe_answer(struct worker *w, const struct fp_hdr *hdr,
    const uint8_t *body)
{
	struct task	*task = worker_answered(w);
	int		 n;

	if (hdr->type == FP_RESULT) {
		task_result(task, hdr->arg, body, hdr->len);
		return;
	}
	n = hdr->len < 511 ? (int)hdr->len : 511;
	task_fail(task, hdr->arg, "%.*s", n, (const char *)body);
}

/* A frame from a worker that is starting up: PONG, or why it failed. */
static int
wframe_startup(struct worker *w, const struct fp_hdr *hdr,
    const uint8_t *body)
{
	size_t	n;

	if (hdr->type == FP_PONG && hdr->id == 0 && hdr->len == 0) {
		/* Too late: killed at start_timeout, or already gone. */
		if (w->state != WORKER_STARTING)
			return (0);
		evtimer_del(w->timer);
		w->state = WORKER_IDLE;
		w->ready_ms = clock_now_ms();
		pool_worker_ready(w->pool, w);
		return (0);
	}
	if (hdr->type == FP_ERROR && hdr->id == 0 &&
	    w->gen->conf->command == NULL) {
		n = hdr->len < sizeof(w->start_error) - 1 ? hdr->len :
		    sizeof(w->start_error) - 1;
		memcpy(w->start_error, body, n);
		w->start_error[n] = '\0';
		log_warnx("pool %s: worker %ld could not start: %s",
		    w->pool->name, (long)w->pid, w->start_error);
		return (0);
	}
	return (-1);
}

/*
 * Whether a frame may come now: 0, or -1 once the worker has been found
 * breaking the protocol (and killed).
 */
static int
wframe_ok(struct worker *w, const struct fp_hdr *hdr)
{
	struct task	*task;
	char		 what[96];

	/* Cancelled tasks before the one answered were skipped. */
	while ((task = TAILQ_FIRST(&w->inflight)) != NULL &&
	    task->cancelled && hdr->id != task->seq)
		wframe_skipped(w, task);
	/*
	 * Our own module workers may answer any ERROR; a program only
	 * TOO_LARGE, for an output over max_payload (PROTOCOL.md).
	 */
	if ((hdr->type != FP_RESULT && (hdr->type != FP_ERROR ||
	    (w->gen->conf->command != NULL &&
	    hdr->arg != FP_ERR_TOO_LARGE))) ||
	    task == NULL || hdr->id != task->seq ||
	    (hdr->type == FP_ERROR && (hdr->arg == 0 ||
	    hdr->arg > FP_ERR_MAX))) {
		snprintf(what, sizeof(what), "unexpected frame type 0x%02x id "
		    "%llu", hdr->type, (unsigned long long)hdr->id);
		wframe_violation(w, what);
		return (-1);
	}
	return (0);
}

/* One whole frame, in place: its header, then hdr->len bytes. */
static int
wframe_one(struct worker *w, const struct fp_hdr *hdr,
    const uint8_t *frame)
{
	char	what[96];

	if (!worker_was_ready(w)) {
		if (wframe_startup(w, hdr, frame + FP_HDR_LEN) == 0)
			return (0);
		snprintf(what, sizeof(what), "frame type 0x%02x before PONG",
		    hdr->type);
		wframe_violation(w, what);
		return (-1);
	}
	if (wframe_ok(w, hdr) == -1)
		return (-1);
	wframe_answer(w, hdr, frame + FP_HDR_LEN);
	return (0);
}

/*
 * A RESULT too large to read in place: its output's chains move to the
 * client (task_result_buffer), not copied.
 */
static int
wframe_large(struct worker *w, const struct fp_hdr *hdr,
    struct evbuffer *in)
{
	if (wframe_ok(w, hdr) == -1)
		return (-1);
	evbuffer_drain(in, FP_HDR_LEN);
	task_result_buffer(worker_answered(w), hdr->arg, in, hdr->len);
	return (0);
}

/*
 * Take every whole frame the channel holds.  Frames are read in place
 * from the input's first chain and drained together; one that spans two
 * chains is pulled up, and a large RESULT is handed on as chains.
 * Returns -1 once the worker has been found breaking the protocol: it has
 * been killed, and the caller closes its channel.
 */
int
wframe_read(struct worker *w)
{
	struct conn_cursor	 cur = { NULL, 0, 0 };
	struct fp_hdr		 hdr;
	size_t			 need;
	char			 what[96];
	int			 rc;

	while (conn_take(w->conn, &cur, FP_HDR_LEN)) {
		rc = fp_hdr_decode(cur.base + cur.off, &hdr, w->max_payload);
		if (rc != 0) {
			snprintf(what, sizeof(what), rc == FP_ERR_PROTOCOL ?
			    "version %u" : "a frame of %u bytes", rc ==
			    FP_ERR_PROTOCOL ? hdr.version : hdr.len);
			wframe_violation(w, what);
			return (-1);
		}
		need = FP_HDR_LEN + (size_t)hdr.len;
		if (hdr.len > INPLACE_MAX && worker_was_ready(w)) {
			conn_taken(w->conn, &cur);
			if (evbuffer_get_length(conn_input(w->conn)) < need)
				break;		/* the rest has not come yet */
			if (wframe_large(w, &hdr,
			    conn_input(w->conn)) == -1)
				return (-1);
			continue;
		}
		if (!conn_take(w->conn, &cur, need))
			break;			/* the rest has not come yet */
		if (wframe_one(w, &hdr, cur.base + cur.off) == -1)
			return (-1);
		cur.off += need;
	}
	conn_taken(w->conn, &cur);
	return (0);
}

/*
 * A task's life after it is accepted: created from a SUBMIT, answered
 * exactly once (a RESULT or an ERROR), then freed.  Answering goes through
 * here so the pool's counters and the client's bookkeeping never disagree
 * with what was sent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"
#include "log.h"

struct task *
task_new(struct client *client, struct pool *pool, uint64_t id,
    uint16_t namelen)
{
	struct task	*task;

	task = xcalloc(1, sizeof(*task));
	task->client = client;
	task->pool = pool;
	task->id = id;
	task->namelen = namelen;
	task->state = TASK_QUEUED;
	if ((task->body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	return (task);
}

void
task_free(struct task *task)
{
	if (task->held_len > 0) {
		task_hold(task, NULL);
		master->held -= task->held_len;
		client_held_changed();
	}
	evbuffer_free(task->body);
	free(task);
}

/*
 * Count the task's body among the bytes the master holds (max_memory):
 * in the master's total from its first call, and in *by (its client's
 * count; NULL once the client has gone).
 */
void
task_hold(struct task *task, uint64_t *by)
{
	if (task->held_len == 0) {
		task->held_len = evbuffer_get_length(task->body);
		master->held += task->held_len;
		if (master->held > master->held_peak)
			master->held_peak = master->held;
	}
	if (task->held_by != NULL)
		*task->held_by -= task->held_len;
	if ((task->held_by = by) != NULL)
		*by += task->held_len;
}

/* The task has its answer: the client forgets it and it is freed. */
static void
task_done(struct task *task)
{
	task->state = TASK_DONE;
	if (task->client != NULL)
		client_task_done(task->client, task);
	task_free(task);
}

/* Relay a worker's RESULT of len bytes, taken from the front of from. */
void
task_result(struct task *task, uint16_t status, struct evbuffer *from,
    size_t len)
{
	struct pool	*pool = task->pool;

	pool->completed++;
	pool->bytes_out += len;
	if (status != 0)
		pool->failed++;
	if (task->client != NULL)
		client_send_buffer(task->client, FP_RESULT, status, task->id,
		    from, len);
	else
		evbuffer_drain(from, len);
	task_done(task);
}

static void
task_count(struct pool *pool, int code)
{
	switch (code) {
	case FP_ERR_TIMEOUT:
		pool->timeouts++;
		break;
	case FP_ERR_WORKER_CRASHED:
		pool->crashes++;
		break;
	case FP_ERR_CANCELLED:
		pool->cancelled++;
		break;
	case FP_ERR_SHUTTING_DOWN:
		pool->shutting_down++;
		break;
	case FP_ERR_QUARANTINED:
		pool->quarantined++;
		break;
	default:
		pool->errors++;
		break;
	}
}

/* Answer the task with ERROR code and a line of text for a person. */
void
task_fail(struct task *task, int code, const char *fmt, ...)
{
	char	text[512];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	task_count(task->pool, code);
	if (task->client != NULL)
		client_send(task->client, FP_ERROR, code, task->id, text, n);
	task_done(task);
}

/*
 * CANCEL of a task handed to a worker behind the one it runs: answer now
 * and forget the client; the worker is told and skips it unless it has
 * started it meanwhile, and whatever comes back for it is dropped.
 */
void
task_cancel_sent(struct task *task)
{
	struct client	*client = task->client;

	task_count(task->pool, FP_ERR_CANCELLED);
	client_send(client, FP_ERROR, FP_ERR_CANCELLED, task->id,
	    "cancelled before it started", 27);
	task->client = NULL;
	client_task_done(client, task);
	worker_cancel(task->worker, task);
}

/*
 * A task's life after it is accepted: created from a SUBMIT, answered
 * exactly once (a RESULT or an ERROR), then freed.  Answering goes through
 * here so the pool's counters and the client's bookkeeping never disagree
 * with what was sent.
 *
 * Tasks are kept on a free list with their body buffers (up to
 * TASK_KEEP_BODY), so a steady stream of tasks costs no malloc or free.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"
#include "log.h"

#define TASK_FREE_MAX	4096		/* tasks kept for reuse */
#define TASK_KEEP_BODY	(64 * 1024)	/* a body kept with a free task */

static struct task_list	free_tasks = TAILQ_HEAD_INITIALIZER(free_tasks);
static unsigned int	nfree;

/*
 * A task for a SUBMIT frame (its header, then len bytes of body), copied
 * whole: the header's room is reused for the frame that hands the task to
 * a worker.
 */
struct task *
task_new(struct client *client, struct pool *pool, uint64_t id,
    uint16_t namelen, const uint8_t *frame_in, uint32_t len)
{
	struct task	*task;
	uint8_t		*frame = NULL;
	uint32_t	 cap = 0;

	if ((task = TAILQ_FIRST(&free_tasks)) != NULL) {
		TAILQ_REMOVE(&free_tasks, task, entry);
		nfree--;
		frame = task->frame;
		cap = task->cap;
		memset(task, 0, sizeof(*task));
	} else
		task = xcalloc(1, sizeof(*task));
	if (frame == NULL || cap - FP_HDR_LEN < len) {
		free(frame);
		cap = FP_HDR_LEN + len;
		frame = xrealloc(NULL, cap, 1);
	}
	task->frame = frame;
	task->body = frame + FP_HDR_LEN;
	task->cap = cap;
	task->len = len;
	memcpy(frame, frame_in, FP_HDR_LEN + len);
	task->client = client;
	task->pool = pool;
	task->id = id;
	task->namelen = namelen;
	task->state = TASK_QUEUED;
	return (task);
}

void
task_free(struct task *task)
{
	if (task->held_len > 0) {
		task_hold(task, NULL);
		master->held -= task->held_len;
		task->held_len = 0;
		client_held_changed();
	}
	if (nfree >= TASK_FREE_MAX) {
		free(task->frame);
		free(task);
		return;
	}
	if (task->cap > TASK_KEEP_BODY) {
		free(task->frame);
		task->frame = task->body = NULL;
		task->cap = 0;
	}
	TAILQ_INSERT_HEAD(&free_tasks, task, entry);
	nfree++;
}

/* At exit: nothing kept. */
void
task_free_all(void)
{
	struct task	*task;

	while ((task = TAILQ_FIRST(&free_tasks)) != NULL) {
		TAILQ_REMOVE(&free_tasks, task, entry);
		free(task->frame);
		free(task);
	}
	nfree = 0;
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
		task->held_len = task->len;
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

/* A worker's RESULT came: count it. */
static void
task_count_result(struct task *task, uint16_t status, size_t len)
{
	struct pool	*pool = task->pool;

	pool->completed++;
	pool->bytes_out += len;
	if (status != 0)
		pool->failed++;
}

/* Relay a worker's RESULT: len bytes of output at data. */
void
task_result(struct task *task, uint16_t status, const uint8_t *data,
    size_t len)
{
	task_count_result(task, status, len);
	if (task->client != NULL)
		client_send(task->client, FP_RESULT, status, task->id, data,
		    len);
	task_done(task);
}

/* The same, the output taken from the front of from. */
void
task_result_buffer(struct task *task, uint16_t status, struct evbuffer *from,
    size_t len)
{
	task_count_result(task, status, len);
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
	case FP_ERR_UNAVAILABLE:
		pool->refused_unavailable++;
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

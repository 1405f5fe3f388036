/*
 * Fair share: each client has its own first-in-first-out queue in a pool
 * (a share), and the pool's ring holds the shares with tasks queued, in
 * turn.  A client with thousands queued thus delays another's next task by
 * one task, not thousands.  Queueing and taking one task happen once per
 * task: those are inline in forkpoold.h; this file makes and frees shares.
 */
#include <stdlib.h>

#include "forkpoold.h"
#include "log.h"

/* Client c's share of pool, made at its first task; list holds c's. */
struct share *
share_get(struct pool *pool, struct client *c, struct share_list *list)
{
	struct share	*share;

	TAILQ_FOREACH(share, list, centry)
		if (share->pool == pool) {
			/* First in list: client_submit looks there first. */
			if (share != TAILQ_FIRST(list)) {
				TAILQ_REMOVE(list, share, centry);
				TAILQ_INSERT_HEAD(list, share, centry);
			}
			return (share);
		}
	share = xcalloc(1, sizeof(*share));
	share->pool = pool;
	share->client = c;
	share->clist = list;
	TAILQ_INIT(&share->queue);
	TAILQ_INSERT_TAIL(&pool->shares, share, pentry);
	TAILQ_INSERT_HEAD(list, share, centry);
	return (share);
}

/* A share whose client or pool goes; nothing of it may be queued. */
void
share_free(struct share *share)
{
	if (share->nqueued > 0)
		fatalx("pool %s: share freed with %u tasks queued",
		    share->pool->name, share->nqueued);
	TAILQ_REMOVE(&share->pool->shares, share, pentry);
	TAILQ_REMOVE(share->clist, share, centry);
	free(share);
}

/*
 * Poison-task quarantine.  A task is known by a fingerprint of its pool
 * name and payload (XXH3, 128 bits: strong enough that two different
 * payloads never share one in practice, fast enough to run on every
 * submit while a quarantine is active).  A fingerprint that crashed
 * `after` workers within `window` is refused for the rest of that window.
 *
 * Pure bookkeeping, with time passed in, so it is tested alone.  Memory is
 * bounded: at most QUARANTINE_MAX fingerprints per pool; when full, the
 * entry that expires first makes room.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "forkpoold.h"

struct quarantine {
	struct quarantine_entry	 e[QUARANTINE_MAX];
	unsigned int		 n;
};

struct quarantine *
quarantine_new(void)
{
	return (xcalloc(1, sizeof(struct quarantine)));
}

void
quarantine_free(struct quarantine *q)
{
	free(q);
}

struct fp_fingerprint
quarantine_fingerprint(const void *data, size_t len)
{
	XXH128_hash_t		h = XXH3_128bits(data, len);
	struct fp_fingerprint	fp;

	fp.hi = h.high64;
	fp.lo = h.low64;
	return (fp);
}

/* Forget entries whose window is over. */
static void
quarantine_expire(struct quarantine *q, uint64_t now)
{
	unsigned int	i = 0;

	while (i < q->n) {
		if (q->e[i].expires_ms <= now)
			q->e[i] = q->e[--q->n];
		else
			i++;
	}
}

static struct quarantine_entry *
quarantine_find(struct quarantine *q, struct fp_fingerprint fp)
{
	unsigned int	i;

	for (i = 0; i < q->n; i++)
		if (q->e[i].fp.hi == fp.hi && q->e[i].fp.lo == fp.lo)
			return (&q->e[i]);
	return (NULL);
}

/* Entries held now (crashed at least once, window not over). */
unsigned int
quarantine_count(struct quarantine *q, uint64_t now)
{
	quarantine_expire(q, now);
	return (q->n);
}

/* Nothing recorded: no task need be fingerprinted (and no clock read). */
int
quarantine_empty(const struct quarantine *q)
{
	return (q->n == 0);
}

/* The entry when fp is quarantined now, else NULL. */
const struct quarantine_entry *
quarantine_check(struct quarantine *q, struct fp_fingerprint fp,
    uint64_t now)
{
	struct quarantine_entry	*e;

	quarantine_expire(q, now);
	if ((e = quarantine_find(q, fp)) == NULL || !e->quarantined)
		return (NULL);
	return (e);
}

/*
 * fp crashed a worker at now.  Returns 1 when that puts it in quarantine
 * (after crashes within window_ms), else 0.
 */
int
quarantine_crash(struct quarantine *q, struct fp_fingerprint fp,
    unsigned int after, uint64_t window_ms, uint64_t now)
{
	struct quarantine_entry	*e;
	unsigned int		 i, victim = 0;

	if (after == 0)
		return (0);
	quarantine_expire(q, now);
	if ((e = quarantine_find(q, fp)) == NULL) {
		if (q->n == QUARANTINE_MAX) {
			for (i = 1; i < q->n; i++)
				if (q->e[i].expires_ms <
				    q->e[victim].expires_ms)
					victim = i;
			q->e[victim] = q->e[--q->n];
		}
		e = &q->e[q->n++];
		memset(e, 0, sizeof(*e));
		e->fp = fp;
		e->first_ms = now;
		e->expires_ms = now + window_ms;
	}
	e->crashes++;
	if (e->quarantined || e->crashes < after)
		return (0);
	e->quarantined = 1;
	return (1);
}

/* The i-th entry held, for STATUS; NULL past the end. */
const struct quarantine_entry *
quarantine_entry(const struct quarantine *q, unsigned int i)
{
	return (i < q->n ? &q->e[i] : NULL);
}

/*
 * Restart intensity: how fast a pool may replace workers that die when
 * nobody asked them to.
 *
 * This file is pure on purpose: no libevent, no clock, no logging.  The
 * caller passes the time in (now_ms, from one monotonic clock) and acts on
 * the delay it gets back: pool.c arms the spawn timer and writes the log
 * line.  Keeping the policy apart from the loop lets check_intensity.c walk
 * it through minutes of crashes in microseconds, at exact millisecond
 * boundaries, with no daemon, no fork and no sleep.
 *
 * The policy:
 *
 * - The last burst + 1 unexpected exits are kept in a ring.  When the ring
 *   is full and its oldest exit is less than window_ms old, more than
 *   burst exits happened within the window: the pool backs off, and the
 *   next spawn waits 1 s.  A burst of 0 therefore backs off from the very
 *   first unexpected exit.
 * - Each further unexpected exit while backing off doubles the delay:
 *   1, 2, 4, 8, 16, then 30 s, where it stays.
 * - Back-off ends once a whole quiet window has passed with no unexpected
 *   exit.  The quiet window starts when the replacement may be spawned
 *   (the last exit plus the delay it was given), not at the exit itself:
 *   a pool that has no worker yet is not quiet, only waiting.  Counting
 *   from the exit would end every delay longer than the window (16 s with
 *   the default 10 s window) as "quiet", and the delay would never climb
 *   to its 30 s cap but fall back to burst immediate restarts instead.
 *   Ending the back-off forgets the ring, so a new back-off again needs
 *   more than burst exits within one window.
 * - A window of 0 ms holds no exit at all, so it never backs off: it turns
 *   the throttle off.
 *
 * Times are unsigned milliseconds; a now_ms earlier than a recorded exit
 * (which a monotonic clock never gives) counts as no time passed.
 */
#include <stdint.h>
#include <stdlib.h>

#include "forkpoold.h"

#define INTENSITY_FIRST_MS	1000U
#define INTENSITY_MAX_MS	30000U

struct intensity {
	uint64_t	 window_ms;
	uint64_t	*ring;		/* times of the last burst + 1 exits */
	size_t		 size;		/* burst + 1 */
	size_t		 next;		/* slot the next exit goes in */
	size_t		 held;		/* slots filled */
	int		 backoff;
	unsigned int	 delay_ms;	/* the step in force in back-off */
	uint64_t	 last_ms;	/* the last unexpected exit */
};

/* Milliseconds from then to now, never negative. */
static uint64_t
intensity_elapsed(uint64_t now_ms, uint64_t then_ms)
{
	return (now_ms > then_ms ? now_ms - then_ms : 0);
}

/* Forget the back-off and every exit recorded. */
static void
intensity_reset(struct intensity *in)
{
	in->backoff = 0;
	in->delay_ms = 0;
	in->next = 0;
	in->held = 0;
}

/* End the back-off if a whole quiet window followed the delayed spawn. */
static void
intensity_expire(struct intensity *in, uint64_t now_ms)
{
	if (!in->backoff)
		return;
	if (intensity_elapsed(now_ms, in->last_ms) >=
	    (uint64_t)in->delay_ms + in->window_ms)
		intensity_reset(in);
}

/* A restart policy allowing burst unexpected exits per window_ms. */
struct intensity *
intensity_new(unsigned int burst, uint64_t window_ms)
{
	struct intensity	*in;

	in = xcalloc(1, sizeof(*in));
	in->window_ms = window_ms;
	in->size = (size_t)burst + 1;
	in->ring = xcalloc(in->size, sizeof(*in->ring));
	return (in);
}

void
intensity_free(struct intensity *in)
{
	if (in == NULL)
		return;
	free(in->ring);
	free(in);
}

/* Record an unexpected exit at now_ms; the delay before its replacement. */
unsigned int
intensity_exit(struct intensity *in, uint64_t now_ms)
{
	uint64_t	oldest;

	if (in->window_ms == 0)
		return (0);
	intensity_expire(in, now_ms);

	in->ring[in->next] = now_ms;
	in->next = (in->next + 1) % in->size;
	if (in->held < in->size)
		in->held++;
	in->last_ms = now_ms;

	if (in->backoff) {
		/* Doubling 30000 would pass the cap: clamp, never overflow. */
		if (in->delay_ms >= INTENSITY_MAX_MS / 2)
			in->delay_ms = INTENSITY_MAX_MS;
		else
			in->delay_ms *= 2;
		return (in->delay_ms);
	}

	if (in->held < in->size)
		return (0);
	/* Full ring: the slot written next holds the oldest exit. */
	oldest = in->ring[in->next];
	if (intensity_elapsed(now_ms, oldest) >= in->window_ms)
		return (0);
	in->backoff = 1;
	in->delay_ms = INTENSITY_FIRST_MS;
	return (in->delay_ms);
}

/* The back-off step in force at now_ms, 0 once it is over; records nothing. */
unsigned int
intensity_delay(struct intensity *in, uint64_t now_ms)
{
	intensity_expire(in, now_ms);
	return (in->backoff ? in->delay_ms : 0);
}

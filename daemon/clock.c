/*
 * The master's clock: the monotonic time, read at most once per turn of
 * the loop, and timers armed in milliseconds.  Every task answered in one
 * turn is stamped alike, and the hot path costs one clock read per
 * wake-up rather than several per task (master_loop calls clock_turn).
 */
#include <time.h>

#include "forkpoold.h"

static uint64_t	now_us;		/* this turn of the loop's clock */
static int	now_valid;	/* read it in this turn already */

/* A new turn of the loop: the next question reads the clock afresh. */
void
clock_turn(void)
{
	now_valid = 0;
}

/* The monotonic clock in microseconds, as read in this turn. */
uint64_t
clock_now_us(void)
{
	struct timespec	ts;

	if (!now_valid) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now_us = (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		now_valid = 1;
	}
	return (now_us);
}

uint64_t
clock_now_ms(void)
{
	return (clock_now_us() / 1000);
}

/* Add a timer event to fire ms milliseconds from now. */
void
clock_arm_ms(struct event *ev, uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

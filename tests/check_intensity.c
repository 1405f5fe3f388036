/*
 * Restart intensity (daemon/intensity.c): when a pool whose workers keep
 * dying stops fork-looping and backs off, by how much, and when it stops.
 * The policy is pure, so the tests drive it with made-up times.
 */
#include <stdint.h>
#include <stdlib.h>

#include <check.h>

#include "forkpoold.h"
#include "suites.h"

/* A monotonic clock does not start at 0; neither do these tests. */
#define T0	((uint64_t)86400000 * 365)

#define FIRST_MS	1000U
#define MAX_MS		30000U

/* The delay the design asks for after the n-th exit in back-off (n >= 0). */
static unsigned int
expected_step(unsigned int n)
{
	unsigned int	d = FIRST_MS;

	while (n-- > 0 && d < MAX_MS)
		d *= 2;
	return (d > MAX_MS ? MAX_MS : d);
}

/* Back off with burst + 1 exits 1 ms apart from t; the last exit's time. */
static uint64_t
enter_backoff(struct intensity *in, unsigned int burst, uint64_t t)
{
	unsigned int	i;

	for (i = 0; i < burst; i++)
		ck_assert_uint_eq(intensity_exit(in, t + i), 0);
	ck_assert_uint_eq(intensity_exit(in, t + burst), FIRST_MS);
	return (t + burst);
}

START_TEST(test_burst_not_exceeded)
{
	/* Up to restart_burst unexpected exits in restart_window: no delay. */
	struct intensity	*in = intensity_new(5, 10000);
	unsigned int		 i;

	for (i = 0; i < 5; i++) {
		ck_assert_uint_eq(intensity_exit(in, T0 + i * 100), 0);
		ck_assert_uint_eq(intensity_delay(in, T0 + i * 100), 0);
	}
	intensity_free(in);
}
END_TEST

START_TEST(test_burst_exceeded)
{
	/* More than restart_burst exits in the window: the next spawn waits
	 * 1 s. */
	struct intensity	*in = intensity_new(5, 10000);
	uint64_t		 t;

	t = enter_backoff(in, 5, T0);
	ck_assert_uint_eq(intensity_delay(in, t), FIRST_MS);
	ck_assert_uint_eq(intensity_delay(in, t + 500), FIRST_MS);
	intensity_free(in);
}
END_TEST

START_TEST(test_burst_at_window_edge)
{
	/* "Within the window" is strict: burst + 1 exits spanning exactly
	 * restart_window do not back off; one millisecond less does. */
	struct intensity	*in;

	in = intensity_new(2, 1000);
	ck_assert_uint_eq(intensity_exit(in, T0), 0);
	ck_assert_uint_eq(intensity_exit(in, T0 + 500), 0);
	ck_assert_uint_eq(intensity_exit(in, T0 + 1000), 0);
	intensity_free(in);

	in = intensity_new(2, 1000);
	ck_assert_uint_eq(intensity_exit(in, T0), 0);
	ck_assert_uint_eq(intensity_exit(in, T0 + 500), 0);
	ck_assert_uint_eq(intensity_exit(in, T0 + 999), FIRST_MS);
	intensity_free(in);
}
END_TEST

START_TEST(test_doubling)
{
	/* Each further unexpected exit in back-off doubles the delay: 1 s,
	 * 2, 4, 8, 16 ... */
	struct intensity	*in = intensity_new(3, 60000);
	uint64_t		 t;
	unsigned int		 n, d;

	t = enter_backoff(in, 3, T0);
	for (n = 1; n <= 4; n++) {
		/* The replacement dies right after its delayed start. */
		t += intensity_delay(in, t) + 10;
		d = intensity_exit(in, t);
		ck_assert_uint_eq(d, expected_step(n));
		ck_assert_uint_eq(d, 2 * expected_step(n - 1));
		ck_assert_uint_eq(intensity_delay(in, t), d);
	}
	ck_assert_uint_eq(intensity_delay(in, t), 16000);
	intensity_free(in);
}
END_TEST

START_TEST(test_cap)
{
	/* The back-off is capped at 30 s, however many exits follow. */
	struct intensity	*in = intensity_new(0, 10000);
	uint64_t		 t = T0;
	unsigned int		 n, d, prev = 0;

	ck_assert_uint_eq(intensity_exit(in, t), FIRST_MS);
	prev = FIRST_MS;
	for (n = 1; n < 200; n++) {
		t += 1;
		d = intensity_exit(in, t);
		ck_assert_uint_le(d, MAX_MS);
		ck_assert_uint_ge(d, prev);
		ck_assert_uint_eq(d, expected_step(n));
		prev = d;
	}
	ck_assert_uint_eq(prev, MAX_MS);
	ck_assert_uint_eq(intensity_delay(in, t), MAX_MS);
	intensity_free(in);
}
END_TEST

START_TEST(test_cap_reached_with_short_window)
{
	/* A worker that dies right after every delayed restart drives the
	 * delay up to its 30 s cap even when restart_window is shorter than
	 * the delay: waiting for the spawn is not a quiet window. */
	struct intensity	*in = intensity_new(5, 10000);
	uint64_t		 t;
	unsigned int		 d = 0, n;

	t = enter_backoff(in, 5, T0);
	for (n = 1; n <= 8; n++) {
		t += intensity_delay(in, t) + 50;
		d = intensity_exit(in, t);
		ck_assert_uint_eq(d, expected_step(n));
	}
	ck_assert_uint_eq(d, MAX_MS);
	intensity_free(in);
}
END_TEST

START_TEST(test_quiet_window_resets)
{
	/* Back-off ends once a whole quiet window has passed with no
	 * unexpected exit after the delayed spawn; it then takes more than
	 * restart_burst exits in one window again to back off. */
	struct intensity	*in = intensity_new(2, 5000);
	uint64_t		 t, quiet;
	unsigned int		 d;

	t = enter_backoff(in, 2, T0);
	t += 100;
	d = intensity_exit(in, t);
	ck_assert_uint_eq(d, 2000);

	quiet = t + d + 5000;
	ck_assert_uint_eq(intensity_delay(in, quiet - 1), d);
	ck_assert_uint_eq(intensity_delay(in, quiet), 0);
	ck_assert_uint_eq(intensity_delay(in, quiet + 1), 0);

	/* The exponent is reset: burst exits are free, the next gets 1 s. */
	ck_assert_uint_eq(intensity_exit(in, quiet + 10), 0);
	ck_assert_uint_eq(intensity_exit(in, quiet + 20), 0);
	ck_assert_uint_eq(intensity_exit(in, quiet + 30), FIRST_MS);
	intensity_free(in);
}
END_TEST

START_TEST(test_quiet_window_noticed_by_exit)
{
	/* The quiet window ends the back-off even when nobody asked for the
	 * delay in between: the next exit starts afresh. */
	struct intensity	*in = intensity_new(1, 3000);
	uint64_t		 t;

	t = enter_backoff(in, 1, T0);
	t += 4000 + 3000;
	ck_assert_uint_eq(intensity_exit(in, t), 0);
	ck_assert_uint_eq(intensity_exit(in, t + 1), FIRST_MS);
	intensity_free(in);
}
END_TEST

START_TEST(test_spread_exits)
{
	/* Exits spread wider than the window never back off, however many. */
	struct intensity	*in = intensity_new(3, 2000);
	uint64_t		 t = T0;
	unsigned int		 i;

	/* Bursts of three exits 1 ms apart, 1998 ms between bursts: any
	 * four consecutive exits span exactly the window, never less. */
	for (i = 0; i < 10000; i++) {
		t += i % 3 == 0 ? 1998 : 1;
		ck_assert_uint_eq(intensity_exit(in, t), 0);
		ck_assert_uint_eq(intensity_delay(in, t), 0);
	}
	intensity_free(in);
}
END_TEST

START_TEST(test_sliding_window)
{
	/* Only exits within the last window count: old ones age out. */
	struct intensity	*in = intensity_new(2, 1000);

	ck_assert_uint_eq(intensity_exit(in, T0), 0);
	ck_assert_uint_eq(intensity_exit(in, T0 + 900), 0);
	/* T0 is 1000 ms old now; only two exits are in the window. */
	ck_assert_uint_eq(intensity_exit(in, T0 + 1000), 0);
	ck_assert_uint_eq(intensity_exit(in, T0 + 1100), FIRST_MS);
	intensity_free(in);
}
END_TEST

START_TEST(test_burst_zero)
{
	/* restart_burst = 0 backs off from the first unexpected exit. */
	struct intensity	*in = intensity_new(0, 10000);

	ck_assert_uint_eq(intensity_delay(in, T0), 0);
	ck_assert_uint_eq(intensity_exit(in, T0), FIRST_MS);
	ck_assert_uint_eq(intensity_exit(in, T0 + 1500), 2000);
	intensity_free(in);
}
END_TEST

START_TEST(test_window_zero)
{
	/* A window of 0 ms holds no exit: the throttle is off. */
	struct intensity	*in = intensity_new(0, 0);
	unsigned int		 i;

	for (i = 0; i < 100; i++)
		ck_assert_uint_eq(intensity_exit(in, T0), 0);
	ck_assert_uint_eq(intensity_delay(in, T0), 0);
	intensity_free(in);
}
END_TEST

START_TEST(test_delay_records_nothing)
{
	/* Asking for the delay is not an exit: it never starts a back-off
	 * nor raises one. */
	struct intensity	*in = intensity_new(1, 10000);
	uint64_t		 t;
	unsigned int		 i;

	ck_assert_uint_eq(intensity_exit(in, T0), 0);
	for (i = 0; i < 50; i++)
		ck_assert_uint_eq(intensity_delay(in, T0 + i), 0);
	t = T0 + 50;
	ck_assert_uint_eq(intensity_exit(in, t), FIRST_MS);
	for (i = 0; i < 50; i++)
		ck_assert_uint_eq(intensity_delay(in, t + i), FIRST_MS);
	ck_assert_uint_eq(intensity_exit(in, t + 60), 2000);
	intensity_free(in);
}
END_TEST

START_TEST(test_clock_backwards)
{
	/* A time earlier than the last exit counts as no time passed: it
	 * neither ends a back-off nor escapes the window. */
	struct intensity	*in = intensity_new(1, 1000);

	ck_assert_uint_eq(intensity_exit(in, T0 + 5000), 0);
	ck_assert_uint_eq(intensity_exit(in, T0), FIRST_MS);
	ck_assert_uint_eq(intensity_delay(in, 0), FIRST_MS);
	intensity_free(in);
	intensity_free(NULL);
}
END_TEST

Suite *
intensity_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("intensity");
	tc = tcase_create("intensity");
	tcase_add_test(tc, test_burst_not_exceeded);
	tcase_add_test(tc, test_burst_exceeded);
	tcase_add_test(tc, test_burst_at_window_edge);
	tcase_add_test(tc, test_doubling);
	tcase_add_test(tc, test_cap);
	tcase_add_test(tc, test_cap_reached_with_short_window);
	tcase_add_test(tc, test_quiet_window_resets);
	tcase_add_test(tc, test_quiet_window_noticed_by_exit);
	tcase_add_test(tc, test_spread_exits);
	tcase_add_test(tc, test_sliding_window);
	tcase_add_test(tc, test_burst_zero);
	tcase_add_test(tc, test_window_zero);
	tcase_add_test(tc, test_delay_records_nothing);
	tcase_add_test(tc, test_clock_backwards);
	suite_add_tcase(s, tc);
	return (s);
}

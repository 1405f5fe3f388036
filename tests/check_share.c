/*
 * One daemon shared by many clients, live: fair share between connections,
 * no endless wait for workers that cannot start (UNAVAILABLE), requests
 * judged from their header, FORBIDDEN read by a client that writes first,
 * and prefetch = auto.
 */
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

#define WAIT_MS		10000	/* deadline for what should be quick */

/* n SUBMITs of payload to pool with ids from first on, in one write. */
static void
send_many(int fd, uint64_t first, unsigned int n, const char *pool,
    const char *payload)
{
	struct fp_hdr	 hdr;
	size_t		 nlen = strlen(pool), plen = strlen(payload);
	size_t		 one = FP_HDR_LEN + nlen + plen, off;
	uint8_t		*buf;
	unsigned int	 i;

	buf = malloc(one * n);
	ck_assert_ptr_nonnull(buf);
	hdr.len = nlen + plen;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = FP_SUBMIT;
	hdr.arg = nlen;
	for (i = 0, off = 0; i < n; i++, off += one) {
		hdr.id = first + i;
		fp_hdr_encode(buf + off, &hdr);
		memcpy(buf + off + FP_HDR_LEN, pool, nlen);
		memcpy(buf + off + FP_HDR_LEN + nlen, payload, plen);
	}
	tsend_raw(fd, buf, one * n);
	free(buf);
}

START_TEST(test_fair_share)
{
	/*
	 * Fair share: a bulk connection with 20,000 queued 1 ms tasks does
	 * not put another connection's next task behind them; it starts
	 * within about one task per busy worker, while the bulk's queue is
	 * still nearly whole.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	char		*body;
	long long	 t0, took, queued;
	int		 bulk, other;

	d = fpd_start("[daemon]\nmax_inflight = 30000\n"
	    "[pool:faulty]\n"
	    "module = @T/faulty.so\n"
	    "workers = 2\n"
	    "prefetch = 1\n"
	    "queue_limit = 30000\n");
	bulk = tconnect(d->sock);
	other = tconnect(d->sock);
	send_many(bulk, 1, 20000, "faulty", "sleep:1");
	twait_pool_int(d->sock, "faulty", "clients_queued", 1, WAIT_MS);
	ck_assert_int_ge(tpool_int(d->sock, "faulty", "queued"), 19000);

	t0 = tnow_ms();
	tsubmit(other, 1, "faulty", "pid", 3, &hdr, &body);
	took = tnow_ms() - t0;
	ck_assert_msg(hdr.type == FP_RESULT, "other client: %s", body);
	free(body);
	queued = tpool_int(d->sock, "faulty", "queued");
	/* Behind the queue it would have waited 10 s and found it empty. */
	ck_assert_msg(took < 500, "the other client waited %lld ms", took);
	ck_assert_msg(queued > 15000, "only %lld of the bulk's tasks left",
	    queued);
	close(bulk);
	close(other);
	fpd_stop_ok(d);
}
END_TEST

Suite *
share_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("share");
	tc = tcase_create("fair");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fair_share);
	suite_add_tcase(s, tc);
	return (s);
}

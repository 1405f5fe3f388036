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

START_TEST(test_too_large_from_header)
{
	/*
	 * The header decides: a SUBMIT whose header announces a payload of
	 * max_payload + 1 is answered TOO_LARGE with not one byte of its
	 * body sent, and the connection closes.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	uint8_t		 buf[FP_HDR_LEN];
	char		*body;
	int		 fd;

	d = fpd_start("[daemon]\nmax_payload = 1024\n"
	    "[pool:echo]\nhandler = echo\nworkers = 1\n");
	fd = tconnect(d->sock);
	hdr.len = 4 + 1025;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = FP_SUBMIT;
	hdr.arg = 4;
	hdr.id = 42;
	fp_hdr_encode(buf, &hdr);
	tsend_raw(fd, buf, sizeof(buf));
	body = texpect(fd, FP_ERROR, FP_ERR_TOO_LARGE, 42, WAIT_MS);
	ck_assert_msg(strstr(body, "1025") != NULL, "text: %s", body);
	free(body);
	texpect_eof(fd, WAIT_MS);
	close(fd);
	fpd_stop_ok(d);
}
END_TEST

START_TEST(test_forbidden_writer_reads_reason)
{
	/*
	 * A client refused FORBIDDEN that writes first (1 MiB of PINGs, more
	 * than the socket buffers hold) does not fail on a broken pipe: the
	 * daemon reads and drops what it sends, and the client then reads
	 * FORBIDDEN and end of file.
	 */
	struct fpd	*d;
	struct fp_hdr	 hdr;
	uint8_t		*buf;
	size_t		 len = 1024 * 1024, off;
	ssize_t		 n;
	char		*body;
	int		 fd;

	d = fpd_start("[daemon]\nallow_users = 4242\n"
	    "[pool:echo]\nhandler = echo\nworkers = 1\n");
	buf = calloc(1, len);
	ck_assert_ptr_nonnull(buf);
	hdr.len = 0;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = FP_PING;
	hdr.arg = 0;
	for (off = 0; off + FP_HDR_LEN <= len; off += FP_HDR_LEN) {
		hdr.id = off;
		fp_hdr_encode(buf + off, &hdr);
	}
	fd = tconnect(d->sock);
	/* Blocking writes: each returns once the daemon has read room. */
	for (off = 0; off < len; off += n) {
		n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		ck_assert_msg(n > 0 || errno == EINTR, "send after %zu bytes: "
		    "%s", off, strerror(errno));
		if (n < 0)
			n = 0;
	}
	free(buf);
	body = texpect(fd, FP_ERROR, FP_ERR_FORBIDDEN, 0, WAIT_MS);
	free(body);
	texpect_eof(fd, WAIT_MS);
	close(fd);
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

	tc = tcase_create("header");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_too_large_from_header);
	tcase_add_test(tc, test_forbidden_writer_reads_reason);
	suite_add_tcase(s, tc);
	return (s);
}

/*
 * A client built the way a user builds one: against the installed headers
 * and library, found with `pkg-config --cflags --libs forkpool`.  The
 * install test (tests/check_systemd.c) compiles and runs it.
 *
 *	install_client SOCKET POOL PAYLOAD
 *
 * PINGs, submits PAYLOAD to POOL, prints the output and exits 0 when the
 * handler answered success with the payload echoed back; 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <forkpool/client.h>
#include <forkpool/module.h>
#include <forkpool/proto.h>

int
main(int argc, char *argv[])
{
	struct fp_client	*c;
	struct fp_reply		 r;
	size_t			 len;
	int			 ok;

	if (argc != 4) {
		fprintf(stderr, "usage: install_client SOCKET POOL PAYLOAD\n");
		return (2);
	}
	/* module.h is installed for module authors; it must compile too. */
	if (sizeof(struct fp_module) == 0)
		return (2);

	if ((c = fp_connect(argv[1])) == NULL) {
		fprintf(stderr, "install_client: out of memory\n");
		return (1);
	}
	if (fp_client_err(c) != 0 || fp_ping(c) == -1) {
		fprintf(stderr, "install_client: %s\n", fp_client_errstr(c));
		fp_close(c);
		return (1);
	}
	len = strlen(argv[3]);
	if (fp_submit(c, argv[2], argv[3], len, &r) == -1) {
		fprintf(stderr, "install_client: %s\n", fp_client_errstr(c));
		fp_close(c);
		return (1);
	}
	if (r.type == FP_ERROR)
		fprintf(stderr, "install_client: %s: %s\n",
		    fp_err_name(r.arg), r.data);
	ok = r.type == FP_RESULT && r.arg == 0 && r.len == len &&
	    memcmp(r.data, argv[3], len) == 0;
	fwrite(r.data, 1, r.len, stdout);
	fp_reply_free(&r);
	fp_close(c);
	return (ok ? 0 : 1);
}

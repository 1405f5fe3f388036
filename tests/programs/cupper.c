/*
 * A C program worker built on fp_worker_serve(): it uppercases its
 * payload; "fail" is answered with status 3, "huge" with an output over
 * max_payload, "pid" with its pid.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <forkpool/worker.h>

static int
upper(void *arg, const void *payload, size_t len, struct fp_out *out)
{
	const char	*p = payload;
	char		 c, buf[32];
	size_t		 i;
	int		 n;

	(void)arg;
	if (len == 4 && memcmp(p, "fail", 4) == 0)
		return (fp_out_write(out, "no", 2) == -1 ? FP_HANDLE_TOO_LARGE :
		    3);
	if (len == 4 && memcmp(p, "huge", 4) == 0) {
		for (i = 0; i <= out->max; i++)
			if (fp_out_write(out, "x", 1) == -1)
				return (FP_HANDLE_TOO_LARGE);
		return (0);
	}
	if (len == 3 && memcmp(p, "pid", 3) == 0) {
		n = snprintf(buf, sizeof(buf), "%ld", (long)getpid());
		return (fp_out_write(out, buf, n) == -1 ? FP_HANDLE_TOO_LARGE :
		    0);
	}
	for (i = 0; i < len; i++) {
		c = (char)toupper((unsigned char)p[i]);
		if (fp_out_write(out, &c, 1) == -1)
			return (FP_HANDLE_TOO_LARGE);
	}
	return (0);
}

int
main(void)
{
	return (fp_worker_serve(upper, NULL) == 0 ? 0 : 1);
}

/*
 * A C program worker built on fp_worker_serve(): it uppercases its
 * payload; "fail" is answered with status 3, "huge" with an output over
 * max_payload, "pid" with its pid; "sleep:MS" sleeps, then says "slept";
 * "mark:PATH" appends a line to the file PATH (a side effect to look for).
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
	if (len > 6 && len < sizeof(buf) && memcmp(p, "sleep:", 6) == 0) {
		struct timespec	ts;
		long		ms;

		memcpy(buf, p + 6, len - 6);
		buf[len - 6] = '\0';
		ms = strtol(buf, NULL, 10);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000;
		nanosleep(&ts, NULL);
		return (fp_out_write(out, "slept", 5) == -1 ?
		    FP_HANDLE_TOO_LARGE : 0);
	}
	if (len > 5 && memcmp(p, "mark:", 5) == 0) {
		char	path[256];
		int	fd;

		if (len - 5 >= sizeof(path))
			return (1);
		memcpy(path, p + 5, len - 5);
		path[len - 5] = '\0';
		if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644)) == -1)
			return (1);
		(void)!write(fd, "mark\n", 5);
		close(fd);
		return (fp_out_write(out, "marked", 6) == -1 ?
		    FP_HANDLE_TOO_LARGE : 0);
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

/*
 * forkpool reload [-w SECONDS]: make forkpoold read its configuration
 * again and say how that went, for a person and for ExecReload= alike
 * (systemctl reload then fails when the daemon refused the file, instead
 * of reporting a success it never saw).
 *
 * The STATUS document names the daemon's pid and the latest reload: a
 * generation that each SIGHUP bumps once acted on, and the error of the
 * last one that failed (null once one applies).  Send
 * SIGHUP, then ask STATUS until the generation moves.  kill(2) is the
 * shell's and systemd's way too; this only adds the waiting.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "forkpool.h"

#define RELOAD_WAIT_S	90	/* systemd's default TimeoutStartSec= */
#define RELOAD_POLL_MS	20

/* The daemon's pid and its latest reload from STATUS; -1, said why. */
static int
reload_state(struct fp_client *c, long long *pid, long long *gen,
    char *err, size_t errlen, int *rc)
{
	json_t		*root, *r;
	const char	*e;

	if ((root = cli_status(c, rc)) == NULL)
		return (-1);
	r = json_object_get(root, "reload");
	if (!json_is_integer(json_object_get(root, "pid")) ||
	    !json_is_integer(json_object_get(r, "generation"))) {
		cli_warnx("this forkpoold does not report its reloads in "
		    "STATUS; send it SIGHUP and read its log instead");
		json_decref(root);
		*rc = EXIT_USAGE;
		return (-1);
	}
	*pid = json_integer_value(json_object_get(root, "pid"));
	*gen = json_integer_value(json_object_get(r, "generation"));
	e = json_string_value(json_object_get(r, "error"));
	snprintf(err, errlen, "%s", e != NULL ? e : "");
	json_decref(root);
	return (0);
}

static int
reload_wait(struct fp_client *c, long long pid, long long gen0,
    unsigned long long wait_s)
{
	struct timespec	 poll = { 0, RELOAD_POLL_MS * 1000000L };
	long long	 pid1, gen;
	unsigned long long ms;
	char		 err[1024];
	int		 rc;

	for (ms = 0; ms <= wait_s * 1000; ms += RELOAD_POLL_MS) {
		if (reload_state(c, &pid1, &gen, err, sizeof(err), &rc) == -1)
			return (rc);
		if (pid1 != pid) {
			cli_warnx("forkpoold restarted (pid %lld, was %lld) "
			    "during the reload", pid1, pid);
			return (EXIT_DAEMON_ERROR);
		}
		if (gen != gen0) {
			if (err[0] != '\0') {
				/* "reload failed, nothing changed: why" */
				cli_warnx("forkpoold (pid %lld): %s", pid, err);
				return (EXIT_DAEMON_ERROR);
			}
			printf("forkpoold (pid %lld) reloaded its "
			    "configuration\n", pid);
			return (cli_flush_stdout());
		}
		nanosleep(&poll, NULL);
	}
	cli_warnx("forkpoold (pid %lld) did not finish the reload within "
	    "%llu s", pid, wait_s);
	return (EXIT_DAEMON_ERROR);
}

/* reload [-w SECONDS] */
int
reload_run(const char *sock, int argc, char **argv)
{
	struct fp_client	*c;
	unsigned long long	 wait_s = RELOAD_WAIT_S;
	long long		 pid, gen;
	char			 err[1024];
	int			 rc;

	if (argc == 3 && strcmp(argv[1], "-w") == 0) {
		if (cli_parse_uint(argv[2], 86400, &wait_s) == -1)
			return (cli_usage_error("reload -w takes a number of "
			    "seconds, not \"%s\"", argv[2]));
	} else if (argc != 1)
		return (cli_usage_error("reload takes only -w SECONDS"));

	if ((c = cli_connect(sock)) == NULL)
		return (EXIT_USAGE);
	if (reload_state(c, &pid, &gen, err, sizeof(err), &rc) == -1) {
		fp_close(c);
		return (rc);
	}
	if (pid <= 1 || kill((pid_t)pid, SIGHUP) == -1) {
		cli_warnx("cannot send SIGHUP to forkpoold (pid %lld): %s; run "
		    "this as root or as the daemon's user", pid,
		    pid <= 1 ? "not a daemon's pid" : strerror(errno));
		fp_close(c);
		return (EXIT_USAGE);
	}
	rc = reload_wait(c, pid, gen, wait_s);
	fp_close(c);
	return (rc);
}

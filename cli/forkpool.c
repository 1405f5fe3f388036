/*
 * forkpool: the command-line client of forkpoold, built on libforkpool.
 *
 *	forkpool [-s SOCKET] submit POOL [DATA]
 *	forkpool [-s SOCKET] map POOL
 *	forkpool [-s SOCKET] ping | status [--json] | metrics
 *	forkpool [-s SOCKET] reload [-w SECONDS]
 *	forkpool [-s SOCKET] top [-n COUNT] [-d SECONDS]
 *	forkpool [-s SOCKET] bench [-n TASKS] [-c CONNECTIONS] [-P PIPELINE]
 *	    [-d SIZE | -f FILE [--slice SIZE [--stride BYTES]]]
 *	    [--warmup TASKS] [--json] POOL
 *
 * Exit status: 0 success, 1 the handler reported failure, 2 a usage or
 * connection error, 3 the daemon answered ERROR.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forkpool.h"

/* -T: users trusted to run the daemon, besides the usual ones. */
const char	*cli_trust;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: forkpool [-hV] [-s SOCKET] [-T USERS] COMMAND [ARGS]\n"
	    "\n"
	    "Commands:\n"
	    "  submit POOL [DATA]  run one task on POOL with DATA as its "
	    "payload\n"
	    "                      (standard input when DATA is absent); "
	    "print its\n"
	    "                      output as it is\n"
	    "  map POOL            run each line of standard input as a "
	    "task, many\n"
	    "                      at a time; print the outputs in input "
	    "order,\n"
	    "                      one per line (an empty line for a task "
	    "the\n"
	    "                      daemon refused)\n"
	    "  ping                check that the daemon answers, and how "
	    "fast\n"
	    "  status [--json]     the daemon, its pools and their workers "
	    "as a\n"
	    "                      table, or the raw STATUS document "
	    "indented\n"
	    "  metrics             the Prometheus metrics text\n"
	    "  reload [-w SECONDS] make the daemon read its configuration "
	    "again and\n"
	    "                      wait (90 s at most) for the outcome: exit "
	    "3 with\n"
	    "                      the reason when it refused the file\n"
	    "  top [-n COUNT] [-d SECONDS]\n"
	    "                      pools and workers, refreshed every "
	    "SECONDS (1);\n"
	    "                      live on a terminal (q quits), else "
	    "COUNT blocks\n"
	    "                      of plain lines (default 1)\n"
	    "  bench [-n TASKS] [-c CONNECTIONS] [-P PIPELINE] [-d SIZE | "
	    "-f FILE]\n"
	    "        [--slice SIZE [--stride BYTES]] [--warmup TASKS] "
	    "[--json] POOL\n"
	    "                      load POOL with TASKS tasks (100000) over\n"
	    "                      CONNECTIONS (4), PIPELINE in flight on "
	    "each (64),\n"
	    "                      payloads of SIZE bytes (16), FILE, or "
	    "--slice\n"
	    "                      SIZE bytes of FILE --stride BYTES "
	    "apart; each\n"
	    "                      connection first runs --warmup tasks, "
	    "untimed;\n"
	    "                      print tasks/s, MB/s, latency "
	    "percentiles and\n"
	    "                      errors by code\n"
	    "\n"
	    "Options:\n"
	    "  -s SOCKET  the daemon's socket (default: $FORKPOOL_SOCKET, "
	    "then, if it\n"
	    "             exists and you are not root, "
	    "$XDG_RUNTIME_DIR/forkpool.sock\n"
	    "             or /tmp/forkpool-UID/forkpool.sock, then\n"
	    "             /run/forkpool/forkpool.sock)\n"
	    "  -T USERS   trust a daemon running as one of these users "
	    "(names or\n"
	    "             uids, comma-separated), as $FORKPOOL_TRUST_USER "
	    "does\n"
	    "  -h         show this help\n"
	    "  -V         show the version\n"
	    "\n"
	    "Exit status: 0 success, 1 the task's handler reported failure, "
	    "2 usage\n"
	    "or connection error, 3 the daemon answered with an error.\n");
}

/* A message on standard error, after the command's name. */
void
cli_warnx(const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	fputs("forkpool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Say what was wrong with the command line; the exit status for it. */
int
cli_usage_error(const char *fmt, ...)
{
	va_list	ap;

	fputs("forkpool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'forkpool -h' for the list of commands.\n", stderr);
	return (EXIT_USAGE);
}

/* Connect, or say why not and return NULL. */
struct fp_client *
cli_connect(const char *sock)
{
	struct fp_client	*c;

	if ((c = fp_connect_trust(sock, cli_trust)) == NULL) {
		cli_warnx("out of memory");
		return (NULL);
	}
	if (fp_client_err(c) != FP_CLIENT_OK) {
		cli_warnx("%s", fp_client_errstr(c));
		fp_close(c);
		return (NULL);
	}
	/* The daemon enforces its own max_payload; do not guess it here. */
	fp_client_set_max_payload(c, CLI_MAX_PAYLOAD);
	return (c);
}

/* A failed call: exit 3 when the daemon said no, else 2. */
int
cli_call_failed(struct fp_client *c)
{
	cli_warnx("%s", fp_client_errstr(c));
	return (fp_client_err(c) == FP_CLIENT_EREFUSED ? EXIT_DAEMON_ERROR :
	    EXIT_USAGE);
}

/* Write out what is buffered; EXIT_USAGE when standard output failed. */
int
cli_flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "forkpool: cannot write to standard output: "
		    "%s\n", strerror(errno));
		return (EXIT_USAGE);
	}
	return (EXIT_OK);
}

/* A decimal number from 0 to max, the whole string: 0, or -1. */
int
cli_parse_uint(const char *s, unsigned long long max, unsigned long long *v)
{
	char	*end;

	if (*s < '0' || *s > '9')
		return (-1);	/* strtoull would take " 1" and "-1" */
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || *v > max)
		return (-1);
	return (0);
}

/*
 * The STATUS document, parsed; NULL when it could not be had, having said
 * why, with the exit status for it in *rc.
 */
json_t *
cli_status(struct fp_client *c, int *rc)
{
	json_t		*root;
	json_error_t	 jerr;
	char		*text;

	if (fp_status(c, &text) == -1) {
		*rc = cli_call_failed(c);
		return (NULL);
	}
	root = json_loads(text, 0, &jerr);
	free(text);
	if (root == NULL || !json_is_object(root)) {
		cli_warnx("the daemon's STATUS is not a JSON object: %s "
		    "(line %d, column %d)", root == NULL ? jerr.text :
		    "another type", root == NULL ? jerr.line : 1,
		    root == NULL ? jerr.column : 1);
		json_decref(root);
		*rc = EXIT_USAGE;
		return (NULL);
	}
	*rc = EXIT_OK;
	return (root);
}

/* All of standard input, malloc'd; NULL (said why) on an error. */
static char *
read_stdin(size_t *lenp)
{
	char	*buf = NULL, *nbuf;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;

	for (;;) {
		if (cap - len < 65536) {
			cap = cap == 0 ? 65536 : cap * 2;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				cli_warnx("out of memory reading standard "
				    "input");
				free(buf);
				return (NULL);
			}
			buf = nbuf;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			cli_warnx("cannot read standard input: %s",
			    strerror(errno));
			free(buf);
			return (NULL);
		}
		len += (size_t)n;
	}
	*lenp = len;
	return (buf);
}

/* submit POOL [DATA]: one task, its output byte for byte on stdout. */
static int
cmd_submit(const char *sock, int argc, char **argv)
{
	struct fp_client	*c;
	struct fp_reply		 r;
	char			*input = NULL;
	const char		*payload;
	size_t			 len;
	int			 rc;

	if (argc < 2 || argc > 3)
		return (cli_usage_error("submit takes a pool name and, "
		    "optionally, the payload: submit POOL [DATA]"));
	if (!fp_pool_name_valid(argv[1], strlen(argv[1])))
		return (cli_usage_error("invalid pool name \"%s\": use 1 to "
		    "%d characters of A-Z a-z 0-9 _ . -", argv[1],
		    FP_POOL_NAME_MAX));
	if (argc == 3) {
		payload = argv[2];
		len = strlen(argv[2]);
	} else {
		if ((input = read_stdin(&len)) == NULL)
			return (EXIT_USAGE);
		payload = input;
	}

	if ((c = cli_connect(sock)) == NULL) {
		free(input);
		return (EXIT_USAGE);
	}
	if (fp_submit(c, argv[1], payload, len, &r) == -1) {
		cli_warnx("%s", fp_client_errstr(c));
		fp_close(c);
		free(input);
		return (EXIT_USAGE);
	}
	free(input);
	fp_close(c);

	if (r.type == FP_RESULT) {
		if (r.len > 0)
			fwrite(r.data, 1, r.len, stdout);
		rc = cli_flush_stdout();
		if (rc == EXIT_OK && r.arg != 0) {
			cli_warnx("task failed with status %u", r.arg);
			rc = EXIT_TASK_FAILED;
		}
	} else if (r.type == FP_ERROR) {
		cli_warnx("%s: %.*s", fp_err_name(r.arg), (int)r.len, r.data);
		rc = EXIT_DAEMON_ERROR;
	} else {
		cli_warnx("the daemon answered with an unexpected frame of "
		    "type 0x%02x", r.type);
		rc = EXIT_USAGE;
	}
	fp_reply_free(&r);
	return (rc);
}

/* Milliseconds on the monotonic clock. */
static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
}

/* ping: one round trip, timed. */
static int
cmd_ping(const char *sock, int argc, char **argv)
{
	struct fp_client	*c;
	double			 start, took;
	int			 rc;

	(void)argv;
	if (argc != 1)
		return (cli_usage_error("ping takes no arguments"));
	if ((c = cli_connect(sock)) == NULL)
		return (EXIT_USAGE);
	start = now_ms();
	if (fp_ping(c) == -1) {
		rc = cli_call_failed(c);
		fp_close(c);
		return (rc);
	}
	took = now_ms() - start;
	printf("pong from %s in %.3f ms\n", fp_client_path(c), took);
	fp_close(c);
	return (cli_flush_stdout());
}

/* metrics: the Prometheus text as the daemon wrote it. */
static int
cmd_metrics(const char *sock, int argc, char **argv)
{
	struct fp_client	*c;
	char			*text;
	int			 rc;

	(void)argv;
	if (argc != 1)
		return (cli_usage_error("metrics takes no arguments"));
	if ((c = cli_connect(sock)) == NULL)
		return (EXIT_USAGE);
	if (fp_metrics(c, &text) == -1) {
		rc = cli_call_failed(c);
		fp_close(c);
		return (rc);
	}
	fp_close(c);
	fputs(text, stdout);
	free(text);
	return (cli_flush_stdout());
}

int
main(int argc, char **argv)
{
	const char	*sock = NULL, *cmd;
	int		 ch;

	/* "+": options stop at the command, which has options of its own. */
	while ((ch = getopt(argc, argv, "+hs:T:V")) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return (cli_flush_stdout());
		case 's':
			sock = optarg;
			break;
		case 'T':
			cli_trust = optarg;
			break;
		case 'V':
			printf("forkpool %s\n", FORKPOOL_VERSION);
			return (cli_flush_stdout());
		default:
			usage(stderr);
			return (EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return (EXIT_USAGE);
	}

	cmd = argv[0];
	if (strcmp(cmd, "submit") == 0)
		return (cmd_submit(sock, argc, argv));
	if (strcmp(cmd, "map") == 0)
		return (map_run(sock, argc, argv));
	if (strcmp(cmd, "ping") == 0)
		return (cmd_ping(sock, argc, argv));
	if (strcmp(cmd, "status") == 0)
		return (status_run(sock, argc, argv));
	if (strcmp(cmd, "metrics") == 0)
		return (cmd_metrics(sock, argc, argv));
	if (strcmp(cmd, "reload") == 0)
		return (reload_run(sock, argc, argv));
	if (strcmp(cmd, "top") == 0)
		return (top_run(sock, argc, argv));
	if (strcmp(cmd, "bench") == 0)
		return (bench_run(sock, argc, argv));
	return (cli_usage_error("unknown command \"%s\"", cmd));
}

/*
 * forkpool top [-n COUNT] [-d SECONDS]: the daemon's pools and workers,
 * refreshed.
 *
 * On a terminal it is a live view: the alternate screen, redrawn in place
 * every SECONDS with plain ANSI escape sequences, keys read from a terminal
 * in non-canonical mode ("q" quits), a new window size redrawn at once.
 * Anything that ends the program -- q, COUNT reached, SIGINT, SIGTERM,
 * SIGHUP -- puts the terminal back as it was; ^Z does too, and the view
 * comes back on SIGCONT.
 *
 * When standard output is not a terminal, each refresh is one block of
 * plain lines, blocks separated by an empty line, with no escape sequence
 * at all, so the output can be read by grep or a script: by default one
 * block, COUNT blocks with -n.
 *
 * A frame is rendered once into memory and then shown: written as it is,
 * or cut to the window's width and height, so a resize only redraws.
 * Holding the terminal (raw keys, the alternate screen, the signals that
 * give it back) is term.c's.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "forkpool.h"

#define TOP_DELAY_MIN	0.1
#define TOP_DELAY_MAX	86400.0
#define TOP_COUNT_MAX	1000000000ULL
#define TOP_HEADS	2	/* table heads in a frame */

struct top {
	const char	*sock;
	int		 tty;		/* stdout is a terminal: live view */
	int		 keys;		/* stdin is a terminal: read keys */
	unsigned long long count;	/* refreshes to show; 0 forever */
	double		 delay;		/* seconds between refreshes */
	struct fp_client *c;		/* NULL while disconnected */

	json_t		*prev;		/* the last STATUS, for the rates */
	double		 prev_at;	/* when it came, monotonic seconds */

	char		*frame;		/* the last frame, rendered */
	size_t		 framelen;
	long		 head[TOP_HEADS]; /* its table heads' lines, or -1 */
};

/* Monotonic seconds. */
static double
top_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/* A rate for the table: "-" without one, "12.5" or "81234". */
static void
top_rate(char *cell, double rate)
{
	if (rate < 0)
		snprintf(cell, TABLE_CELL_MAX, "-");
	else if (rate < 100)
		snprintf(cell, TABLE_CELL_MAX, "%.1f", rate);
	else
		snprintf(cell, TABLE_CELL_MAX, "%.0f", rate);
}

/* The pool of that name in a STATUS document, or NULL. */
static const json_t *
top_find_pool(const json_t *root, const char *name)
{
	const json_t	*p;
	const char	*n;
	size_t		 i;

	if (root == NULL || name == NULL)
		return (NULL);
	json_array_foreach(json_object_get(root, "pools"), i, p) {
		n = json_string_value(json_object_get(p, "name"));
		if (n != NULL && strcmp(n, name) == 0)
			return (p);
	}
	return (NULL);
}

/* Tasks per second completed by pool since the last refresh, or -1. */
static double
top_pool_rate(const struct top *t, const json_t *p, double now)
{
	const json_t	*old;
	json_int_t	 a, b;

	old = top_find_pool(t->prev, json_string_value(json_object_get(p,
	    "name")));
	if (old == NULL || now - t->prev_at <= 0)
		return (-1);
	if (!json_is_integer(json_object_get(p, "completed")) ||
	    !json_is_integer(json_object_get(old, "completed")))
		return (-1);
	a = json_integer_value(json_object_get(old, "completed"));
	b = json_integer_value(json_object_get(p, "completed"));
	if (b < a)
		return (-1);	/* counters restarted: a pool re-added */
	return ((double)(b - a) / (now - t->prev_at));
}

/* Count a pool's workers in a state. */
static size_t
top_count_state(const json_t *p, const char *state)
{
	const json_t	*w;
	const char	*s;
	size_t		 i, n = 0;

	json_array_foreach(json_object_get(p, "workers"), i, w) {
		s = json_string_value(json_object_get(w, "state"));
		if (s != NULL && strcmp(s, state) == 0)
			n++;
	}
	return (n);
}

/* The line number the next text written to fp will start. */
static long
top_line_no(FILE *fp, char **buf, size_t *len)
{
	long	n = 0;
	size_t	i;

	fflush(fp);
	for (i = 0; i < *len; i++)
		if ((*buf)[i] == '\n')
			n++;
	return (n);
}

/* The pools table. */
static int
top_pools(struct top *t, const json_t *root, double now, FILE *fp)
{
	static const char *heads[] = { "POOL", "WORKERS", "BUSY", "QUEUE",
	    "TASKS/S", "COMPLETED", "FAILED", "CRASHES", "TIMEOUTS",
	    "RESTARTS", "BACK-OFF" };
	static const int right[] = { 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 };
	struct table	 tab = { 11, heads, right, 0, NULL };
	const json_t	*p;
	char		 (*row)[TABLE_CELL_MAX];
	char		 a[TABLE_CELL_MAX], b[TABLE_CELL_MAX];
	size_t		 i;

	json_array_foreach(json_object_get(root, "pools"), i, p) {
		if ((row = table_add_row(&tab)) == NULL) {
			table_free(&tab);
			return (-1);
		}
		table_str(a, p, "name");
		snprintf(row[0], TABLE_CELL_MAX, "%.64s%s", a,
		    json_is_true(json_object_get(p, "removed")) ?
		    " (removed)" : "");
		table_int(b, p, "size");
		snprintf(row[1], TABLE_CELL_MAX, "%zu/%.30s",
		    top_count_state(p, "idle") + top_count_state(p, "busy"), b);
		snprintf(row[2], TABLE_CELL_MAX, "%zu",
		    top_count_state(p, "busy"));
		table_int(a, p, "queued");
		table_int(b, p, "queue_limit");
		snprintf(row[3], TABLE_CELL_MAX, "%.30s/%.30s", a, b);
		top_rate(row[4], top_pool_rate(t, p, now));
		table_int(row[5], p, "completed");
		table_int(row[6], p, "failed");
		table_int(row[7], p, "crashes");
		table_int(row[8], p, "timeouts");
		table_int(row[9], p, "restarts");
		table_backoff(row[10], p);
	}
	table_print(&tab, fp, "");
	table_free(&tab);
	return (0);
}

/* The two header lines: the daemon, then the totals. */
static void
top_header(const struct top *t, const json_t *root, FILE *fp)
{
	const json_t	*pools = json_object_get(root, "pools");
	const json_t	*p;
	const char	*version;
	char		 pid[TABLE_CELL_MAX], up[64], clients[TABLE_CELL_MAX];
	char		 rss[TABLE_CELL_MAX];
	size_t		 i, nworkers = 0, nbusy = 0;

	json_array_foreach(pools, i, p) {
		nworkers += json_array_size(json_object_get(p, "workers"));
		nbusy += top_count_state(p, "busy");
	}
	version = json_string_value(json_object_get(root, "version"));
	table_int(pid, root, "pid");
	table_uptime(up, sizeof(up), json_object_get(root, "uptime_ms"));
	table_int(clients, root, "clients");
	table_bytes(rss, root, "master_rss_bytes");

	fprintf(fp, "forkpoold %s on %s: pid %s, up %s%s\n",
	    version != NULL ? version : "(unknown version)",
	    fp_client_path(t->c), pid, up,
	    json_is_true(json_object_get(root, "stopping")) ?
	    ", STOPPING" : "");
	fprintf(fp, "%zu pool%s, %zu worker%s (%zu busy), clients %s, "
	    "master RSS %s", json_array_size(pools),
	    json_array_size(pools) == 1 ? "" : "s", nworkers,
	    nworkers == 1 ? "" : "s", nbusy, clients, rss);
	if (t->count != 1)
		fprintf(fp, "; every %g s", t->delay);
	fprintf(fp, "%s\n", t->tty ? "; q quits" : "");
}

/* Render a STATUS document into t->frame; 0, or -1 out of memory. */
static int
top_render(struct top *t, const json_t *root, double now)
{
	FILE	*fp;
	char	*buf = NULL;
	size_t	 len = 0;
	int	 rc;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return (-1);
	top_header(t, root, fp);
	fputc('\n', fp);
	t->head[0] = top_line_no(fp, &buf, &len);
	rc = top_pools(t, root, now, fp);
	fputc('\n', fp);
	t->head[1] = top_line_no(fp, &buf, &len);
	if (rc == 0)
		rc = table_workers(json_object_get(root, "pools"), 1, fp);
	if (fclose(fp) == EOF || rc == -1) {
		free(buf);
		return (-1);
	}
	free(t->frame);
	t->frame = buf;
	t->framelen = len;
	return (0);
}

/* A frame that says why there is nothing to show (live view only). */
static int
top_render_error(struct top *t, const char *why)
{
	char	*buf;
	int	 n;

	n = asprintf(&buf, "forkpoold on %s: %s\n\nTrying again every %g s; "
	    "q quits.\n", t->c != NULL ? fp_client_path(t->c) :
	    t->sock != NULL ? t->sock : "the default socket", why, t->delay);
	if (n == -1)
		return (-1);
	free(t->frame);
	t->frame = buf;
	t->framelen = (size_t)n;
	t->head[0] = t->head[1] = -1;
	return (0);
}

/*
 * Fetch STATUS and render it.  0; -1 when it could not be had, with the
 * reason in why (and, in the live view, a frame saying so); -2 out of
 * memory.  A broken connection is dropped, to be made again next time.
 */
static int
top_refresh(struct top *t, char *why, size_t whylen, int *rc)
{
	json_t		*root;
	json_error_t	 jerr;
	char		*text;
	double		 now;

	*rc = EXIT_USAGE;
	if (t->c == NULL) {
		if ((t->c = fp_connect_trust(t->sock, cli_trust)) == NULL)
			return (-2);
		fp_client_set_max_payload(t->c, CLI_MAX_PAYLOAD);
	}
	if (fp_client_err(t->c) == FP_CLIENT_OK && fp_status(t->c,
	    &text) == 0) {
		now = top_now();
		root = json_loads(text, 0, &jerr);
		free(text);
		if (root != NULL && json_is_object(root)) {
			if (top_render(t, root, now) == -1) {
				json_decref(root);
				return (-2);
			}
			json_decref(t->prev);
			t->prev = root;
			t->prev_at = now;
			return (0);
		}
		snprintf(why, whylen, "the daemon's STATUS is not a JSON "
		    "object: %s", root == NULL ? jerr.text : "another type");
		json_decref(root);
	} else {
		snprintf(why, whylen, "%s", fp_client_errstr(t->c));
		if (fp_client_err(t->c) == FP_CLIENT_EREFUSED)
			*rc = EXIT_DAEMON_ERROR;
		else {
			fp_close(t->c);
			t->c = NULL;
		}
	}
	if (t->tty && top_render_error(t, why) == -1)
		return (-2);
	return (-1);
}

/* Show the frame as plain lines, blocks after the first set apart. */
static int
top_show_plain(struct top *t, int first)
{
	if (!first)
		fputc('\n', stdout);
	fwrite(t->frame, 1, t->framelen, stdout);
	return (cli_flush_stdout() == EXIT_OK ? 0 : -1);
}

/*
 * Draw the frame from the top left corner of the window: each line cut to
 * the width and cleared to its end, the table heads in reverse video, the
 * rest of the screen cleared, all in one write so nothing flickers.
 */
static int
top_show_tty(struct top *t)
{
	FILE		*fp;
	char		*buf = NULL, *line, *nl, more[64];
	size_t		 len = 0, rows, cols, n, i, nlines = 0;
	long		 no;
	int		 head;

	term_size(&rows, &cols);
	for (i = 0; i < t->framelen; i++)
		if (t->frame[i] == '\n')
			nlines++;
	if ((fp = open_memstream(&buf, &len)) == NULL)
		return (-1);
	fputs(TERM_HOME, fp);
	line = t->frame;
	for (no = 0; (size_t)no < rows && line < t->frame + t->framelen;
	    no++) {
		nl = memchr(line, '\n', t->frame + t->framelen - line);
		n = nl != NULL ? (size_t)(nl - line) :
		    (size_t)(t->frame + t->framelen - line);
		if ((size_t)no == rows - 1 && nlines > rows) {
			/* The last row says what did not fit. */
			snprintf(more, sizeof(more), "(%zu more lines: make "
			    "the window taller)", nlines - rows + 1);
			line = more;
			n = strlen(more);
		}
		head = no == t->head[0] || no == t->head[1];
		if (head)
			fputs(TERM_REVERSE, fp);
		fwrite(line, 1, n < cols ? n : cols, fp);
		if (head)
			fputs(TERM_PLAIN, fp);
		fputs(TERM_CLEAR_EOL, fp);
		if (nl == NULL || (size_t)no + 1 == rows)
			break;
		/* No newline after the last row: it would scroll. */
		fputs("\r\n", fp);
		line = nl + 1;
	}
	fputs(TERM_CLEAR_BELOW, fp);
	if (fclose(fp) == EOF) {
		free(buf);
		return (-1);
	}
	term_write(STDOUT_FILENO, buf, len);
	free(buf);
	return (0);
}

/*
 * Wait until the next refresh is due, redrawing on SIGWINCH and ^L; 1 when
 * q was pressed (or the terminal went away), else 0.
 */
static int
top_wait(struct top *t, double until, const sigset_t *waitmask)
{
	double		left;
	char		keys[64];
	ssize_t		n, i;

	for (;;) {
		if (term_take_redraw())
			top_show_tty(t);
		if ((left = until - top_now()) <= 0)
			return (0);
		n = term_read_keys(t->keys, left, waitmask, keys,
		    sizeof(keys));
		if (n == -1)
			return (1);	/* the terminal is gone */
		for (i = 0; i < n; i++) {
			if (keys[i] == 'q' || keys[i] == 'Q')
				return (1);
			if (keys[i] == '\f')	/* ^L */
				term_want_redraw();
		}
	}
}

/* The live view, until q or COUNT refreshes; the exit status. */
static int
top_live(struct top *t)
{
	sigset_t		waitmask;
	unsigned long long	shown = 0;
	double			next;
	char			why[600];
	int			rc = EXIT_OK, ignored;

	t->keys = term_init(t->keys);
	term_signals(&waitmask);
	term_enter(t->keys);
	for (;;) {
		next = top_now() + t->delay;
		/* A daemon out of reach is on the screen, tried again later. */
		if (top_refresh(t, why, sizeof(why), &ignored) == -2) {
			term_leave();
			cli_warnx("out of memory");
			rc = EXIT_USAGE;
			break;
		}
		(void)term_take_redraw();	/* this one draws it all */
		top_show_tty(t);
		if (t->count != 0 && ++shown >= t->count)
			break;
		if (top_wait(t, next, &waitmask))
			break;
	}
	term_leave();
	return (rc);
}

/* Plain lines, COUNT blocks; the exit status. */
static int
top_plain(struct top *t)
{
	struct timespec		ts;
	unsigned long long	shown;
	double			next, left;
	char			why[600];
	int			rc, r;

	for (shown = 0; t->count == 0 || shown < t->count; shown++) {
		next = top_now() + t->delay;
		if ((r = top_refresh(t, why, sizeof(why), &rc)) != 0) {
			cli_warnx("%s", r == -2 ? "out of memory" : why);
			return (r == -2 ? EXIT_USAGE : rc);
		}
		if (top_show_plain(t, shown == 0) == -1)
			return (EXIT_USAGE);
		if (t->count != 0 && shown + 1 >= t->count)
			break;
		while ((left = next - top_now()) > 0) {
			ts.tv_sec = (time_t)left;
			ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
		}
	}
	return (EXIT_OK);
}

/* top [-n COUNT] [-d SECONDS] */
int
top_run(const char *sock, int argc, char **argv)
{
	struct top	 t;
	char		*end;
	int		 ch, rc, count_set = 0;

	memset(&t, 0, sizeof(t));
	t.sock = sock;
	t.delay = 1.0;
	t.head[0] = t.head[1] = -1;
	opterr = 0;
	optind = 0;	/* glibc: start afresh on the command's own words */
	while ((ch = getopt(argc, argv, "+:d:n:")) != -1) {
		switch (ch) {
		case 'd':
			errno = 0;
			t.delay = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !isfinite(t.delay) || t.delay < TOP_DELAY_MIN ||
			    t.delay > TOP_DELAY_MAX)
				return (cli_usage_error("top -d takes a number "
				    "of seconds from %g to %g, not \"%s\"",
				    TOP_DELAY_MIN, TOP_DELAY_MAX, optarg));
			break;
		case 'n':
			if (cli_parse_uint(optarg, TOP_COUNT_MAX,
			    &t.count) == -1)
				return (cli_usage_error("top -n takes a number "
				    "of refreshes (0 for no end), not \"%s\"",
				    optarg));
			count_set = 1;
			break;
		case ':':
			return (cli_usage_error("top -%c needs a value",
			    optopt));
		default:
			return (cli_usage_error("top takes -n COUNT and -d "
			    "SECONDS, not -%c", optopt));
		}
	}
	if (optind != argc)
		return (cli_usage_error("top takes no arguments but -n COUNT "
		    "and -d SECONDS: \"%s\"", argv[optind]));

	t.tty = isatty(STDOUT_FILENO);
	t.keys = t.tty && isatty(STDIN_FILENO);
	if (!t.tty && !count_set)
		t.count = 1;
	/* Say at once, before taking the screen, when there is no daemon. */
	if ((t.c = cli_connect(sock)) == NULL)
		return (EXIT_USAGE);
	rc = t.tty ? top_live(&t) : top_plain(&t);
	fp_close(t.c);
	json_decref(t.prev);
	free(t.frame);
	return (rc);
}

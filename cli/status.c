/*
 * forkpool status [--json]: the daemon's STATUS document as a table a
 * person reads at a glance, or the document itself, indented.  Parsed with
 * jansson; a key the daemon does not send shows as "-", so an older or
 * newer daemon still gets a readable table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "forkpool.h"

#define CELL_MAX	80	/* a pool name (64) and some */

/* A table built row by row, printed with columns as wide as their cells. */
struct table {
	size_t		  ncols;
	const char	**heads;
	const int	 *right;	/* right-align this column */
	size_t		  nrows;
	char		(*cells)[CELL_MAX];
};

/* Room for one more row; its cells, or NULL when out of memory. */
static char (*
table_add_row(struct table *t))[CELL_MAX]
{
	char	(*ncells)[CELL_MAX];

	ncells = realloc(t->cells, (t->nrows + 1) * t->ncols *
	    sizeof(*t->cells));
	if (ncells == NULL)
		return (NULL);
	t->cells = ncells;
	t->nrows++;
	return (&t->cells[(t->nrows - 1) * t->ncols]);
}

/* Print the heads and the rows, two spaces between columns. */
static void
table_print(const struct table *t, const char *indent)
{
	const char	*cell;
	size_t		 width[16], row, col, len;
	int		 w;

	for (col = 0; col < t->ncols; col++) {
		width[col] = strlen(t->heads[col]);
		for (row = 0; row < t->nrows; row++) {
			len = strlen(t->cells[row * t->ncols + col]);
			if (len > width[col])
				width[col] = len;
		}
	}
	for (row = 0; row <= t->nrows; row++) {
		fputs(indent, stdout);
		for (col = 0; col < t->ncols; col++) {
			cell = row == 0 ? t->heads[col] :
			    t->cells[(row - 1) * t->ncols + col];
			w = (int)width[col];
			if (col + 1 == t->ncols && !t->right[col])
				printf("%s", cell);	/* no trailing blanks */
			else if (t->right[col])
				printf("%*s", w, cell);
			else
				printf("%-*s", w, cell);
			if (col + 1 < t->ncols)
				fputs("  ", stdout);
		}
		fputc('\n', stdout);
	}
}

/* An integer member as text, "-" when it is missing or not a number. */
static void
cell_int(char *cell, const json_t *obj, const char *key)
{
	const json_t	*v = json_object_get(obj, key);

	if (json_is_integer(v))
		snprintf(cell, CELL_MAX, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	else
		snprintf(cell, CELL_MAX, "-");
}

/* A string member as text, "-" when it is missing. */
static void
cell_str(char *cell, const json_t *obj, const char *key)
{
	const char	*s = json_string_value(json_object_get(obj, key));

	snprintf(cell, CELL_MAX, "%s", s != NULL ? s : "-");
}

/* "1d 2h 3m 4s", or "12.3s" for less than a minute. */
static void
format_uptime(char *buf, size_t len, const json_t *v)
{
	json_int_t	ms, s;
	size_t		off = 0;

	if (!json_is_integer(v)) {
		snprintf(buf, len, "-");
		return;
	}
	ms = json_integer_value(v);
	if (ms < 60000) {
		snprintf(buf, len, "%.1fs", ms / 1000.0);
		return;
	}
	s = ms / 1000;
	buf[0] = '\0';
	if (s >= 86400)
		off += snprintf(buf + off, len - off, "%" JSON_INTEGER_FORMAT
		    "d ", s / 86400);
	if (s >= 3600 && off < len)
		off += snprintf(buf + off, len - off, "%" JSON_INTEGER_FORMAT
		    "h ", s / 3600 % 24);
	if (off < len)
		snprintf(buf + off, len - off, "%" JSON_INTEGER_FORMAT "m %"
		    JSON_INTEGER_FORMAT "s", s / 60 % 60, s % 60);
}

/* A byte count the short way: "812K", "1.4M"; "-" when missing. */
static void
cell_bytes(char *cell, const json_t *obj, const char *key)
{
	const json_t	*v = json_object_get(obj, key);
	double		 n;

	if (!json_is_integer(v)) {
		snprintf(cell, CELL_MAX, "-");
		return;
	}
	n = (double)json_integer_value(v);
	if (n < 1024)
		snprintf(cell, CELL_MAX, "%.0fB", n);
	else if (n < 1024 * 1024)
		snprintf(cell, CELL_MAX, "%.0fK", n / 1024);
	else if (n < 1024.0 * 1024 * 1024)
		snprintf(cell, CELL_MAX, "%.1fM", n / (1024 * 1024));
	else
		snprintf(cell, CELL_MAX, "%.1fG", n / (1024.0 * 1024 * 1024));
}

/* The pools table: one row per pool. */
static int
status_pools(const json_t *pools)
{
	static const char *heads[] = { "POOL", "SIZE", "QUEUED", "COMPLETED",
	    "CRASHES", "TIMEOUTS", "RESTARTS", "OVERLOADED", "BACK-OFF" };
	static const int right[] = { 0, 1, 1, 1, 1, 1, 1, 1, 0 };
	struct table	 t = { 9, heads, right, 0, NULL };
	const json_t	*p, *b;
	char		 (*row)[CELL_MAX], q[CELL_MAX], l[CELL_MAX];
	size_t		 i;

	json_array_foreach(pools, i, p) {
		if ((row = table_add_row(&t)) == NULL)
			goto nomem;
		cell_str(row[0], p, "name");
		cell_int(row[1], p, "size");
		cell_int(q, p, "queued");
		cell_int(l, p, "queue_limit");
		snprintf(row[2], CELL_MAX, "%.30s/%.30s", q, l);
		cell_int(row[3], p, "completed");
		cell_int(row[4], p, "crashes");
		cell_int(row[5], p, "timeouts");
		cell_int(row[6], p, "restarts");
		cell_int(row[7], p, "overloaded");
		b = json_object_get(p, "backoff");
		if (!json_is_boolean(b))
			snprintf(row[8], CELL_MAX, "-");
		else if (json_is_true(b) && json_is_integer(json_object_get(p,
		    "backoff_ms")))
			snprintf(row[8], CELL_MAX, "yes (%.1f s)",
			    json_integer_value(json_object_get(p,
			    "backoff_ms")) / 1000.0);
		else
			snprintf(row[8], CELL_MAX, "%s", json_is_true(b) ?
			    "yes" : "no");
	}
	table_print(&t, "");
	free(t.cells);
	return (0);
nomem:
	free(t.cells);
	cli_warnx("out of memory");
	return (-1);
}

/* The workers table: one row per worker process, under its pool. */
static int
status_workers(const json_t *pools)
{
	static const char *heads[] = { "POOL", "PID", "STATE", "TASKS",
	    "RSS" };
	static const int right[] = { 0, 1, 0, 1, 1 };
	struct table	 t = { 5, heads, right, 0, NULL };
	const json_t	*p, *w;
	char		 (*row)[CELL_MAX];
	size_t		 i, j;

	json_array_foreach(pools, i, p) {
		json_array_foreach(json_object_get(p, "workers"), j, w) {
			if ((row = table_add_row(&t)) == NULL) {
				free(t.cells);
				cli_warnx("out of memory");
				return (-1);
			}
			cell_str(row[0], p, "name");
			cell_int(row[1], w, "pid");
			cell_str(row[2], w, "state");
			cell_int(row[3], w, "tasks");
			cell_bytes(row[4], w, "rss_bytes");
		}
	}
	if (t.nrows == 0)
		printf("no worker processes\n");
	else
		table_print(&t, "");
	free(t.cells);
	return (0);
}

/* The whole human-readable report. */
static int
status_print(const json_t *root, const char *path)
{
	const json_t	*pools = json_object_get(root, "pools");
	const json_t	*p;
	char		 pid[CELL_MAX], uptime[64];
	size_t		 i, nworkers = 0;

	json_array_foreach(pools, i, p)
		nworkers += json_array_size(json_object_get(p, "workers"));
	cell_int(pid, root, "pid");
	format_uptime(uptime, sizeof(uptime), json_object_get(root,
	    "uptime_ms"));

	printf("forkpoold %s on %s\n", json_string_value(json_object_get(root,
	    "version")) != NULL ? json_string_value(json_object_get(root,
	    "version")) : "(unknown version)", path);
	printf("  pid %s, up %s, %zu pool%s, %zu worker%s\n", pid, uptime,
	    json_array_size(pools), json_array_size(pools) == 1 ? "" : "s",
	    nworkers, nworkers == 1 ? "" : "s");
	printf("\n");
	if (status_pools(pools) == -1)
		return (-1);
	printf("\n");
	return (status_workers(pools));
}

/* status [--json] */
int
status_run(const char *sock, int argc, char **argv)
{
	struct fp_client	*c;
	json_t			*root;
	json_error_t		 jerr;
	char			*text;
	int			 as_json = 0, rc;

	if (argc == 2 && strcmp(argv[1], "--json") == 0)
		as_json = 1;
	else if (argc != 1)
		return (cli_usage_error("status takes only --json"));

	if ((c = cli_connect(sock)) == NULL)
		return (EXIT_USAGE);
	if (fp_status(c, &text) == -1) {
		rc = cli_call_failed(c);
		fp_close(c);
		return (rc);
	}
	root = json_loads(text, 0, &jerr);
	free(text);
	if (root == NULL || !json_is_object(root)) {
		cli_warnx("the daemon's STATUS is not a JSON object: %s "
		    "(line %d, column %d)", root == NULL ? jerr.text :
		    "another type", root == NULL ? jerr.line : 1,
		    root == NULL ? jerr.column : 1);
		json_decref(root);
		fp_close(c);
		return (EXIT_USAGE);
	}

	if (as_json) {
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		rc = EXIT_OK;
	} else
		rc = status_print(root, fp_client_path(c)) == -1 ?
		    EXIT_USAGE : EXIT_OK;
	json_decref(root);
	fp_close(c);
	if (rc != EXIT_OK)
		return (rc);
	return (cli_flush_stdout());
}

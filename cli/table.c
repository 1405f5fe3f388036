/*
 * Tables of text for status and top: rows of cells filled from the STATUS
 * document, printed with columns as wide as their widest cell.  A key the
 * daemon does not send shows as "-", so an older or newer daemon still
 * gets a readable table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "forkpool.h"

/* Room for one more row; its cells, or NULL when out of memory. */
char (*
table_add_row(struct table *t))[TABLE_CELL_MAX]
{
	char	(*ncells)[TABLE_CELL_MAX];

	ncells = realloc(t->cells, (t->nrows + 1) * t->ncols *
	    sizeof(*t->cells));
	if (ncells == NULL)
		return (NULL);
	t->cells = ncells;
	t->nrows++;
	return (&t->cells[(t->nrows - 1) * t->ncols]);
}

/* Print the heads and the rows to fp, two spaces between columns. */
void
table_print(const struct table *t, FILE *fp, const char *indent)
{
	const char	*cell;
	size_t		 width[TABLE_COLS_MAX], row, col, len;
	int		 w;

	for (col = 0; col < t->ncols && col < TABLE_COLS_MAX; col++) {
		width[col] = strlen(t->heads[col]);
		for (row = 0; row < t->nrows; row++) {
			len = strlen(t->cells[row * t->ncols + col]);
			if (len > width[col])
				width[col] = len;
		}
	}
	for (row = 0; row <= t->nrows; row++) {
		fputs(indent, fp);
		for (col = 0; col < t->ncols && col < TABLE_COLS_MAX; col++) {
			cell = row == 0 ? t->heads[col] :
			    t->cells[(row - 1) * t->ncols + col];
			w = (int)width[col];
			/* The last column, left-aligned: no trailing blanks. */
			if (col + 1 == t->ncols && !t->right[col])
				fprintf(fp, "%s", cell);
			else if (t->right[col])
				fprintf(fp, "%*s", w, cell);
			else
				fprintf(fp, "%-*s", w, cell);
			if (col + 1 < t->ncols)
				fputs("  ", fp);
		}
		fputc('\n', fp);
	}
}

void
table_free(struct table *t)
{
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

/* An integer member as text, "-" when it is missing or not a number. */
void
table_int(char *cell, const json_t *obj, const char *key)
{
	const json_t	*v = json_object_get(obj, key);

	if (json_is_integer(v))
		snprintf(cell, TABLE_CELL_MAX, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	else
		snprintf(cell, TABLE_CELL_MAX, "-");
}

/* A string member as text, "-" when it is missing. */
void
table_str(char *cell, const json_t *obj, const char *key)
{
	const char	*s = json_string_value(json_object_get(obj, key));

	snprintf(cell, TABLE_CELL_MAX, "%s", s != NULL ? s : "-");
}

/* A byte count the short way: "812K", "1.4M"; "-" when missing. */
void
table_bytes(char *cell, const json_t *obj, const char *key)
{
	const json_t	*v = json_object_get(obj, key);
	double		 n;

	if (!json_is_integer(v)) {
		snprintf(cell, TABLE_CELL_MAX, "-");
		return;
	}
	n = (double)json_integer_value(v);
	if (n < 1024)
		snprintf(cell, TABLE_CELL_MAX, "%.0fB", n);
	else if (n < 1024 * 1024)
		snprintf(cell, TABLE_CELL_MAX, "%.0fK", n / 1024);
	else if (n < 1024.0 * 1024 * 1024)
		snprintf(cell, TABLE_CELL_MAX, "%.1fM", n / (1024 * 1024));
	else
		snprintf(cell, TABLE_CELL_MAX, "%.1fG",
		    n / (1024.0 * 1024 * 1024));
}

/* "1d 2h 3m 4s", or "12.3s" for less than a minute; "-" when missing. */
void
table_uptime(char *buf, size_t len, const json_t *v)
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

/* A pool's back-off state: "no", "yes", "yes (2.0 s)"; "-" when missing. */
void
table_backoff(char *cell, const json_t *pool)
{
	const json_t	*b = json_object_get(pool, "backoff");
	const json_t	*ms = json_object_get(pool, "backoff_ms");

	if (!json_is_boolean(b))
		snprintf(cell, TABLE_CELL_MAX, "-");
	else if (json_is_true(b) && json_is_integer(ms))
		snprintf(cell, TABLE_CELL_MAX, "yes (%.1f s)",
		    json_integer_value(ms) / 1000.0);
	else
		snprintf(cell, TABLE_CELL_MAX, "%s", json_is_true(b) ? "yes" :
		    "no");
}

/* How long a busy worker has run its task: "1.5 s", or "-". */
static void
table_running(char *cell, const json_t *w)
{
	const json_t	*ms = json_object_get(w, "running_ms");

	if (json_is_integer(ms))
		snprintf(cell, TABLE_CELL_MAX, "%.1f s",
		    json_integer_value(ms) / 1000.0);
	else
		snprintf(cell, TABLE_CELL_MAX, "-");
}

/*
 * The workers table of status and top: one row per worker process, under
 * its pool, with how long its task has run when running is set.  0, or -1
 * out of memory (nothing printed).
 */
int
table_workers(const json_t *pools, int running, FILE *fp)
{
	static const char *heads[] = { "POOL", "PID", "STATE", "TASKS", "RSS",
	    "RUNNING" };
	static const int right[] = { 0, 1, 0, 1, 1, 1 };
	struct table	 tab = { running ? 6 : 5, heads, right, 0, NULL };
	const json_t	*p, *w;
	char		 (*row)[TABLE_CELL_MAX];
	size_t		 i, j;

	json_array_foreach(pools, i, p) {
		json_array_foreach(json_object_get(p, "workers"), j, w) {
			if ((row = table_add_row(&tab)) == NULL) {
				table_free(&tab);
				return (-1);
			}
			table_str(row[0], p, "name");
			table_int(row[1], w, "pid");
			table_str(row[2], w, "state");
			table_int(row[3], w, "tasks");
			table_bytes(row[4], w, "rss_bytes");
			if (running)
				table_running(row[5], w);
		}
	}
	if (tab.nrows == 0)
		fprintf(fp, "no worker processes\n");
	else
		table_print(&tab, fp, "");
	table_free(&tab);
	return (0);
}

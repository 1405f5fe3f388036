/*
 * forkpool status [--json]: the daemon's STATUS document as a table a
 * person reads at a glance (built with table.c), or the document itself,
 * indented.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "forkpool.h"

/* The prefetch in force, "auto 64" when auto chose 64. */
static void
status_prefetch(char *cell, const json_t *p)
{
	char	n[TABLE_CELL_MAX];

	table_int(n, p, "prefetch");
	snprintf(cell, TABLE_CELL_MAX, "%s%.30s", json_is_true(
	    json_object_get(p, "prefetch_auto")) ? "auto " : "", n);
}

/* Back-off, or UNAVAILABLE when no worker could start for start_timeout. */
static void
status_state(char *cell, const json_t *p)
{
	if (json_is_true(json_object_get(p, "unavailable")))
		snprintf(cell, TABLE_CELL_MAX, "UNAVAILABLE");
	else
		table_backoff(cell, p);
}

/* The pools table: one row per pool. */
static int
status_pools(const json_t *pools)
{
	static const char *heads[] = { "POOL", "SIZE", "PREFETCH", "QUEUED",
	    "CLIENTS", "COMPLETED", "CRASHES", "TIMEOUTS", "RESTARTS",
	    "OVERLOADED", "BACK-OFF" };
	static const int right[] = { 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 };
	struct table	 t = { 11, heads, right, 0, NULL };
	const json_t	*p;
	char		 (*row)[TABLE_CELL_MAX];
	char		 q[TABLE_CELL_MAX], l[TABLE_CELL_MAX];
	size_t		 i;

	json_array_foreach(pools, i, p) {
		if ((row = table_add_row(&t)) == NULL)
			goto nomem;
		table_str(row[0], p, "name");
		table_int(row[1], p, "size");
		status_prefetch(row[2], p);
		table_int(q, p, "queued");
		table_int(l, p, "queue_limit");
		snprintf(row[3], TABLE_CELL_MAX, "%.30s/%.30s", q, l);
		/* Connections with tasks queued: they are served in turn. */
		table_int(row[4], p, "clients_queued");
		table_int(row[5], p, "completed");
		table_int(row[6], p, "crashes");
		table_int(row[7], p, "timeouts");
		table_int(row[8], p, "restarts");
		table_int(row[9], p, "overloaded");
		status_state(row[10], p);
	}
	table_print(&t, stdout, "");
	free(t.cells);
	return (0);
nomem:
	free(t.cells);
	cli_warnx("out of memory");
	return (-1);
}

/* What each program pool runs: its command, and the program its worker
 * really is (an interpreter found on the daemon's PATH, say). */
static void
status_commands(const json_t *pools)
{
	const json_t	*p;
	const char	*cmd, *exe;
	size_t		 i;

	json_array_foreach(pools, i, p) {
		cmd = json_string_value(json_object_get(p, "command"));
		exe = json_string_value(json_object_get(p, "exe"));
		if (cmd == NULL)
			continue;
		printf("pool %s runs: %s%s%s%s\n",
		    json_string_value(json_object_get(p, "name")), cmd,
		    exe != NULL ? " (" : "", exe != NULL ? exe : "",
		    exe != NULL ? ")" : "");
	}
}

/* The whole human-readable report. */
static int
status_print(const json_t *root, const char *path)
{
	const json_t	*pools = json_object_get(root, "pools");
	const json_t	*p, *reload;
	char		 pid[TABLE_CELL_MAX], uptime[64];
	size_t		 i, nworkers = 0;

	json_array_foreach(pools, i, p)
		nworkers += json_array_size(json_object_get(p, "workers"));
	table_int(pid, root, "pid");
	table_uptime(uptime, sizeof(uptime), json_object_get(root,
	    "uptime_ms"));

	printf("forkpoold %s on %s\n", json_string_value(json_object_get(root,
	    "version")) != NULL ? json_string_value(json_object_get(root,
	    "version")) : "(unknown version)", path);
	printf("  pid %s, up %s, %zu pool%s, %zu worker%s\n", pid, uptime,
	    json_array_size(pools), json_array_size(pools) == 1 ? "" : "s",
	    nworkers, nworkers == 1 ? "" : "s");
	reload = json_object_get(json_object_get(root, "reload"), "error");
	if (json_is_string(reload))
		printf("  last %s\n", json_string_value(reload));
	printf("\n");
	if (status_pools(pools) == -1)
		return (-1);
	status_commands(pools);
	printf("\n");
	if (table_workers(pools, 0, stdout) == -1) {
		cli_warnx("out of memory");
		return (-1);
	}
	return (0);
}

/* status [--json] */
int
status_run(const char *sock, int argc, char **argv)
{
	struct fp_client	*c;
	json_t			*root;
	int			 as_json = 0, rc;

	if (argc == 2 && strcmp(argv[1], "--json") == 0)
		as_json = 1;
	else if (argc != 1)
		return (cli_usage_error("status takes only --json"));

	if ((c = cli_connect(sock)) == NULL)
		return (EXIT_USAGE);
	if ((root = cli_status(c, &rc)) == NULL) {
		fp_close(c);
		return (rc);
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

/*
 * forkpool, the command-line client: what its files share.
 */
#ifndef CLI_FORKPOOL_H
#define CLI_FORKPOOL_H

#include <sys/types.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "forkpool/client.h"

#ifndef FORKPOOL_VERSION
#define FORKPOOL_VERSION	"0.1.0"
#endif

/* Exit statuses, as DESIGN.md promises them. */
#define EXIT_OK			0
#define EXIT_TASK_FAILED	1	/* the handler reported failure */
#define EXIT_USAGE		2	/* usage or connection error */
#define EXIT_DAEMON_ERROR	3	/* the daemon answered ERROR */

/* The largest frame body the daemon can be configured to take (1 GiB). */
#define CLI_MAX_PAYLOAD		(1024U * 1024 * 1024)

/* forkpool.c */
extern const char *cli_trust;
void		 cli_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
struct fp_client *cli_connect(const char *);
int		 cli_call_failed(struct fp_client *);
int		 cli_usage_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
int		 cli_flush_stdout(void);
int		 cli_parse_uint(const char *, unsigned long long,
		    unsigned long long *);
json_t		*cli_status(struct fp_client *, int *);

/* bench.c */
int		 bench_run(const char *, int, char **);

/* hist.c */
/*
 * The latency histogram: values below HIST_SUB nanoseconds exactly, above
 * that HIST_SUB buckets per power of two, so a bucket is at most 1/128 of
 * its value wide.  58 powers of two cover every uint64_t.
 */
#define HIST_SUB_BITS		7
#define HIST_SUB		(1U << HIST_SUB_BITS)
#define HIST_BUCKETS		((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t	 count[HIST_BUCKETS];
	uint64_t	 n;
	uint64_t	 max;
};

void		 hist_add(struct hist *, uint64_t);
void		 hist_merge(struct hist *, const struct hist *);
double		 hist_quantile(const struct hist *, double);

/* map.c */
int		 map_run(const char *, int, char **);

/* reload.c */
int		 reload_run(const char *, int, char **);

/* status.c */
int		 status_run(const char *, int, char **);

/* table.c */
#define TABLE_CELL_MAX	80	/* a pool name (64) and some */
#define TABLE_COLS_MAX	16

/* A table built row by row, printed with columns as wide as their cells. */
struct table {
	size_t		  ncols;
	const char	**heads;
	const int	 *right;	/* right-align this column */
	size_t		  nrows;
	char		(*cells)[TABLE_CELL_MAX];
};

char		(*table_add_row(struct table *))[TABLE_CELL_MAX];
void		 table_print(const struct table *, FILE *, const char *);
void		 table_free(struct table *);
void		 table_int(char *, const json_t *, const char *);
void		 table_str(char *, const json_t *, const char *);
void		 table_bytes(char *, const json_t *, const char *);
void		 table_uptime(char *, size_t, const json_t *);
void		 table_backoff(char *, const json_t *);
int		 table_workers(const json_t *, int, FILE *);

/* term.c */
/* Escape sequences for drawing on the terminal term_enter() took. */
#define TERM_HOME		"\033[H"	/* cursor to the top left */
#define TERM_REVERSE		"\033[7m"
#define TERM_PLAIN		"\033[m"	/* reverse video off */
#define TERM_CLEAR_EOL		"\033[K"	/* to the end of the line */
#define TERM_CLEAR_BELOW	"\033[J"	/* to the end of the screen */

void		 term_write(int, const char *, size_t);
int		 term_init(int);
void		 term_enter(int);
void		 term_leave(void);
void		 term_signals(sigset_t *);
void		 term_want_redraw(void);
int		 term_take_redraw(void);
void		 term_size(size_t *, size_t *);
ssize_t		 term_read_keys(int, double, const sigset_t *, char *,
		    size_t);

/* top.c */
int		 top_run(const char *, int, char **);

#endif /* CLI_FORKPOOL_H */

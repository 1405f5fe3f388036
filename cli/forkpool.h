/*
 * forkpool, the command-line client: what its files share.
 */
#ifndef CLI_FORKPOOL_H
#define CLI_FORKPOOL_H

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
void		 cli_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
struct fp_client *cli_connect(const char *);
int		 cli_call_failed(struct fp_client *);
int		 cli_usage_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
int		 cli_flush_stdout(void);

/* map.c */
int		 map_run(const char *, int, char **);

/* status.c */
int		 status_run(const char *, int, char **);

#endif /* CLI_FORKPOOL_H */

/*
 * forkpool map POOL: every line of standard input is a task; the outputs
 * come out in input order, one per line.  Up to MAP_WINDOW tasks are in
 * flight at once, so the pool's workers all stay busy, while memory stays
 * bounded however long the input is.
 *
 * One poll loop drives both standard input and the socket: tasks are sent
 * as soon as their lines arrive, and outputs are printed as soon as every
 * earlier one is, so map works as well on a slow pipe as on a file.
 *
 * A task answered OVERLOADED (the pool's queue is full; nothing was run)
 * is sent again, with the same id, once another reply has come, or after
 * fp_wait_room()'s back-off when none is outstanding: many maps sharing
 * one small queue all finish, none sees OVERLOADED.  Each line is kept
 * until its task is answered, for that.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool.h"

#define MAP_WINDOW	256
#define MAP_READ_CHUNK	65536

struct map {
	struct fp_client *c;
	const char	*pool;

	/* Standard input not yet made into tasks: in[in_off, in_len). */
	char		*in;
	size_t		 in_off;
	size_t		 in_len;
	size_t		 in_cap;
	int		 in_eof;

	/* Task i (from 0) has id i + 1 and waits in slot i % MAP_WINDOW. */
	uint64_t	 sent;		/* tasks sent */
	uint64_t	 printed;	/* tasks whose output is printed */
	struct fp_reply	 slot[MAP_WINDOW];
	int		 have[MAP_WINDOW];
	char		*line[MAP_WINDOW];	/* the payload, until answered */
	size_t		 line_len[MAP_WINDOW];

	/* Tasks answered OVERLOADED, to send again: ids, in order. */
	uint64_t	 retry[MAP_WINDOW];
	size_t		 nretry;
	unsigned int	 backoff_ms;	/* fp_wait_room()'s */

	int		 failed;	/* a handler reported failure */
	int		 refused;	/* the daemon answered ERROR */
};

/* Read what standard input has: 0, or -1 on an error (said). */
static int
map_read_input(struct map *m)
{
	char	*nin;
	size_t	 cap;
	ssize_t	 n;

	/* Slide the unused tail to the front, then make room for a chunk. */
	if (m->in_off > 0) {
		memmove(m->in, m->in + m->in_off, m->in_len - m->in_off);
		m->in_len -= m->in_off;
		m->in_off = 0;
	}
	if (m->in_cap - m->in_len < MAP_READ_CHUNK) {
		cap = m->in_cap == 0 ? MAP_READ_CHUNK * 2 : m->in_cap * 2;
		if ((nin = realloc(m->in, cap)) == NULL) {
			cli_warnx("out of memory reading standard input");
			return (-1);
		}
		m->in = nin;
		m->in_cap = cap;
	}
	n = read(STDIN_FILENO, m->in + m->in_len, m->in_cap - m->in_len);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return (0);
		cli_warnx("cannot read standard input: %s", strerror(errno));
		return (-1);
	}
	if (n == 0)
		m->in_eof = 1;
	m->in_len += (size_t)n;
	return (0);
}

/* Send task id with its line, kept until it is answered. */
static int
map_submit(struct map *m, uint64_t id, const char *line, size_t len)
{
	size_t	i = (id - 1) % MAP_WINDOW;

	if ((m->line[i] = malloc(len + 1)) == NULL) {
		cli_warnx("out of memory");
		return (-1);
	}
	memcpy(m->line[i], line, len);
	m->line_len[i] = len;
	if (fp_send_submit(m->c, id, m->pool, line, len) == -1) {
		cli_warnx("line %llu: %s", (unsigned long long)id,
		    fp_client_errstr(m->c));
		return (-1);
	}
	return (0);
}

/* Send again every task that was answered OVERLOADED. */
static int
map_resubmit(struct map *m)
{
	size_t	i, k;

	for (k = 0; k < m->nretry; k++) {
		i = (m->retry[k] - 1) % MAP_WINDOW;
		if (fp_send_submit(m->c, m->retry[k], m->pool, m->line[i],
		    m->line_len[i]) == -1) {
			cli_warnx("line %llu: %s",
			    (unsigned long long)m->retry[k],
			    fp_client_errstr(m->c));
			return (-1);
		}
	}
	m->nretry = 0;
	return (0);
}

/*
 * Make tasks of the whole lines read so far (and of a last line without
 * its newline at end of input) while the window has room.
 */
static int
map_send_lines(struct map *m)
{
	char	*line, *nl;
	size_t	 len;

	while (m->sent - m->printed < MAP_WINDOW && m->in_off < m->in_len) {
		line = m->in + m->in_off;
		nl = memchr(line, '\n', m->in_len - m->in_off);
		if (nl != NULL) {
			len = (size_t)(nl - line);
			m->in_off += len + 1;
		} else if (m->in_eof) {
			len = m->in_len - m->in_off;
			m->in_off = m->in_len;
		} else
			break;
		if (map_submit(m, m->sent + 1, line, len) == -1)
			return (-1);
		m->sent++;
	}
	return (0);
}

/* A task could be sent now: the window has room and a line is whole. */
static int
map_can_send(struct map *m)
{
	if (m->sent - m->printed >= MAP_WINDOW || m->in_off == m->in_len)
		return (0);
	return (m->in_eof || memchr(m->in + m->in_off, '\n',
	    m->in_len - m->in_off) != NULL);
}

/* Every line of the input has been run and its output printed. */
static int
map_done(const struct map *m)
{
	return (m->in_eof && m->in_off == m->in_len && m->printed == m->sent);
}

/* Print, in order, every output whose predecessors are all printed. */
static void
map_print_ready(struct map *m)
{
	struct fp_reply	*r;
	size_t		 i;

	for (;;) {
		i = m->printed % MAP_WINDOW;
		if (m->printed == m->sent || !m->have[i])
			return;
		r = &m->slot[i];
		if (r->type == FP_RESULT) {
			fwrite(r->data, 1, r->len, stdout);
			if (r->arg != 0) {
				cli_warnx("line %llu: task failed with "
				    "status %u",
				    (unsigned long long)m->printed + 1, r->arg);
				m->failed = 1;
			}
		} else {
			cli_warnx("line %llu: %s: %.*s",
			    (unsigned long long)m->printed + 1,
			    fp_err_name(r->arg), (int)r->len, r->data);
			m->refused = 1;
		}
		fputc('\n', stdout);
		fp_reply_free(r);
		free(m->line[i]);
		m->line[i] = NULL;
		m->have[i] = 0;
		m->printed++;
	}
}

/*
 * Take every reply already received: 0, or -1 on an error (said).  Tasks
 * answered OVERLOADED go again once another reply came, or after the
 * back-off when none is outstanding.
 */
static int
map_take_replies(struct map *m)
{
	struct fp_reply	r;
	size_t		i;
	int		rc, answered = 0;

	while ((rc = fp_recv(m->c, &r, 0)) == 1) {
		i = (r.id - 1) % MAP_WINDOW;
		if (r.type == FP_ERROR && r.arg == FP_ERR_OVERLOADED &&
		    r.id > m->printed && r.id <= m->sent && !m->have[i] &&
		    m->nretry < MAP_WINDOW) {
			m->retry[m->nretry++] = r.id;
			fp_reply_free(&r);
			continue;
		}
		answered = 1;
		if (r.id <= m->printed || r.id > m->sent || m->have[i] ||
		    (r.type != FP_RESULT && r.type != FP_ERROR)) {
			if (r.type == FP_ERROR)
				cli_warnx("%s: %.*s", fp_err_name(r.arg),
				    (int)r.len, r.data);
			else
				cli_warnx("the daemon sent a reply of type "
				    "0x%02x for id %llu, which is not "
				    "waiting", r.type,
				    (unsigned long long)r.id);
			fp_reply_free(&r);
			return (-1);
		}
		m->slot[i] = r;
		m->have[i] = 1;
	}
	if (rc == -1) {
		cli_warnx("%s", fp_client_errstr(m->c));
		return (-1);
	}
	map_print_ready(m);
	if (m->nretry == 0)
		return (0);
	if (answered)
		m->backoff_ms = 0;
	else if (fp_wait_room(m->c, &m->backoff_ms) == -1) {
		cli_warnx("%s", fp_client_errstr(m->c));
		return (-1);
	} else if (m->backoff_ms == 0)
		return (0);	/* others outstanding: the next reply */
	return (map_resubmit(m));
}

/* Wait for the socket or, when it can become a task, standard input. */
static int
map_poll(struct map *m)
{
	struct pollfd	pfd[2];
	nfds_t		nfds = 1;

	pfd[0].fd = fp_client_fd(m->c);
	pfd[0].events = POLLIN;
	if (fp_pending(m->c) > 0)
		pfd[0].events |= POLLOUT;
	if (!m->in_eof && m->sent - m->printed < MAP_WINDOW) {
		pfd[1].fd = STDIN_FILENO;
		pfd[1].events = POLLIN;
		nfds = 2;
	}
	pfd[0].revents = pfd[1].revents = 0;
	/* Whoever reads our output sees it before we wait. */
	if (cli_flush_stdout() != EXIT_OK)
		return (-1);
	if (poll(pfd, nfds, -1) == -1) {
		if (errno == EINTR)
			return (0);
		cli_warnx("poll: %s", strerror(errno));
		return (-1);
	}
	if (nfds == 2 && pfd[1].revents != 0 && map_read_input(m) == -1)
		return (-1);
	return (0);
}

/* Run the map; the exit status. */
static int
map_loop(struct map *m)
{
	for (;;) {
		if (map_send_lines(m) == -1)
			return (EXIT_USAGE);
		if (map_done(m))
			break;
		if (fp_pending(m->c) > 0 && fp_flush(m->c) == -1) {
			cli_warnx("%s", fp_client_errstr(m->c));
			return (EXIT_USAGE);
		}
		if (map_take_replies(m) == -1)
			return (EXIT_USAGE);
		/* Printing made room: lines already read go out first. */
		if (map_can_send(m) || map_done(m))
			continue;
		if (map_poll(m) == -1)
			return (EXIT_USAGE);
	}
	if (cli_flush_stdout() != EXIT_OK)
		return (EXIT_USAGE);
	if (m->refused)
		return (EXIT_DAEMON_ERROR);
	if (m->failed)
		return (EXIT_TASK_FAILED);
	return (EXIT_OK);
}

/* map POOL */
int
map_run(const char *sock, int argc, char **argv)
{
	struct map	*m;
	size_t		 i;
	int		 rc;

	if (argc != 2)
		return (cli_usage_error("map takes one pool name and reads "
		    "its tasks from standard input: map POOL"));
	if (!fp_pool_name_valid(argv[1], strlen(argv[1])))
		return (cli_usage_error("invalid pool name \"%s\": use 1 to "
		    "%d characters of A-Z a-z 0-9 _ . -", argv[1],
		    FP_POOL_NAME_MAX));
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		cli_warnx("out of memory");
		return (EXIT_USAGE);
	}
	m->pool = argv[1];
	if ((m->c = cli_connect(sock)) == NULL) {
		free(m);
		return (EXIT_USAGE);
	}
	rc = map_loop(m);
	for (i = 0; i < MAP_WINDOW; i++) {
		if (m->have[i])
			fp_reply_free(&m->slot[i]);
		free(m->line[i]);
	}
	fp_close(m->c);
	free(m->in);
	free(m);
	return (rc);
}

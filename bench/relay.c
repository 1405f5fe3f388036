/*
 * relay: the machine's ceiling for relaying small tasks to workers.
 *
 * It does what forkpoold's data path does and nothing else: one epoll loop
 * reads SUBMIT frames from clients on a Unix socket (with the codec of
 * lib/forkpool/proto.h, so that `forkpool bench` drives it as it drives
 * the daemon), keeps one FIFO queue, hands up to PREFETCH tasks at a time
 * to each worker over its own socketpair as fixed 32-byte messages (one
 * write per batch), and routes each reply back as a RESULT frame to the
 * client that sent it (one write per client per loop turn).  Each worker
 * is a tight read/echo/write loop.  No pools (every name is the same
 * echo), no supervision, no timers: whatever forkpoold spends beyond this
 * is the price of its features, which is what the benchmark wants to
 * show.  Payloads are at most 16 bytes; STATUS is answered with a fixed
 * object naming the pool "echo", which is all `forkpool bench` asks.
 *
 *	relay -s SOCKET [-w WORKERS] [-p PREFETCH] [-1]
 *
 * With -1 each worker writes each reply on its own, as forkpoold's workers
 * do (one result write per task, so that a crash loses no finished
 * result): the fair ceiling for today's worker protocol.  Without it a
 * worker writes all the replies of one read in one write.
 *
 * It prints "ready" on standard output once it listens and its workers
 * exist, and runs until it is killed.
 */
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool/proto.h"

/* To a worker and back: id (8 bytes), length (4), padding, payload. */
#define MSG_LEN		32
#define MSG_LEN_AT	8
#define MSG_DATA_AT	16
#define PAYLOAD_MAX	(MSG_LEN - MSG_DATA_AT)
#define STATUS_JSON	"{\"pools\": [{\"name\": \"echo\"}]}"
#define MAX_CLIENTS	256
#define MAX_WORKERS	64
#define QUEUE_CAP	(1U << 16)	/* messages; a power of two */
#define CLIENT_OUT_CAP	(1U << 20)
#define WORKER_BUF	(64 * 1024)

/* One queued message and the client it came from. */
struct qmsg {
	unsigned int	 slot;
	unsigned int	 gen;
	uint8_t		 data[MSG_LEN];
};

struct rclient {
	int		 fd;		/* -1: free slot */
	unsigned int	 gen;		/* bumped on reuse */
	struct fp_reader reader;	/* frames in */
	uint8_t		*out;
	size_t		 outlen;
	int		 dirty;
	int		 wantout;	/* EPOLLOUT registered */
};

struct rworker {
	int		 fd;
	pid_t		 pid;
	unsigned int	 inflight;
	/* The clients of the messages it holds, oldest first. */
	unsigned int	*ring_slot;
	unsigned int	*ring_gen;
	unsigned int	 ring_head;
	uint8_t		 in[MSG_LEN];
	size_t		 inlen;
	uint8_t		*out;		/* unwritten part of a batch */
	size_t		 outlen;
};

static struct rclient	 clients[MAX_CLIENTS];
static struct rworker	 workers[MAX_WORKERS];
static unsigned int	 nworkers = 2;
static unsigned int	 prefetch = 16;
static int		 one_write;	/* -1: one write per reply */
static struct qmsg	*queue;
static unsigned int	 qhead, qtail;	/* qtail - qhead: queued */
static int		 ep;

/* The loop never blocks on a socket: every descriptor is non-blocking. */
static void
set_nonblock(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		err(1, "fcntl");
}

/* The worker: read what came, echo every whole message, write it back. */
static void __attribute__((noreturn))
worker_loop(int fd)
{
	uint8_t		 buf[WORKER_BUF], out[WORKER_BUF];
	size_t		 have = 0, n, whole, off, step;
	ssize_t		 r, w;

	for (;;) {
		r = read(fd, buf + have, sizeof(buf) - have);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(0);
		have += (size_t)r;
		whole = have - have % MSG_LEN;
		/* "Handling" a task is copying it to the output. */
		for (n = 0; n < whole; n += MSG_LEN)
			memcpy(out + n, buf + n, MSG_LEN);
		for (off = 0; off < whole; off += (size_t)w) {
			step = one_write ? MSG_LEN - off % MSG_LEN : whole - off;
			w = write(fd, out + off, step);
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0)
				_exit(1);
		}
		memmove(buf, buf + whole, have - whole);
		have -= whole;
	}
}

static void
epoll_add(int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		err(1, "epoll_ctl");
}

static void
epoll_mod(int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = tag;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == -1)
		err(1, "epoll_ctl");
}

/* Tags: 0 the listener, 1+i client slot i, 1<<32 | w worker w. */
#define TAG_LISTEN	0
#define TAG_CLIENT(i)	((uint64_t)(i) + 1)
#define TAG_WORKER(w)	(((uint64_t)1 << 32) | (uint64_t)(w))

/* Fork the workers, each on its own socketpair, before any client comes. */
static void
spawn_workers(void)
{
	struct rworker	*w;
	unsigned int	 i, j;
	int		 sv[2];
	pid_t		 pid;

	for (i = 0; i < nworkers; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			err(1, "socketpair");
		if ((pid = fork()) == -1)
			err(1, "fork");
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(sv[0]);
			for (j = 0; j < i; j++)
				close(workers[j].fd);
			worker_loop(sv[1]);
		}
		close(sv[1]);
		w = &workers[i];
		w->fd = sv[0];
		w->pid = pid;
		w->ring_slot = calloc(prefetch, sizeof(*w->ring_slot));
		w->ring_gen = calloc(prefetch, sizeof(*w->ring_gen));
		w->out = malloc((size_t)prefetch * MSG_LEN);
		if (w->ring_slot == NULL || w->ring_gen == NULL ||
		    w->out == NULL)
			err(1, "malloc");
		set_nonblock(w->fd);
		epoll_add(w->fd, EPOLLIN, TAG_WORKER(i));
	}
}

/* Take every pending connection into a free slot; refuse past the table. */
static void
client_accept(int lfd)
{
	struct rclient	*c;
	unsigned int	 i;
	int		 fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) != -1) {
		for (i = 0; i < MAX_CLIENTS; i++)
			if (clients[i].fd == -1)
				break;
		if (i == MAX_CLIENTS) {
			close(fd);
			continue;
		}
		c = &clients[i];
		c->fd = fd;
		c->gen++;
		fp_reader_init(&c->reader, MSG_LEN + FP_POOL_NAME_MAX);
		c->outlen = 0;
		c->dirty = c->wantout = 0;
		epoll_add(fd, EPOLLIN, TAG_CLIENT(i));
	}
}

/* Forget a client; replies still owed to it are dropped by generation. */
static void
client_close(unsigned int i)
{
	struct rclient	*c = &clients[i];

	close(c->fd);		/* also leaves the epoll set */
	fp_reader_free(&c->reader);
	c->fd = -1;
	c->gen++;
	c->dirty = 0;
}

/* Append one reply frame to the client's buffer, written this turn. */
static void
client_reply(unsigned int i, uint8_t type, uint64_t id, const void *data,
    uint32_t len)
{
	struct rclient	*c = &clients[i];
	struct fp_hdr	 hdr;

	if (c->outlen + FP_HDR_LEN + len > CLIENT_OUT_CAP)
		errx(1, "client %u does not read its replies", i);
	memset(&hdr, 0, sizeof(hdr));
	hdr.len = len;
	hdr.version = FP_PROTO_VERSION;
	hdr.type = type;
	hdr.id = id;
	fp_hdr_encode(c->out + c->outlen, &hdr);
	memcpy(c->out + c->outlen + FP_HDR_LEN, data, len);
	c->outlen += FP_HDR_LEN + len;
	c->dirty = 1;
}

/* Queue a SUBMIT, answer a STATUS; -1 for anything else. */
static int
client_frame(unsigned int i, const struct fp_hdr *hdr, const uint8_t *body)
{
	struct qmsg	*q;
	uint32_t	 len;

	if (hdr->type == FP_STATUS) {
		client_reply(i, FP_STATUS_REPLY, hdr->id, STATUS_JSON,
		    sizeof(STATUS_JSON) - 1);
		return (0);
	}
	if (hdr->type != FP_SUBMIT || hdr->arg > hdr->len ||
	    hdr->len - hdr->arg > PAYLOAD_MAX)
		return (-1);
	len = hdr->len - hdr->arg;
	q = &queue[qtail++ & (QUEUE_CAP - 1)];
	q->slot = i;
	q->gen = clients[i].gen;
	memset(q->data, 0, MSG_LEN);
	memcpy(q->data, &hdr->id, sizeof(hdr->id));
	memcpy(q->data + MSG_LEN_AT, &len, sizeof(len));
	memcpy(q->data + MSG_DATA_AT, body + hdr->arg, len);
	return (0);
}

/*
 * Read what the client sent and queue every whole frame.  A frame is at
 * least a header long and a partial one held may complete, so reading
 * (free - 1) headers' worth never queues more than there is room for.
 */
static void
client_read(unsigned int i)
{
	struct rclient	*c = &clients[i];
	uint8_t		 buf[64 * 1024];
	const uint8_t	*body;
	struct fp_hdr	 hdr;
	size_t		 room, nfree = QUEUE_CAP - (qtail - qhead);
	ssize_t		 r;
	int		 rc;

	if (nfree < 2)
		return;		/* queue full: leave it in the socket */
	room = (nfree - 1) * FP_HDR_LEN;
	if (room > sizeof(buf))
		room = sizeof(buf);
	r = read(c->fd, buf, room);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		client_close(i);
		return;
	}
	if (fp_reader_feed(&c->reader, buf, (size_t)r) == -1)
		err(1, "fp_reader_feed");
	while ((rc = fp_reader_next(&c->reader, &hdr, &body)) == 1)
		if (client_frame(i, &hdr, body) == -1)
			break;
	if (rc != 0)
		client_close(i);	/* a broken stream, or not ours */
}

/* Write what the client's buffer holds; wait for EPOLLOUT if it is full. */
static void
client_flush(unsigned int i)
{
	struct rclient	*c = &clients[i];
	ssize_t		 w;

	c->dirty = 0;
	if (c->fd == -1 || c->outlen == 0)
		return;
	w = write(c->fd, c->out, c->outlen);
	if (w == -1 && errno != EAGAIN && errno != EINTR) {
		client_close(i);
		return;
	}
	if (w > 0) {
		memmove(c->out, c->out + w, c->outlen - (size_t)w);
		c->outlen -= (size_t)w;
	}
	if ((c->outlen > 0) != c->wantout) {
		c->wantout = c->outlen > 0;
		epoll_mod(c->fd, EPOLLIN | (c->wantout ? EPOLLOUT : 0),
		    TAG_CLIENT(i));
	}
}

/* Route every whole reply the worker sent to its client. */
static void
worker_read(unsigned int wi)
{
	struct rworker	*w = &workers[wi];
	struct rclient	*c;
	uint8_t		 buf[WORKER_BUF];
	uint64_t	 id;
	uint32_t	 mlen;
	const uint8_t	*p;
	size_t		 len, take;
	unsigned int	 slot, gen;
	ssize_t		 r;

	r = read(w->fd, buf, sizeof(buf));
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0)
		errx(1, "worker %ld went away", (long)w->pid);
	p = buf;
	len = (size_t)r;
	while (len > 0) {
		take = MSG_LEN - w->inlen;
		if (take > len)
			take = len;
		memcpy(w->in + w->inlen, p, take);
		w->inlen += take;
		p += take;
		len -= take;
		if (w->inlen < MSG_LEN)
			break;
		w->inlen = 0;
		slot = w->ring_slot[w->ring_head];
		gen = w->ring_gen[w->ring_head];
		w->ring_head = (w->ring_head + 1) % prefetch;
		w->inflight--;
		c = &clients[slot];
		if (c->fd == -1 || c->gen != gen)
			continue;	/* the client left */
		memcpy(&id, w->in, sizeof(id));
		memcpy(&mlen, w->in + MSG_LEN_AT, sizeof(mlen));
		client_reply(slot, FP_RESULT, id, w->in + MSG_DATA_AT, mlen);
	}
}

/* Top every worker up to PREFETCH messages, one write per worker. */
static void
dispatch(void)
{
	struct rworker	*w;
	struct qmsg	*q;
	unsigned int	 wi, at;
	ssize_t		 r;

	for (wi = 0; wi < nworkers; wi++) {
		w = &workers[wi];
		if (w->outlen > 0) {
			/* The last batch is still going out. */
			r = write(w->fd, w->out, w->outlen);
			if (r > 0) {
				memmove(w->out, w->out + r,
				    w->outlen - (size_t)r);
				w->outlen -= (size_t)r;
			}
			if (w->outlen > 0)
				continue;
		}
		if (qhead == qtail)
			continue;
		while (w->inflight < prefetch && qhead != qtail) {
			q = &queue[qhead++ & (QUEUE_CAP - 1)];
			at = (w->ring_head + w->inflight) % prefetch;
			w->ring_slot[at] = q->slot;
			w->ring_gen[at] = q->gen;
			memcpy(w->out + w->outlen, q->data, MSG_LEN);
			w->outlen += MSG_LEN;
			w->inflight++;
		}
		r = write(w->fd, w->out, w->outlen);
		if (r == -1 && errno != EAGAIN && errno != EINTR)
			err(1, "write to worker");
		if (r > 0) {
			memmove(w->out, w->out + r, w->outlen - (size_t)r);
			w->outlen -= (size_t)r;
		}
	}
}

/* The listening socket, replacing a stale file of a previous run. */
static int
listen_on(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		errx(1, "%s: path too long", path);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		err(1, "socket");
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err(1, "bind %s", path);
	if (listen(fd, 128) == -1)
		err(1, "listen");
	return (fd);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: relay -s SOCKET [-w WORKERS] [-p PREFETCH] "
	    "[-1]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[64];
	const char		*path = NULL;
	unsigned int		 i;
	uint64_t		 tag;
	int			 ch, n, k, lfd;

	while ((ch = getopt(argc, argv, "s:w:p:1")) != -1) {
		switch (ch) {
		case '1':
			one_write = 1;
			break;
		case 's':
			path = optarg;
			break;
		case 'w':
			nworkers = (unsigned int)atoi(optarg);
			break;
		case 'p':
			prefetch = (unsigned int)atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (path == NULL || nworkers < 1 || nworkers > MAX_WORKERS ||
	    prefetch < 1 || prefetch > 4096)
		usage();
	signal(SIGPIPE, SIG_IGN);

	if ((queue = calloc(QUEUE_CAP, sizeof(*queue))) == NULL)
		err(1, "calloc");
	for (i = 0; i < MAX_CLIENTS; i++) {
		clients[i].fd = -1;
		if ((clients[i].out = malloc(CLIENT_OUT_CAP)) == NULL)
			err(1, "malloc");
	}
	if ((ep = epoll_create1(0)) == -1)
		err(1, "epoll_create1");
	lfd = listen_on(path);
	spawn_workers();
	epoll_add(lfd, EPOLLIN, TAG_LISTEN);
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "epoll_wait");
		}
		for (k = 0; k < n; k++) {
			tag = evs[k].data.u64;
			if (tag == TAG_LISTEN)
				client_accept(lfd);
			else if (tag >> 32)
				worker_read((unsigned int)(tag & 0xffffffff));
			else {
				i = (unsigned int)tag - 1;
				if (clients[i].fd == -1)
					continue;
				if (evs[k].events & EPOLLOUT)
					clients[i].dirty = 1;
				if (evs[k].events & (EPOLLIN | EPOLLHUP |
				    EPOLLERR))
					client_read(i);
			}
		}
		dispatch();
		for (i = 0; i < MAX_CLIENTS; i++)
			if (clients[i].dirty)
				client_flush(i);
	}
}

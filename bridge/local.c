/*
 * local_*: the connection to the local forkpoold.  Non-blocking, on the
 * loop, framed with libforkpool's codec (the blocking client API would
 * stall every feed).  A task's id names its feed, its slot and the slot's
 * generation, so a reply to an entry since let go is recognised and
 * dropped.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bridge.h"
#include "forkpool/proto.h"
#include "log.h"
#include "proto_int.h"

#define LOCAL_BACKOFF_MIN_MS	50
#define LOCAL_BACKOFF_MAX_MS	2000
/* Outputs up to forkpoold's largest max_payload, and some. */
#define LOCAL_MAX_BODY		(256U * 1024 * 1024)

static struct local {
	char			 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct bufferevent	*bev;
	struct fp_reader	 reader;
	int			 up;
	int			 ever_up;
	struct event		*retry;
	uint64_t		 backoff_ms;
	unsigned int		 nfeeds;
	struct feed		**feeds;	/* by index */
} local;

static void	local_connect(void);

int
local_up(void)
{
	return (local.up);
}

static uint64_t
local_id(const struct entry *e)
{
	return ((uint64_t)e->gen << 32 | (uint64_t)e->feed->index << 16 |
	    e->slot);
}

/* The entry a reply's id names, if it is still waiting for one. */
static struct entry *
local_entry(uint64_t id)
{
	unsigned int	 fi = (id >> 16) & 0xffff, slot = id & 0xffff;
	struct entry	*e;

	if (fi >= local.nfeeds || slot >= local.feeds[fi]->window)
		return (NULL);
	e = &local.feeds[fi]->slots[slot];
	if (e->gen != (uint32_t)(id >> 32) ||
	    (e->state != ENTRY_RUNNING && e->state != ENTRY_LOST))
		return (NULL);
	return (e);
}

static void
local_schedule(void)
{
	if (bridge_stopping)
		return;
	bridge_timer(local.retry, local.backoff_ms);
	local.backoff_ms *= 2;
	if (local.backoff_ms > LOCAL_BACKOFF_MAX_MS)
		local.backoff_ms = LOCAL_BACKOFF_MAX_MS;
}

/* Gone: what ran there runs again once forkpoold is back. */
static void
local_lost(const char *why)
{
	if (local.up)
		log_warnx("forkpoold at %s: %s; reconnecting", local.path,
		    why);
	else if (local.backoff_ms == LOCAL_BACKOFF_MIN_MS)
		log_warnx("forkpoold at %s: %s; retrying", local.path, why);
	if (local.bev != NULL) {
		bufferevent_free(local.bev);
		local.bev = NULL;
	}
	fp_reader_free(&local.reader);
	fp_reader_init(&local.reader, LOCAL_MAX_BODY);
	local.up = 0;
	feed_local_lost();
	local_schedule();
}

static void
local_dispatch(const struct fp_hdr *hdr, const uint8_t *body)
{
	struct entry	*e;

	if (hdr->type == FP_ERROR && hdr->id == 0) {
		log_warnx("forkpoold at %s refused us: %s: %.*s", local.path,
		    fp_err_name(hdr->arg), (int)hdr->len, (const char *)body);
		return;
	}
	if ((e = local_entry(hdr->id)) == NULL)
		return;
	feed_reply(e, hdr->type, hdr->arg, body, hdr->len);
}

static void
local_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v[16];
	struct fp_hdr		 hdr;
	const uint8_t		*body;
	size_t			 len;
	int			 i, n, rc;

	(void)arg;
	while (evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 16);
		if (n > 16)
			n = 16;
		for (i = 0, len = 0; i < n; i++) {
			if (fp_reader_feed(&local.reader, v[i].iov_base,
			    v[i].iov_len) == -1) {
				local_lost("out of memory");
				return;
			}
			len += v[i].iov_len;
		}
		evbuffer_drain(in, len);
	}
	while ((rc = fp_reader_next(&local.reader, &hdr, &body)) == 1) {
		local_dispatch(&hdr, body);
		if (local.bev == NULL)
			return;
	}
	if (rc == -1)
		local_lost(fp_strerror(local.reader.err));
}

static void
local_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)arg;
	if (what & BEV_EVENT_CONNECTED) {
		if (local.ever_up)
			log_info("forkpoold at %s: connected again",
			    local.path);
		local.up = local.ever_up = 1;
		local.backoff_ms = LOCAL_BACKOFF_MIN_MS;
		bufferevent_enable(local.bev, EV_READ);
		feed_local_up();
		return;
	}
	if (what & BEV_EVENT_EOF)
		local_lost("closed the connection");
	else
		local_lost(strerror(EVUTIL_SOCKET_ERROR()));
}

static void
local_connect(void)
{
	struct sockaddr_un	 sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, local.path, strlen(local.path));
	local.bev = bufferevent_socket_new(bridge_base, -1,
	    BEV_OPT_CLOSE_ON_FREE);
	if (local.bev == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(local.bev, local_read_cb, NULL, local_event_cb,
	    NULL);
	if (bufferevent_socket_connect(local.bev, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1)
		local_lost(strerror(errno));
}

static void
local_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	if (local.bev == NULL)
		local_connect();
}

void
local_start(const char *path)
{
	struct feed	*f;
	unsigned int	 i = 0;

	if (strlen(path) >= sizeof(local.path))
		fatalx("forkpoold socket path too long: %s", path);
	snprintf(local.path, sizeof(local.path), "%s", path);
	fp_reader_init(&local.reader, LOCAL_MAX_BODY);
	local.backoff_ms = LOCAL_BACKOFF_MIN_MS;
	local.nfeeds = bridge_conf->nfeeds;
	local.feeds = xcalloc(local.nfeeds, sizeof(*local.feeds));
	TAILQ_FOREACH(f, &bridge_conf->feeds, entry)
		local.feeds[i++] = f;
	if ((local.retry = evtimer_new(bridge_base, local_retry_cb,
	    NULL)) == NULL)
		fatalx("evtimer_new");
	local_connect();
}

void
local_stop(void)
{
	if (local.bev != NULL)
		bufferevent_free(local.bev);
	local.bev = NULL;
	local.up = 0;
	if (local.retry != NULL)
		event_free(local.retry);
	local.retry = NULL;
	fp_reader_free(&local.reader);
	free(local.feeds);
	local.feeds = NULL;
}

/* Queue the entry's SUBMIT; 0, or -1 when it cannot be sent. */
int
local_submit(struct entry *e)
{
	struct evbuffer	*out;
	uint8_t		 head[FP_HDR_LEN];
	size_t		 plen = strlen(e->pool);

	if (!local.up)
		return (-1);
	out = bufferevent_get_output(local.bev);
	fp_hdr_put(head, FP_SUBMIT, plen, local_id(e), plen + e->payload_len);
	if (evbuffer_add(out, head, sizeof(head)) == -1 ||
	    evbuffer_add(out, e->pool, plen) == -1 ||
	    evbuffer_add(out, e->payload, e->payload_len) == -1)
		return (-1);
	return (0);
}

/* Ask forkpoold to drop a task we no longer want (if not started). */
void
local_cancel(struct entry *e)
{
	uint8_t	head[FP_HDR_LEN];

	if (!local.up)
		return;
	fp_hdr_put(head, FP_CANCEL, 0, local_id(e), 0);
	bufferevent_write(local.bev, head, sizeof(head));
}

/*
 * libforkpool: the client API.
 *
 * Five-minute tour:
 *
 *	struct fp_client *c = fp_connect(NULL);	// NULL: the default socket
 *	struct fp_reply r;
 *
 *	if (fp_client_err(c) != 0)
 *		errx(2, "%s", fp_client_errstr(c));
 *	if (fp_submit(c, "deflate", data, len, &r) == -1)
 *		errx(2, "%s", fp_client_errstr(c));
 *	if (r.type == FP_RESULT && r.arg == 0)
 *		fwrite(r.data, 1, r.len, stdout);	// the handler's output
 *	else if (r.type == FP_ERROR)
 *		warnx("%s: %.*s", fp_err_name(r.arg), (int)r.len, r.data);
 *	fp_reply_free(&r);
 *	fp_close(c);
 *
 * OVERLOADED (the pool's queue is full; nothing was run) is never a
 * failure of fp_submit(): it waits for room and submits again, as soon as
 * another reply of this connection arrives or, with none outstanding,
 * after a back-off of 1 ms doubling up to 100 ms.  Ask for OVERLOADED as
 * a reply instead with fp_client_set_overloaded(c, FP_OVERLOADED_RETURN).
 *
 * Pipelining: fp_send_submit() queues requests with ids you choose,
 * fp_flush() writes them, fp_recv() returns replies as they finish (in
 * completion order, matched by id).  fp_client_fd() is the socket, to poll
 * for POLLIN (and POLLOUT while fp_flush() returns 1) in your own loop.
 *
 * The library never logs, exits or touches signals: errors are kept in the
 * handle (fp_client_err(), fp_client_errstr()).  It is not thread-safe; use
 * one handle per thread.
 */
#ifndef FORKPOOL_CLIENT_H
#define FORKPOOL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <forkpool/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Errors of the client itself (the daemon's ERROR replies are replies). */
enum fp_client_err {
	FP_CLIENT_OK = 0,
	FP_CLIENT_ECONNECT = -1,	/* could not connect; errstr says why */
	FP_CLIENT_EIO = -2,		/* read or write failed */
	FP_CLIENT_ECLOSED = -3,		/* the daemon closed the connection */
	FP_CLIENT_EPROTO = -4,		/* the daemon sent a frame we cannot read */
	FP_CLIENT_ENOMEM = -5,
	FP_CLIENT_EUSAGE = -6,		/* a bad argument: pool name, size */
	FP_CLIENT_EREFUSED = -7,	/* PING/STATUS/METRICS answered ERROR */
	FP_CLIENT_EUNTRUSTED = -8	/* the daemon runs as a user not trusted */
};

/* The system socket, and its directory, of an installed forkpoold. */
#define FP_SYSTEM_SOCKET_DIR	"/run/forkpool"
#define FP_SYSTEM_SOCKET	FP_SYSTEM_SOCKET_DIR "/forkpool.sock"

struct fp_client;

/* One reply.  data is malloc'd (NUL-terminated for convenience). */
struct fp_reply {
	uint64_t	 id;
	uint8_t		 type;		/* FP_RESULT, FP_ERROR, FP_PONG, ... */
	uint16_t	 arg;		/* handler status or error code */
	char		*data;
	size_t		 len;
};

/*
 * The socket to use: explicit when not NULL, then $FORKPOOL_SOCKET, then
 * (for users other than root) the per-user socket if it exists,
 * $XDG_RUNTIME_DIR/forkpool.sock or /tmp/forkpool-UID/forkpool.sock, then
 * the system socket /run/forkpool/forkpool.sock.  Returns buf, or NULL
 * when it does not fit.
 */
FP_API char	*fp_socket_path(const char *explicit_path, char *buf, size_t len);

/*
 * Connect.  NULL only when out of memory; otherwise check fp_client_err().
 * Before anything is sent, the daemon's uid (SO_PEERCRED) must be root,
 * ours, or the owner of the socket's directory when nobody else can write
 * to it; any other is refused (FP_CLIENT_EUNTRUSTED) unless it is named in
 * $FORKPOOL_TRUST_USER or, with fp_connect_trust(), in users: user names
 * or numeric uids, separated by commas.
 */
FP_API struct fp_client *fp_connect(const char *path);
FP_API struct fp_client *fp_connect_trust(const char *path,
		    const char *users);
FP_API void	 fp_close(struct fp_client *c);
FP_API int	 fp_client_err(const struct fp_client *c);
FP_API const char *fp_client_errstr(const struct fp_client *c);
FP_API int	 fp_client_fd(const struct fp_client *c);
FP_API const char *fp_client_path(const struct fp_client *c);

/* Refuse payloads above this before sending them (default 16 MiB). */
FP_API void	 fp_client_set_max_payload(struct fp_client *c, uint32_t max);

/* What fp_submit() does when the pool answers OVERLOADED. */
#define FP_OVERLOADED_WAIT	0	/* wait for room, submit again */
#define FP_OVERLOADED_RETURN	1	/* return it as the reply */
FP_API void	 fp_client_set_overloaded(struct fp_client *c, int mode);
/*
 * For a pipelining caller that resubmits OVERLOADED tasks itself: wait for
 * room as fp_submit() does.  With other replies of this connection
 * outstanding it returns at once (resubmit once the next one is taken);
 * otherwise it sleeps *backoff_ms (start at 0), doubled each time from
 * 1 ms up to 100 ms.  Replies arriving meanwhile are kept for fp_recv().
 * 0, or -1 on a client error.
 */
FP_API int	 fp_wait_room(struct fp_client *c, unsigned int *backoff_ms);

/*
 * Blocking calls.  0 when a reply came (inspect it), -1 on a client error.
 * fp_submit() waits through OVERLOADED (see above).
 */
FP_API int	 fp_submit(struct fp_client *c, const char *pool,
		    const void *payload, size_t len, struct fp_reply *reply);
FP_API int	 fp_ping(struct fp_client *c);
/* The STATUS JSON (or METRICS text), malloc'd and NUL-terminated. */
FP_API int	 fp_status(struct fp_client *c, char **json);
FP_API int	 fp_metrics(struct fp_client *c, char **text);

/* Pipelined calls.  Queue requests; 0, or -1 on a client error. */
FP_API int	 fp_send_submit(struct fp_client *c, uint64_t id,
		    const char *pool, const void *payload, size_t len);
FP_API int	 fp_send_cancel(struct fp_client *c, uint64_t id);
FP_API int	 fp_send(struct fp_client *c, uint8_t type, uint16_t arg,
		    uint64_t id, const void *body, size_t len);
/* Write what is queued: 0 all sent, 1 more pending (wait for POLLOUT), -1. */
FP_API int	 fp_flush(struct fp_client *c);
/* Bytes queued and not yet written. */
FP_API size_t	 fp_pending(const struct fp_client *c);
/*
 * Take one reply: 1 and *reply filled, 0 none ready (only when block is 0),
 * -1 on a client error.  With block set it also flushes queued requests.
 */
FP_API int	 fp_recv(struct fp_client *c, struct fp_reply *reply, int block);
FP_API void	 fp_reply_free(struct fp_reply *reply);

#ifdef __cplusplus
}
#endif

#endif /* FORKPOOL_CLIENT_H */

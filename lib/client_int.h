/*
 * libforkpool's handle, shared by the two files that make up the client
 * API: connect.c finds, opens and vets the daemon's socket; client.c does
 * everything after (frames, waiting, calls).  Private: not installed, not
 * exported from libforkpool.so.
 */
#ifndef FORKPOOL_CLIENT_INT_H
#define FORKPOOL_CLIENT_INT_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stddef.h>
#include <stdint.h>

#include "forkpool/client.h"
#include "forkpool/proto.h"

#define CLIENT_ERRSTR_LEN	512

struct fp_client {
	int		 fd;		/* -1 when not connected */
	int		 err;
	char		 errstr[CLIENT_ERRSTR_LEN];
	/* Room for a path too long for sun_path, to name it in the error. */
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
	char		*trust;		/* fp_connect_trust's users, or NULL */
	int		 defaulted;	/* path found by the default search */
	uint32_t	 max_payload;
	uint64_t	 own_id;	/* the next id of the library's own */
	int		 overloaded;	/* FP_OVERLOADED_WAIT or _RETURN */
	uint64_t	 outstanding;	/* SUBMITs sent and not yet answered */

	int		 dead;		/* a broken connection: no more calls */
	int		 dead_err;	/* and why, for every later call */
	char		 dead_errstr[CLIENT_ERRSTR_LEN];
	int		 eof;		/* the daemon closed its side */
	int		 wclosed;	/* writes fail: drop output, read on */
	int		 rerrno;	/* a read error not yet reported */

	/* Output: queued frames from out_off to out_len. */
	uint8_t		*out;
	size_t		 out_off;
	size_t		 out_len;
	size_t		 out_cap;

	/* Input: the codec's reader, fed from chunk. */
	struct fp_reader reader;
	uint8_t		*chunk;

	/* Replies kept for fp_recv(): a ring of kept_cap slots. */
	struct fp_reply	*kept;
	size_t		 kept_head;
	size_t		 kept_count;
	size_t		 kept_cap;
};

/*
 * The two functions below are named fp_ because libforkpool.a shares the
 * link namespace of the programs that use it (forkpoold has client_*
 * functions of its own); -fvisibility=hidden keeps them out of the .so.
 */

/*
 * A handle not yet connected (fd -1), trusting users too (a list as for
 * fp_connect_trust, or NULL): NULL when memory ran out.
 */
struct fp_client	*fp_client_new(const char *users);

/*
 * A failure that breaks the connection: every later call fails too.
 * Returns -1.
 */
int	fp_client_fail(struct fp_client *c, int err, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif /* FORKPOOL_CLIENT_INT_H */

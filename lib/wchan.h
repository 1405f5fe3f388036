/*
 * The worker's end of a channel, read by the worker loop (lib/wloop.c)
 * that module and C program workers share: frames in, SUBMITs handed out
 * in order, and those the daemon cancelled before they started skipped.
 *
 * The frames on the channel, as the daemon uses them:
 *   SUBMIT (0x01), id = the task's sequence number on this channel;
 *   CANCEL (0x05), arg 0, no body, id = a SUBMIT sent earlier.
 * A CANCEL naming a SUBMIT that has not started (it waits behind the one
 * running) makes the worker skip it, and nothing at all is sent for it:
 * the daemon has answered the client CANCELLED already, and it matches
 * the worker's later replies by id, so a reply for a later task tells it
 * that the cancelled ones before were skipped.  A CANCEL for a task that
 * has started, been answered, or is unknown is ignored.
 *
 * Private to libforkpool and forkpoold: not part of the installed API.
 */
#ifndef FORKPOOL_WCHAN_H
#define FORKPOOL_WCHAN_H

#include <stddef.h>
#include <stdint.h>

#include "forkpool/proto.h"

struct fp_wchan {
	int		 fd;
	struct fp_reader r;
	size_t		 scanned;	/* bytes past r.off looked at */
	uint64_t	*skip;		/* cancelled SUBMITs still queued */
	size_t		 nskip;
	size_t		 skipcap;
	int		 ran;		/* a task was handed out */
	uint64_t	 looked_ns;	/* the channel was last read then */
};

void	fp_wchan_init(struct fp_wchan *ch, int fd, uint32_t max_body);
void	fp_wchan_free(struct fp_wchan *ch);
/*
 * The next SUBMIT to run: 1 with hdr and body (valid until the next
 * call); 0 at end of file; -1 when the channel broke (errno set: EPROTO
 * for a frame that is not SUBMIT or CANCEL, or a bad one).
 */
int	fp_wchan_next(struct fp_wchan *ch, struct fp_hdr *hdr,
	    const uint8_t **body);

#endif /* FORKPOOL_WCHAN_H */

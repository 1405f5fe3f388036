/*
 * The worker loop: the one implementation of a worker's side of the
 * channel, used by module workers (daemon/child.c, after fork) and by C
 * program workers (fp_worker_serve, lib/worker.c), so the two answer the
 * same frames the same way.
 *
 * It says PONG, then answers each SUBMIT in order with one RESULT as soon
 * as its task ends.  An output over max_payload, or FP_HANDLE_TOO_LARGE,
 * is answered ERROR TOO_LARGE with a one-line text; a status outside
 * 0..65535 is a RESULT with status 1 whose text says so.  A SUBMIT the
 * daemon cancels before it starts is skipped and not answered
 * (lib/wchan.h).  Blocking I/O, no libevent; never logs, exits or touches
 * signals.
 *
 * Private to libforkpool and forkpoold: not part of the installed API.
 */
#ifndef FORKPOOL_WLOOP_H
#define FORKPOOL_WLOOP_H

#include <stddef.h>
#include <stdint.h>

#include "forkpool/worker.h"

/*
 * A frame with id 0 and text as its body (cut at 512 bytes), sent before
 * the loop: PONG, or the ERROR that says why a worker could not start.
 * 0, or -1 with errno set.
 */
int	fp_wloop_say(int fd, uint8_t type, uint16_t arg, const char *text);

/*
 * Say PONG on fd and serve until the daemon closes it: 0; -1 when the
 * channel broke or memory ran out (errno set).
 */
int	fp_wloop_serve(int fd, size_t max_payload, fp_worker_handler *handler,
	    void *arg);

#endif /* FORKPOOL_WLOOP_H */

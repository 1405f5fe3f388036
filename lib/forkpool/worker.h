/*
 * libforkpool: the worker loop, for a C program that serves a pool as a
 * program worker (command = /path/to/program) instead of a module.
 *
 *	static int
 *	upper(void *arg, const void *in, size_t len, struct fp_out *out)
 *	{
 *		... fp_out_write(out, data, n) ...
 *		return (0);			// the task's status
 *	}
 *
 *	int
 *	main(void)
 *	{
 *		expensive_setup();		// paid once, before READY
 *		return (fp_worker_serve(upper, NULL) == 0 ? 0 : 1);
 *	}
 *
 * The handler has the module ABI's signature (forkpool/module.h), so one
 * handler can be built as a module or served by a program.  The loop uses
 * the channel named by $FORKPOOL_FD (3 by default), says PONG once it is
 * called, answers each SUBMIT in order with a RESULT, and returns 0 when
 * the daemon closes the channel.  An output over $FORKPOOL_MAX_PAYLOAD, or
 * FP_HANDLE_TOO_LARGE, is answered ERROR TOO_LARGE with a one-line text
 * and the loop goes on; a status outside 0..65535 becomes a failed RESULT
 * (status 1) that says so.  A task the daemon cancels (a CANCEL frame)
 * before it starts is skipped and not answered.
 */
#ifndef FORKPOOL_WORKER_H
#define FORKPOOL_WORKER_H

#include <stddef.h>

#include <forkpool/module.h>
#include <forkpool/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int	fp_worker_handler(void *arg, const void *payload, size_t len,
		    struct fp_out *out);

/*
 * Serve until the channel closes: 0; -1 on a broken channel or when
 * memory ran out (errno set).
 */
FP_API int	fp_worker_serve(fp_worker_handler *handler, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* FORKPOOL_WORKER_H */

/*
 * The forkpool module ABI.
 *
 * A module is a shared object that exports one constant named fp_module:
 *
 *	const struct fp_module fp_module = {
 *		.abi = FP_MODULE_ABI,
 *		.name = "deflate",
 *		.init = my_init,
 *		.worker_init = my_worker_init,
 *		.handle = my_handle,
 *		.fini = my_fini,
 *	};
 *
 * Life cycle:
 *  - init(args) runs once in the master, before any worker is forked, with
 *    the pool's module_args.  Expensive set-up goes here: every worker
 *    inherits its result copy-on-write.  It returns the module's state (any
 *    pointer; NULL with err filled means failure, and the daemon does not
 *    start).  A module with no state returns a non-NULL dummy.
 *  - worker_init(state) runs in each worker after fork, before its first
 *    task.  Returns 0, or -1 with err filled: the worker exits and the pool
 *    is throttled.
 *  - handle(state, payload, out) runs once per task in a worker.  It writes
 *    its output through out (any size up to out->max, in as many pieces as it
 *    likes) and returns the task's status: 0 for success, 1..65535 for a
 *    failure it reports itself (the output is then its explanation).  It may
 *    return FP_HANDLE_TOO_LARGE when fp_out_write failed for size.
 *  - fini(state) runs in the master at stop and when a pool is dropped.
 *
 * Bump FP_MODULE_ABI whenever this structure or fp_out changes; the daemon
 * refuses a module built for another ABI.
 */
#ifndef FORKPOOL_MODULE_H
#define FORKPOOL_MODULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FP_MODULE_ABI		1
#define FP_MODULE_SYMBOL	"fp_module"
#define FP_HANDLE_TOO_LARGE	(-1)

/*
 * Where a handler puts its output.  The daemon owns the memory; the module
 * only calls these.  Both fail (return -1 / NULL) once the output would pass
 * max, the pool's max_payload.
 */
struct fp_out {
	/* Append len bytes. */
	int		(*write)(struct fp_out *out, const void *data, size_t len);
	/*
	 * Room for at least want bytes at the end of the output, to fill in
	 * place (for compressors); *got is set to the room given, which may be
	 * more.  Commit what was written with commit().
	 */
	void		*(*reserve)(struct fp_out *out, size_t want, size_t *got);
	void		(*commit)(struct fp_out *out, size_t used);
	size_t		 len;		/* bytes written so far */
	size_t		 max;		/* the pool's max_payload */
	void		*priv;		/* the daemon's */
};

static inline int
fp_out_write(struct fp_out *out, const void *data, size_t len)
{
	return (out->write(out, data, len));
}

struct fp_module {
	uint32_t	 abi;		/* FP_MODULE_ABI */
	const char	*name;
	void		*(*init)(const char *args, char *err, size_t errlen);
	int		 (*worker_init)(void *state, char *err, size_t errlen);
	int		 (*handle)(void *state, const void *payload, size_t len,
			    struct fp_out *out);
	void		 (*fini)(void *state);
	void		*reserved[8];	/* zero; room for later hooks */
};

#ifdef __cplusplus
}
#endif

#endif /* FORKPOOL_MODULE_H */

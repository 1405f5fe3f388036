/*
 * fp_worker_serve (forkpool/worker.h): the worker loop (wloop.c) for a C
 * program worker, on the channel and with the limit the daemon put in its
 * environment.  Never logs, exits or touches signals.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "forkpool/worker.h"
#include "wloop.h"

/* A decimal environment variable, or dflt when unset or not a number. */
static uint32_t
env_u32(const char *name, uint32_t dflt)
{
	const char		*s = getenv(name);
	char			*end;
	unsigned long long	 v;

	if (s == NULL || *s == '\0')
		return (dflt);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return (dflt);
	return ((uint32_t)v);
}

int
fp_worker_serve(fp_worker_handler *handler, void *arg)
{
	return (fp_wloop_serve((int)env_u32("FORKPOOL_FD", 3),
	    env_u32("FORKPOOL_MAX_PAYLOAD", FP_DEFAULT_MAX_PAYLOAD), handler,
	    arg));
}

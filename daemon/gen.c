/*
 * Generations: a pool section plus the handler loaded from it.  A pool
 * holds one reference to its current generation and each worker one to
 * the generation it was forked from, so a reload can load new handler state
 * while old workers finish on the old; the last reference runs the
 * module's fini.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"

/* Load pc's handler (init runs here, in the master).  Takes pc on success. */
struct gen *
gen_new(struct pool_config *pc, char *err, size_t errlen)
{
	struct gen	*gen;

	if ((pc->uid != -1 || pc->gid != -1) && geteuid() != 0) {
		snprintf(err, errlen, "pool %s: user and group need forkpoold "
		    "to run as root, so that workers can switch to them",
		    pc->name);
		return (NULL);
	}
	gen = xcalloc(1, sizeof(*gen));
	gen->conf = pc;
	/* A program worker loads nothing in the master: it execs. */
	if (pc->command == NULL && module_load(gen, err, errlen) == -1) {
		free(gen);
		return (NULL);
	}
	gen->refs = 1;
	return (gen);
}

void
gen_ref(struct gen *gen)
{
	gen->refs++;
}

void
gen_unref(struct gen *gen)
{
	if (gen == NULL || --gen->refs > 0)
		return;
	module_unload(gen);
	config_pool_free(gen->conf);
	free(gen);
}

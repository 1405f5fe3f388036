/*
 * A C program worker that serves a module's handler through
 * fp_worker_serve(): modhost MODULE.so [ARGS...] loads the module, runs its
 * init with ARGS (joined by spaces, as module_args) and its worker_init,
 * then serves.  The same handler then runs as a module worker and as a
 * program worker, so a test can give both the same tasks and compare.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <forkpool/module.h>
#include <forkpool/worker.h>

int
main(int argc, char *argv[])
{
	const struct fp_module	*mod;
	void			*dl, *state;
	char			 args[512] = "", err[512] = "";
	int			 i, rc;

	if (argc < 2) {
		fprintf(stderr, "usage: modhost MODULE.so [ARGS...]\n");
		return (2);
	}
	if ((dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL ||
	    (mod = dlsym(dl, FP_MODULE_SYMBOL)) == NULL) {
		fprintf(stderr, "modhost: %s\n", dlerror());
		return (2);
	}
	for (i = 2; i < argc; i++) {
		if (i > 2)
			strncat(args, " ", sizeof(args) - strlen(args) - 1);
		strncat(args, argv[i], sizeof(args) - strlen(args) - 1);
	}
	if ((state = mod->init(args, err, sizeof(err))) == NULL ||
	    (mod->worker_init != NULL &&
	    mod->worker_init(state, err, sizeof(err)) == -1)) {
		fprintf(stderr, "modhost: %s\n", err);
		return (2);
	}
	rc = fp_worker_serve(mod->handle, state) == 0 ? 0 : 1;
	/*
	 * Free the state as the master does at stop: LeakSanitizer checks a
	 * program that returns from main.
	 */
	if (mod->fini != NULL)
		mod->fini(state);
	return (rc);
}

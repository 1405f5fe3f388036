/*
 * Handlers: the built-in echo, and modules loaded with dlopen in the master
 * before any worker is forked, so every worker shares their code and the
 * state their init built, copy-on-write.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"
#include "log.h"

static void *
echo_init(const char *args, char *err, size_t errlen)
{
	static int	state;

	(void)args;
	(void)err;
	(void)errlen;
	return (&state);
}

static int
echo_handle(void *state, const void *payload, size_t len, struct fp_out *out)
{
	(void)state;
	if (fp_out_write(out, payload, len) == -1)
		return (FP_HANDLE_TOO_LARGE);
	return (0);
}

static const struct fp_module echo_module = {
	.abi = FP_MODULE_ABI,
	.name = "echo",
	.init = echo_init,
	.handle = echo_handle,
};

/* A bare name is looked up in the module directory; a path is used as is. */
static void
module_path(const char *name, char *path, size_t len)
{
	const char	*dir;

	if (strchr(name, '/') != NULL) {
		snprintf(path, len, "%s", name);
		return;
	}
	if ((dir = getenv("FORKPOOL_MODULE_DIR")) == NULL || *dir == '\0')
		dir = FP_MODULE_DIR;
	snprintf(path, len, "%s/%s", dir, name);
}

/* Load the pool's handler and run its one-time init. */
int
module_load(struct gen *gen, char *err, size_t errlen)
{
	struct pool_config	*pc = gen->conf;
	const struct fp_module	*mod;
	char			 path[PATH_MAX], why[512] = "";
	void			*dl;

	if (pc->handler != NULL) {
		/* Config validation admits only the built-in echo. */
		gen->module = &echo_module;
		gen->module_state = echo_init(NULL, NULL, 0);
		return (0);
	}
	module_path(pc->module, path, sizeof(path));
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		/* dlerror() names the file already. */
		snprintf(err, errlen, "pool %s: cannot load module: %s (give "
		    "module a path, or set FORKPOOL_MODULE_DIR)", pc->name,
		    dlerror());
		return (-1);
	}
	if ((mod = dlsym(dl, FP_MODULE_SYMBOL)) == NULL) {
		snprintf(err, errlen, "pool %s: module %s has no \"%s\" "
		    "symbol; is it a forkpool module?", pc->name, path,
		    FP_MODULE_SYMBOL);
		dlclose(dl);
		return (-1);
	}
	if (mod->abi == FP_MODULE_ABI && mod->handle == NULL) {
		snprintf(err, errlen, "pool %s: module %s has no handle "
		    "function; a module must handle tasks", pc->name, path);
		dlclose(dl);
		return (-1);
	}
	if (mod->abi != FP_MODULE_ABI) {
		snprintf(err, errlen, "pool %s: module %s was built for module "
		    "ABI %u, this forkpoold speaks %u; rebuild it against this "
		    "forkpool/module.h", pc->name, path, mod->abi,
		    FP_MODULE_ABI);
		dlclose(dl);
		return (-1);
	}
	gen->dl = dl;
	gen->module = mod;
	if (mod->init == NULL) {
		gen->module_state = NULL;
		return (0);
	}
	gen->module_state = mod->init(pc->module_args != NULL ?
	    pc->module_args : "", why, sizeof(why));
	if (gen->module_state == NULL) {
		snprintf(err, errlen, "pool %s: module %s: init failed: %s",
		    pc->name, path, why[0] != '\0' ? why : "no reason given");
		gen->module = NULL;
		gen->dl = NULL;
		dlclose(dl);
		return (-1);
	}
	log_debug("pool %s: loaded module %s (%s)", pc->name, path,
	    mod->name != NULL ? mod->name : "unnamed");
	return (0);
}

/* Run the module's fini in the master and drop it. */
void
module_unload(struct gen *gen)
{
	if (gen->module != NULL && gen->module->fini != NULL)
		gen->module->fini(gen->module_state);
	gen->module = NULL;
	gen->module_state = NULL;
	if (gen->dl != NULL)
		dlclose(gen->dl);
	gen->dl = NULL;
}

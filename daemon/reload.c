/*
 * SIGHUP: reload the configuration without losing a task.
 *
 * The file is parsed into a fresh config and every new or changed handler
 * is loaded (its init run) before anything is applied, so a file that does
 * not parse or a module that does not load changes nothing.  Then: new
 * pools start; removed pools stop taking tasks and drain; a pool whose
 * handler or its arguments changed gets a new generation and replaces its
 * workers one by one as they become idle; other changes (sizes, limits,
 * timeouts) apply in place, the pool growing or shrinking without touching
 * a busy worker.  The socket cannot move without a restart.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"
#include "log.h"

/*
 * What `forkpool reload` waits for in STATUS: each SIGHUP bumps the
 * generation once it has been acted on; master->reload_error says why the
 * last reload failed ("" once one applies).
 */
static unsigned long long	reload_generation;

/* One section of the new file, and what it will become. */
struct reload_item {
	struct pool_config	*pc;	/* owned until applied */
	struct pool		*pool;	/* the pool of that name, or NULL */
	struct gen		*gen;	/* a handler loaded anew, or NULL */
};

static void
reload_items_free(struct reload_item *items, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (items[i].gen != NULL)
			gen_unref(items[i].gen);	/* frees its pc */
		else if (items[i].pc != NULL)
			config_pool_free(items[i].pc);
	}
	free(items);
}

/*
 * Take the sections out of nc and load every handler that is new or
 * changed.  NULL with err when one fails: nothing has been applied.
 */
static struct reload_item *
reload_prepare(struct config *nc, size_t *np, char *err, size_t errlen)
{
	struct reload_item	*items;
	struct pool_config	*pc;
	size_t			 n = 0, cap = 0;

	items = NULL;
	while ((pc = TAILQ_FIRST(&nc->pools)) != NULL) {
		TAILQ_REMOVE(&nc->pools, pc, entry);
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			items = xrealloc(items, cap, sizeof(*items));
		}
		memset(&items[n], 0, sizeof(items[n]));
		items[n].pc = pc;
		items[n].pool = pool_find(pc->name, strlen(pc->name));
		n++;
		if (items[n - 1].pool != NULL &&
		    config_pool_same_workers(items[n - 1].pool->conf, pc))
			continue;
		if ((items[n - 1].gen = gen_new(pc, err, errlen)) == NULL) {
			items[n - 1].pc = NULL;
			config_pool_free(pc);
			reload_items_free(items, n);
			return (NULL);
		}
	}
	*np = n;
	return (items);
}

/* Settings that apply in place: sizes, limits, timeouts. */
static void
reload_pool_in_place(struct pool *pool, struct pool_config *pc)
{
	struct pool_config	*cur = pool->conf;

	if (cur->restart_burst != pc->restart_burst ||
	    cur->restart_window_ms != pc->restart_window_ms) {
		intensity_free(pool->intensity);
		pool->intensity = intensity_new(pc->restart_burst,
		    pc->restart_window_ms);
	}
	if (cur->workers != pc->workers)
		log_info("pool %s: %u workers, was %u", pool->name,
		    pc->workers, cur->workers);
	config_pool_copy_live(cur, pc);
	config_pool_free(pc);
	pool->reshaping = 1;
	pool_reconcile(pool);
	pool_dispatch(pool);
}

static int
reload_listed(const struct reload_item *items, size_t n,
    const struct pool *pool)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (items[i].pool == pool)
			return (1);
	return (0);
}

/*
 * The [daemon] keys, as their rows say: applied in place, or warned about
 * by name when only a restart applies them.  1 when a key that workers are
 * forked with changed, so every pool must replace its workers.
 */
static int
reload_daemon(struct config *nc)
{
	struct config		*cur = master->conf;
	const struct key	*k;
	size_t			 i;
	int			 workers = 0;

	for (i = 0; (k = config_key_at(KEYS_DAEMON, i)) != NULL; i++) {
		if (config_key_equal(k, cur, nc))
			continue;
		if (config_key_reload(k) == RELOAD_RESTART) {
			log_warnx("reload: %s changed; it takes a restart to "
			    "apply, still serving on %s", config_key_name(k),
			    master->socket_path);
			continue;
		}
		if (config_key_reload(k) == RELOAD_WORKERS) {
			log_info("reload: %s changed; replacing every worker "
			    "as it becomes idle", config_key_name(k));
			workers = 1;
		}
		config_key_copy(k, cur, nc);
	}
	client_recheck_all();
	log_set_level(cur->log_level);
	return (workers);
}

static void
reload_apply(struct config *nc, struct reload_item *items, size_t n)
{
	struct pool	*pool, *next;
	size_t		 i;
	unsigned int	 added = 0, removed = 0, changed = 0;
	int		 workers;

	workers = reload_daemon(nc);
	for (pool = TAILQ_FIRST(&master->pools); pool != NULL; pool = next) {
		next = TAILQ_NEXT(pool, entry);
		if (!reload_listed(items, n, pool)) {
			pool_remove(pool);
			removed++;
		}
	}
	for (i = 0; i < n; i++) {
		if (items[i].pool == NULL) {
			log_info("pool %s: added by the reload",
			    items[i].pc->name);
			pool = pool_create(items[i].gen);
			pool->fresh = 1;
			pool_reconcile(pool);
			added++;
		} else if (items[i].gen != NULL) {
			log_info("pool %s: handler settings changed; replacing "
			    "its workers as they become idle",
			    items[i].pool->name);
			pool_set_gen(items[i].pool, items[i].gen);
			changed++;
		} else {
			if (!config_pool_equal(items[i].pool->conf,
			    items[i].pc))
				changed++;
			reload_pool_in_place(items[i].pool, items[i].pc);
		}
	}
	free(items);
	/*
	 * Workers hold some [daemon] keys from their fork (max_payload is
	 * their reader's limit, FORKPOOL_MAX_PAYLOAD): a new value replaces
	 * them all, successors first, as for a changed section.
	 */
	if (workers) {
		TAILQ_FOREACH(pool, &master->pools, entry) {
			pool->reshaping = 1;
			pool_reconcile(pool);
		}
	}
	log_info("reload: %u pools added, %u removed, %u changed",
	    added, removed, changed);
}

/* The latest SIGHUP acted on, and why the last reload failed, or NULL. */
const char *
reload_last(unsigned long long *generation)
{
	*generation = reload_generation;
	return (master->reload_error[0] == '\0' ? NULL : master->reload_error);
}

/*
 * A reload did not take: "reload failed" and what fmt says, logged once,
 * kept for STATUS, and told to systemd (the tick in master.c repeats it in
 * every STATUS= line until the next reload).
 */
void
reload_failed(const char *fmt, ...)
{
	char	what[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(master->reload_error, sizeof(master->reload_error),
	    "reload failed%s", what);
	log_warnx("%s", master->reload_error);
	sdnotify_send("READY=1\nSTATUS=%s", master->reload_error);
}

/* Reload the configuration file, or change nothing and say why. */
void
reload_run(void)
{
	struct reload_item	*items;
	struct config		*nc;
	char			 err[1024];
	size_t			 n;

	if (master->stopping || master->starting) {
		/* No READY=1 here: systemd is told of the start or stop. */
		snprintf(master->reload_error, sizeof(master->reload_error),
		    "reload failed: received SIGHUP while %s; not reloading",
		    master->stopping ? "stopping" : "starting");
		log_warnx("%s", master->reload_error);
		reload_generation++;
		return;
	}
	sdnotify_send("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)sdnotify_monotonic_usec());
	log_info("received SIGHUP; reloading %s", master->conf->path);
	if ((nc = config_reload(master->conf, err, sizeof(err))) == NULL ||
	    (items = reload_prepare(nc, &n, err, sizeof(err))) == NULL) {
		reload_failed(", nothing changed: %s", err);
		if (nc != NULL)
			config_free(nc);
		reload_generation++;
		return;
	}
	master->reload_error[0] = '\0';
	reload_apply(nc, items, n);
	config_free(nc);
	/* Last: `forkpool reload` waits for the generation to move. */
	reload_generation++;
	sdnotify_send("READY=1\nSTATUS=serving %u pools on %s (reloaded)",
	    master->npools, master->socket_path);
}

/*
 * forkpoold: the command line, the configuration, then the master loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool/client.h"
#include "forkpoold.h"
#include "log.h"

static __attribute__((noreturn)) void
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: forkpoold [-c FILE] [-t] [-s SOCKET] [-V] [-h]\n"
	    "  -c FILE    configuration (default %s, or a built-in echo pool\n"
	    "             when that file does not exist)\n"
	    "  -t         check the configuration and exit\n"
	    "  -s SOCKET  listen here, whatever the configuration says\n"
	    "  -V         print the version and exit\n"
	    "  -h         this help\n", DEFAULT_CONFIG);
	exit(status);
}

/* The configuration named, the system one, or the built-in default. */
static struct config *
main_config(const char *path, char *err, size_t errlen)
{
	if (path != NULL)
		return (config_load(path, err, errlen));
	if (access(DEFAULT_CONFIG, F_OK) == 0)
		return (config_load(DEFAULT_CONFIG, err, errlen));
	return (config_default(err, errlen));
}

/*
 * -s, then FORKPOOL_SOCKET, then the configuration, then the default
 * (listen_default_path, which prepares its directory).  NULL and err when
 * the default cannot be used.
 */
static const char *
main_socket(const char *opt, const struct config *conf, char *buf,
    size_t len, char *err, size_t errlen)
{
	const char	*env = getenv("FORKPOOL_SOCKET");

	if (opt != NULL)
		return (opt);
	if (env != NULL && *env != '\0')
		return (env);
	if (conf->socket != NULL)
		return (conf->socket);
	return (listen_default_path(buf, len, err, errlen));
}

/*
 * Pools sharing a user can ptrace and signal each other's workers unless
 * the kernel tells them apart: module workers are made non-dumpable, but
 * an exec (program workers) or core files (rlimit_core) undo that.
 */
static void
main_warn_shared_users(const struct config *conf)
{
	const struct pool_config	*a, *b;

	TAILQ_FOREACH(a, &conf->pools, entry)
		for (b = TAILQ_NEXT(a, entry); b != NULL;
		    b = TAILQ_NEXT(b, entry)) {
			if (a->uid == -1 || a->uid != b->uid)
				continue;
			if (a->command == NULL && b->command == NULL &&
			    (a->rlimit_core == RLIMIT_UNSET ||
			    a->rlimit_core == 0) &&
			    (b->rlimit_core == RLIMIT_UNSET ||
			    b->rlimit_core == 0))
				continue;
			fprintf(stderr, "forkpoold: warning: pools %s and %s "
			    "both run as uid %lld, and one is a program pool "
			    "or keeps core files: their workers can ptrace and "
			    "signal each other; give each pool a user of its "
			    "own\n", a->name, b->name, (long long)a->uid);
		}
}

/*
 * -t run as root passes a pool with its own user, but the daemon that
 * will run the file may not be root: the shipped forkpool.service runs it
 * as user forkpool, where such a pool is a fatal error.
 */
static void
main_warn_user(const struct pool_config *pc)
{
	if ((pc->uid == -1 && pc->gid == -1) || geteuid() != 0)
		return;
	fprintf(stderr, "forkpoold: warning: pool %s sets user or group, "
	    "which needs forkpoold itself to run as root; the shipped "
	    "forkpool.service runs it as user forkpool and would refuse "
	    "this pool without the drop-in described in forkpoold(8), "
	    "\"Pools with a user of their own\"\n", pc->name);
}

/*
 * -t: the file parsed; now load every pool's module and run its init, as a
 * start would, so a module that cannot load fails the check too.
 */
static int
main_test(struct config *conf)
{
	struct pool_config	*pc;
	struct gen		*gen;
	char			 err[1024];
	int			 rc = 0;

	main_warn_shared_users(conf);
	while ((pc = TAILQ_FIRST(&conf->pools)) != NULL) {
		TAILQ_REMOVE(&conf->pools, pc, entry);
		main_warn_user(pc);
		if ((gen = gen_new(pc, err, sizeof(err))) == NULL) {
			fprintf(stderr, "forkpoold: %s\n", err);
			config_pool_free(pc);
			rc = 1;
			continue;
		}
		gen_unref(gen);
	}
	if (rc == 0)
		printf("%s: configuration OK\n", conf->path);
	config_free(conf);
	return (rc);
}

int
main(int argc, char *argv[])
{
	struct config	*conf;
	const char	*conf_path = NULL, *sock_opt = NULL, *sock;
	char		 err[1024], buf[256];
	int		 ch, test_only = 0;

	log_init(LOG_INFO, "forkpoold");
	while ((ch = getopt(argc, argv, "c:hs:tV")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'h':
			usage(0);
		case 's':
			sock_opt = optarg;
			break;
		case 't':
			test_only = 1;
			break;
		case 'V':
			printf("forkpoold %s\n", FORKPOOL_VERSION);
			return (0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);

	if ((conf = main_config(conf_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "forkpoold: %s\n", err);
		return (1);
	}
	if (test_only)
		return (main_test(conf));
	if ((sock = main_socket(sock_opt, conf, buf, sizeof(buf), err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "forkpoold: %s\n", err);
		config_free(conf);
		return (1);
	}
	log_set_level(conf->log_level);
	master_run(conf, sock);
	config_free(conf);
	return (0);
}

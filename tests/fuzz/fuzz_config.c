/*
 * libFuzzer harness for the configuration parser (daemon/config.c).
 *
 * The input is a configuration file.  It is parsed twice, the way the
 * daemon can meet it: as a string (config_load_string, which stops at the
 * first NUL) and as a file (config_load, through a memfd, which sees every
 * byte and must refuse a NUL).  Both must agree, down to the error
 * message, whenever they were given the same text.  An accepted file is
 * checked against the rules config.c promises: at least one pool, each
 * with a valid distinct name and exactly one of handler, module or
 * command, every number within its key's bounds, command split into
 * words, command_env into NAME=value.  A refused one has a message of the
 * form "FILE:LINE: text" with a line the file has.  Everything is freed,
 * so LeakSanitizer sees what a reload would leak.  The input also goes
 * through config_split_words on its own.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpoold.h"
#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(cond)	do { if (!(cond)) abort(); } while (0)

#define WEEK_MS		(7ULL * 24 * 60 * 60 * 1000)

static int	memfd = -1;
static char	path[64];

/* Lines in text as the parser counts them: a last line needs no newline. */
static long
count_lines(const char *text)
{
	long		 n = 0;
	const char	*nl;

	while ((nl = strchr(text, '\n')) != NULL) {
		n++;
		text = nl + 1;
	}
	return (n + (*text != '\0'));
}

/* "NAME:LINE: message" with 1 <= LINE <= max(lines, 1). */
static void
check_error(const char *err, long lines)
{
	size_t	 n = strlen(path);
	char	*end;
	long	 line;

	CHECK(strncmp(err, path, n) == 0 && err[n] == ':');
	line = strtol(err + n + 1, &end, 10);
	CHECK(end != err + n + 1 && end[0] == ':' && end[1] == ' ' &&
	    end[2] != '\0');
	CHECK(line >= 1 && line <= (lines > 0 ? lines : 1));
}

/* What every pool of an accepted file must look like. */
static void
check_pool(const struct pool_config *pc)
{
	const struct pool_config	*other;
	size_t				 i;

	CHECK(fp_pool_name_valid(pc->name, strlen(pc->name)));
	CHECK((pc->handler != NULL) + (pc->module != NULL) +
	    (pc->command != NULL) == 1);
	CHECK(pc->handler == NULL || strcmp(pc->handler, "echo") == 0);
	CHECK(pc->module == NULL || *pc->module != '\0');
	CHECK(pc->module_args == NULL || pc->module != NULL);
	CHECK((pc->command_dir == NULL && pc->command_env == NULL) ||
	    pc->command != NULL);
	CHECK((pc->command != NULL) == (pc->argv != NULL));
	CHECK(pc->argv == NULL || pc->argv[0] != NULL);
	CHECK((pc->command_env != NULL) == (pc->envv != NULL));
	for (i = 0; pc->envv != NULL && pc->envv[i] != NULL; i++)
		CHECK(strchr(pc->envv[i], '=') != NULL &&
		    pc->envv[i][0] != '=');
	CHECK(pc->sandbox == SANDBOX_NONE || (pc->sandbox == SANDBOX_SECCOMP &&
	    pc->command == NULL));
	CHECK(pc->workers >= 1 && pc->workers <= 4096);
	CHECK(pc->queue_limit >= 1 && pc->queue_limit <= 1048576);
	CHECK(pc->prefetch == PREFETCH_AUTO ||
	    (pc->prefetch >= 1 && pc->prefetch <= 1024));
	CHECK(pc->restart_burst <= 10000 && pc->retries <= 100 &&
	    pc->quarantine_after <= 1000);
	CHECK(pc->task_timeout_ms <= WEEK_MS && pc->slow_task_ms <= WEEK_MS);
	CHECK(pc->start_timeout_ms >= 1 && pc->start_timeout_ms <= WEEK_MS);
	CHECK(pc->restart_window_ms >= 1 && pc->restart_window_ms <= WEEK_MS);
	CHECK(pc->quarantine_window_ms >= 1 &&
	    pc->quarantine_window_ms <= WEEK_MS);
	CHECK(pc->rlimit_cpu_ms == RLIMIT_UNSET ||
	    (pc->rlimit_cpu_ms >= 1000 && pc->rlimit_cpu_ms <= WEEK_MS));
	CHECK(pc->rlimit_nofile == RLIMIT_UNSET ||
	    (pc->rlimit_nofile >= 4 && pc->rlimit_nofile <= 1048576));
	CHECK(pc->max_rss <= (1ULL << 50));
	CHECK(pc->uid >= -1 && pc->gid >= -1);
	CHECK(config_pool_equal(pc, pc));
	for (other = TAILQ_NEXT(pc, entry); other != NULL;
	    other = TAILQ_NEXT(other, entry))
		CHECK(strcmp(pc->name, other->name) != 0);
}

/* What an accepted file as a whole must look like. */
static void
check_config(const struct config *conf)
{
	const struct pool_config	*pc;

	CHECK(!TAILQ_EMPTY(&conf->pools));
	TAILQ_FOREACH(pc, &conf->pools, entry)
		check_pool(pc);
	CHECK(conf->socket == NULL || strlen(conf->socket) < 108);
	CHECK(conf->socket_mode <= 0777);
	CHECK(conf->max_clients >= 1 && conf->max_clients <= 1048576);
	CHECK(conf->max_inflight >= 1 && conf->max_inflight <= 1048576);
	CHECK(conf->max_payload >= 1 && conf->max_payload <= (1U << 30));
	CHECK(conf->client_timeout_ms >= 1 && conf->client_timeout_ms <=
	    WEEK_MS);
	CHECK(conf->shutdown_timeout_ms <= WEEK_MS);
	CHECK(conf->log_level >= LOG_ERR && conf->log_level <= LOG_DEBUG);
	CHECK(conf->n_allow_uids <= MAX_ALLOW && conf->n_allow_gids <=
	    MAX_ALLOW);
	CHECK(conf->max_client_buffer >= 1);
}

/* Two parses of the same text gave the same configuration. */
static void
check_same(const struct config *a, const struct config *b)
{
	const struct pool_config	*pa, *pb;

	CHECK(a->socket_mode == b->socket_mode &&
	    a->max_clients == b->max_clients &&
	    a->max_payload == b->max_payload &&
	    a->client_timeout_ms == b->client_timeout_ms &&
	    a->log_level == b->log_level &&
	    a->n_allow_uids == b->n_allow_uids &&
	    a->n_allow_gids == b->n_allow_gids);
	CHECK((a->socket == NULL && b->socket == NULL) ||
	    (a->socket != NULL && b->socket != NULL &&
	    strcmp(a->socket, b->socket) == 0));
	for (pa = TAILQ_FIRST(&a->pools), pb = TAILQ_FIRST(&b->pools);
	    pa != NULL && pb != NULL;
	    pa = TAILQ_NEXT(pa, entry), pb = TAILQ_NEXT(pb, entry))
		CHECK(config_pool_equal(pa, pb));
	CHECK(pa == NULL && pb == NULL);
}

/* The shell-like splitter on its own. */
static void
check_split(const char *text)
{
	char	**words, why[128];
	size_t	  i, total = 0;

	why[0] = '\0';
	if (config_split_words(text, &words, why, sizeof(why)) == -1) {
		CHECK(why[0] != '\0');
		return;
	}
	CHECK(words[0] != NULL);
	for (i = 0; words[i] != NULL; i++)
		total += strlen(words[i]);
	/* Quotes and backslashes only ever take characters away. */
	CHECK(total <= strlen(text));
	config_words_free(words);
}

/* Silence the log, and make the memfd that plays the file. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(LOG_CRIT, "fuzz_config");
	if ((memfd = memfd_create("fuzz.ini", 0)) == -1)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	return (0);
}

/* One input: parsed as a string and as a file, checked, freed, split. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*sconf, *fconf;
	char		*text, serr[1024], ferr[1024];
	int		 has_nul;

	if ((text = malloc(size + 1)) == NULL)
		return (0);
	memcpy(text, data, size);
	text[size] = '\0';
	has_nul = memchr(data, '\0', size) != NULL;

	sconf = config_load_string(text, path, serr, sizeof(serr));
	if (sconf != NULL) {
		CHECK(serr[0] == '\0');
		check_config(sconf);
	} else
		check_error(serr, count_lines(text));

	if (ftruncate(memfd, 0) == -1 ||
	    pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	fconf = config_load(path, ferr, sizeof(ferr));
	if (has_nul)
		CHECK(fconf == NULL);	/* a NUL is refused, never skipped */
	else {
		CHECK((sconf == NULL) == (fconf == NULL));
		if (sconf == NULL)
			CHECK(strcmp(serr, ferr) == 0);
		else
			check_same(sconf, fconf);
	}
	config_free(sconf);
	config_free(fconf);

	check_split(text);
	free(text);
	return (0);
}

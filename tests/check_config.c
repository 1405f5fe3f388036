/*
 * The configuration: every key and its default, the units, the embedded
 * default, the shipped sample, and each mistake's exact "file:line:
 * message" text.  The messages are golden: a person reads them, so a change
 * in their wording is a change these tests must be told about.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <check.h>
#include <ini.h>

#include "forkpoold.h"
#include "key_values.h"
#include "suites.h"

#define NAME		"t.ini"
/* The smallest valid pool, for texts about something else. */
#define POOL		"[pool:p]\nhandler = echo\n"

/* Parse text that must be valid. */
static struct config *
load_ok(const char *text)
{
	struct config	*conf;
	char		 err[1024];

	conf = config_load_string(text, NAME, err, sizeof(err));
	ck_assert_msg(conf != NULL, "rejected: %s\n--- text:\n%s", err, text);
	return (conf);
}

/* Parse text that must fail with exactly the message want. */
static void
load_fails(const char *text, const char *want)
{
	struct config	*conf;
	char		 err[1024];

	conf = config_load_string(text, NAME, err, sizeof(err));
	ck_assert_msg(conf == NULL, "accepted, but should fail with: %s\n"
	    "--- text:\n%s", want, text);
	ck_assert_str_eq(err, want);
}

/* What workers = auto must come to on this machine. */
static unsigned int
online_cpus(void)
{
	long	n = sysconf(_SC_NPROCESSORS_ONLN);

	return (n < 1 ? 1 : (unsigned int)n);
}

/* A file in /tmp holding len bytes of text; the caller unlinks it. */
static void
write_temp(char *path, size_t pathlen, const char *text, size_t len)
{
	int	fd;

	snprintf(path, pathlen, "/tmp/check_config.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

START_TEST(test_daemon_defaults)
{
	/* Every [daemon] key left out takes DESIGN.md's default. */
	struct config	*conf;

	conf = load_ok(POOL);
	ck_assert_str_eq(conf->path, NAME);
	ck_assert_ptr_null(conf->socket);
	ck_assert_uint_eq(conf->socket_mode, 0660);
	ck_assert_uint_eq(conf->max_clients, 1024);
	ck_assert_uint_eq(conf->max_inflight, 1024);
	ck_assert_uint_eq(conf->max_payload, 16 * 1024 * 1024);
	ck_assert_uint_eq(conf->client_timeout_ms, 30000);
	ck_assert_uint_eq(conf->shutdown_timeout_ms, 30000);
	ck_assert_int_eq(conf->log_level, LOG_INFO);
	config_free(conf);
}
END_TEST

START_TEST(test_pool_defaults)
{
	/* Every pool key left out takes DESIGN.md's default; workers is auto. */
	struct config		*conf;
	struct pool_config	*pc;

	conf = load_ok(POOL);
	pc = TAILQ_FIRST(&conf->pools);
	ck_assert_ptr_nonnull(pc);
	ck_assert_ptr_null(TAILQ_NEXT(pc, entry));
	ck_assert_str_eq(pc->name, "p");
	ck_assert_int_eq(pc->line, 1);
	ck_assert_str_eq(pc->handler, "echo");
	ck_assert_ptr_null(pc->module);
	ck_assert_ptr_null(pc->module_args);
	ck_assert_uint_eq(pc->workers, online_cpus());
	ck_assert_uint_eq(pc->queue_limit, 1024);
	ck_assert_uint_eq(pc->task_timeout_ms, 30000);
	ck_assert_uint_eq(pc->max_tasks, 0);
	ck_assert_uint_eq(pc->max_rss, 0);
	ck_assert_uint_eq(pc->prefetch, PREFETCH_AUTO);
	ck_assert_uint_eq(pc->restart_burst, 5);
	ck_assert_uint_eq(pc->restart_window_ms, 10000);
	ck_assert_uint_eq(pc->retries, 0);
	config_free(conf);
}
END_TEST

START_TEST(test_daemon_every_key)
{
	/* Each [daemon] key is read into its own field, in its unit. */
	struct config	*conf;

	conf = load_ok(
	    "[daemon]\n"
	    "socket = /tmp/x/fp.sock\n"
	    "socket_mode = 0600\n"
	    "max_clients = 7\n"
	    "max_inflight = 9\n"
	    "max_payload = 64K\n"
	    "client_timeout = 1500ms\n"
	    "shutdown_timeout = 2m\n"
	    "log_level = debug\n"
	    POOL);
	ck_assert_str_eq(conf->socket, "/tmp/x/fp.sock");
	ck_assert_uint_eq(conf->socket_mode, 0600);
	ck_assert_uint_eq(conf->max_clients, 7);
	ck_assert_uint_eq(conf->max_inflight, 9);
	ck_assert_uint_eq(conf->max_payload, 65536);
	ck_assert_uint_eq(conf->client_timeout_ms, 1500);
	ck_assert_uint_eq(conf->shutdown_timeout_ms, 120000);
	ck_assert_int_eq(conf->log_level, LOG_DEBUG);
	config_free(conf);
}
END_TEST

START_TEST(test_pool_every_key)
{
	/* Each pool key is read into its own field, in its unit. */
	struct config		*conf;
	struct pool_config	*pc;

	conf = load_ok(
	    "[pool:z]\n"
	    "module = /opt/m.so\n"
	    "module_args = a=1 b=2\n"
	    "workers = 3\n"
	    "queue_limit = 11\n"
	    "task_timeout = 0\n"
	    "max_tasks = 100\n"
	    "max_rss = 512M\n"
	    "prefetch = 16\n"
	    "restart_burst = 0\n"
	    "restart_window = 90\n"
	    "retries = 2\n");
	pc = config_find_pool(conf, "z");
	ck_assert_ptr_nonnull(pc);
	ck_assert_ptr_null(pc->handler);
	ck_assert_str_eq(pc->module, "/opt/m.so");
	ck_assert_str_eq(pc->module_args, "a=1 b=2");
	ck_assert_uint_eq(pc->workers, 3);
	ck_assert_uint_eq(pc->queue_limit, 11);
	ck_assert_uint_eq(pc->task_timeout_ms, 0);
	ck_assert_uint_eq(pc->max_tasks, 100);
	ck_assert_uint_eq(pc->max_rss, 512ULL << 20);
	ck_assert_uint_eq(pc->prefetch, 16);
	ck_assert_uint_eq(pc->restart_burst, 0);
	ck_assert_uint_eq(pc->restart_window_ms, 90000);
	ck_assert_uint_eq(pc->retries, 2);
	config_free(conf);
}
END_TEST

START_TEST(test_workers_auto)
{
	/* workers = auto is one worker per online CPU; a number is taken as is. */
	struct config	*conf;

	conf = load_ok("[pool:a]\nhandler = echo\nworkers = auto\n"
	    "[pool:b]\nhandler = echo\nworkers = 1\n");
	ck_assert_uint_eq(config_find_pool(conf, "a")->workers, online_cpus());
	ck_assert_uint_eq(config_find_pool(conf, "b")->workers, 1);
	config_free(conf);
}
END_TEST

START_TEST(test_durations_valid)
{
	/* ms, s and m scale to milliseconds; a bare number is seconds. */
	static const struct {
		const char	*s;
		uint64_t	 ms;
	} ok[] = {
		{ "0", 0 }, { "1", 1000 }, { "30", 30000 }, { "0ms", 0 },
		{ "1ms", 1 }, { "500ms", 500 }, { "30s", 30000 },
		{ "5m", 300000 }, { "007s", 7000 },
		{ "18446744073709551615ms", UINT64_MAX },
		{ "18446744073709551s", 18446744073709551000ULL },
		{ "307445734561825m", 307445734561825ULL * 60000 },
	};
	uint64_t	ms;
	size_t		i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = 12345;
		ck_assert_msg(config_parse_duration(ok[i].s, &ms) == 0,
		    "\"%s\" rejected", ok[i].s);
		ck_assert_msg(ms == ok[i].ms, "\"%s\" gave %ju, not %ju",
		    ok[i].s, (uintmax_t)ms, (uintmax_t)ok[i].ms);
	}
}
END_TEST

START_TEST(test_durations_invalid)
{
	/* Empty, negative, fractional, unknown units, junk and overflow fail. */
	static const char *const bad[] = {
		"", "-1", "-1s", "+5s", " 5s", "5s ", "5 s", "5S", "5MS",
		"5h", "5d", "1.5s", "s", "ms", "5sec", "5mss", "0x10",
		"5s5", "1e3",
		"18446744073709551616ms",	/* 2^64 */
		"18446744073709552s",		/* past 2^64 once scaled */
		"307445734561826m",
		"99999999999999999999999999",
	};
	uint64_t	ms;
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 12345;
		ck_assert_msg(config_parse_duration(bad[i], &ms) == -1,
		    "\"%s\" accepted", bad[i]);
		ck_assert_msg(ms == 12345, "\"%s\" changed the output", bad[i]);
	}
}
END_TEST

START_TEST(test_sizes_valid)
{
	/* K, M and G are powers of 1024, either case; a bare number is bytes. */
	static const struct {
		const char	*s;
		uint64_t	 bytes;
	} ok[] = {
		{ "0", 0 }, { "1", 1 }, { "4096", 4096 }, { "1K", 1024 },
		{ "1k", 1024 }, { "16M", 16777216 }, { "16m", 16777216 },
		{ "1G", 1073741824 }, { "3g", 3ULL << 30 }, { "0G", 0 },
		{ "18446744073709551615", UINT64_MAX },
		{ "17179869183G", 17179869183ULL << 30 },
	};
	uint64_t	bytes;
	size_t		i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		bytes = 12345;
		ck_assert_msg(config_parse_size(ok[i].s, &bytes) == 0,
		    "\"%s\" rejected", ok[i].s);
		ck_assert_msg(bytes == ok[i].bytes, "\"%s\" gave %ju, not %ju",
		    ok[i].s, (uintmax_t)bytes, (uintmax_t)ok[i].bytes);
	}
}
END_TEST

START_TEST(test_sizes_invalid)
{
	/* Empty, negative, fractional, unknown units, junk and overflow fail. */
	static const char *const bad[] = {
		"", "-1", "-1K", "+1K", " 1K", "1K ", "1 K", "1KB", "1KiB",
		"1T", "1B", "1.5M", "M", "K", "0x10", "1e6", "1KK",
		"18446744073709551616",		/* 2^64 */
		"17179869184G",			/* 2^64 once scaled */
		"18014398509481984K",
	};
	uint64_t	bytes;
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bytes = 12345;
		ck_assert_msg(config_parse_size(bad[i], &bytes) == -1,
		    "\"%s\" accepted", bad[i]);
		ck_assert_msg(bytes == 12345, "\"%s\" changed the output",
		    bad[i]);
	}
}
END_TEST

START_TEST(test_embedded_default)
{
	/* With no file: one echo pool, a worker per CPU, every other default. */
	struct config		*conf;
	struct pool_config	*pc;
	char			 err[256];

	conf = config_default(err, sizeof(err));
	ck_assert_msg(conf != NULL, "%s", err);
	ck_assert_str_eq(conf->path, "(built-in default)");
	ck_assert_ptr_null(conf->socket);
	ck_assert_uint_eq(conf->max_payload, 16 * 1024 * 1024);
	ck_assert_int_eq(conf->log_level, LOG_INFO);
	pc = TAILQ_FIRST(&conf->pools);
	ck_assert_ptr_nonnull(pc);
	ck_assert_ptr_null(TAILQ_NEXT(pc, entry));
	ck_assert_str_eq(pc->name, "echo");
	ck_assert_str_eq(pc->handler, "echo");
	ck_assert_ptr_null(pc->module);
	ck_assert_uint_eq(pc->workers, online_cpus());
	ck_assert_uint_eq(pc->queue_limit, 1024);
	ck_assert_uint_eq(pc->task_timeout_ms, 30000);
	ck_assert_uint_eq(pc->prefetch, PREFETCH_AUTO);
	config_free(conf);
}
END_TEST

START_TEST(test_sample_file)
{
	/* conf/forkpool.ini, the documented sample, loads as documented. */
	struct config		*conf;
	struct pool_config	*pc;
	const char		*srcdir;
	char			 path[4096], err[1024];

	if ((srcdir = getenv("FORKPOOL_SRCDIR")) == NULL)
		srcdir = ".";
	snprintf(path, sizeof(path), "%s/conf/forkpool.ini", srcdir);
	conf = config_load(path, err, sizeof(err));
	ck_assert_msg(conf != NULL, "%s", err);
	ck_assert_str_eq(conf->path, path);
	ck_assert_ptr_null(conf->socket);	/* make run passes -s */
	ck_assert_uint_eq(conf->socket_mode, 0660);
	ck_assert_uint_eq(conf->max_payload, 16 * 1024 * 1024);
	ck_assert_int_eq(conf->log_level, LOG_INFO);

	pc = TAILQ_FIRST(&conf->pools);
	ck_assert_ptr_nonnull(pc);
	ck_assert_str_eq(pc->name, "echo");
	ck_assert_str_eq(pc->handler, "echo");
	ck_assert_uint_eq(pc->workers, 2);

	pc = TAILQ_NEXT(pc, entry);
	ck_assert_ptr_nonnull(pc);
	ck_assert_str_eq(pc->name, "deflate");
	ck_assert_ptr_null(pc->handler);
	ck_assert_str_eq(pc->module, "deflate.so");
	ck_assert_str_eq(pc->module_args, "level=6");

	pc = TAILQ_NEXT(pc, entry);
	ck_assert_ptr_nonnull(pc);
	ck_assert_str_eq(pc->name, "inflate");
	ck_assert_str_eq(pc->module, "deflate.so");
	ck_assert_str_eq(pc->module_args, "mode=inflate");

	/* The Python pool: a program worker, paths relative for make run. */
	pc = TAILQ_NEXT(pc, entry);
	ck_assert_ptr_nonnull(pc);
	ck_assert_str_eq(pc->name, "py");
	ck_assert_ptr_null(pc->handler);
	ck_assert_ptr_null(pc->module);
	ck_assert_str_eq(pc->command, "/usr/bin/python3 -m forkpool.worker");
	ck_assert_uint_eq(pc->task_timeout_ms, 0);	/* as ProcessPoolExecutor */
	ck_assert_uint_eq(pc->prefetch, PREFETCH_AUTO);	/* tiny calls: 64 */
	ck_assert_uint_eq(pc->prefetch_min, 2);	/* no sleep between calls */
	ck_assert_str_eq(pc->command_env,
	    "PYTHONPATH=lib/python:lib/python/examples");
	ck_assert_uint_eq(pc->workers, 2);
	ck_assert_ptr_null(TAILQ_NEXT(pc, entry));
	config_free(conf);
}
END_TEST

START_TEST(test_find_pool)
{
	/* config_find_pool finds a pool by its whole name, and only that. */
	struct config	*conf;

	conf = load_ok("[pool:a]\nhandler = echo\n[pool:ab]\nhandler = echo\n");
	ck_assert_str_eq(config_find_pool(conf, "a")->name, "a");
	ck_assert_str_eq(config_find_pool(conf, "ab")->name, "ab");
	ck_assert_ptr_null(config_find_pool(conf, "b"));
	ck_assert_ptr_null(config_find_pool(conf, "A"));
	ck_assert_ptr_null(config_find_pool(conf, ""));
	config_free(conf);
	config_free(NULL);
}
END_TEST

START_TEST(test_syntax_accepted)
{
	/*
	 * Comments (";", "#", inline after a blank), "key: value", CRLF,
	 * a byte order mark, blank lines and indentation all parse; an
	 * indented key is a key of its own, not more of the value above it.
	 */
	struct config		*conf;
	struct pool_config	*pc;

	conf = load_ok(
	    "\xef\xbb\xbf; comment\r\n"
	    "# another\r\n"
	    "\r\n"
	    "  [ daemon ]  ; the daemon\r\n"
	    "\tmax_clients: 5\r\n"
	    "[pool:p] # the pool\n"
	    "handler = echo ; inline comment\n"
	    "    workers = 3\n"
	    "\n"
	    "   ; indented comment\n"
	    "retries = 1   \n");
	ck_assert_uint_eq(conf->max_clients, 5);
	pc = config_find_pool(conf, "p");
	ck_assert_ptr_nonnull(pc);
	ck_assert_int_eq(pc->line, 6);
	ck_assert_str_eq(pc->handler, "echo");
	ck_assert_uint_eq(pc->workers, 3);
	ck_assert_uint_eq(pc->retries, 1);
	config_free(conf);

	/* That ';' with no blank before it is part of the value. */
	load_fails("[pool:p]\nhandler = echo\nqueue_limit=7;x\n",
	    "t.ini:3: queue_limit: \"7;x\" is not a whole number; allowed: "
	    "1 to 1048576");
}
END_TEST

START_TEST(test_bounds)
{
	/* Each number's limits are allowed; one past either end is not. */
	struct config		*conf;
	struct pool_config	*pc;

	conf = load_ok(
	    "[daemon]\n"
	    "socket_mode = 0\n"
	    "max_clients = 1048576\n"
	    "max_inflight = 1\n"
	    "max_payload = 1G\n"
	    "client_timeout = 1ms\n"
	    "shutdown_timeout = 10080m\n"
	    "[pool:p]\n"
	    "handler = echo\n"
	    "workers = 4096\n"
	    "queue_limit = 1\n"
	    "task_timeout = 604800s\n"
	    "max_tasks = 18446744073709551615\n"
	    "max_rss = 1048576G\n"
	    "prefetch = 1024\n"
	    "restart_burst = 10000\n"
	    "restart_window = 1ms\n"
	    "retries = 100\n");
	ck_assert_uint_eq(conf->socket_mode, 0);
	ck_assert_uint_eq(conf->max_clients, 1048576);
	ck_assert_uint_eq(conf->max_inflight, 1);
	ck_assert_uint_eq(conf->max_payload, 1U << 30);
	ck_assert_uint_eq(conf->client_timeout_ms, 1);
	ck_assert_uint_eq(conf->shutdown_timeout_ms, 604800000);
	pc = TAILQ_FIRST(&conf->pools);
	ck_assert_uint_eq(pc->workers, 4096);
	ck_assert_uint_eq(pc->queue_limit, 1);
	ck_assert_uint_eq(pc->task_timeout_ms, 604800000);
	ck_assert_uint_eq(pc->max_tasks, UINT64_MAX);
	ck_assert_uint_eq(pc->max_rss, 1ULL << 50);
	ck_assert_uint_eq(pc->prefetch, 1024);
	ck_assert_uint_eq(pc->restart_burst, 10000);
	ck_assert_uint_eq(pc->restart_window_ms, 1);
	ck_assert_uint_eq(pc->retries, 100);
	config_free(conf);

	load_fails("[daemon]\nmax_clients = 1048577\n" POOL,
	    "t.ini:2: max_clients: \"1048577\" is out of range; allowed: "
	    "1 to 1048576");
	load_fails("[daemon]\nmax_inflight = 0\n" POOL,
	    "t.ini:2: max_inflight: \"0\" is out of range; allowed: "
	    "1 to 1048576");
	load_fails("[daemon]\nclient_timeout = 0\n" POOL,
	    "t.ini:2: client_timeout: \"0\" is out of range; allowed: "
	    "1ms to 10080m (a week)");
	load_fails("[daemon]\nshutdown_timeout = 10081m\n" POOL,
	    "t.ini:2: shutdown_timeout: \"10081m\" is out of range; "
	    "allowed: 0 (stop at once) to 10080m (a week)");
	load_fails(POOL "workers = 4097\n",
	    "t.ini:3: workers: \"4097\" is out of range; allowed: "
	    "1 to 4096, or auto");
	load_fails(POOL "workers = 0\n",
	    "t.ini:3: workers: \"0\" is out of range; allowed: "
	    "1 to 4096, or auto");
	load_fails(POOL "queue_limit = 0\n",
	    "t.ini:3: queue_limit: \"0\" is out of range; allowed: "
	    "1 to 1048576");
	load_fails(POOL "task_timeout = 604801s\n",
	    "t.ini:3: task_timeout: \"604801s\" is out of range; allowed: "
	    "0 (none) to 10080m (a week)");
	load_fails(POOL "max_tasks = 18446744073709551616\n",
	    "t.ini:3: max_tasks: \"18446744073709551616\" is out of range; "
	    "allowed: 0 (never) to 18446744073709551615");
	load_fails(POOL "max_rss = 1048577G\n",
	    "t.ini:3: max_rss: \"1048577G\" is out of range; allowed: "
	    "0 (never) to 1048576G");
	load_fails(POOL "prefetch = 0\n",
	    "t.ini:3: prefetch: \"0\" is out of range; allowed: 1 to 1024, "
	    "or auto");
	load_fails(POOL "prefetch = 1025\n",
	    "t.ini:3: prefetch: \"1025\" is out of range; allowed: 1 to 1024, "
	    "or auto");
	load_fails(POOL "prefetch = some\n",
	    "t.ini:3: prefetch: \"some\" is not a number or \"auto\"");
	load_fails(POOL "restart_burst = 10001\n",
	    "t.ini:3: restart_burst: \"10001\" is out of range; allowed: "
	    "0 to 10000");
	load_fails(POOL "restart_window = 0ms\n",
	    "t.ini:3: restart_window: \"0ms\" is out of range; allowed: "
	    "1ms to 10080m (a week)");
	load_fails(POOL "retries = 101\n",
	    "t.ini:3: retries: \"101\" is out of range; allowed: 0 to 100");
}
END_TEST

START_TEST(test_max_payload)
{
	/* max_payload is capped at 1G, and the error says why. */
	struct config	*conf;

	conf = load_ok("[daemon]\nmax_payload = 1024M\n" POOL);
	ck_assert_uint_eq(conf->max_payload, 1U << 30);
	config_free(conf);
	conf = load_ok("[daemon]\nmax_payload = 1\n" POOL);
	ck_assert_uint_eq(conf->max_payload, 1);
	config_free(conf);

	load_fails("[daemon]\nmax_payload = 1025M\n" POOL,
	    "t.ini:2: max_payload: \"1025M\" is out of range; allowed: 1 to "
	    "1G (a frame's length is 32 bits and must also hold the header "
	    "and the pool name)");
	load_fails("[daemon]\nmax_payload = 4G\n" POOL,
	    "t.ini:2: max_payload: \"4G\" is out of range; allowed: 1 to "
	    "1G (a frame's length is 32 bits and must also hold the header "
	    "and the pool name)");
	load_fails("[daemon]\nmax_payload = 0\n" POOL,
	    "t.ini:2: max_payload: \"0\" is out of range; allowed: 1 to "
	    "1G (a frame's length is 32 bits and must also hold the header "
	    "and the pool name)");
	load_fails("[daemon]\nmax_payload = 16MB\n" POOL,
	    "t.ini:2: max_payload: \"16MB\" is not a size; use a whole number "
	    "of bytes, or one with K, M or G");
}
END_TEST

START_TEST(test_socket)
{
	/* socket takes a path that fits a sockaddr_un, and no empty one. */
	struct config	*conf;
	char		 text[512], path[200], want[512];

	memset(path, 'a', 107);
	path[0] = '/';
	path[107] = '\0';
	snprintf(text, sizeof(text), "[daemon]\nsocket = %s\n" POOL, path);
	conf = load_ok(text);
	ck_assert_str_eq(conf->socket, path);
	config_free(conf);

	strcat(path, "a");
	snprintf(text, sizeof(text), "[daemon]\nsocket = %s\n" POOL, path);
	snprintf(want, sizeof(want), "t.ini:2: socket: \"%s\" is too long; "
	    "a Unix socket path is at most 107 bytes", path);
	load_fails(text, want);

	load_fails("[daemon]\nsocket =\n" POOL,
	    "t.ini:2: socket: no value; allowed: the path of a Unix socket");
}
END_TEST

START_TEST(test_socket_mode)
{
	/* socket_mode is octal, 0 to 0777, leading zeros or not. */
	static const struct {
		const char	*s;
		unsigned int	 mode;
	} ok[] = {
		{ "0660", 0660 }, { "660", 0660 }, { "0", 0 }, { "0777", 0777 },
		{ "00000600", 0600 }, { "7", 07 },
	};
	struct config	*conf;
	char		 text[256];
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\nsocket_mode = %s\n"
		    POOL, ok[i].s);
		conf = load_ok(text);
		ck_assert_uint_eq(conf->socket_mode, ok[i].mode);
		config_free(conf);
	}
	load_fails("[daemon]\nsocket_mode = 0668\n" POOL,
	    "t.ini:2: socket_mode: \"0668\" is not an octal mode such as 0660");
	load_fails("[daemon]\nsocket_mode = rw-rw----\n" POOL,
	    "t.ini:2: socket_mode: \"rw-rw----\" is not an octal mode such as "
	    "0660");
	load_fails("[daemon]\nsocket_mode = -660\n" POOL,
	    "t.ini:2: socket_mode: \"-660\" is not an octal mode such as 0660");
	load_fails("[daemon]\nsocket_mode = 01000\n" POOL,
	    "t.ini:2: socket_mode: \"01000\" is out of range; allowed: an "
	    "octal mode from 0 to 0777, such as 0660");
	load_fails("[daemon]\nsocket_mode = 77777777777777777777777777\n" POOL,
	    "t.ini:2: socket_mode: \"77777777777777777777777777\" is out of "
	    "range; allowed: an octal mode from 0 to 0777, such as 0660");
	load_fails("[daemon]\nsocket_mode =\n" POOL,
	    "t.ini:2: socket_mode: no value; allowed: an octal mode from 0 to "
	    "0777, such as 0660");
}
END_TEST

START_TEST(test_log_level)
{
	/* log_level takes the five level names, and says so otherwise. */
	static const struct {
		const char	*s;
		int		 level;
	} ok[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	struct config	*conf;
	char		 text[256];
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\nlog_level = %s\n"
		    POOL, ok[i].s);
		conf = load_ok(text);
		ck_assert_int_eq(conf->log_level, ok[i].level);
		config_free(conf);
	}
	load_fails("[daemon]\nlog_level = loud\n" POOL,
	    "t.ini:2: log_level: \"loud\" is not a log level; allowed: error, "
	    "warning, notice, info or debug");
	load_fails("[daemon]\nlog_level = emerg\n" POOL,
	    "t.ini:2: log_level: \"emerg\" is not a log level; allowed: "
	    "error, warning, notice, info or debug");
	load_fails("[daemon]\nlog_level =\n" POOL,
	    "t.ini:2: log_level: no value; allowed: error, warning, notice, "
	    "info or debug");
}
END_TEST

START_TEST(test_bad_numbers)
{
	/* A number that is not one is named, with what the key allows. */
	load_fails(POOL "workers = lots\n",
	    "t.ini:3: workers: \"lots\" is not a number or \"auto\"");
	load_fails(POOL "workers = -1\n",
	    "t.ini:3: workers: \"-1\" is not a number or \"auto\"");
	load_fails(POOL "workers = 2.5\n",
	    "t.ini:3: workers: \"2.5\" is not a number or \"auto\"");
	load_fails(POOL "workers = AUTO\n",
	    "t.ini:3: workers: \"AUTO\" is not a number or \"auto\"");
	load_fails(POOL "workers =\n",
	    "t.ini:3: workers: no value; allowed: 1 to 4096, or auto");
	load_fails(POOL "queue_limit = 1k\n",
	    "t.ini:3: queue_limit: \"1k\" is not a whole number; allowed: "
	    "1 to 1048576");
	load_fails(POOL "max_tasks = -5\n",
	    "t.ini:3: max_tasks: \"-5\" is not a whole number; allowed: "
	    "0 (never) to 18446744073709551615");
	load_fails(POOL "retries = 0x1\n",
	    "t.ini:3: retries: \"0x1\" is not a whole number; allowed: "
	    "0 to 100");
	load_fails("[daemon]\nmax_clients = 1 000\n" POOL,
	    "t.ini:2: max_clients: \"1 000\" is not a whole number; allowed: "
	    "1 to 1048576");
}
END_TEST

START_TEST(test_bad_durations_and_sizes)
{
	/* A duration or size that is not one says which units there are. */
	load_fails(POOL "task_timeout = 1h\n",
	    "t.ini:3: task_timeout: \"1h\" is not a duration; use a whole "
	    "number with ms, s or m (a bare number is seconds)");
	load_fails(POOL "task_timeout = 1.5s\n",
	    "t.ini:3: task_timeout: \"1.5s\" is not a duration; use a whole "
	    "number with ms, s or m (a bare number is seconds)");
	load_fails(POOL "task_timeout = -1\n",
	    "t.ini:3: task_timeout: \"-1\" is not a duration; use a whole "
	    "number with ms, s or m (a bare number is seconds)");
	load_fails(POOL "task_timeout =\n",
	    "t.ini:3: task_timeout: no value; allowed: 0 (none) to 10080m "
	    "(a week)");
	load_fails(POOL "restart_window = 99999999999999999999s\n",
	    "t.ini:3: restart_window: \"99999999999999999999s\" is out of "
	    "range; allowed: 1ms to 10080m (a week)");
	load_fails(POOL "max_rss = 2T\n",
	    "t.ini:3: max_rss: \"2T\" is not a size; use a whole number of "
	    "bytes, or one with K, M or G");
	load_fails(POOL "max_rss = 99999999999999999999G\n",
	    "t.ini:3: max_rss: \"99999999999999999999G\" is out of range; "
	    "allowed: 0 (never) to 1048576G");
}
END_TEST

START_TEST(test_handler_and_module)
{
	/* handler is echo only; module may not be empty; module_args may. */
	struct config	*conf;

	load_fails("[pool:p]\nhandler = cat\n",
	    "t.ini:2: handler: \"cat\" is not a built-in handler; allowed: "
	    "echo, the only built-in handler (load others with "
	    "module = FILE.so)");
	load_fails("[pool:p]\nhandler =\n",
	    "t.ini:2: handler: no value; allowed: echo, the only built-in "
	    "handler (load others with module = FILE.so)");
	load_fails("[pool:p]\nmodule =\n",
	    "t.ini:2: module: no value; allowed: a module's file name, such "
	    "as deflate.so, or its path");

	conf = load_ok("[pool:p]\nmodule = x.so\nmodule_args =\n");
	ck_assert_str_eq(TAILQ_FIRST(&conf->pools)->module_args, "");
	config_free(conf);
}
END_TEST

START_TEST(test_err_handler_and_module_both)
{
	/* A pool has a handler or a module, not both, in either order. */
	load_fails("[pool:p]\nhandler = echo\nworkers = 1\nmodule = x.so\n",
	    "t.ini:4: module: [pool:p] already has handler = echo; a pool "
	    "has one of handler, module or command");
	load_fails("[pool:p]\nmodule = x.so\nhandler = echo\n",
	    "t.ini:3: handler: [pool:p] already has module = x.so; a pool "
	    "has one of handler, module or command");
	load_fails("[pool:p]\nmodule = x.so\ncommand = prog\n",
	    "t.ini:3: command: [pool:p] already has module = x.so; a pool "
	    "has one of handler, module or command");
}
END_TEST

START_TEST(test_err_handler_and_module_neither)
{
	/* A pool with neither is named at its section's line. */
	load_fails("[daemon]\n\n[pool:idle]\nworkers = 2\n" POOL,
	    "t.ini:3: [pool:idle] has no handler, module or command; set "
	    "handler = echo, module = FILE.so or command = PROGRAM");
	load_fails(POOL "[pool:last]\n",
	    "t.ini:3: [pool:last] has no handler, module or command; set "
	    "handler = echo, module = FILE.so or command = PROGRAM");
}
END_TEST

START_TEST(test_err_module_args_alone)
{
	/* module_args with no module to take them is a mistake. */
	load_fails("[pool:p]\nmodule_args = level=1\nhandler = echo\n",
	    "t.ini:2: module_args: [pool:p] has no module to pass them to");
}
END_TEST

START_TEST(test_err_unknown_section)
{
	/* An unknown section is named, with the sections there are. */
	load_fails(POOL "[pools:x]\n",
	    "t.ini:3: unknown section [pools:x]; allowed: [daemon] and "
	    "[pool:NAME]");
	load_fails("[Daemon]\n" POOL,
	    "t.ini:1: unknown section [Daemon]; allowed: [daemon] and "
	    "[pool:NAME]");
	load_fails("[]\n" POOL,
	    "t.ini:1: unknown section []; allowed: [daemon] and [pool:NAME]");
}
END_TEST

START_TEST(test_err_pool_name)
{
	/* A pool's name follows the protocol's rule; 64 characters is fine. */
	struct config	*conf;
	char		 name[80], text[256], want[512];

	load_fails("[pool:]\n",
	    "t.ini:1: [pool:]: \"\" is not a pool name; allowed: 1 to 64 "
	    "characters of A-Z a-z 0-9 _ . -");
	load_fails("[pool:a b]\nhandler = echo\n",
	    "t.ini:1: [pool:a b]: \"a b\" is not a pool name; allowed: 1 to "
	    "64 characters of A-Z a-z 0-9 _ . -");
	load_fails(POOL "[pool:a/b]\n",
	    "t.ini:3: [pool:a/b]: \"a/b\" is not a pool name; allowed: 1 to "
	    "64 characters of A-Z a-z 0-9 _ . -");

	memset(name, 'n', 64);
	name[64] = '\0';
	snprintf(text, sizeof(text), "[pool:%s]\nhandler = echo\n", name);
	conf = load_ok(text);
	ck_assert_ptr_nonnull(config_find_pool(conf, name));
	config_free(conf);

	strcat(name, "n");
	snprintf(text, sizeof(text), "[pool:%s]\nhandler = echo\n", name);
	snprintf(want, sizeof(want), "t.ini:1: [pool:%s]: \"%s\" is not a "
	    "pool name; allowed: 1 to 64 characters of A-Z a-z 0-9 _ . -",
	    name, name);
	load_fails(text, want);
}
END_TEST

START_TEST(test_err_unknown_key)
{
	/*
	 * An unknown key is named with its section; a near miss gets the
	 * key it probably meant, anything else the page that lists them.
	 */
	load_fails(POOL "wrokers = 2\n",
	    "t.ini:3: unknown key \"wrokers\" in [pool:p]; did you mean "
	    "\"workers\"? (forkpool.ini(5) lists the keys)");
	load_fails("[daemon]\nworkers = 2\n" POOL,
	    "t.ini:2: unknown key \"workers\" in [daemon]; forkpool.ini(5) "
	    "lists the keys it takes");
	load_fails(POOL "Workers = 2\n",
	    "t.ini:3: unknown key \"Workers\" in [pool:p]; did you mean "
	    "\"workers\"? (forkpool.ini(5) lists the keys)");
}
END_TEST

START_TEST(test_err_key_outside_section)
{
	/* A key before any section is an error, not a silent default. */
	load_fails("; top\nworkers = 2\n" POOL,
	    "t.ini:2: \"workers\" is outside any section; put it under "
	    "[daemon] or [pool:NAME]");
}
END_TEST

START_TEST(test_err_pool_twice)
{
	/* A pool defined twice is an error naming the first definition. */
	load_fails("[pool:p]\nhandler = echo\n\n[pool:q]\nhandler = echo\n"
	    "[pool:p]\nhandler = echo\n",
	    "t.ini:6: [pool:p] appears twice (first at line 1)");
	/* Even when the first one was empty. */
	load_fails("[daemon]\n[daemon]\n" POOL,
	    "t.ini:2: [daemon] appears twice (first at line 1)");
}
END_TEST

START_TEST(test_err_key_twice)
{
	/* A key set twice in one section is an error naming the first. */
	load_fails(POOL "workers = 1\nprefetch = 2\nworkers = 2\n",
	    "t.ini:5: workers: set twice in [pool:p] (first at line 3)");
	load_fails("[daemon]\nlog_level = info\nlog_level = debug\n" POOL,
	    "t.ini:3: log_level: set twice in [daemon] (first at line 2)");
	load_fails(POOL "handler = echo\n",
	    "t.ini:3: handler: set twice in [pool:p] (first at line 2)");
}
END_TEST

START_TEST(test_key_again_in_other_pool)
{
	/* The same key in two pools is two settings, not a repeat. */
	struct config	*conf;

	conf = load_ok("[pool:a]\nhandler = echo\nworkers = 1\n"
	    "[pool:b]\nhandler = echo\nworkers = 2\n");
	ck_assert_uint_eq(config_find_pool(conf, "a")->workers, 1);
	ck_assert_uint_eq(config_find_pool(conf, "b")->workers, 2);
	config_free(conf);
}
END_TEST

START_TEST(test_err_no_pools)
{
	/* A configuration with no pool serves nothing, so it is refused. */
	load_fails("",
	    "t.ini:1: no pool is defined; add a [pool:NAME] section with "
	    "handler = echo or module = FILE.so");
	load_fails("[daemon]\nlog_level = info\n; end\n",
	    "t.ini:3: no pool is defined; add a [pool:NAME] section with "
	    "handler = echo or module = FILE.so");
}
END_TEST

START_TEST(test_err_syntax)
{
	/* Lines that are not ini are named with what was expected. */
	load_fails(POOL "[pool:q\n",
	    "t.ini:3: \"[pool:q\" has no closing \"]\"");
	load_fails("[daemon] extra\n" POOL,
	    "t.ini:1: unexpected \"extra\" after [daemon]");
	load_fails(POOL "workers 2\n",
	    "t.ini:3: \"workers 2\" is not \"key = value\", a [section] or a "
	    "comment");
	load_fails(POOL "workers ; = 2\n",
	    "t.ini:3: \"workers \" is not \"key = value\", a [section] or a "
	    "comment");
	load_fails(POOL "= 2\n", "t.ini:3: no key name before \"=\"");
}
END_TEST

START_TEST(test_err_long_line)
{
	/* A line longer than inih's buffer is refused, not split. */
	char	text[1024], want[256];

	snprintf(text, sizeof(text), POOL "module_args = %0300d\n", 0);
	/* inih hands the reader INI_MAX_LINE bytes: a newline and NUL fit. */
	snprintf(want, sizeof(want), "t.ini:3: the line is longer than %d "
	    "characters", INI_MAX_LINE - 2);
	load_fails(text, want);
}
END_TEST

START_TEST(test_first_error_wins)
{
	/* The first mistake stops the parse; later ones are not reported. */
	load_fails("[daemon]\nmax_clients = x\n[bogus]\nfoo\n",
	    "t.ini:2: max_clients: \"x\" is not a whole number; allowed: "
	    "1 to 1048576");
	load_fails("[daemon]\nfoo\nmax_clients = x\n",
	    "t.ini:2: \"foo\" is not \"key = value\", a [section] or a "
	    "comment");
}
END_TEST

START_TEST(test_file_errors)
{
	/* A file's errors name its path and line. */
	const char	*text = "[pool:p]\nhandler = echo\nworkers = none\n";
	char		 path[64], err[512], want[512];
	struct config	*conf;

	write_temp(path, sizeof(path), text, strlen(text));
	conf = config_load(path, err, sizeof(err));
	unlink(path);
	ck_assert_ptr_null(conf);
	snprintf(want, sizeof(want), "%s:3: workers: \"none\" is not a number "
	    "or \"auto\"", path);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_file_missing)
{
	/* A file that cannot be opened is named, with the system's reason. */
	char	err[512], want[512];

	ck_assert_ptr_null(config_load("/nonexistent/forkpool.ini", err,
	    sizeof(err)));
	snprintf(want, sizeof(want), "/nonexistent/forkpool.ini: cannot "
	    "open: %s", strerror(ENOENT));
	ck_assert_str_eq(err, want);

	/* A directory opens but cannot be read. */
	ck_assert_ptr_null(config_load("/", err, sizeof(err)));
	snprintf(want, sizeof(want), "/:1: cannot read: %s", strerror(EISDIR));
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_file_nul_byte)
{
	/* A NUL byte, which inih would silently cut the line at, is refused. */
	static const char text[] = "[pool:p]\nhandler = echo\0junk\n";
	char		 path[64], err[512], want[512];
	struct config	*conf;

	write_temp(path, sizeof(path), text, sizeof(text) - 1);
	conf = config_load(path, err, sizeof(err));
	unlink(path);
	ck_assert_ptr_null(conf);
	snprintf(want, sizeof(want), "%s:2: the line contains a NUL byte",
	    path);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_file_ok)
{
	/* A good file loads the same as the same text given as a string. */
	const char	*text = "[daemon]\nmax_inflight = 3\n" POOL;
	char		 path[64], err[512];
	struct config	*conf;

	write_temp(path, sizeof(path), text, strlen(text));
	conf = config_load(path, err, sizeof(err));
	unlink(path);
	ck_assert_msg(conf != NULL, "%s", err);
	ck_assert_str_eq(conf->path, path);
	ck_assert_uint_eq(conf->max_inflight, 3);
	ck_assert_ptr_nonnull(config_find_pool(conf, "p"));
	config_free(conf);
}
END_TEST

START_TEST(test_err_buffer)
{
	/* A short buffer gets a cut, terminated message; none is optional. */
	char	err[12];

	memset(err, 'X', sizeof(err));
	ck_assert_ptr_null(config_load_string("[x]\n", NAME, err,
	    sizeof(err)));
	ck_assert_str_eq(err, "t.ini:1: un");
	ck_assert_ptr_null(config_load_string("[x]\n", NAME, NULL, 0));
	ck_assert_ptr_null(config_load("/nonexistent", NULL, 0));

	/* Success leaves an empty message behind, not a stale one. */
	memset(err, 'X', sizeof(err));
	config_free(config_load_string(POOL, NAME, err, sizeof(err)));
	ck_assert_str_eq(err, "");
}
END_TEST

/*
 * with differs from without in k alone: a LIVE key leaves the workers as
 * they are and copying the live keys makes the two equal; a WORKERS key
 * gives other workers (for handler, module and command, other kinds).
 */
static void
key_reload_class(const struct key *k, struct pool_config *with,
    struct pool_config *without)
{
	const char	*name = config_key_name(k);

	ck_assert_msg(!config_pool_equal(with, without), "%s: not compared",
	    name);
	if (config_key_reload(k) == RELOAD_WORKERS) {
		ck_assert_msg(!config_pool_same_workers(with, without),
		    "%s: needs new workers, but they compare the same", name);
		return;
	}
	ck_assert_int_eq(config_key_reload(k), RELOAD_LIVE);
	ck_assert_msg(config_pool_same_workers(with, without), "%s: live, "
	    "but the workers compare different", name);
	config_pool_copy_live(without, with);
	ck_assert_msg(config_pool_equal(with, without), "%s: live, but not "
	    "copied in place", name);
}

/* The section of conf a key of section lives in. */
static void *
key_base(struct config *conf, enum key_section section)
{
	if (section == KEYS_DAEMON)
		return (conf);
	return (config_find_pool(conf, "p"));
}

/*
 * One key: its test value reads back as the text STATUS shows, that text
 * sets the same value again, and the value is not the default.  A pool key
 * is compared, copied and told apart as its row's reload class says.
 */
static void
key_round_trip(const struct key *k, enum key_section section)
{
	const struct key_value	*kv;
	struct config		*with, *without, *again;
	char			 ini[2048], text[1024], want[1024], why[512];

	kv = key_value_find(section, config_key_name(k));
	ck_assert_msg(kv != NULL, "key %s has no test value in "
	    "tests/key_values.c", config_key_name(k));
	key_value_ini(kv, 1, ini, sizeof(ini));
	with = load_ok(ini);
	key_value_ini(kv, 0, ini, sizeof(ini));
	without = load_ok(ini);
	again = load_ok(ini);

	ck_assert_msg(config_key_text(k, key_base(with, section), text,
	    sizeof(text)) == 0, "%s: no text", kv->name);
	key_value_shown(kv, want, sizeof(want));
	ck_assert_str_eq(text, want);
	ck_assert_msg(!config_key_equal(k, key_base(with, section),
	    key_base(without, section)), "%s: the test value %s is the "
	    "default", kv->name, kv->value);
	ck_assert_msg(config_key_set(k, key_base(again, section), text, why,
	    sizeof(why)) == 0, "%s = %s: %s", kv->name, text, why);
	ck_assert_msg(config_key_equal(k, key_base(with, section),
	    key_base(again, section)), "%s: \"%s\" reads back as another "
	    "value", kv->name, text);
	if (section == KEYS_POOL)
		key_reload_class(k, key_base(with, section),
		    key_base(without, section));
	config_free(with);
	config_free(without);
	config_free(again);
}

START_TEST(test_every_key_as_text)
{
	/*
	 * Promise: every key of [daemon] and [pool:NAME] has a test value,
	 * shown by STATUS as text that the file takes back, and a reload
	 * tells a pool's keys apart as their rows say: a LIVE key is copied
	 * in place, a WORKERS key makes the sections fork other workers.
	 */
	const struct key	*k;
	size_t			 i;

	for (i = 0; (k = config_key_at(KEYS_DAEMON, i)) != NULL; i++)
		key_round_trip(k, KEYS_DAEMON);
	for (i = 0; (k = config_key_at(KEYS_POOL, i)) != NULL; i++)
		key_round_trip(k, KEYS_POOL);
}
END_TEST

Suite *
config_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("config");

	tc = tcase_create("keys");
	tcase_add_test(tc, test_daemon_defaults);
	tcase_add_test(tc, test_pool_defaults);
	tcase_add_test(tc, test_daemon_every_key);
	tcase_add_test(tc, test_pool_every_key);
	tcase_add_test(tc, test_workers_auto);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_max_payload);
	tcase_add_test(tc, test_socket);
	tcase_add_test(tc, test_socket_mode);
	tcase_add_test(tc, test_log_level);
	tcase_add_test(tc, test_handler_and_module);
	tcase_add_test(tc, test_key_again_in_other_pool);
	tcase_add_test(tc, test_find_pool);
	tcase_add_test(tc, test_every_key_as_text);
	suite_add_tcase(s, tc);

	tc = tcase_create("units");
	tcase_add_test(tc, test_durations_valid);
	tcase_add_test(tc, test_durations_invalid);
	tcase_add_test(tc, test_sizes_valid);
	tcase_add_test(tc, test_sizes_invalid);
	tcase_add_test(tc, test_bad_numbers);
	tcase_add_test(tc, test_bad_durations_and_sizes);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_test(tc, test_embedded_default);
	tcase_add_test(tc, test_sample_file);
	tcase_add_test(tc, test_syntax_accepted);
	tcase_add_test(tc, test_file_ok);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_file_missing);
	tcase_add_test(tc, test_file_nul_byte);
	tcase_add_test(tc, test_err_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_err_handler_and_module_both);
	tcase_add_test(tc, test_err_handler_and_module_neither);
	tcase_add_test(tc, test_err_module_args_alone);
	tcase_add_test(tc, test_err_unknown_section);
	tcase_add_test(tc, test_err_pool_name);
	tcase_add_test(tc, test_err_unknown_key);
	tcase_add_test(tc, test_err_key_outside_section);
	tcase_add_test(tc, test_err_pool_twice);
	tcase_add_test(tc, test_err_key_twice);
	tcase_add_test(tc, test_err_no_pools);
	tcase_add_test(tc, test_err_syntax);
	tcase_add_test(tc, test_err_long_line);
	tcase_add_test(tc, test_first_error_wins);
	suite_add_tcase(s, tc);

	return (s);
}

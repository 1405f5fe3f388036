/*
 * forkpool-redis: takes tasks from Redis Streams and runs them in the
 * local forkpoold (the bridge), or puts tasks on a stream and waits for
 * their outcomes (submit, map).
 */
#include <sys/types.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bridge.h"
#include "forkpool/client.h"
#include "log.h"

#define BRIDGE_CONF	"/etc/forkpool/redis.ini"

/* sdnotify.c, shared with forkpoold. */
void		 sdnotify_init(void);
void		 sdnotify_start(struct event_base *base);
void		 sdnotify_stop(void);
void		 sdnotify_send(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
uint64_t	 clock_now_ms(void);

struct event_base	*bridge_base;
struct bridge_conf	*bridge_conf;
int			 bridge_stopping;

static struct event	*stop_ev;

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr,
	    "usage: forkpool-redis [-tV] [-c FILE] [-s SOCKET]\n"
	    "       forkpool-redis [-c FILE] [-f FEED] [-r REDIS] "
	    "[-S STREAM] submit [-T SECONDS] [POOL] [DATA]\n"
	    "       forkpool-redis [-c FILE] [-f FEED] [-r REDIS] "
	    "[-S STREAM] map [-T SECONDS] [POOL]\n");
	exit(2);
}

static int64_t
bridge_clock_ms(clockid_t clock)
{
	struct timespec	ts;

	clock_gettime(clock, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

uint64_t
bridge_now_ms(void)
{
	return (bridge_clock_ms(CLOCK_MONOTONIC));
}

/* sdnotify.c asks for the loop's clock by its name in the daemon (clock.c). */
uint64_t
clock_now_ms(void)
{
	return (bridge_now_ms());
}

/* Unix time in ms: entries' deadlines are on the wall clock. */
int64_t
bridge_wall_ms(void)
{
	return (bridge_clock_ms(CLOCK_REALTIME));
}

void
bridge_timer(struct event *ev, uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* Stopping, and every feed has settled what it held: leave. */
void
bridge_check_drained(void)
{
	struct feed	*f;

	if (!bridge_stopping)
		return;
	TAILQ_FOREACH(f, &bridge_conf->feeds, entry) {
		if (f->held > 0)
			return;
	}
	log_info("stopped: every finished entry acknowledged");
	event_base_loopbreak(bridge_base);
}

static void
bridge_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	log_warnx("shutdown_timeout passed; leaving what is still held "
	    "pending for others");
	event_base_loopbreak(bridge_base);
}

/*
 * SIGTERM, SIGINT: stop reading, let what runs finish and be
 * acknowledged, then exit; a second signal exits at once.
 */
static void
bridge_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct feed	*f;

	(void)events;
	(void)arg;
	if (bridge_stopping) {
		log_info("%s again: stopping now", strsignal(sig));
		event_base_loopbreak(bridge_base);
		return;
	}
	log_info("%s: stopping; finishing the window", strsignal(sig));
	bridge_stopping = 1;
	sdnotify_send("STOPPING=1");
	TAILQ_FOREACH(f, &bridge_conf->feeds, entry)
		feed_stop(f);
	if (bridge_conf->shutdown_timeout_ms > 0) {
		stop_ev = evtimer_new(bridge_base, bridge_timeout_cb, NULL);
		bridge_timer(stop_ev, bridge_conf->shutdown_timeout_ms);
	}
	bridge_check_drained();
}

static int
bridge_run(const char *sockopt)
{
	struct event	*sigs[2];
	struct feed	*f;
	char		 path[256];
	const char	*sock = sockopt != NULL ? sockopt : bridge_conf->socket;
	unsigned int	 i = 0;

	if (fp_socket_path(sock, path, sizeof(path)) == NULL)
		fatalx("forkpoold socket path too long");
	sdnotify_init();
	signal(SIGPIPE, SIG_IGN);
	if ((bridge_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	sigs[0] = evsignal_new(bridge_base, SIGTERM, bridge_signal_cb, NULL);
	sigs[1] = evsignal_new(bridge_base, SIGINT, bridge_signal_cb, NULL);
	event_add(sigs[0], NULL);
	event_add(sigs[1], NULL);
	TAILQ_FOREACH(f, &bridge_conf->feeds, entry) {
		f->index = i++;
		log_info("feed %s: stream %s group %s consumer %s, window %u, "
		    "pool %s", f->name, f->stream, f->group, f->consumer,
		    f->window, f->pool != NULL ? f->pool : "(each entry's)");
		feed_start(f);
	}
	local_start(path);
	metrics_start();
	sdnotify_start(bridge_base);
	sdnotify_send("READY=1\nSTATUS=feeding %s from %u feed%s", path,
	    bridge_conf->nfeeds, bridge_conf->nfeeds == 1 ? "" : "s");

	event_base_dispatch(bridge_base);

	metrics_stop();
	local_stop();
	conf_free(bridge_conf);
	bridge_conf = NULL;
	sdnotify_stop();
	event_free(sigs[0]);
	event_free(sigs[1]);
	if (stop_ev != NULL)
		event_free(stop_ev);
	event_base_free(bridge_base);
	return (0);
}

int
main(int argc, char **argv)
{
	const char	*conf_path = BRIDGE_CONF, *sockopt = NULL;
	const char	*feed = NULL, *redis = NULL, *stream = NULL;
	char		 err[512];
	int		 ch, test = 0, conf_given = 0, rc;

	log_init(LOG_INFO, "forkpool-redis");
	while ((ch = getopt(argc, argv, "+c:f:hr:s:S:tV")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			conf_given = 1;
			break;
		case 'f':
			feed = optarg;
			break;
		case 'r':
			redis = optarg;
			break;
		case 's':
			sockopt = optarg;
			break;
		case 'S':
			stream = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("forkpool-redis %s\n", FORKPOOL_VERSION);
			return (0);
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;

	if (argc > 0 && (strcmp(argv[0], "submit") == 0 ||
	    strcmp(argv[0], "map") == 0))
		return (submit_main(argc, argv, conf_given || redis == NULL ||
		    stream == NULL ? conf_path : NULL, feed, redis, stream));
	if (argc > 0)
		usage();

	if ((bridge_conf = conf_load(conf_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "forkpool-redis: %s\n", err);
		return (2);
	}
	if (test) {
		printf("%s: configuration OK\n", conf_path);
		conf_free(bridge_conf);
		return (0);
	}
	log_set_level(bridge_conf->log_level);
	rc = bridge_run(sockopt);
	return (rc);
}

/*
 * submit_*: the producer side from a shell.  `submit` puts one task on
 * the stream and prints its output; `map` puts one task per input line
 * and prints the outputs in input order.  Plain blocking hiredis: there is
 * nothing else to do while waiting.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "bridge.h"
#include "log.h"

#define SUBMIT_CHUNK	512	/* XADDs pipelined at once */

/* Where to put tasks and how to reach Redis. */
struct submit_target {
	char		*redis;
	char		*stream;
	char		*password_file;
	char		 reply_to[128];
	int		 timeout_s;	/* BRPOP's; 0 waits for ever */
	redisContext	*c;
};

/* One outcome as a reply_to list holds it, parsed. */
struct submit_outcome {
	char		 entry[BRIDGE_ID_MAX];
	char		 outcome[16];
	char		 what[32];	/* status, or the error's code */
	const char	*body;
	size_t		 len;
};

static int
submit_parse(const char *blob, size_t len, struct submit_outcome *o)
{
	const char	*nl = memchr(blob, '\n', len);
	char		 head[256];

	if (nl == NULL || (size_t)(nl - blob) >= sizeof(head))
		return (-1);
	memcpy(head, blob, nl - blob);
	head[nl - blob] = '\0';
	if (sscanf(head, "%63s %15s %31s", o->entry, o->outcome,
	    o->what) != 3)
		return (-1);
	o->body = nl + 1;
	o->len = len - (nl + 1 - blob);
	return (0);
}

static int
submit_connect(struct submit_target *t)
{
	redisReply	*r;
	char		 host[256], *colon, line[1024], *sp;
	FILE		*fp;

	if (strncmp(t->redis, "unix:", 5) == 0)
		t->c = redisConnectUnix(t->redis + 5);
	else {
		snprintf(host, sizeof(host), "%s", t->redis);
		colon = strrchr(host, ':');
		if (colon != NULL)
			*colon = '\0';
		t->c = redisConnect(host, colon != NULL ? atoi(colon + 1) :
		    6379);
	}
	if (t->c == NULL || t->c->err) {
		fprintf(stderr, "forkpool-redis: %s: %s\n", t->redis,
		    t->c != NULL ? t->c->errstr : "out of memory");
		return (-1);
	}
	if (t->password_file == NULL)
		return (0);
	if ((fp = fopen(t->password_file, "r")) == NULL) {
		fprintf(stderr, "forkpool-redis: %s: %s\n", t->password_file,
		    strerror(errno));
		return (-1);
	}
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
	if ((sp = strchr(line, ' ')) != NULL) {
		*sp = '\0';
		r = redisCommand(t->c, "AUTH %s %s", line, sp + 1);
	} else
		r = redisCommand(t->c, "AUTH %s", line);
	explicit_bzero(line, sizeof(line));
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "forkpool-redis: AUTH: %s\n", r != NULL ?
		    r->str : t->c->errstr);
		freeReplyObject(r);
		return (-1);
	}
	freeReplyObject(r);
	return (0);
}

/* Queue one XADD (not sent until a reply is read). */
static void
submit_append(struct submit_target *t, const char *pool, const char *data,
    size_t len)
{
	const char	*argv[9] = { "XADD", t->stream, "*", "payload", data,
			    "reply_to", t->reply_to, "pool", pool };
	size_t		 lens[9];
	int		 i, argc = pool != NULL ? 9 : 7;

	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	lens[4] = len;
	redisAppendCommandArgv(t->c, argc, argv, lens);
}

/* The next outcome from our reply list; -1 on timeout or error. */
static int
submit_wait(struct submit_target *t, redisReply **rp,
    struct submit_outcome *o)
{
	redisReply	*r;

	r = redisCommand(t->c, "BRPOP %s %d", t->reply_to, t->timeout_s);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		fprintf(stderr, "forkpool-redis: %s\n", r == NULL ?
		    t->c->errstr : r->type == REDIS_REPLY_ERROR ? r->str :
		    "no outcome before the timeout");
		freeReplyObject(r);
		return (-1);
	}
	if (submit_parse(r->element[1]->str, r->element[1]->len, o) == -1) {
		fprintf(stderr, "forkpool-redis: a malformed outcome\n");
		freeReplyObject(r);
		return (-1);
	}
	*rp = r;
	return (0);
}

/* Print an outcome; its exit status as forkpool's: 0, 1, or 3. */
static int
submit_show(const struct submit_outcome *o, int newline)
{
	if (strcmp(o->outcome, "result") == 0) {
		fwrite(o->body, 1, o->len, stdout);
		if (newline && (o->len == 0 || o->body[o->len - 1] != '\n'))
			putchar('\n');
		return (strcmp(o->what, "0") == 0 ? 0 : 1);
	}
	fprintf(stderr, "forkpool-redis: entry %s: %s %s: %.*s\n", o->entry,
	    o->outcome, o->what, (int)o->len, o->body);
	if (newline)
		putchar('\n');
	return (3);
}

static char *
submit_stdin(size_t *len)
{
	char	*buf = NULL;
	size_t	 cap = 0, n;

	*len = 0;
	do {
		if (*len == cap) {
			cap = cap == 0 ? 65536 : cap * 2;
			buf = xrealloc(buf, 1, cap);
		}
		n = fread(buf + *len, 1, cap - *len, stdin);
		*len += n;
	} while (n > 0);
	return (buf);
}

static int
submit_one(struct submit_target *t, const char *pool, const char *data)
{
	struct submit_outcome	 o;
	redisReply		*r;
	char			*in = NULL;
	size_t			 len;
	int			 rc;

	if (data == NULL)
		data = in = submit_stdin(&len);
	else
		len = strlen(data);
	submit_append(t, pool, data, len);
	free(in);
	if (redisGetReply(t->c, (void **)&r) != REDIS_OK ||
	    r->type != REDIS_REPLY_STRING) {
		fprintf(stderr, "forkpool-redis: XADD: %s\n", r != NULL &&
		    r->type == REDIS_REPLY_ERROR ? r->str : t->c->errstr);
		return (2);
	}
	freeReplyObject(r);
	if (submit_wait(t, &r, &o) == -1)
		return (2);
	rc = submit_show(&o, 0);
	freeReplyObject(r);
	return (rc);
}

/* Submit every line of standard input, print outputs in input order. */
static int
submit_map(struct submit_target *t, const char *pool)
{
	struct submit_outcome	  o;
	redisReply		 *r, **outs = NULL;
	char			**ids = NULL, *line = NULL;
	size_t			  n = 0, cap = 0, i, done = 0, linecap = 0;
	ssize_t			  len;
	int			  rc = 0, worst = 0;

	while ((len = getline(&line, &linecap, stdin)) != -1) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		submit_append(t, pool, line, len);
		if (n == cap) {
			cap = cap == 0 ? 1024 : cap * 2;
			ids = xrealloc(ids, cap, sizeof(*ids));
		}
		ids[n++] = NULL;
		/* Read the ids back a chunk at a time, not all at the end. */
		if (n % SUBMIT_CHUNK == 0 || feof(stdin))
			for (i = done; i < n; i++) {
				if (redisGetReply(t->c, (void **)&r) !=
				    REDIS_OK) {
					fprintf(stderr, "forkpool-redis: %s\n",
					    t->c->errstr);
					return (2);
				}
				ids[i] = xstrdup(r->type ==
				    REDIS_REPLY_STRING ? r->str : "");
				freeReplyObject(r);
				done = i + 1;
			}
	}
	free(line);
	for (i = done; i < n; i++) {
		if (redisGetReply(t->c, (void **)&r) != REDIS_OK)
			return (2);
		ids[i] = xstrdup(r->type == REDIS_REPLY_STRING ? r->str : "");
		freeReplyObject(r);
	}
	outs = xcalloc(n + 1, sizeof(*outs));
	for (done = 0; done < n; done++) {
		if (submit_wait(t, &r, &o) == -1) {
			rc = 2;
			break;
		}
		for (i = 0; i < n && strcmp(ids[i], o.entry) != 0; i++)
			;
		if (i == n || outs[i] != NULL)
			freeReplyObject(r);
		else
			outs[i] = r;
	}
	for (i = 0; i < n; i++) {
		if (outs[i] != NULL && submit_parse(outs[i]->element[1]->str,
		    outs[i]->element[1]->len, &o) == 0) {
			if ((rc = submit_show(&o, 1)) > worst)
				worst = rc;
		}
		freeReplyObject(outs[i]);
		free(ids[i]);
	}
	free(outs);
	free(ids);
	return (rc == 2 ? 2 : worst);
}

/* The target from the configuration's feed, then -r and -S. */
static int
submit_target(struct submit_target *t, const char *conf_path,
    const char *feed, const char *redis, const char *stream)
{
	struct bridge_conf	*conf = NULL;
	struct feed		*f = NULL;
	char			 err[512], host[256];

	if (conf_path != NULL) {
		if ((conf = conf_load(conf_path, err, sizeof(err))) == NULL) {
			fprintf(stderr, "forkpool-redis: %s\n", err);
			return (-1);
		}
		TAILQ_FOREACH(f, &conf->feeds, entry)
			if (feed == NULL || strcmp(f->name, feed) == 0)
				break;
		if (f == NULL) {
			fprintf(stderr, "forkpool-redis: %s: no [redis:%s]\n",
			    conf_path, feed);
			conf_free(conf);
			return (-1);
		}
		t->redis = xstrdup(f->redis);
		t->stream = xstrdup(f->stream);
		if (f->password_file != NULL)
			t->password_file = xstrdup(f->password_file);
		conf_free(conf);
	}
	if (redis != NULL) {
		free(t->redis);
		t->redis = xstrdup(redis);
	}
	if (stream != NULL) {
		free(t->stream);
		t->stream = xstrdup(stream);
	}
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(t->reply_to, sizeof(t->reply_to),
	    "forkpool:reply:%.64s:%ld:%lld", host, (long)getpid(),
	    (long long)bridge_wall_ms());
	return (0);
}

int
submit_main(int argc, char **argv, const char *conf_path, const char *feed,
    const char *redis, const char *stream)
{
	struct submit_target	 t;
	const char		*cmd = argv[0];
	int			 ch, rc;

	memset(&t, 0, sizeof(t));
	optind = 1;
	while ((ch = getopt(argc, argv, "T:")) != -1) {
		if (ch != 'T')
			return (2);
		t.timeout_s = atoi(optarg);
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > (strcmp(cmd, "submit") == 0 ? 2 : 1)) {
		fprintf(stderr, "usage: forkpool-redis %s [-T SECONDS] POOL%s\n",
		    cmd, strcmp(cmd, "submit") == 0 ? " [DATA]" : "");
		return (2);
	}
	if (submit_target(&t, conf_path, feed, redis, stream) == -1)
		return (2);
	if (submit_connect(&t) == -1)
		rc = 2;
	else if (strcmp(cmd, "submit") == 0)
		rc = submit_one(&t, argv[0], argc > 1 ? argv[1] : NULL);
	else
		rc = submit_map(&t, argv[0]);
	fflush(stdout);
	if (t.c != NULL)
		redisFree(t.c);
	free(t.redis);
	free(t.stream);
	free(t.password_file);
	return (rc);
}

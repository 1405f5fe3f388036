"""Test helpers for forkpool-redis: a real redis-server on a Unix socket
in a temporary directory (stopped by its pid), "hosts" made of a real
forkpoold and a real bridge, and the stream's bookkeeping.

Environment (set by make check): FORKPOOL_REDIS (the bridge), FORKPOOLD,
FORKPOOL_TEST_MODULE_DIR (faulty.so), FORKPOOL_SRCDIR.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.environ.get("FORKPOOL_SRCDIR") or os.path.dirname(
    os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TREE, "lib", "python", "tests"))
sys.path.insert(0, os.path.join(TREE, "lib", "python"))

import redis  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa

import forkpool  # noqa: E402
import fpharness  # noqa: E402
from fpharness import deadline_poll  # noqa: E402,F401

BUILD = os.environ.get("FORKPOOL_BUILD") or os.path.join(TREE, "build")
BRIDGE = os.environ.get("FORKPOOL_REDIS") or os.path.join(
    BUILD, "forkpool-redis")
FAULTY = os.path.join(os.environ.get("FORKPOOL_TEST_MODULE_DIR") or
                      os.path.join(BUILD, "tests", "modules"), "faulty.so")
# Sanitizer builds run several times slower.
SLOW = 3 if os.environ.get("ASAN_OPTIONS") else 1


class RedisServer:
    """redis-server on a Unix socket in dir, with its append-only file on
    when aof is set (so a SIGKILL loses nothing acknowledged)."""

    def __init__(self, dir, aof=False):
        self.dir = dir
        self.sock = os.path.join(dir, "redis.sock")
        self.aof = aof
        self.proc = None

    def start(self):
        argv = ["redis-server", "--port", "0", "--unixsocket", self.sock,
                "--unixsocketperm", "700", "--dir", self.dir,
                "--save", "", "--daemonize", "no",
                "--logfile", os.path.join(self.dir, "redis.log"),
                "--appendonly", "yes" if self.aof else "no",
                "--appendfsync", "always"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited with %d" %
                                     self.proc.returncode)
            if not os.path.exists(self.sock):
                return False
            c = self.client()
            try:
                return c.ping()
            except redis.ConnectionError:
                return False
            finally:
                c.connection_pool.disconnect()

        deadline_poll(up, 20, what="redis-server to answer PING")
        return self

    def client(self):
        return redis.Redis(unix_socket_path=self.sock)

    def kill(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def stop(self):
        self.kill(signal.SIGTERM)


def daemon_ini(workers=2, extra=""):
    return ("[daemon]\nlog_level = warning\n"
            "[pool:echo]\nhandler = echo\nworkers = %d\n%s"
            "[pool:faulty]\nmodule = %s\nworkers = %d\n%s" %
            (workers, extra, FAULTY, workers, extra))


class Bridge:
    """A forkpool-redis with one [redis:jobs] feed; keys override the
    defaults the tests use (short claim_idle, a metrics file)."""

    def __init__(self, dir, name, redis_sock, fp_sock, **keys):
        self.dir = os.path.join(dir, "bridge-" + name)
        os.makedirs(self.dir, exist_ok=True)
        self.ini = os.path.join(self.dir, "redis.ini")
        self.metrics_path = os.path.join(self.dir, "metrics.prom")
        self.logpath = os.path.join(self.dir, "bridge.log")
        feed = {"redis": "unix:" + redis_sock, "stream": "jobs",
                "consumer": name, "claim_idle": "2s"}
        feed.update(keys)
        with open(self.ini, "w") as f:
            f.write("[daemon]\nsocket = %s\n" % fp_sock)
            f.write("[bridge]\nmetrics_file = %s\nmetrics_interval = "
                    "200ms\nlog_level = info\n" % self.metrics_path)
            f.write("[redis:jobs]\n")
            for k, v in feed.items():
                f.write("%s = %s\n" % (k, v))
        self.proc = None

    def start(self):
        self._log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([BRIDGE, "-c", self.ini],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        return self

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def metrics(self):
        """{(name, outcome label or None): value} from the metrics file."""
        try:
            with open(self.metrics_path) as f:
                text = f.read()
        except FileNotFoundError:
            return {}
        out = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[(s.name, s.labels.get("outcome"))] = s.value
        return out

    def signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=30):
        rc = self.proc.wait(timeout * SLOW)
        self._log.close()
        return rc

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


class Host:
    """One "host": a forkpoold and a bridge feeding it."""

    def __init__(self, dir, name, redis_sock, daemon_extra="", **keys):
        self.daemon = fpharness.Daemon(daemon_ini(extra=daemon_extra))
        self.bridge = Bridge(dir, name, redis_sock, self.daemon.socket,
                             **keys)

    def start(self):
        self.daemon.start()
        self.bridge.start()
        return self

    def kill(self):
        self.bridge.signal(signal.SIGKILL)
        self.bridge.proc.wait()
        self.daemon.kill()

    def stop(self):
        self.bridge.stop()
        self.daemon.stop()


def add_entries(r, payloads, pool, stream="jobs", **extra):
    """XADD each payload; their ids, in order."""
    ids = []
    for i in range(0, len(payloads), 1000):
        pipe = r.pipeline(transaction=False)
        for p in payloads[i:i + 1000]:
            fields = {"payload": p, "pool": pool}
            fields.update(extra)
            pipe.xadd(stream, fields)
        ids.extend(x.decode() for x in pipe.execute())
    return ids


def outcomes(r, stream="jobs:results"):
    """[fields as a str->bytes dict] of every outcome, in order."""
    out = []
    last = "-"
    while True:
        batch = r.xrange(stream, last, "+", count=5000)
        if last != "-":
            batch = batch[1:]
        if not batch:
            return out
        for _, fields in batch:
            out.append({k.decode(): v for k, v in fields.items()})
        last = batch[-1][0].decode()


def pending(r, stream="jobs", group="forkpool"):
    """The group's pending count (0 before a bridge has created it)."""
    try:
        return r.xpending(stream, group)["pending"]
    except redis.ResponseError:
        return 0


def daemon_metrics(daemon):
    """{(name, frozenset of labels): value} from forkpoold's metrics."""
    with forkpool.Client(daemon.socket) as c:
        text = c.metrics()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples}


def tasks_started(daemon, pool):
    """How many of pool's tasks daemon has started: running or run to a
    result."""
    m = daemon_metrics(daemon)
    return (m.get(("forkpool_workers", frozenset(
        {"pool": pool, "state": "busy"}.items())), 0) +
        tasks_ok(daemon, pool, m))


def tasks_ok(daemon, pool, m=None):
    """How many of pool's tasks daemon has run to a result."""
    m = daemon_metrics(daemon) if m is None else m
    return m.get(("forkpool_tasks_total", frozenset(
        {"pool": pool, "outcome": "ok"}.items())), 0)


class TempDirCase:
    """Mixin: self.tmp, removed with everything started in it."""

    def make_tmp(self):
        self.tmp = tempfile.mkdtemp(prefix="fp-redis-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        return self.tmp


def wait_for(cond, timeout, what):
    return deadline_poll(cond, timeout * SLOW, interval=0.05, what=what)


def now_ms():
    return int(time.time() * 1000)

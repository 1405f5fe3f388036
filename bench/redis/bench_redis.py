#!/usr/bin/env python3
"""make bench-redis: forkpool-redis against Celery on the same Redis.

One redis-server on a Unix socket in a temporary directory.  Side by side,
2 workers each: forkpoold + forkpool-redis (window 64), and Celery's
prefork pool (python3-celery, -P prefork -c 2, acks late, Redis broker and
result backend).  Each runs N tiny tasks (16-byte echo) and M deflate
tasks (zlib level 6 of the same 64 KiB of text), all submitted at once by
one producer; throughput is tasks over the time from the first submit to
the last outcome, latency each task's time from submit to outcome.  The
deflate tasks also run in plain forkpoold without Redis (forkpool bench,
64 in flight, as the window), the bar the bridge must stay within 10% of.

    python3 bench/redis/bench_redis.py --build build [--tiny N] [--deflate M]

The environment names what is driven (the Makefile sets it): FORKPOOLD,
FORKPOOL, FORKPOOL_REDIS, FORKPOOL_MODULE_DIR.
"""

import argparse
import datetime
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import benchlib  # noqa: E402

WORKERS = 2
DEFLATE_SIZE = 64 * 1024


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def text_payload(size):
    """size bytes of word-like text: compressible, like real input."""
    rnd = random.Random(42)
    words = [bytes(rnd.choice(b"etaoinshrdlucmfw") for _ in range(
        rnd.randint(2, 9))) for _ in range(2000)]
    out = bytearray()
    while len(out) < size:
        out += rnd.choice(words) + b" "
    return bytes(out[:size])


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class RedisServer:
    def __init__(self, dir):
        self.sock = os.path.join(dir, "redis.sock")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock,
             "--dir", dir, "--save", "", "--appendonly", "no",
             "--logfile", os.path.join(dir, "redis.log")],
            stdin=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while not os.path.exists(self.sock):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        self.r = redis.Redis(unix_socket_path=self.sock)

    def stop(self):
        self.r.connection_pool.disconnect()
        self.proc.terminate()
        self.proc.wait(30)


# ------------------------------------------------------------ forkpool side

def run_forkpool(env, tmp, rs, tiny, deflate_n, payload):
    """The bridge's figures, and plain forkpoold's deflate rate."""
    pools = ("[pool:echo]\nhandler = echo\nworkers = %d\n\n"
             "[pool:deflate]\nmodule = deflate.so\nmodule_args = level=6\n"
             "workers = %d\n" % (WORKERS, WORKERS))
    d = benchlib.Daemon(env["FORKPOOLD"], tmp, pools, "fp",
                        moddir=env.get("FORKPOOL_MODULE_DIR"),
                        who="forkpool")
    blog = open(os.path.join(tmp, "bridge.log"), "wb")
    bridge = start_bridge(env, tmp, d.sock, rs.sock, "bench", blog)
    out = {}
    try:
        out["tiny"] = bridge_burst(rs.r, "echo", [b"0123456789abcdef"] *
                                   tiny)
        out["deflate"] = bridge_burst(rs.r, "deflate", [payload] * deflate_n)
        stop_bridge(bridge)
        # The bridge's own cost: a stream filled beforehand, drained by a
        # bridge started afterwards; no producer competes for the CPU.
        add(rs.r, "drain", "deflate", [payload] * deflate_n)
        t0 = time.perf_counter()
        bridge = start_bridge(env, tmp, d.sock, rs.sock, "drain", blog)
        while rs.r.xlen("drain:results") < deflate_n:
            time.sleep(0.002)
        out["drain_deflate"] = {"rate": deflate_n /
                                (time.perf_counter() - t0)}
        pfile = os.path.join(tmp, "payload")
        with open(pfile, "wb") as f:
            f.write(payload)
        p = subprocess.run([env["FORKPOOL"], "-s", d.sock, "bench", "-n",
                            str(deflate_n), "-c", "1", "-P", "64", "-f",
                            pfile, "--json", "deflate"],
                           capture_output=True, check=True)
        plain = json.loads(p.stdout)
        out["plain_deflate"] = {"rate": plain["tasks_per_s"],
                                "p50": plain["latency_ms"]["p50"],
                                "p99": plain["latency_ms"]["p99"]}
    finally:
        stop_bridge(bridge)
        blog.close()
        d.stop()
    return out


def start_bridge(env, tmp, fp_sock, redis_sock, stream, blog):
    ini = os.path.join(tmp, "%s.ini" % stream)
    with open(ini, "w") as f:
        f.write("[daemon]\nsocket = %s\n[bridge]\nlog_level = warning\n"
                "[redis:%s]\nredis = unix:%s\nstream = %s\n"
                "consumer = host1\nwindow = 64\n" % (fp_sock, stream,
                                                      redis_sock, stream))
    return subprocess.Popen([env["FORKPOOL_REDIS"], "-c", ini],
                            stdin=subprocess.DEVNULL, stdout=blog,
                            stderr=blog)


def stop_bridge(bridge):
    if bridge.poll() is None:
        bridge.terminate()
        bridge.wait(60)


def add(r, stream, pool, payloads):
    for i in range(0, len(payloads), 500):
        pipe = r.pipeline(transaction=False)
        for p in payloads[i:i + 500]:
            pipe.xadd(stream, {"payload": p, "pool": pool})
        pipe.execute()


def bridge_burst(r, pool, payloads):
    """Add every payload as an entry; wait for every outcome.  Latency
    from the entry's id to its outcome's id (both Redis's clock, ms)."""
    base = r.xlen("bench:results")
    n = len(payloads)
    t0 = time.perf_counter()
    add(r, "bench", pool, payloads)
    while r.xlen("bench:results") < base + n:
        time.sleep(0.002)
    secs = time.perf_counter() - t0
    lat = []
    last = "-"
    bad = 0
    while True:
        batch = r.xrange("bench:results", last, "+", count=5000)
        if last != "-":
            batch = batch[1:]
        if not batch:
            break
        for rid, f in batch:
            if f[b"outcome"] != b"result" or f[b"status"] != b"0":
                bad += 1
            lat.append(int(rid.split(b"-")[0]) -
                       int(f[b"entry"].split(b"-")[0]))
        last = batch[-1][0].decode()
    lat = lat[-n:]
    if bad:
        raise SystemExit("forkpool-redis: %d tasks failed" % bad)
    return {"rate": n / secs, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99),
            "seconds": secs}


# -------------------------------------------------------------- Celery side

def run_celery(env, tmp, rs, tiny, deflate_n, payload):
    cenv = dict(os.environ, BENCH_REDIS_SOCKET=rs.sock, C_FORCE_ROOT="1",
                PYTHONPATH=HERE)
    wlog = open(os.path.join(tmp, "celery.log"), "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker",
         "-P", "prefork", "-c", str(WORKERS), "--loglevel=warning",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=HERE, env=cenv, stdin=subprocess.DEVNULL, stdout=wlog,
        stderr=wlog)
    os.environ["BENCH_REDIS_SOCKET"] = rs.sock
    sys.path.insert(0, HERE)
    import celery_tasks
    out = {}
    try:
        celery_tasks.echo.delay(b"warm").get(timeout=60)
        out["tiny"] = celery_burst(celery_tasks.echo,
                                   [b"0123456789abcdef"] * tiny)
        out["deflate"] = celery_burst(celery_tasks.deflate,
                                      [payload] * deflate_n)
    finally:
        # Results hold pub/sub subscriptions: let them go while Redis is up.
        import gc
        gc.collect()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        wlog.close()
    return out


def celery_burst(task, payloads):
    """Send every task, wait for every result.  Latency from the send to
    the result backend's date_done."""
    n = len(payloads)
    t0 = time.perf_counter()
    sent = []
    results = []
    for p in payloads:
        sent.append(time.time())
        results.append(task.delay(p))
    for res in results:
        res.get(timeout=600)
    secs = time.perf_counter() - t0
    utc = datetime.timezone.utc
    lat = []
    for at, res in zip(sent, results):
        done = res.date_done
        if isinstance(done, str):
            done = datetime.datetime.fromisoformat(done)
        if done.tzinfo is None:
            done = done.replace(tzinfo=utc)
        lat.append((done.timestamp() - at) * 1000)
    return {"rate": n / secs, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99),
            "seconds": secs}


# ------------------------------------------------------------------ report

def table(fp, cel, tiny, deflate_n):
    rows = []
    ratio = fp["tiny"]["rate"] / cel["tiny"]["rate"]
    rows.append(("%d tiny tasks: tasks/s" % tiny, "%.0f" % fp["tiny"]["rate"],
                 "%.0f" % cel["tiny"]["rate"], "%.1fx" % ratio, ">= 5x",
                 "met" if ratio >= 5 else "MISSED"))
    rows.append(("  latency p50 / p99 ms", "%.0f / %.0f" % (
        fp["tiny"]["p50"], fp["tiny"]["p99"]), "%.0f / %.0f" % (
        cel["tiny"]["p50"], cel["tiny"]["p99"]), "", "", ""))
    ratio = fp["deflate"]["rate"] / cel["deflate"]["rate"]
    rows.append(("%d deflate 64 KiB: tasks/s" % deflate_n,
                 "%.0f" % fp["deflate"]["rate"],
                 "%.0f" % cel["deflate"]["rate"], "%.2fx" % ratio, "", ""))
    rows.append(("  latency p50 / p99 ms", "%.0f / %.0f" % (
        fp["deflate"]["p50"], fp["deflate"]["p99"]), "%.0f / %.0f" % (
        cel["deflate"]["p50"], cel["deflate"]["p99"]), "", "", ""))
    plain = fp["plain_deflate"]["rate"]
    ratio = fp["drain_deflate"]["rate"] / plain
    rows.append(("deflate, filled stream: bridge / plain forkpoold",
                 "%.0f / %.0f" % (fp["drain_deflate"]["rate"], plain), "",
                 "%.2f" % ratio, ">= 0.90",
                 "met" if ratio >= 0.9 else "MISSED"))
    head = ("", "forkpool-redis", "Celery prefork", "ratio", "target", "")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(6)]
    lines = []
    for r in [head] + rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in
                                       zip(r, widths)) + " |")
        if r is head:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--tiny", type=int, default=20000)
    ap.add_argument("--deflate", type=int, default=2000)
    args = ap.parse_args()
    env = dict(os.environ)
    b = os.path.abspath(args.build)
    env.setdefault("FORKPOOLD", os.path.join(b, "forkpoold"))
    env.setdefault("FORKPOOL", os.path.join(b, "forkpool"))
    env.setdefault("FORKPOOL_REDIS", os.path.join(b, "forkpool-redis"))
    env.setdefault("FORKPOOL_MODULE_DIR", os.path.join(b, "modules"))
    payload = text_payload(DEFLATE_SIZE)
    tmp = tempfile.mkdtemp(prefix="fp-bench-redis-")
    try:
        rs = RedisServer(tmp)
        try:
            log("forkpool-redis: %d tiny, %d deflate ..." %
                (args.tiny, args.deflate))
            fp = run_forkpool(env, tmp, rs, args.tiny, args.deflate,
                              payload)
            rs.r.flushall()
            log("Celery prefork: %d tiny, %d deflate ..." %
                (args.tiny, args.deflate))
            cel = run_celery(env, tmp, rs, args.tiny, args.deflate,
                             payload)
        finally:
            rs.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(b, "bench"), exist_ok=True)
    with open(os.path.join(b, "bench", "redis.json"), "w") as f:
        json.dump({"forkpool_redis": fp, "celery": cel}, f, indent=1)
    print(table(fp, cel, args.tiny, args.deflate))


if __name__ == "__main__":
    main()

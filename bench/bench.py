#!/usr/bin/env python3
"""make bench: forkpoold against multiprocessing.Pool and a minimal relay.

Drives the real daemon with `forkpool bench --json` (C, one thread per
connection, per-task latency), runs multiprocessing.Pool with the same number of workers
on the same work in the same run, and a minimal relay (bench/relay.c) for
the machine's ceiling.  Prints one table of medians over the repetitions,
with ratios and the targets, and writes every raw figure to
BUILD/bench/results.json.

    python3 bench/bench.py --build build [--quick] [--reps N]

The environment names what is driven (the Makefile sets it): FORKPOOLD,
FORKPOOL_MODULE_DIR, FORKPOOL_SRCDIR.  Standard library only.
"""

import itertools
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib

import benchlib
from benchlib import (Daemon, cpu_seconds, fmt_num, fmt_rate, fmt_ratio,
                      log, target)

WORKERS = 2
ECHO_PREFETCH = 16
MS_TASKS = dict(full=4_000, quick=400)   # 1 ms tasks per repetition
BULK_QUEUED = 50_000       # the bulk client's tasks queued (fair share)
DEPTH = 256
DEFLATE_SIZE = 64 * 1024
DEFLATE_DEPTH = 4          # in flight: 2 running, 2 ready to go
DEFLATE_LEVEL = 6
CORPUS_SIZE = 4 * 1024 * 1024
STRIDE = 4099              # task i starts at (i * STRIDE) mod (corpus - size)
START_TIMEOUT = 30.0

FULL = dict(echo=200_000, deflate=4_000, latency=20_000, rss=1_000_000,
            reps=3)
QUICK = dict(echo=20_000, deflate=300, latency=2_000, rss=100_000, reps=1)

def identity(x):
    """The Pool side of the echo scenarios."""
    return x


# ---------------------------------------------------------------- helpers

def rss_kib(pid):
    """VmRSS of a process, in KiB, from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def make_corpus(size):
    """Deterministic text-like bytes: Zipf-distributed words in lines, with
    numbers and punctuation; zlib level 6 takes it to about 40%, like
    ordinary prose or logs."""
    rnd = random.Random(20240601)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    lweights = [26 - i for i in range(26)]
    words = []
    for _ in range(5000):
        n = min(12, max(1, int(rnd.expovariate(1 / 5.0)) + 1))
        words.append("".join(rnd.choices(letters, lweights, k=n)))
    cum = list(itertools.accumulate(1.0 / (i + 1)
                                    for i in range(len(words))))
    stream = rnd.choices(words, cum_weights=cum, k=size // 3)
    out = []
    total = at = 0
    while total < size:
        k = rnd.randint(4, 18)
        if at + k > len(stream):
            at = 0
        line = stream[at:at + k]
        at += k
        if rnd.random() < 0.3:
            line.insert(rnd.randrange(len(line)), str(rnd.randrange(100000)))
        line[0] = line[0].capitalize()
        s = " ".join(line) + rnd.choice(".,;:!?.") + "\n"
        out.append(s)
        total += len(s)
    return "".join(out).encode()[:size]


def corpus_chunks(corpus, n, size=DEFLATE_SIZE, stride=STRIDE):
    """Task i of the deflate scenarios, the same slices forkpool bench
    --slice takes."""
    span = len(corpus) - size + 1
    for i in range(n):
        off = (i * stride) % span
        yield corpus[off:off + size]


def percentile_us(lat, q):
    if not lat:
        return None
    lat = sorted(lat)
    return lat[int(q * (len(lat) - 1) + 0.5)] * 1e6


# ---------------------------------------------------------------- builds

def built(path):
    """A binary `make bench` built; bench.py calls no compiler."""
    if not os.path.exists(path):
        raise SystemExit("bench: %s is missing: run make bench" % path)
    return path


def ms_corpus(path, n=1000):
    """A corpus whose every 7-byte slice at a multiple of 7 is "sleep:1"
    (the faulty module's 1 ms task): with --slice 7 --stride 7, 7n + 6
    bytes keep the offsets, (i * 7) mod 7n, on those multiples.  (With
    the deflate rows' stride, 4099, only one task in seven was a sleep:
    the others were echoes of a misaligned slice.)"""
    with open(path, "wb") as f:
        f.write(b"sleep:1" * n + b"sleep:")


def fair_share_p99(forkpool, sock, n_lat):
    """A bulk client keeps BULK_QUEUED tiny tasks queued on pool echo_auto
    while a second client runs n_lat one-at-a-time tasks there: the second
    client's figures (its p99 is the fair-share figure)."""
    bulk = subprocess.Popen(bench_cmd(forkpool, sock, "echo_auto",
                                      BULK_QUEUED * 20, 1, BULK_QUEUED),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(0.5)     # the bulk's first window is queued by then
        res = run_bench(forkpool, sock, pool="echo_auto", n=n_lat, conns=1,
                        depth=1, warmup=100)
    finally:
        bulk.terminate()
        bulk.communicate()
    return res


def master_syscalls(forkpoold, forkpool, tmp, moddir, n):
    """System calls per task of the master alone (strace -c on its pid,
    not its workers) at prefetch 1, echo 16 B, 4 conns x 256: (all,
    epoll_ctl), or None without strace."""
    if shutil.which("strace") is None:
        return None
    pools = ("[pool:echo]\nhandler = echo\nworkers = %d\nprefetch = 1\n"
             "queue_limit = 65536\n" % WORKERS)
    d = Daemon(forkpoold, tmp, pools, "strace", moddir=moddir,
               start_timeout=START_TIMEOUT)
    out = os.path.join(tmp, "strace.txt")
    try:
        run_bench(forkpool, d.sock, n=2000, conns=4, depth=DEPTH, warmup=0)
        st = subprocess.Popen(["strace", "-c", "-o", out, "-p",
                               str(d.pid)], stderr=subprocess.DEVNULL)
        time.sleep(0.5)     # attached
        run_bench(forkpool, d.sock, n=n, conns=4, depth=DEPTH, warmup=0)
        st.send_signal(signal.SIGINT)
        st.wait(30)
    finally:
        d.stop()
    total = ctl = 0
    with open(out) as f:
        for line in f:
            w = line.split()
            if len(w) >= 5 and w[-1] == "total":
                total = int(w[3]) if len(w) >= 5 else 0
            elif len(w) >= 5 and w[-1] == "epoll_ctl":
                ctl = int(w[3])
    return dict(tasks=n, syscalls_per_task=total / n,
                epoll_ctl_per_task=ctl / n)


def master_instructions(forkpoold, forkpool, tmp, moddir, n):
    """User-space instructions per task of the master (callgrind, with
    collection on only around the run, in the master only), echo 16 B at
    prefetch 16, 4 conns x 256; None without valgrind."""
    if shutil.which("valgrind") is None or \
            shutil.which("callgrind_control") is None:
        return None
    pools = ("[pool:echo]\nhandler = echo\nworkers = %d\nprefetch = %d\n"
             "queue_limit = 65536\n" % (WORKERS, ECHO_PREFETCH))
    out = os.path.join(tmp, "callgrind.out")
    d = Daemon(forkpoold, tmp, pools, "callgrind", moddir=moddir,
               start_timeout=120, wrapper=[
                   "valgrind", "--tool=callgrind", "--instr-atstart=no",
                   "--child-silent-after-fork=yes",
                   "--callgrind-out-file=" + out + ".%p"])
    try:
        run_bench(forkpool, d.sock, n=2000, conns=4, depth=DEPTH, warmup=0)
        subprocess.run(["callgrind_control", "-i", "on", str(d.pid)],
                       check=True, capture_output=True)
        run_bench(forkpool, d.sock, n=n, conns=4, depth=DEPTH, warmup=0)
        subprocess.run(["callgrind_control", "-i", "off", str(d.pid)],
                       check=True, capture_output=True)
    finally:
        d.stop()
    ir = 0
    with open(out + ".%d" % d.pid) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                ir = max(ir, int(line.split()[1]))
    return dict(tasks=n, instructions_per_task=ir / n)


# ---------------------------------------------------------------- servers

class Relay:
    """bench/relay on a temporary socket, ready when it prints "ready".
    one_write: its workers write each reply on its own (-1), as
    forkpoold's do: the fair ceiling for today's worker protocol."""

    def __init__(self, binary, tmp, one_write=False):
        self.dir = tempfile.mkdtemp(prefix="relay.", dir=tmp)
        self.sock = os.path.join(self.dir, "relay.sock")
        self.proc = subprocess.Popen([binary, "-s", self.sock, "-w",
                                      str(WORKERS), "-p",
                                      str(ECHO_PREFETCH)] +
                                     (["-1"] if one_write else []),
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE)
        self.pid = self.proc.pid
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.stop()
            raise RuntimeError("relay did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.proc.stdout.close()


# ---------------------------------------------------------------- runners

def bench_cmd(forkpool, sock, pool, n, conns, depth, size=16, corpus=None,
              stride=STRIDE, warmup=0):
    """The forkpool bench command line of one run."""
    cmd = [forkpool, "-s", sock, "bench", "--json", "-n", str(n), "-c",
           str(conns), "-P", str(depth), "--warmup", str(warmup)]
    if corpus is not None:
        cmd += ["-f", corpus, "--slice", str(size), "--stride", str(stride)]
    else:
        cmd += ["-d", str(size)]
    return cmd + [pool]


def run_bench(forkpool, sock, pool="echo", n=1000, conns=1, depth=1,
              size=16, corpus=None, stride=STRIDE, warmup=1000,
              server_pid=None):
    """One forkpool bench run; its JSON, with the table's keys, plus the
    server's CPU microseconds per task."""
    cmd = bench_cmd(forkpool, sock, pool, n, conns, depth, size, corpus,
                    stride, warmup)
    cpu0 = cpu_seconds(server_pid) if server_pid else None
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    cpu1 = cpu_seconds(server_pid) if server_pid else None
    try:
        res = json.loads(r.stdout)
    except ValueError:
        raise RuntimeError("%s failed (status %d): %s"
                           % (" ".join(cmd[1:]), r.returncode, r.stderr))
    if r.returncode != 0 or res["ok"] != n or res["unmatched"] or \
            res["failed"] or res["errors"]:
        raise RuntimeError("%s: not all tasks succeeded: %s %s"
                           % (" ".join(cmd[1:]), r.stdout.strip(),
                              r.stderr.strip()))
    res["mb_per_s"] = res["mb_per_s_in"]
    res["p50_us"] = res["latency_ms"]["p50"] * 1e3
    res["p99_us"] = res["latency_ms"]["p99"] * 1e3
    # Both include the warm-up (per connection): upper bounds, close for
    # large runs.
    total = n + warmup * conns
    if cpu0 is not None:
        res["server_cpu_us_per_task"] = (cpu1 - cpu0) * 1e6 / total
    res["bench_cpu_us_per_task"] = res["cpu_seconds"] * 1e6 / total
    return res


def pool_imap(pool, func, items, n, nbytes):
    """Pool.imap(func, items, chunksize=1), timed.  A task's latency runs
    from the moment imap's feeder thread takes it to the moment the
    caller gets its result; imap queues every task at once, so this is
    mostly time spent waiting in its queue."""
    sent = [0.0] * n
    got = [0.0] * n
    clock = time.perf_counter

    def feed():
        for i, x in enumerate(items):
            sent[i] = clock()
            yield x

    out_bytes = 0
    t0 = clock()
    for i, r in enumerate(pool.imap(func, feed(), chunksize=1)):
        got[i] = clock()
        out_bytes += len(r)
    secs = clock() - t0
    lat = [g - s for g, s in zip(got, sent)]
    return dict(tasks=n, seconds=secs, tasks_per_s=n / secs,
                mb_per_s=nbytes / secs / 1e6, bytes_out=out_bytes,
                p50_us=percentile_us(lat, 0.5),
                p99_us=percentile_us(lat, 0.99))


def pool_echo(pool, n):
    data = [b"%016x" % i for i in range(n)]
    res = pool_imap(pool, identity, data, n, 16 * n)
    return res


def pool_apply_latency(pool, n):
    """Pool.apply, one task in flight: the Pool's round trip."""
    lat = []
    clock = time.perf_counter
    t0 = clock()
    for i in range(n):
        t = clock()
        pool.apply(identity, (b"%016x" % i,))
        lat.append(clock() - t)
    secs = clock() - t0
    return dict(tasks=n, seconds=secs, tasks_per_s=n / secs,
                mb_per_s=16 * n / secs / 1e6,
                p50_us=percentile_us(lat, 0.5),
                p99_us=percentile_us(lat, 0.99))


def serial_deflate(corpus, n):
    """The same chunks compressed in this one process, one after another."""
    clock = time.perf_counter
    lat = []
    out_bytes = 0
    t0 = clock()
    for chunk in corpus_chunks(corpus, n):
        t = clock()
        out_bytes += len(zlib.compress(chunk, DEFLATE_LEVEL))
        lat.append(clock() - t)
    secs = clock() - t0
    return dict(tasks=n, seconds=secs, tasks_per_s=n / secs,
                mb_per_s=DEFLATE_SIZE * n / secs / 1e6, bytes_out=out_bytes,
                p50_us=percentile_us(lat, 0.5),
                p99_us=percentile_us(lat, 0.99))


_CORPUS = None     # set before the Pool forks, for compress_range


def compress_range(lohi):
    """Compress tasks lo..hi-1 inside one Pool worker: no IPC per task."""
    lo, hi = lohi
    out = 0
    for i, chunk in enumerate(corpus_chunks(_CORPUS, hi)):
        if i >= lo:
            out += len(zlib.compress(chunk, DEFLATE_LEVEL))
    return out


def pair_deflate(pool, n):
    """The machine's own ceiling for two processes: each Pool worker
    compresses half of the chunks with no IPC per task."""
    clock = time.perf_counter
    t0 = clock()
    out = sum(pool.map(compress_range, [(0, n // 2), (n // 2, n)],
                       chunksize=1))
    secs = clock() - t0
    return dict(tasks=n, seconds=secs, tasks_per_s=n / secs,
                mb_per_s=DEFLATE_SIZE * n / secs / 1e6, bytes_out=out,
                p50_us=None, p99_us=None)


def compress6(chunk):
    """The Pool side of the deflate scenario: zlib.compress at level 6."""
    return zlib.compress(chunk, DEFLATE_LEVEL)


# ---------------------------------------------------------------- report

class Table(benchlib.Table):
    """The report: rows of figures, medians over the repetitions."""

    def header(self, title):
        self.lines.append("")
        self.lines.append(title)

    def row(self, label, name):
        self.lines.append("  %-42s %12s %9s %10s %10s %7s" % (
            label, fmt_rate(self.med(name, "tasks_per_s")),
            fmt_num(self.med(name, "mb_per_s")),
            fmt_num(self.med(name, "p50_us")),
            fmt_num(self.med(name, "p99_us")), self.spread(name)))

    def note(self, text):
        self.lines.append("  " + text)


def report(runs, rss, cfg, meta):
    t = Table(runs)
    L = t.lines
    L.append("forkpool benchmark: %s, %d CPUs, Python %s; %d repetition%s, "
             "medians shown" % (meta["kernel"], meta["cpus"], meta["python"],
                                cfg["reps"], "" if cfg["reps"] == 1 else "s"))
    L.append("%d workers everywhere; MB/s counts task payload in, 10^6 "
             "bytes; latency from send to reply;" % WORKERS)
    L.append("spread is (max - min) / median of tasks/s over the "
             "repetitions; ratios are medians of per-repetition ratios")
    L.append("")
    L.append("  %-42s %12s %9s %10s %10s %7s" % (
        "", "tasks/s", "MB/s", "p50 us", "p99 us", "spread"))

    t.header("1. echo, 16-byte tasks x %s (prefetch %d)" % (
        "{:,}".format(cfg["echo"]), ECHO_PREFETCH))
    t.row("forkpoold, 1 conn x %d" % DEPTH, "fp_echo_1")
    t.row("forkpoold, 4 conns x %d" % DEPTH, "fp_echo_4")
    t.row("Pool(2).imap(identity, chunksize=1)", "pool_echo")
    t.note("ratio forkpoold / Pool.imap: 1 conn %s, 4 conns %s" % (
        fmt_ratio(t.ratio("fp_echo_1", "pool_echo")),
        fmt_ratio(t.ratio("fp_echo_4", "pool_echo"))))
    t.note("CPU per task, 4 conns: forkpoold master %s us, relay %s us; "
           "forkpool bench %s us (%s us against the relay)" % (
               fmt_num(t.med("fp_echo_4", "server_cpu_us_per_task"), 2),
               fmt_num(t.med("relay_echo_4", "server_cpu_us_per_task"), 2),
               fmt_num(t.med("fp_echo_4", "bench_cpu_us_per_task"), 2),
               fmt_num(t.med("relay_echo_4", "bench_cpu_us_per_task"), 2)))
    t.note("(Pool.imap queues all its tasks at once: its latency is "
           "mostly queueing)")

    t.header("2. deflate, 64 KiB text-like tasks x %s (level %d, "
             "prefetch 1, %d in flight)" % ("{:,}".format(cfg["deflate"]),
                                            DEFLATE_LEVEL, DEFLATE_DEPTH))
    t.row("forkpoold", "fp_deflate")
    t.row("Pool(2).imap(zlib.compress, chunksize=1)", "pool_deflate")
    t.row("serial, one process", "serial_deflate")
    t.row("2 processes, half each, no IPC", "pair_deflate")
    effs = []
    for name in ("fp_deflate", "pool_deflate", "pair_deflate"):
        e = t.ratio(name, "serial_deflate")
        effs.append(None if e is None else e / WORKERS)
    eff_fp, eff_pair = effs[0], effs[2]
    t.note("parallel efficiency (rate / (2 x serial)): forkpoold %s, "
           "Pool %s; the machine's own 2-process figure %s" % (
               fmt_num(effs[0], 2), fmt_num(effs[1], 2),
               fmt_num(effs[2], 2)))
    sizes = set(r["bytes_out"] for name in ("fp_deflate", "pool_deflate",
                                            "serial_deflate", "pair_deflate")
                for r in runs.get(name, []))
    ratio_pct = None
    if runs.get("serial_deflate"):
        ratio_pct = 100.0 * runs["serial_deflate"][0]["bytes_out"] / (
            DEFLATE_SIZE * cfg["deflate"])
    t.note("forkpoold master CPU per task: %s us" % fmt_num(
        t.med("fp_deflate", "server_cpu_us_per_task"), 1))
    t.note("ratio forkpoold / Pool.imap: %s; output %s%% of the input, %s"
           % (fmt_ratio(t.ratio("fp_deflate", "pool_deflate")),
              fmt_num(ratio_pct, 1),
              "the same size from every side" if len(sizes) == 1 else
              "SIZES DIFFER between sides: %s" % sorted(sizes)))

    t.header("3. the ceiling: minimal relay, same echo work (prefetch %d)"
             % ECHO_PREFETCH)
    t.row("relay, 1 conn x %d" % DEPTH, "relay_echo_1")
    t.row("relay, 4 conns x %d" % DEPTH, "relay_echo_4")
    f1 = t.ratio("fp_echo_1", "relay_echo_1")
    f4 = t.ratio("fp_echo_4", "relay_echo_4")
    t.note("forkpoold / relay: 1 conn %s, 4 conns %s" % (
        fmt_num(f1, 2), fmt_num(f4, 2)))

    t.row("relay, one write per reply, 4 conns x %d" % DEPTH,
          "relay1_echo_4")
    fair = t.ratio("fp_echo_4", "relay1_echo_4")
    t.note("forkpoold / the fair ceiling (one write per reply): %s"
           % fmt_num(fair, 2))

    t.header("4. latency, one task in flight, %s round trips" % (
        "{:,}".format(cfg["latency"])))
    t.row("forkpoold", "fp_lat")
    t.row("relay", "relay_lat")
    t.row("Pool(2).apply", "pool_lat")
    lat_ratio = t.ratio("fp_lat", "relay_lat", key="p50_us")
    t.note("p50 forkpoold / relay: %s" % fmt_ratio(lat_ratio))

    t.header("5. master RSS over %s echo tasks (4 conns x %d)" % (
        "{:,}".format(cfg["rss"]), DEPTH))
    growth = None
    if rss:
        # + 0.0 turns a rounded -0.0 into 0.0.
        growth = round((rss["after_kib"] - rss["before_kib"]) / 1024.0,
                       1) + 0.0
        L.append("  at READY %.1f MiB; after a %s-task warm-up %.1f MiB; "
                 "after %s tasks %.1f MiB (%+.1f MiB); %s tasks/s" % (
                     rss["ready_kib"] / 1024.0,
                     "{:,}".format(rss["warmup"]), rss["before_kib"] / 1024.0,
                     "{:,}".format(cfg["rss"]), rss["after_kib"] / 1024.0,
                     growth, fmt_rate(rss["tasks_per_s"])))
    else:
        L.append("  -")

    t.header("6. defaults: prefetch = auto, fair share, the master's cost")
    t.row("echo 4 x %d, default (prefetch = auto)" % DEPTH, "fp_echo_auto_4")
    t.row("echo 4 x %d, prefetch 1" % DEPTH, "fp_echo_p1_4")
    t.row("1 ms tasks, default (prefetch = auto)", "fp_ms_auto")
    t.row("1 ms tasks, prefetch 1", "fp_ms_p1")
    t.row("one-at-a-time beside %s queued tiny tasks" % "{:,}".format(
        BULK_QUEUED), "fp_fair")
    auto_p1 = t.ratio("fp_echo_auto_4", "fp_echo_p1_4")
    auto_p16 = t.ratio("fp_echo_auto_4", "fp_echo_4")
    ms_x = t.ratio("fp_ms_auto", "fp_ms_p1")
    fair_p99 = t.med("fp_fair", "p99_us")
    cost = meta.get("master_cost", {})
    sc = cost.get("syscalls")
    ins = cost.get("instructions")
    t.note("echo default / prefetch 1: %s; default / prefetch 16: %s; "
           "1 ms default / prefetch 1: %s" % (
               fmt_ratio(auto_p1), fmt_ratio(auto_p16), fmt_ratio(ms_x)))
    t.note("master, prefetch 1: %s system calls per task (%s epoll_ctl); "
           "prefetch 16: %s user instructions per task" % (
               "-" if sc is None else "%.2f" % sc["syscalls_per_task"],
               "-" if sc is None else "%.2f" % sc["epoll_ctl_per_task"],
               "-" if ins is None else "{:,.0f}".format(
                   ins["instructions_per_task"])))

    L.append("")
    L.append("Targets (goals, not tests)")
    target(L, None if auto_p1 is None else auto_p1 >= 5 and
           (auto_p16 or 0) >= 0.9,
           "echo default >= 5x prefetch 1 and >= 0.9x prefetch 16: %s, %s"
           % (fmt_ratio(auto_p1), fmt_ratio(auto_p16)))
    target(L, None if ms_x is None else ms_x >= 0.95,
           "1 ms tasks default >= 0.95x prefetch 1: %s" % fmt_ratio(ms_x))
    target(L, None if fair is None else fair >= 0.8,
           "echo prefetch 16 >= 0.8 of the one-write relay: %s"
           % fmt_num(fair, 2))
    target(L, None if ins is None else ins["instructions_per_task"] <= 2000,
           "master <= 2,000 instructions per echo task at prefetch 16: %s"
           % ("-" if ins is None else "{:,.0f}".format(
               ins["instructions_per_task"])))
    target(L, None if sc is None else sc["syscalls_per_task"] <= 4.5 and
           sc["epoll_ctl_per_task"] <= 0.5,
           "master <= 4.5 system calls per task at prefetch 1 (<= 0.5 "
           "epoll_ctl): %s" % ("-" if sc is None else "%.2f (%.2f)" % (
               sc["syscalls_per_task"], sc["epoll_ctl_per_task"])))
    target(L, None if fair_p99 is None else fair_p99 <= 1000,
           "a second client's p99 beside %s queued tasks <= 1 ms: %s us"
           % ("{:,}".format(BULK_QUEUED), fmt_num(fair_p99)))
    echo_x = t.ratio("fp_echo_4", "pool_echo")
    target(L, None if echo_x is None else echo_x >= 5,
           "echo 4x256 at least 5x Pool.imap: %s" % fmt_ratio(echo_x))
    target(L, None if f4 is None else f4 >= 1 / 3.0,
           "echo at least 1/3 of the relay (aim 1/2): %s (4 conns), "
           "%s (1 conn)" % (fmt_num(f4, 2), fmt_num(f1, 2)))
    target(L, None if lat_ratio is None else lat_ratio <= 1.5,
           "1-in-flight p50 within 1.5x the relay: %s" % fmt_ratio(lat_ratio))
    target(L, None if eff_fp is None else eff_fp >= 0.9,
           "deflate at least 0.9 of twice serial: %s (this machine's own "
           "2-process figure: %s)" % (fmt_num(eff_fp, 2),
                                      fmt_num(eff_pair, 2)))
    target(L, None if growth is None else growth <= 4.0,
           "master RSS flat over %s tasks (within 4 MiB): %s" % (
               "{:,}".format(cfg["rss"]),
               "-" if growth is None else "%+.1f MiB" % growth))
    return "\n".join(L)


# ---------------------------------------------------------------- main

def main():
    ap = benchlib.arg_parser(__doc__)
    ap.add_argument("--no-daemon", action="store_true",
                    help="skip forkpoold (relay and Pool only)")
    args = ap.parse_args()
    t_start = time.monotonic()

    srcdir = os.environ.get("FORKPOOL_SRCDIR",
                            os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__))))
    build = os.path.join(srcdir, args.build) \
        if not os.path.isabs(args.build) else args.build
    forkpoold = os.environ.get("FORKPOOLD", os.path.join(build, "forkpoold"))
    # The load generator of every row but Pool's.
    forkpool = built(os.environ.get("FORKPOOL",
                                    os.path.join(build, "forkpool")))
    moddir = os.environ.get("FORKPOOL_MODULE_DIR",
                            os.path.join(build, "modules"))
    cfg = benchlib.counts(args, FULL, QUICK)
    use_daemon = not args.no_daemon
    if use_daemon and not os.access(forkpoold, os.X_OK):
        log("bench: %s is missing: forkpoold rows skipped" % forkpoold)
        use_daemon = False

    outdir = os.path.join(build, "bench")
    relay_bin = built(os.path.join(outdir, "relay"))
    faulty = built(os.path.join(
        os.environ.get("FORKPOOL_TEST_MODULE_DIR",
                       os.path.join(build, "tests", "modules")),
        "faulty.so"))
    meta = dict(kernel="Linux " + platform.release(),
                cpus=os.cpu_count(), python=platform.python_version(),
                started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                quick=args.quick, config=cfg)

    tmp = tempfile.mkdtemp(prefix="fpbench.")
    global _CORPUS
    corpus = _CORPUS = make_corpus(CORPUS_SIZE)
    corpus_path = os.path.join(tmp, "corpus.txt")
    with open(corpus_path, "wb") as f:
        f.write(corpus)

    ms_path = os.path.join(tmp, "ms.txt")
    ms_corpus(ms_path)
    pools = ("[pool:echo]\nhandler = echo\nworkers = %d\nprefetch = %d\n"
             "queue_limit = 65536\n\n"
             "[pool:deflate]\nmodule = deflate.so\nmodule_args = level=%d\n"
             "workers = %d\nprefetch = 1\nqueue_limit = 65536\n\n"
             % (WORKERS, ECHO_PREFETCH, DEFLATE_LEVEL, WORKERS))
    # The defaults against pinned values: no prefetch line means auto.
    pools += ("[pool:echo_auto]\nhandler = echo\nworkers = %d\n"
              "queue_limit = 65536\n\n"
              "[pool:echo_p1]\nhandler = echo\nworkers = %d\nprefetch = 1\n"
              "queue_limit = 65536\n\n"
              "[pool:ms_auto]\nmodule = %s\nworkers = %d\n"
              "queue_limit = 65536\n\n"
              "[pool:ms_p1]\nmodule = %s\nworkers = %d\nprefetch = 1\n"
              "queue_limit = 65536\n"
              % (WORKERS, WORKERS, faulty, WORKERS, faulty, WORKERS))
    runs = {}
    rss = None
    daemon = relay = relay1 = None

    def add(name, res):
        runs.setdefault(name, []).append(res)

    try:
        if use_daemon:
            daemon = Daemon(forkpoold, tmp, pools, "fp", moddir=moddir,
                            start_timeout=START_TIMEOUT,
                            max_inflight=BULK_QUEUED + 1024)
        relay = Relay(relay_bin, tmp)
        relay1 = Relay(relay_bin, tmp, one_write=True)
        fpid = daemon.pid if daemon else None
        mp = multiprocessing.get_context("fork")
        with mp.Pool(WORKERS) as pool:
            # Warm the Pool up, as the daemon's workers are warm.
            list(pool.imap(identity, range(1000), chunksize=1))
            for rep in range(cfg["reps"]):
                log("bench: repetition %d of %d" % (rep + 1, cfg["reps"]))
                n = cfg["echo"]
                if daemon:
                    add("fp_echo_1", run_bench(
                        forkpool, daemon.sock, n=n, conns=1, depth=DEPTH,
                        server_pid=fpid))
                    add("fp_echo_4", run_bench(
                        forkpool, daemon.sock, n=n, conns=4, depth=DEPTH,
                        server_pid=fpid))
                add("relay_echo_1", run_bench(
                    forkpool, relay.sock, n=n, conns=1,
                    depth=DEPTH, server_pid=relay.pid))
                add("relay_echo_4", run_bench(
                    forkpool, relay.sock, n=n, conns=4,
                    depth=DEPTH, server_pid=relay.pid))
                add("relay1_echo_4", run_bench(
                    forkpool, relay1.sock, n=n, conns=4,
                    depth=DEPTH, server_pid=relay1.pid))
                if daemon:
                    for name, p in (("fp_echo_auto_4", "echo_auto"),
                                    ("fp_echo_p1_4", "echo_p1")):
                        add(name, run_bench(
                            forkpool, daemon.sock, pool=p, n=n, conns=4,
                            depth=DEPTH, server_pid=fpid))
                    m = MS_TASKS["quick" if args.quick else "full"]
                    for name, p in (("fp_ms_auto", "ms_auto"),
                                    ("fp_ms_p1", "ms_p1")):
                        add(name, run_bench(
                            forkpool, daemon.sock, pool=p, n=m, conns=4,
                            depth=16, size=7, corpus=ms_path, stride=7,
                            warmup=40))
                    add("fp_fair", fair_share_p99(forkpool, daemon.sock,
                                                  cfg["latency"] // 10))
                add("pool_echo", pool_echo(pool, n))

                n = cfg["latency"]
                if daemon:
                    add("fp_lat", run_bench(
                        forkpool, daemon.sock, n=n, conns=1, depth=1,
                        warmup=200))
                add("relay_lat", run_bench(
                    forkpool, relay.sock, n=n, conns=1,
                    depth=1, warmup=200))
                add("pool_lat", pool_apply_latency(pool, n))

                n = cfg["deflate"]
                if daemon:
                    add("fp_deflate", run_bench(
                        forkpool, daemon.sock, pool="deflate", n=n, conns=1,
                        depth=DEFLATE_DEPTH, size=DEFLATE_SIZE,
                        corpus=corpus_path, warmup=8, server_pid=fpid))
                add("pool_deflate", pool_imap(
                    pool, compress6, corpus_chunks(corpus, n), n,
                    DEFLATE_SIZE * n))
                add("serial_deflate", serial_deflate(corpus, n))
                add("pair_deflate", pair_deflate(pool, n))
        relay.stop()
        relay = None
        relay1.stop()
        relay1 = None

        if daemon:
            daemon.stop()
            daemon = None
            log("bench: master RSS over %d tasks" % cfg["rss"])
            daemon = Daemon(forkpoold, tmp, pools, "rss", moddir=moddir,
                            start_timeout=START_TIMEOUT)
            ready = rss_kib(daemon.pid)
            warm = 20_000
            run_bench(forkpool, daemon.sock, n=warm, conns=4, depth=DEPTH,
                      warmup=0)
            before = rss_kib(daemon.pid)
            res = run_bench(forkpool, daemon.sock, n=cfg["rss"], conns=4,
                            depth=DEPTH, warmup=0)
            after = rss_kib(daemon.pid)
            rss = dict(ready_kib=ready, warmup=warm, before_kib=before,
                       after_kib=after, tasks=cfg["rss"],
                       tasks_per_s=res["tasks_per_s"])
            daemon.stop()
            daemon = None
            log("bench: the master's system calls and instructions")
            meta["master_cost"] = dict(
                syscalls=master_syscalls(forkpoold, forkpool, tmp, moddir,
                                         cfg["echo"]),
                instructions=master_instructions(
                    forkpoold, forkpool, tmp, moddir, cfg["echo"] // 10))
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        log("bench: %s" % e)
        if daemon:
            daemon.stop_and_show_log()
            daemon = None
        sys.exit(1)
    finally:
        if relay:
            relay.stop()
        if relay1:
            relay1.stop()
        if daemon:
            daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    meta["seconds"] = round(time.monotonic() - t_start, 1)
    text = report(runs, rss, cfg, meta)
    benchlib.save(text, dict(meta=meta, runs=runs, rss=rss, report=text),
                  os.path.join(outdir, "results.json"), meta["seconds"])


if __name__ == "__main__":
    main()

"""What bench/bench.py and bench/pybench.py share: progress, /proc figures,
forkpoold on a temporary configuration, the report's table and formats,
the command line and the results file.

Both scripts run from bench/, so this module is found beside them.
Standard library only.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def log(msg):
    """Progress on stderr, so that stdout is the report."""
    print(msg, file=sys.stderr, flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cpu_seconds(pid, none_if_gone=False):
    """utime + stime of a process, in seconds, from /proc/PID/stat.  When
    it cannot be read (the process is gone): None with none_if_gone, else
    the OSError."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        if none_if_gone:
            return None
        raise
    # fields[0] is the state (field 3); utime and stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- forkpoold

class Daemon:
    """forkpoold on its own configuration and socket in a temporary
    directory (`-c CONF -s SOCK`); usable once it has sent READY=1 to our
    NOTIFY_SOCKET.

    prefix names the directory; moddir, when given, goes to the daemon as
    FORKPOOL_MODULE_DIR; the variables in unset_env are removed from its
    environment.  who prefixes this side's messages.  ready_s is the time
    from exec to READY=1.
    """

    def __init__(self, binary, tmp, pools, prefix, moddir=None,
                 unset_env=(), start_timeout=30.0, poll=0.2,
                 stop_timeout=15, who="bench", max_inflight=1024,
                 wrapper=()):
        self.start_timeout = start_timeout
        self.poll = poll
        self.stop_timeout = stop_timeout
        self.who = who
        self.dir = tempfile.mkdtemp(prefix=prefix + ".", dir=tmp)
        self.sock = os.path.join(self.dir, "fp.sock")
        self.conf = os.path.join(self.dir, "forkpool.ini")
        self.logpath = os.path.join(self.dir, "forkpoold.log")
        with open(self.conf, "w") as f:
            f.write("[daemon]\nsocket = %s\nmax_inflight = %d\n\n%s"
                    % (self.sock, max_inflight, pools))
        notify = os.path.join(self.dir, "notify")
        self.nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.nsock.bind(notify)
        env = dict(os.environ, NOTIFY_SOCKET=notify)
        if moddir:
            env["FORKPOOL_MODULE_DIR"] = moddir
        for name in unset_env:
            env.pop(name, None)
        self.logf = open(self.logpath, "wb")
        t0 = time.perf_counter()
        # wrapper: a command the daemon runs under (valgrind).
        self.proc = subprocess.Popen(list(wrapper) +
                                     [binary, "-c", self.conf, "-s",
                                      self.sock], env=env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf)
        self.pid = self.proc.pid
        self._wait_ready()
        # From exec to READY=1: every worker of every pool has started.
        self.ready_s = time.perf_counter() - t0

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise RuntimeError("forkpoold: no READY=1 within %d s\n%s"
                                   % (self.start_timeout, self.log()))
            self.nsock.settimeout(min(left, self.poll))
            try:
                msg = self.nsock.recv(4096).decode(errors="replace")
            except socket.timeout:
                msg = ""
            if "READY=1" in msg.split("\n"):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("forkpoold exited with status %s before "
                                   "READY=1\n%s" % (self.proc.returncode,
                                                    self.log()))

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.returncode != 0:
                log("%s: forkpoold exited with status %d on SIGTERM"
                    % (self.who, self.proc.returncode))
        self.nsock.close()
        self.logf.close()

    def stop_and_show_log(self, lines=30):
        """After a failure: stop, and show the end of the daemon's log."""
        self.stop()
        log("%s: the end of forkpoold's log:\n" % self.who +
            "\n".join(self.log().splitlines()[-lines:]))


# ---------------------------------------------------------------- report

def fmt_rate(v):
    return "-" if v is None else "{:,.0f}".format(v)


def fmt_num(v, digits=1):
    return "-" if v is None else "{:,.{}f}".format(v, digits)


def fmt_ratio(v):
    return "-" if v is None else "{:.2f}x".format(v)


class Table:
    """The report: its lines, and medians over the repetitions of the
    figures in runs (name -> list of result dicts, one per repetition)."""

    def __init__(self, runs):
        self.runs = runs
        self.lines = []

    def med(self, name, key):
        return median([r.get(key) for r in self.runs.get(name, [])])

    def ratio(self, num, den, key="tasks_per_s", invert=False):
        """Median over repetitions of the per-repetition ratio: figures
        taken seconds apart on a noisy machine compare better pairwise."""
        vals = [y[key] / x[key] if invert else x[key] / y[key]
                for x, y in zip(self.runs.get(num, []),
                                self.runs.get(den, []))
                if x.get(key) and y.get(key)]
        return median(vals)

    def spread(self, name):
        """(max - min) / median of tasks/s over the repetitions."""
        rates = [r["tasks_per_s"] for r in self.runs.get(name, [])]
        if len(rates) < 2:
            return "-"
        return "%.0f%%" % (100.0 * (max(rates) - min(rates)) /
                           statistics.median(rates))

    def add(self, text=""):
        self.lines.append(text)


def target(lines, ok, text):
    mark = "n/a    " if ok is None else ("met    " if ok else "NOT MET")
    lines.append("  [%s] %s" % (mark, text))


# ---------------------------------------------------------------- main

def arg_parser(doc):
    """The options both scripts take; doc's first line describes them."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--build", default="build",
                    help="the build directory (results go to BUILD/bench)")
    ap.add_argument("--quick", action="store_true",
                    help="a short smoke run: small counts, one repetition")
    ap.add_argument("--reps", type=int, help="repetitions per scenario")
    return ap


def counts(args, full, quick):
    """The counts of this run: quick or full, with --reps applied."""
    cfg = dict(quick if args.quick else full)
    if args.reps:
        cfg["reps"] = args.reps
    return cfg


def save(text, results, path, seconds):
    """Print the report, write every figure to path as JSON."""
    print(text)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print("\n(%.0f s; every figure in %s)" % (seconds, os.path.relpath(path)))

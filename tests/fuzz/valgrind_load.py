#!/usr/bin/env python3
"""Run forkpoold's master under valgrind with a mixed load, then SIGTERM.

The load, in phases, each checked as it goes:
  echo       several clients pipelining echo tasks, every reply compared
  crash      tasks that crash their worker (segv, abort, exit:3), with
             quarantine off, then the same in a pool with quarantine on
             (two crashes, then QUARANTINED without a worker), and a pool
             with retries = 1
  timeout    tasks that hang or sleep past task_timeout = 300ms
  abuse      clients that vanish with tasks queued and running, send half a
             frame and vanish or stall past client_timeout, send a bad
             version or an oversized frame, cancel a queued task, ask for
             STATUS and METRICS
  reload     SIGHUP with a pool added, one removed and one resized, under load
  churn      many connections that come and go
then the master is left idle, its descriptors are counted against the
count before the load, and SIGTERM stops it (exit status 0 expected).

valgrind runs with --leak-check=full --errors-for-leak-kinds=definite
--track-fds=yes --trace-children=no; workers are forks of the master, so
they run under valgrind too, but --child-silent-after-fork keeps the report
to the master's.  The script prints the master's summary (bytes definitely
lost, errors, descriptors open at exit) and exits 1 when valgrind found an
error or a definite leak, or when the load did not behave.

  tests/fuzz/valgrind_load.py --forkpoold build/forkpoold \
      --modules build/tests/modules --workdir /tmp/vg
"""
import argparse
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HDR = struct.Struct("<IBBHQ")
SUBMIT, PING, STATUS, METRICS, CANCEL = 1, 2, 3, 4, 5
RESULT, ERROR, PONG, STATUS_REPLY, METRICS_REPLY = 0x81, 0x82, 0x83, 0x84, 0x85
ERR = {2: "PROTOCOL", 3: "TOO_LARGE", 4: "UNKNOWN_POOL", 6: "TIMEOUT",
       7: "WORKER_CRASHED", 9: "CANCELLED", 10: "QUARANTINED"}

failures = []
lock = threading.Lock()


def fail(msg):
    with lock:
        failures.append(msg)
    print("  FAIL " + msg, flush=True)


def frame(ftype, fid=0, body=b"", arg=0, version=1, length=None):
    if length is None:
        length = len(body)
    return HDR.pack(length, version, ftype, arg, fid) + body


def submit(pool, payload, fid):
    return frame(SUBMIT, fid, pool.encode() + payload, arg=len(pool))


class Conn:
    """One client connection with blocking, deadline-bound reads."""

    def __init__(self, path, timeout=60.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf

    def recv(self):
        length, _version, ftype, arg, fid = HDR.unpack(self.recv_exact(16))
        return ftype, arg, fid, self.recv_exact(length)

    def eof(self):
        """True when the daemon closes the connection (after any frames)."""
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except OSError:
            return True

    def close(self):
        self.s.close()


def expect_error(c, fid, code, what):
    ftype, arg, rid, body = c.recv()
    if ftype != ERROR or arg != code or rid != fid:
        fail("%s: wanted ERROR %s id %d, got type 0x%x arg %d id %d: %r"
             % (what, ERR.get(code, code), fid, ftype, arg, rid, body[:200]))
    return body


def wait_ready(path, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("forkpoold exited with %d before it was ready"
                             % proc.returncode)
        try:
            c = Conn(path, timeout=5)
            c.send(frame(PING, 1))
            ftype, _, fid, _ = c.recv()
            c.close()
            if ftype == PONG and fid == 1:
                return
        except (OSError, EOFError):
            pass
        time.sleep(0.2)
    raise SystemExit("forkpoold did not answer PING in time")


def wait_log(logpath, needle, deadline):
    while time.monotonic() < deadline:
        with open(logpath, errors="replace") as f:
            if needle in f.read():
                return True
        time.sleep(0.1)
    return False


def status(path):
    import json
    c = Conn(path)
    c.send(frame(STATUS, 99))
    ftype, _, _, body = c.recv()
    c.close()
    if ftype != STATUS_REPLY:
        fail("STATUS answered type 0x%x" % ftype)
        return {}
    return json.loads(body)


def wait_idle(path, deadline):
    """Every pool's queue empty and no worker busy or starting."""
    while time.monotonic() < deadline:
        st = status(path)
        if all(p.get("queued", 0) == 0 and
               all(w.get("state") == "idle" for w in p.get("workers", []))
               and len(p.get("workers", [])) == p.get("size")
               for p in st.get("pools", []) if not p.get("removed")):
            return True
        time.sleep(0.2)
    return False


def count_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ---- the phases ----

def echo_client(path, n, seed):
    c = Conn(path)
    want = {}
    for i in range(n):
        payload = (b"%d-%d-" % (seed, i)) * ((i * 37 + seed) % 50 + 1)
        want[i + 1] = payload
        c.send(submit("echo", payload, i + 1))
    for _ in range(n):
        ftype, arg, fid, body = c.recv()
        if ftype != RESULT or arg != 0 or want.pop(fid, None) != body:
            fail("echo client %d: bad reply id %d type 0x%x arg %d: %r" %
                 (seed, fid, ftype, arg, body[:100]))
    c.close()


def phase_echo(path, clients, tasks):
    threads = [threading.Thread(target=echo_client, args=(path, tasks, s))
               for s in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def phase_crash(path):
    c = Conn(path)
    for i, payload in enumerate([b"segv", b"abort", b"exit:3"] * 3):
        c.send(submit("faulty", payload, 100 + i))
        body = expect_error(c, 100 + i, 7, "faulty %s" % payload.decode())
    c.send(submit("faulty", b"survivor", 200))
    ftype, _, _, body = c.recv()
    if ftype != RESULT or body != b"survivor":
        fail("faulty pool did not carry on after crashes")
    # quarantine_after = 2: two crashes, then refused without a worker.
    for i in range(2):
        c.send(submit("poison", b"segv", 300 + i))
        expect_error(c, 300 + i, 7, "poison segv")
    for i in range(3):
        c.send(submit("poison", b"segv", 310 + i))
        expect_error(c, 310 + i, 10, "poison segv again")
    # retries = 1: the task runs twice, both crash.
    c.send(submit("retry", b"segv", 400))
    body = expect_error(c, 400, 7, "retry segv")
    if b"attempt" not in body:
        fail("retry: WORKER_CRASHED text does not count attempts: %r" % body)
    c.close()


def phase_timeout(path):
    c = Conn(path)
    for i, payload in enumerate([b"hang", b"sleep:2000", b"hang"]):
        c.send(submit("faulty", payload, 500 + i))
    got = set()
    for _ in range(3):
        ftype, arg, fid, _ = c.recv()
        if ftype != ERROR or arg != 6:
            fail("timeout: wanted TIMEOUT, got 0x%x %d" % (ftype, arg))
        got.add(fid)
    if got != {500, 501, 502}:
        fail("timeout: replies for %r" % sorted(got))
    c.close()


def phase_abuse(path, big):
    # Vanish with tasks running and queued (2 workers, 20 tasks).
    for _ in range(5):
        c = Conn(path)
        for i in range(20):
            c.send(submit("faulty", b"sleep:50", i + 1))
        time.sleep(0.05)
        c.close()
    # Vanish while a hang runs: the timeout kills it, nobody to answer.
    c = Conn(path)
    c.send(submit("faulty", b"hang", 1))
    time.sleep(0.05)
    c.close()
    # Half a frame, then gone; half a frame, then stalled.
    for cut in (3, 16, 20):
        c = Conn(path)
        c.send(submit("echo", b"hello", 1)[:cut])
        c.close()
    stall = Conn(path)
    stall.send(submit("echo", b"hello", 1)[:10])
    # A bad version: PROTOCOL, then closed.
    c = Conn(path)
    c.send(frame(PING, 5, version=9, length=0xffffffff))
    expect_error(c, 5, 2, "bad version")
    if not c.eof():
        fail("bad version: connection stayed open")
    c.close()
    # Over max_payload: TOO_LARGE, then closed.
    c = Conn(path)
    c.send(HDR.pack(big + 4096, 1, SUBMIT, 4, 6))
    expect_error(c, 6, 3, "too large")
    c.close()
    # Unknown pool, bad pool name, and a cancel of a queued task.
    c = Conn(path)
    c.send(submit("nosuchpool", b"x", 7))
    expect_error(c, 7, 4, "unknown pool")
    c.send(submit("faulty", b"sleep:300", 8))
    c.send(submit("faulty", b"sleep:300", 9))
    c.send(submit("faulty", b"sleep:10", 10))
    c.send(frame(CANCEL, 10))
    got = {}
    for _ in range(3):
        ftype, arg, fid, _ = c.recv()
        got[fid] = (ftype, arg)
    if got.get(10) != (ERROR, 9):
        fail("cancel: id 10 answered %r" % (got.get(10),))
    # STATUS and METRICS on a busy daemon.
    c.send(frame(STATUS, 11))
    c.send(frame(METRICS, 12))
    types = {c.recv()[0] for _ in range(2)}
    if types != {STATUS_REPLY, METRICS_REPLY}:
        fail("status/metrics: got types %r" % types)
    c.close()
    # The stalled client is closed after client_timeout (2 s).
    stall.s.settimeout(30)
    if not stall.eof():
        fail("a half frame was not closed after client_timeout")
    stall.close()


def phase_reload(path, proc, conf, text, logpath):
    # As many workers after as before, so descriptors compare.
    text = text.replace("queue_limit = 100000\n",
                        "queue_limit = 100000\ntask_timeout = 20s\n")
    text = text.replace("[pool:gone]\nhandler = echo\nworkers = 1\n", "")
    text += "[pool:added]\nhandler = echo\nworkers = 1\n"
    with open(conf, "w") as f:
        f.write(text)
    load = threading.Thread(target=phase_echo, args=(path, 2, 200))
    load.start()
    proc.send_signal(signal.SIGHUP)
    if not wait_log(logpath, "reload: 1 pools added, 1 removed",
                    time.monotonic() + 60):
        fail("reload: no summary line in the log")
    load.join()
    c = Conn(path)
    c.send(submit("added", b"new", 1))
    c.send(submit("gone", b"old", 2))
    got = {}
    for _ in range(2):
        ftype, arg, fid, body = c.recv()
        got[fid] = (ftype, arg, body)
    if got.get(1) != (RESULT, 0, b"new"):
        fail("reload: the added pool answered %r" % (got.get(1),))
    if got.get(2, (0, 0))[:2] != (ERROR, 4):
        fail("reload: the removed pool answered %r" % (got.get(2),))
    c.close()


def phase_churn(path, n):
    for i in range(n):
        c = Conn(path)
        if i % 3 == 0:
            c.send(frame(PING, i))
            if c.recv()[0] != PONG:
                fail("churn: no PONG")
        elif i % 3 == 1:
            c.send(submit("echo", b"x", i)[:7])
        c.close()


def parse_report(logpath):
    with open(logpath, errors="replace") as f:
        text = f.read()
    m = re.search(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks", text)
    lost = int(m.group(1).replace(",", "")) if m else 0
    blocks = int(m.group(2).replace(",", "")) if m else 0
    if "All heap blocks were freed" in text:
        lost = blocks = 0
    m = re.search(r"ERROR SUMMARY: ([\d,]+) errors", text)
    errors = int(m.group(1).replace(",", "")) if m else -1
    m = re.search(r"FILE DESCRIPTORS: (\d+) open(?: \((\d+) std\))? at exit",
                  text)
    fds = m.group(0) if m else "no descriptor report"
    summary = [l for l in text.splitlines()
               if re.search(r"(definitely|indirectly|possibly) lost:|"
                            r"still reachable:|in use at exit:|"
                            r"ERROR SUMMARY", l)]
    return lost, blocks, errors, fds, summary, text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--forkpoold", default="build/forkpoold")
    ap.add_argument("--modules", default="build/tests/modules",
                    help="the directory holding faulty.so")
    ap.add_argument("--workdir", default="/tmp/forkpool-valgrind")
    ap.add_argument("--valgrind", default="valgrind")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--tasks", type=int, default=300)
    ap.add_argument("--churn", type=int, default=10000)
    args = ap.parse_args()

    forkpoold = os.path.abspath(args.forkpoold)
    faulty = os.path.join(os.path.abspath(args.modules), "faulty.so")
    for f in (forkpoold, faulty):
        if not os.path.exists(f):
            raise SystemExit("%s: not found (build it first)" % f)
    if shutil.which(args.valgrind) is None:
        raise SystemExit("valgrind is not installed (apt-get install "
                         "valgrind)")
    wd = os.path.abspath(args.workdir)
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    sock = os.path.join(wd, "vg.sock")
    conf = os.path.join(wd, "vg.ini")
    big = 64 * 1024
    text = (
        "[daemon]\nmax_payload = %d\nclient_timeout = 2s\n"
        "shutdown_timeout = 5s\n"
        "[pool:echo]\nhandler = echo\nworkers = 2\nqueue_limit = 100000\n"
        "[pool:gone]\nhandler = echo\nworkers = 1\n"
        "[pool:faulty]\nmodule = %s\nworkers = 2\ntask_timeout = 300ms\n"
        "quarantine_after = 0\nrestart_burst = 10000\n"
        "[pool:poison]\nmodule = %s\nworkers = 1\nrestart_burst = 10000\n"
        "[pool:retry]\nmodule = %s\nworkers = 2\nretries = 1\n"
        "quarantine_after = 0\nrestart_burst = 10000\n"
        % (big, faulty, faulty, faulty))
    with open(conf, "w") as f:
        f.write(text)
    vglog = os.path.join(wd, "valgrind.log")
    daemonlog = os.path.join(wd, "forkpoold.log")
    cmd = [args.valgrind, "--leak-check=full",
           "--errors-for-leak-kinds=definite", "--track-fds=yes",
           "--trace-children=no", "--child-silent-after-fork=yes",
           "--num-callers=30", "--log-file=" + vglog,
           forkpoold, "-c", conf, "-s", sock]
    print("  valgrind: " + " ".join(cmd), flush=True)
    with open(daemonlog, "w") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log)
    try:
        wait_ready(sock, proc, time.monotonic() + 120)
        wait_idle(sock, time.monotonic() + 120)
        fds_before = count_fds(proc.pid)
        t0 = time.monotonic()
        for name, fn in [
                ("echo", lambda: phase_echo(sock, args.clients, args.tasks)),
                ("crash", lambda: phase_crash(sock)),
                ("timeout", lambda: phase_timeout(sock)),
                ("abuse", lambda: phase_abuse(sock, big)),
                ("reload", lambda: phase_reload(sock, proc, conf, text,
                                                daemonlog)),
                ("churn", lambda: phase_churn(sock, args.churn))]:
            t = time.monotonic()
            try:
                fn()
            except (OSError, EOFError) as e:
                fail("%s: %s" % (name, e))
            print("  phase %-8s %.1f s" % (name, time.monotonic() - t),
                  flush=True)
        if not wait_idle(sock, time.monotonic() + 120):
            fail("the daemon did not go idle after the load")
        fds_after = count_fds(proc.pid)
        print("  master descriptors: %d before the load, %d after "
              "(%.0f s of load)" % (fds_before, fds_after,
                                    time.monotonic() - t0), flush=True)
        if fds_after != fds_before:
            fail("descriptors: %d before, %d after" % (fds_before, fds_after))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    if rc != 0:
        fail("forkpoold exited with %d after SIGTERM" % rc)

    lost, blocks, errors, fds, summary, report = parse_report(vglog)
    print("  valgrind (master, pid %d):" % proc.pid)
    for line in summary:
        print("    " + line.split("== ", 1)[-1])
    print("    " + fds)
    print("  definitely lost: %d bytes in %d blocks; errors: %d"
          % (lost, blocks, errors))
    if errors != 0 or lost != 0:
        fail("valgrind: %d errors, %d bytes definitely lost; see %s"
             % (errors, lost, vglog))
        print(report[-6000:])
    if failures:
        print("valgrind_load: %d problem(s); logs in %s" %
              (len(failures), wd))
        return 1
    print("valgrind_load: clean; logs in %s" % wd)
    return 0


if __name__ == "__main__":
    sys.exit(main())

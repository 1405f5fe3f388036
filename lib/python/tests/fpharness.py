"""Test helpers: a real forkpoold on a private socket, a Python worker on
descriptor 3, and polling with a deadline.

Environment:
  FORKPOOLD         the daemon to test (default: BUILD/forkpoold)
  FORKPOOL_BUILD    the build directory (default: the tree's build/)
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LIB_PYTHON = os.path.dirname(HERE)
TREE = os.path.dirname(os.path.dirname(LIB_PYTHON))
BUILD = os.environ.get("FORKPOOL_BUILD") or os.path.join(TREE, "build")
FORKPOOLD = os.environ.get("FORKPOOLD") or os.path.join(BUILD, "forkpoold")
FAULTY = os.path.join(BUILD, "tests", "modules", "faulty.so")

HDR = struct.Struct("<IBBHQ")


def deadline_poll(cond, timeout=10.0, interval=0.01, what="a condition"):
    """Poll cond() until it is true; AssertionError after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out after %.1f s waiting for %s" %
                                 (timeout, what))
        time.sleep(interval)


def child_env(**extra):
    """The environment for a child Python that must import forkpool."""
    env = dict(os.environ)
    path = [LIB_PYTHON, HERE]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.pop("FORKPOOL_SOCKET", None)
    env.update(extra)
    return env


def have_daemon():
    return os.access(FORKPOOLD, os.X_OK)


_command_support = {}


def command_support():
    """(True, "") when forkpoold accepts a ``command =`` pool, else
    (False, why): the daemon's own words from ``forkpoold -t``."""
    if "v" in _command_support:
        return _command_support["v"]
    if not have_daemon():
        result = (False, "no forkpoold at %s" % FORKPOOLD)
    else:
        with tempfile.TemporaryDirectory(prefix="fp-py-") as tmp:
            ini = os.path.join(tmp, "t.ini")
            with open(ini, "w") as f:
                f.write(py_pool_ini("py"))
            proc = subprocess.run([FORKPOOLD, "-t", "-c", ini],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=30)
            text = proc.stdout.decode("utf-8", "replace").strip()
            if proc.returncode == 0:
                result = (True, "")
            else:
                result = (False, "forkpoold rejects command = pools yet "
                          "(forkpoold -t: %s)" % text)
    _command_support["v"] = result
    return result


def py_pool_ini(name, workers=2, extra=""):
    """A [pool:NAME] running the generic Python worker on this tree."""
    return ("[pool:%s]\n"
            "command = %s -m forkpool.worker\n"
            "command_dir = %s\n"
            "command_env = PYTHONPATH=%s\n"
            "workers = %d\n"
            "%s" % (name, sys.executable, HERE, LIB_PYTHON, workers, extra))


def ping(path, timeout=1.0):
    """True when a daemon answers PING on path."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(HDR.pack(0, 1, 0x02, 0, 1))
            data = b""
            while len(data) < 16:
                chunk = s.recv(16 - len(data))
                if not chunk:
                    return False
                data += chunk
            return HDR.unpack(data)[2] == 0x83
    except OSError:
        return False


class Daemon:
    """A real forkpoold with a given configuration, on a socket of its own."""

    def __init__(self, ini_text):
        self.dir = tempfile.mkdtemp(prefix="fp-py-")
        self.ini = os.path.join(self.dir, "forkpool.ini")
        self.socket = os.path.join(self.dir, "forkpool.sock")
        self.logpath = os.path.join(self.dir, "forkpoold.log")
        with open(self.ini, "w") as f:
            f.write(ini_text)
        self.proc = None

    def start(self, timeout=20.0):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("LISTEN_FDS", None)
        self._log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(
            [FORKPOOLD, "-c", self.ini, "-s", self.socket],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            env=env)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("forkpoold exited with %d:\n%s" %
                                     (self.proc.returncode, self.log()))
            return ping(self.socket)

        deadline_poll(up, timeout, what="forkpoold to answer PING")
        return self

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM, then SIGKILL if it does not exit in time; the status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode

    def kill(self):
        """SIGKILL the daemon (its connections drop at once)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_TRAMPOLINE = (
    "import os, sys\n"
    "fd = int(sys.argv[1])\n"
    "if fd != 3:\n"
    "    os.dup2(fd, 3)\n"
    "    os.close(fd)\n"
    "os.set_inheritable(3, True)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n")


def spawn_worker(argv, env=None, cwd=None, stdout=None, stderr=None):
    """Start argv with one end of a socketpair as descriptor 3.

    Returns (process, our end).  A small Python trampoline moves the
    descriptor to 3 and execs argv: no preexec_fn, so this is safe while
    other threads run (and dash cannot redirect descriptors above 9).
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = theirs.fileno()
    cmd = [sys.executable, "-S", "-c", _TRAMPOLINE, str(fd)] + list(argv)
    if env is None:
        env = child_env()
    env = dict(env, FORKPOOL_FD="3")
    proc = subprocess.Popen(cmd, pass_fds=(fd,), env=env, cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=stderr)
    theirs.close()
    return proc, ours


def read_frame(sock, timeout=10.0):
    """One frame (type, arg, id, body) from a blocking socket; None at EOF."""
    sock.settimeout(timeout)

    def exactly(n):
        data = bytearray()
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    head = exactly(16)
    if head is None:
        return None
    blen, version, ftype, arg, fid = HDR.unpack(head)
    assert version == 1, "frame version %d" % version
    body = exactly(blen) if blen else b""
    assert body is not None, "EOF inside a frame"
    return (ftype, arg, fid, body)


def submit_frame(fid, payload, pool=b"py"):
    return HDR.pack(len(pool) + len(payload), 1, 0x01, len(pool), fid) + \
        pool + payload


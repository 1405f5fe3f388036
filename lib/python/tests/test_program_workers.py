"""Program workers (``command =`` pools) in the real forkpoold, with small
Python programs: a forkpool.worker.serve() program, and programs that break
the rules (spec/PROTOCOL.md, "Program workers").  Skipped, saying why,
while forkpoold rejects ``command``."""

import os
import subprocess
import sys
import tempfile
import unittest

import forkpool

from fpharness import (FORKPOOLD, LIB_PYTHON, Daemon, command_support,
                       deadline_poll)

_support = command_support()

SERVE = """\
import os, sys
import forkpool.worker

def handle(payload):
    if payload == b"raise":
        raise ValueError("the program refused")
    if payload == b"pid":
        return str(os.getpid())
    if payload.startswith(b"print:"):
        print(payload[6:].decode())
        return b"printed"
    return payload[::-1]

print("serve program ready", flush=True)
forkpool.worker.serve(handle)
"""

# Sends PONG, then answers the first task with a frame of the wrong version
# (or, with "id", a RESULT for another id).
BREAKER = """\
import os, struct, sys
H = struct.Struct("<IBBHQ")
fd = 3
os.write(fd, H.pack(0, 1, 0x83, 0, 0))
head = os.read(fd, 16)
blen, v, t, arg, fid = H.unpack(head)
body = b""
while len(body) < blen:
    body += os.read(fd, blen - len(body))
if sys.argv[1] == "id":
    os.write(fd, H.pack(2, 1, 0x81, 0, fid + 1000) + b"ok")
else:
    os.write(fd, b"this is not a frame at all")
os.read(fd, 1)
"""


@unittest.skipUnless(_support[0], _support[1])
class TestProgramWorkers(unittest.TestCase):

    def program(self, text):
        fd, path = tempfile.mkstemp(suffix=".py", prefix="fp-prog-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        self.addCleanup(os.unlink, path)
        return path

    def daemon(self, pools):
        d = Daemon(pools)
        self.addCleanup(d.stop)
        return d.start()

    def pool(self, name, argv, workers=1, extra=""):
        return ("[pool:%s]\ncommand = %s\ncommand_env = PYTHONPATH=%s\n"
                "workers = %d\n%s" % (name, " ".join(argv), LIB_PYTHON,
                                      workers, extra))

    def test_serve_program(self):
        # A serve() program answers through the daemon: output for status
        # 0, TaskFailed with the traceback for an exception, and its
        # print() lines in the daemon's log.
        path = self.program(SERVE)
        d = self.daemon(self.pool("rev", [sys.executable, path], 2))
        with forkpool.Client(d.socket) as c:
            self.assertEqual(c.submit("rev", b"abc"), b"cba")
            self.assertEqual(list(c.map("rev", [b"12", b"345"])),
                             [b"21", b"543"])
            with self.assertRaises(forkpool.TaskFailed) as cm:
                c.submit("rev", b"raise")
            self.assertEqual(cm.exception.status, 1)
            self.assertIn(b"ValueError: the program refused",
                          cm.exception.output)
            self.assertIn(b"in handle", cm.exception.output)
            self.assertEqual(c.submit("rev", b"print:a line for the log"),
                             b"printed")
            pid = c.submit("rev", b"pid").decode()
        deadline_poll(lambda: "a line for the log" in d.log(), 10,
                      what="the printed line in the log")
        self.assertIn("serve program ready", d.log())
        self.assertIn(pid, d.log())

    def test_garbage_on_channel(self):
        # A program that writes garbage on descriptor 3 is killed and its
        # task answered INTERNAL; the pool replaces it (here with another
        # that breaks in turn).
        path = self.program(BREAKER)
        d = self.daemon(self.pool("bad", [sys.executable, path, "garbage"]))
        with forkpool.Client(d.socket) as c:
            with self.assertRaises(forkpool.Internal) as cm:
                c.submit("bad", b"x")
            self.assertIn("protocol", cm.exception.message)
            self.assertRaises(forkpool.Internal, c.submit, "bad", b"y")

    def test_wrong_id(self):
        # A RESULT for an id it was not given is a protocol violation too.
        path = self.program(BREAKER)
        d = self.daemon(self.pool("bad", [sys.executable, path, "id"]))
        with forkpool.Client(d.socket) as c:
            self.assertRaises(forkpool.Internal, c.submit, "bad", b"x")

    def start_fails(self, ini):
        """Run forkpoold on ini; it must exit non-zero.  Its stderr."""
        with tempfile.TemporaryDirectory(prefix="fp-py-") as tmp:
            path = os.path.join(tmp, "f.ini")
            with open(path, "w") as f:
                f.write(ini)
            proc = subprocess.run(
                [FORKPOOLD, "-c", path, "-s", os.path.join(tmp, "s.sock")],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        return proc.stdout.decode("utf-8", "replace")

    def test_exits_at_start(self):
        # A program that exits before PONG makes the daemon's start fail,
        # quoting what the program said.
        path = self.program("import sys\n"
                            "print('no model file here', file=sys.stderr)\n"
                            "sys.exit(3)\n")
        out = self.start_fails(self.pool("dead", [sys.executable, path]))
        self.assertIn("pool dead", out)
        self.assertIn("no model file here", out)

    def test_never_pongs(self):
        # A program silent past start_timeout is killed: a failed start.
        path = self.program("import time\ntime.sleep(60)\n")
        out = self.start_fails(self.pool("mute", [sys.executable, path],
                                         extra="start_timeout = 300ms\n"))
        self.assertIn("pool mute", out)
        self.assertIn("start_timeout", out)

    def test_preload_failure_at_start(self):
        # The generic worker with a --preload that cannot be imported never
        # starts, and the daemon says which module.
        out = self.start_fails(self.pool(
            "py", [sys.executable, "-m", "forkpool.worker", "--preload",
                   "no_such_module_for_forkpool"]))
        self.assertIn("no_such_module_for_forkpool", out)


if __name__ == "__main__":
    unittest.main()

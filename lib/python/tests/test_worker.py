"""The worker loop, driven directly over a socketpair on descriptor 3, the
way forkpoold drives a program worker (spec/PROTOCOL.md, "Program
workers")."""

import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
import unittest

from forkpool import protocol as p

import pyfuncs
from fpharness import (HERE, child_env, read_frame, spawn_worker,
                       submit_frame)

GENERIC = [sys.executable, "-m", "forkpool.worker"]


def call(fn, *args, **kwargs):
    return pickle.dumps((fn, args, kwargs), 5)


class WorkerCase(unittest.TestCase):
    """Starts a worker program and talks to it as the daemon would."""

    argv = GENERIC

    def start(self, argv=None, env=None, stdout=subprocess.PIPE):
        self.proc, self.chan = spawn_worker(argv or self.argv, env=env,
                                            cwd=HERE, stdout=stdout,
                                            stderr=subprocess.PIPE)
        self.addCleanup(self.cleanup)
        return self.proc

    def cleanup(self):
        self.chan.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)

    def expect_pong(self):
        frame = read_frame(self.chan)
        self.assertEqual(frame, (p.PONG, 0, 0, b""))

    def ask(self, fid, payload, pool=b"py"):
        self.chan.sendall(submit_frame(fid, payload, pool))

    def finish(self):
        """Close our end; the worker must exit 0.  Its (stdout, stderr)."""
        self.chan.close()
        out, err = self.proc.communicate(timeout=30)
        self.assertEqual(self.proc.returncode, 0, err.decode())
        return out, err


class TestGenericWorker(WorkerCase):

    def test_pong_first(self):
        # Once initialised the worker sends PONG with id 0, before any task.
        self.start()
        self.expect_pong()
        self.finish()

    def test_results_by_id(self):
        # Each SUBMIT gets one RESULT with the same id, in order, even when
        # the requests arrive pipelined in one write.
        self.start()
        self.expect_pong()
        ids = [7, 2 ** 64 - 1, 1, 12345]
        self.chan.sendall(b"".join(
            submit_frame(fid, call(pyfuncs.square, n))
            for n, fid in enumerate(ids)))
        for n, fid in enumerate(ids):
            ftype, status, rid, body = read_frame(self.chan)
            self.assertEqual((ftype, status, rid), (p.RESULT, 0, fid))
            self.assertEqual(pickle.loads(body), n * n)
        self.finish()

    def test_kwargs_and_pool_name(self):
        # The pool name (arg bytes) is skipped; kwargs are passed.
        self.start()
        self.expect_pong()
        self.ask(3, call(pyfuncs.add, 2, b=3, scale=10),
                 pool=b"a-much-longer.pool_name")
        ftype, status, rid, body = read_frame(self.chan)
        self.assertEqual((status, rid, pickle.loads(body)), (0, 3, 50))
        self.finish()

    def test_exception_is_status_1_with_traceback(self):
        # An exception in the function is a RESULT of status 1 carrying the
        # pickled exception and the worker's traceback; the worker goes on.
        self.start()
        self.expect_pong()
        self.ask(5, call(pyfuncs.boom, "kaput"))
        ftype, status, rid, body = read_frame(self.chan)
        self.assertEqual((ftype, status, rid), (p.RESULT, 1, 5))
        exc, tb, described = pickle.loads(body)
        self.assertIsInstance(exc, pyfuncs.Boom)
        self.assertEqual(str(exc), "boom: kaput")
        self.assertIn('pyfuncs.py", line', tb)
        self.assertIn("in boom", tb)
        self.assertIn("Boom: boom: kaput", tb)
        self.assertNotIn("call_pickled", tb)
        self.assertIn("Boom", described)
        self.ask(6, call(pyfuncs.square, 4))
        self.assertEqual(pickle.loads(read_frame(self.chan)[3]), 16)
        self.finish()

    def test_unrebuildable_exception(self):
        # An exception that would not unpickle is sent as its repr instead.
        self.start()
        self.expect_pong()
        self.ask(1, call(pyfuncs.unrebuildable))
        ftype, status, rid, body = read_frame(self.chan)
        exc, tb, described = pickle.loads(body)
        self.assertEqual(status, 1)
        self.assertIsNone(exc)
        self.assertIn("Unrebuildable", described)
        self.assertIn("in unrebuildable", tb)
        self.finish()

    def test_unpicklable_value(self):
        # A return value that cannot be pickled is a failure, not a crash.
        self.start()
        self.expect_pong()
        self.ask(1, call(pyfuncs.unpicklable_value))
        ftype, status, rid, body = read_frame(self.chan)
        exc, tb, described = pickle.loads(body)
        self.assertEqual(status, 1)
        self.assertIsInstance(exc, (pickle.PicklingError, AttributeError,
                                    TypeError))
        self.finish()

    def test_bad_payload(self):
        # A payload that is not a pickled call is a failure with the reason.
        self.start()
        self.expect_pong()
        self.ask(9, b"certainly not a pickle")
        ftype, status, rid, body = read_frame(self.chan)
        self.assertEqual((status, rid), (1, 9))
        exc, tb, described = pickle.loads(body)
        self.assertIsInstance(exc, Exception)
        self.finish()

    def test_system_exit_is_reported(self):
        # sys.exit() in the function fails the task, as in
        # ProcessPoolExecutor; the worker keeps serving.
        self.start()
        self.expect_pong()
        self.ask(1, call(pyfuncs.exit_now, 4))
        ftype, status, rid, body = read_frame(self.chan)
        self.assertEqual(status, 1)
        self.assertIsInstance(pickle.loads(body)[0], SystemExit)
        self.ask(2, call(pyfuncs.square, 3))
        self.assertEqual(pickle.loads(read_frame(self.chan)[3]), 9)
        self.finish()

    def test_stdout_does_not_touch_the_channel(self):
        # print() goes to standard output, line by line; the channel stays
        # clean.
        self.start()
        self.expect_pong()
        self.ask(1, call(pyfuncs.shout, "hello from the worker"))
        ftype, status, rid, body = read_frame(self.chan)
        self.assertEqual((status, pickle.loads(body)), (0, 21))
        out, err = self.finish()
        self.assertEqual(out, b"hello from the worker\n")

    def test_large_payloads(self):
        # Bodies far larger than a socket buffer pass whole both ways.
        self.start()
        self.expect_pong()
        big = os.urandom(8 * 1024 * 1024 + 3)
        self.ask(1, call(pyfuncs.echo, big))
        ftype, status, rid, body = read_frame(self.chan, timeout=60)
        self.assertEqual((status, rid), (0, 1))
        self.assertEqual(pickle.loads(body), big)
        self.finish()

    def test_eof_exits_0(self):
        # End of file on the channel ends the worker with status 0, even
        # with no task ever sent.
        self.start()
        self.expect_pong()
        self.chan.close()
        self.assertEqual(self.proc.wait(30), 0)

    def test_ping_answered(self):
        # A PING on the channel is answered with a PONG of the same id.
        self.start()
        self.expect_pong()
        self.chan.sendall(p.encode(p.PING, 0, 77))
        self.assertEqual(read_frame(self.chan), (p.PONG, 0, 77, b""))
        self.finish()

    def test_bad_version_kills_worker(self):
        # A frame of another version is a broken channel: the worker says
        # so on stderr and exits non-zero rather than guess.
        self.start()
        self.expect_pong()
        self.chan.sendall(b"\0\0\0\0\x02\x01\0\0" + b"\0" * 8)
        self.proc.wait(30)
        self.assertNotEqual(self.proc.returncode, 0)
        self.assertIn(b"version 2", self.proc.stderr.read())

    def test_forkpool_fd(self):
        # $FORKPOOL_FD names the channel when it is not 3.
        import socket as socketmod
        ours, theirs = socketmod.socketpair()
        env = child_env(FORKPOOL_FD=str(theirs.fileno()))
        proc = subprocess.Popen(GENERIC, pass_fds=(theirs.fileno(),),
                                env=env, cwd=HERE)
        theirs.close()
        try:
            self.assertEqual(read_frame(ours), (p.PONG, 0, 0, b""))
            ours.sendall(submit_frame(4, call(pyfuncs.square, 5)))
            self.assertEqual(pickle.loads(read_frame(ours)[3]), 25)
        finally:
            ours.close()
            self.assertEqual(proc.wait(30), 0)

    def test_channel_not_inherited(self):
        # Descriptor 3 is closed in programs the function starts, so they
        # cannot hold the channel open.
        self.start()
        self.expect_pong()
        code = "import os; os.fstat(3)"
        self.ask(1, call(subprocess.call, [sys.executable, "-c", code],
                         close_fds=False, stderr=subprocess.DEVNULL))
        ftype, status, rid, body = read_frame(self.chan)
        self.assertEqual(status, 0)
        self.assertNotEqual(pickle.loads(body), 0)
        self.finish()

    def test_preload(self):
        # --preload imports modules before PONG; without it they are not.
        self.start(GENERIC + ["--preload", "wave,pyfuncs"])
        self.expect_pong()
        self.ask(1, call(pyfuncs.loaded, "wave"))
        self.assertIs(pickle.loads(read_frame(self.chan)[3]), True)
        self.finish()
        self.start(GENERIC)
        self.expect_pong()
        self.ask(1, call(pyfuncs.loaded, "wave"))
        self.assertIs(pickle.loads(read_frame(self.chan)[3]), False)
        self.finish()

    def test_preload_failure_never_pongs(self):
        # A module that cannot be imported stops the worker before PONG:
        # the daemon sees a failed start, not a worker.
        self.start(GENERIC + ["--preload", "no_such_module_here"])
        self.assertIsNone(read_frame(self.chan))
        self.assertNotEqual(self.proc.wait(30), 0)
        self.assertIn(b"no_such_module_here", self.proc.stderr.read())


class TestServe(WorkerCase):
    """forkpool.worker.serve(fn): a bytes-in, bytes-out program."""

    PROGRAM = textwrap.dedent("""\
        import sys
        import forkpool.worker

        def handle(payload):
            if payload == b"raise":
                raise RuntimeError("asked to fail")
            if payload.startswith(b"status:"):
                return int(payload[7:]), b"my own failure"
            if payload == b"text":
                return "caf\\u00e9"
            if payload == b"none":
                return None
            if payload == b"int":
                return 42
            return payload.upper()

        print("starting", flush=True)
        forkpool.worker.serve(handle)
        print("bye")
        """)

    def setUp(self):
        fd, self.script = tempfile.mkstemp(suffix=".py", prefix="fp-serve-")
        with os.fdopen(fd, "w") as f:
            f.write(self.PROGRAM)
        self.addCleanup(os.unlink, self.script)
        self.start([sys.executable, self.script])

    def test_round_trip(self):
        # PONG first, then each payload's answer under its id, in order.
        self.expect_pong()
        self.chan.sendall(submit_frame(10, b"abc", b"up") +
                          submit_frame(11, b"", b"up") +
                          submit_frame(12, b"text", b"up") +
                          submit_frame(13, b"none", b"up"))
        self.assertEqual(read_frame(self.chan), (p.RESULT, 0, 10, b"ABC"))
        self.assertEqual(read_frame(self.chan), (p.RESULT, 0, 11, b""))
        self.assertEqual(read_frame(self.chan),
                         (p.RESULT, 0, 12, "caf\u00e9".encode()))
        self.assertEqual(read_frame(self.chan), (p.RESULT, 0, 13, b""))
        out, err = self.finish()
        self.assertEqual(out, b"starting\nbye\n")

    def test_exception_is_status_1_with_traceback(self):
        # An exception answers status 1 with the traceback text; the
        # program goes on serving.
        self.expect_pong()
        self.ask(1, b"raise")
        ftype, status, rid, body = read_frame(self.chan)
        self.assertEqual((ftype, status, rid), (p.RESULT, 1, 1))
        text = body.decode()
        self.assertIn("Traceback (most recent call last)", text)
        self.assertIn("in handle", text)
        self.assertIn("RuntimeError: asked to fail", text)
        self.ask(2, b"x")
        self.assertEqual(read_frame(self.chan), (p.RESULT, 0, 2, b"X"))
        self.finish()

    def test_own_status(self):
        # A (status, bytes) pair reports the program's own failure status.
        self.expect_pong()
        self.ask(1, b"status:3")
        self.assertEqual(read_frame(self.chan),
                         (p.RESULT, 3, 1, b"my own failure"))
        self.finish()

    def test_wrong_return_type(self):
        # Returning something that is not bytes is a failure, explained.
        self.expect_pong()
        self.ask(1, b"int")
        ftype, status, rid, body = read_frame(self.chan)
        self.assertEqual(status, 1)
        self.assertIn(b"not int", body)
        self.finish()


if __name__ == "__main__":
    unittest.main()


class TestCancelAndTooLarge(WorkerCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fp-py-")
        self.addCleanup(__import__("shutil").rmtree, self.tmp, True)

    def test_cancel_skips_a_queued_task(self):
        # A CANCEL for a SUBMIT queued behind the running one makes the
        # worker skip it without a reply; a CANCEL for an id it does not
        # hold (already answered, or never sent) is ignored.
        self.start()
        self.expect_pong()
        started = os.path.join(self.tmp, "started")
        release = os.path.join(self.tmp, "release")
        skipped = os.path.join(self.tmp, "skipped")
        ran = os.path.join(self.tmp, "ran")
        self.ask(1, call(pyfuncs.wait_for, started, release, "one"))
        self.ask(2, call(pyfuncs.touch, skipped, "two"))
        self.ask(3, call(pyfuncs.touch, ran, "three"))
        # The cancels arrive while task 1 runs, as the daemon sends them.
        from fpharness import deadline_poll
        deadline_poll(lambda: os.path.exists(started), 30,
                      what="task 1 to start")
        self.chan.sendall(p.encode(p.CANCEL, 0, 2) +
                          p.encode(p.CANCEL, 0, 99))
        open(release, "w").close()
        first = read_frame(self.chan)
        second = read_frame(self.chan)
        self.assertEqual((first[0], first[2]), (p.RESULT, 1))
        self.assertEqual((second[0], second[1], second[2]),
                         (p.RESULT, 0, 3))
        self.assertEqual(pickle.loads(second[3]), "three")
        self.assertFalse(os.path.exists(skipped))
        self.assertTrue(os.path.exists(ran))
        # A cancel of a task already answered changes nothing.
        self.chan.sendall(p.encode(p.CANCEL, 0, 3))
        self.ask(4, call(pyfuncs.square, 6))
        frame = read_frame(self.chan)
        self.assertEqual((frame[2], pickle.loads(frame[3])), (4, 36))
        self.finish()

    def test_output_too_large(self):
        # An output over $FORKPOOL_MAX_PAYLOAD is answered ERROR TOO_LARGE
        # naming the size and the limit; the worker lives and serves on.
        self.start(env=child_env(FORKPOOL_MAX_PAYLOAD="1000"))
        self.expect_pong()
        self.ask(1, call(pyfuncs.big, 5000))
        frame = read_frame(self.chan)
        self.assertEqual(frame[:3], (p.ERROR, p.ERR_TOO_LARGE, 1))
        self.assertRegex(frame[3].decode(), r"over max_payload \(1000 ")
        self.ask(2, call(pyfuncs.big, 10))
        frame = read_frame(self.chan)
        self.assertEqual(frame[:3], (p.RESULT, 0, 2))
        self.assertEqual(pickle.loads(frame[3]), b"x" * 10)
        self.finish()

    def test_too_large_is_forkpool_toolarge(self):
        # The client raises forkpool.TooLarge for that reply, with its text.
        import forkpool
        from forkpool import errors
        exc = errors.from_reply(p.ERR_TOO_LARGE, b"the output of 5000 bytes "
                                b"is over max_payload (1000 bytes)")
        self.assertIsInstance(exc, forkpool.TooLarge)
        self.assertIn("5000", str(exc))

"""forkpool.Executor.

The Executor's tests run against the real forkpoold with a ``command =``
pool of ``python3 -m forkpool.worker`` processes (skipped, saying why, when
forkpoold rejects ``command``); the plumbing tests use the echo pool.
"""

import asyncio
import concurrent.futures as cf
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import traceback
import unittest

import forkpool

import pyfuncs
from fpharness import (Daemon, child_env, command_support,
                       deadline_poll, have_daemon, py_pool_ini)


class ExecutorTests:
    """The Executor's behaviour; a subclass provides self.socket, pool py."""

    crash_words = ()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fp-py-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.release = os.path.join(self.tmp, "release")
        self.addCleanup(self.open_gate)

    def open_gate(self):
        with open(self.release, "w"):
            pass

    def executor(self, **kw):
        ex = forkpool.Executor("py", socket=self.socket, **kw)
        self.addCleanup(ex.shutdown)
        self.addCleanup(self.open_gate)     # before shutdown() waits
        return ex

    def blockers(self, ex, n=2):
        """Occupy n workers until open_gate(); their futures, once running."""
        marks = [os.path.join(self.tmp, "started-%d" % i) for i in range(n)]
        fs = [ex.submit(pyfuncs.wait_for, m, self.release, i)
              for i, m in enumerate(marks)]
        deadline_poll(lambda: all(os.path.exists(m) for m in marks),
                      30, what="the blocking tasks to start")
        return fs

    def test_is_an_executor(self):
        # It is a concurrent.futures.Executor, and returns Futures.
        ex = self.executor()
        self.assertIsInstance(ex, cf.Executor)
        self.assertIsInstance(ex.submit(pyfuncs.square, 2), cf.Future)

    def test_submit(self):
        # submit(fn, *args, **kwargs) runs fn in a worker and returns its
        # value, pickled both ways.
        ex = self.executor()
        self.assertEqual(ex.submit(pyfuncs.square, 12).result(30), 144)
        self.assertEqual(ex.submit(pyfuncs.add, 1, 2, scale=3).result(30), 9)
        self.assertNotEqual(ex.submit(pyfuncs.pid).result(30), os.getpid())
        p = ex.submit(pyfuncs.make_point, 1, 2).result(30)
        self.assertEqual(p, pyfuncs.Point(1, 2))
        self.assertEqual(ex.submit(pyfuncs.point_sum, p).result(30), 3)
        self.assertEqual(ex.submit(len, "abc").result(30), 3)

    def test_map_order(self):
        # map() returns results in input order, whatever order they finish.
        ex = self.executor()
        xs = list(range(300))
        self.assertEqual(list(ex.map(pyfuncs.square, xs)),
                         [x * x for x in xs])
        self.assertEqual(list(ex.map(pyfuncs.add, xs, xs)),
                         [2 * x for x in xs])
        delays = [0.05, 0.0, 0.03, 0.0]
        self.assertEqual(list(ex.map(pyfuncs.sleep, delays, range(4))),
                         [0, 1, 2, 3])

    def test_map_chunksize(self):
        # chunksize > 1 batches calls into tasks; results keep input order.
        ex = self.executor()
        xs = list(range(103))
        for size in (2, 7, 50, 200):
            self.assertEqual(list(ex.map(pyfuncs.add, xs, xs,
                                         chunksize=size)),
                             [2 * x for x in xs])
        self.assertRaises(ValueError, ex.map, pyfuncs.square, xs,
                          chunksize=0)

    def test_map_exception(self):
        # An exception raises when its turn comes in the iteration.
        ex = self.executor()
        out = ex.map(pyfuncs.echo, [1, 2])
        self.assertEqual(list(out), [1, 2])
        out = ex.map(pyfuncs.boom, ["a", "b"])
        self.assertRaises(pyfuncs.Boom, next, out)

    def test_map_timeout(self):
        # map(timeout=) raises TimeoutError when a result is late.
        ex = self.executor()
        mark = os.path.join(self.tmp, "m")
        out = ex.map(pyfuncs.wait_for, [mark], [self.release], [1],
                     timeout=0.2)
        self.assertRaises(cf.TimeoutError, next, out)

    def test_exception_with_remote_traceback(self):
        # An exception in fn is re-raised in the caller, its cause holding
        # the worker's traceback, as ProcessPoolExecutor does.
        ex = self.executor()
        f = ex.submit(pyfuncs.boom, "kaput")
        with self.assertRaises(pyfuncs.Boom) as cm:
            f.result(30)
        self.assertEqual(str(cm.exception), "boom: kaput")
        cause = cm.exception.__cause__
        self.assertIsInstance(cause, forkpool.RemoteTraceback)
        self.assertIn("in boom", str(cause))
        self.assertIn('pyfuncs.py"', str(cause))
        printed = "".join(traceback.format_exception(
            type(cm.exception), cm.exception, cm.exception.__traceback__))
        self.assertIn("in boom", printed)
        self.assertIsInstance(f.exception(), pyfuncs.Boom)

    def test_unrebuildable_exception(self):
        # An exception that cannot travel comes back as RemoteError with
        # its repr and the traceback.
        ex = self.executor()
        with self.assertRaises(forkpool.RemoteError) as cm:
            ex.submit(pyfuncs.unrebuildable).result(30)
        self.assertIn("Unrebuildable", cm.exception.message)
        self.assertIn("in unrebuildable", str(cm.exception.__cause__))

    def test_unpicklable_call(self):
        # A call that cannot be pickled fails its own future; the executor
        # goes on.
        ex = self.executor()
        f = ex.submit(lambda: 1)
        self.assertIsNotNone(f.exception(30))
        self.assertEqual(ex.submit(pyfuncs.square, 3).result(30), 9)

    def test_crash_fails_one_future(self):
        # A worker killed mid-task fails that future only (WorkerCrashed);
        # the other tasks and the next submit() succeed: no broken pool.
        ex = self.executor()
        crash = ex.submit(pyfuncs.die)
        others = [ex.submit(pyfuncs.square, i) for i in range(20)]
        with self.assertRaises(forkpool.WorkerCrashed) as cm:
            crash.result(30)
        for word in self.crash_words:
            self.assertIn(word, cm.exception.message)
        self.assertEqual([f.result(30) for f in others],
                         [i * i for i in range(20)])
        self.assertEqual(ex.submit(pyfuncs.square, 7).result(30), 49)

    def test_shutdown_cancel_futures(self):
        # shutdown(cancel_futures=True) cancels the queued tasks (CANCEL,
        # answered CANCELLED) and lets the running ones finish.
        ex = self.executor()
        running = self.blockers(ex)
        queued = [ex.submit(pyfuncs.square, i) for i in range(6)]
        ex.shutdown(wait=False, cancel_futures=True)
        deadline_poll(lambda: all(f.done() for f in queued), 30,
                      what="the queued tasks to be cancelled")
        self.assertTrue(all(f.cancelled() for f in queued))
        self.assertFalse(any(f.done() for f in running))
        self.open_gate()
        self.assertEqual([f.result(30) for f in running], [0, 1])
        ex.shutdown(wait=True)
        self.assertRaises(RuntimeError, ex.submit, pyfuncs.square, 1)

    def test_shutdown_waits(self):
        # shutdown(wait=True) returns once every pending future is settled;
        # the context manager does the same.
        with forkpool.Executor("py", socket=self.socket) as ex:
            fs = [ex.submit(pyfuncs.sleep, 0.01, i) for i in range(10)]
        self.assertTrue(all(f.done() for f in fs))
        self.assertEqual([f.result() for f in fs], list(range(10)))

    def test_cancel_queued_future(self):
        # Future.cancel() of a queued task asks the daemon: it answers
        # False now, and the future ends cancelled (seen by as_completed).
        ex = self.executor()
        running = self.blockers(ex)
        queued = ex.submit(pyfuncs.square, 5)
        self.assertFalse(queued.cancel())
        done = list(cf.as_completed([queued], timeout=30))
        self.assertEqual(done, [queued])
        self.assertTrue(queued.cancelled())
        self.assertRaises(cf.CancelledError, queued.result)
        self.open_gate()
        self.assertEqual([f.result(30) for f in running], [0, 1])

    def test_as_completed(self):
        # as_completed() sees every future of the executor.
        ex = self.executor()
        fs = {ex.submit(pyfuncs.sleep, (i % 3) * 0.01, i): i
              for i in range(20)}
        got = sorted(f.result() for f in cf.as_completed(fs, timeout=30))
        self.assertEqual(got, list(range(20)))
        done, not_done = cf.wait(fs, timeout=30)
        self.assertEqual((len(done), len(not_done)), (20, 0))

    def test_asyncio(self):
        # loop.run_in_executor() works with it, results and exceptions.
        ex = self.executor()

        async def main():
            loop = asyncio.get_running_loop()
            values = await asyncio.gather(*(
                loop.run_in_executor(ex, pyfuncs.square, i)
                for i in range(20)))
            with self.assertRaises(pyfuncs.Boom):
                await loop.run_in_executor(ex, pyfuncs.boom, "async")
            return values

        self.assertEqual(asyncio.run(main()), [i * i for i in range(20)])

    def test_threads(self):
        # Threads may submit on one executor at once.
        ex = self.executor()
        errors = []

        def work(t):
            try:
                fs = [ex.submit(pyfuncs.add, t, i) for i in range(50)]
                if [f.result(60) for f in fs] != [t + i for i in range(50)]:
                    errors.append(t)
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        self.assertEqual(errors, [])

    def test_small_window(self):
        # With max_inflight=1 everything still completes, and a done
        # callback (run by the reader thread) may itself submit.
        ex = self.executor(max_inflight=1)
        chain = []
        finished = threading.Event()

        def step(f):
            chain.append(f.result())
            if len(chain) < 10:
                ex.submit(pyfuncs.add, f.result(), 1).add_done_callback(step)
            else:
                finished.set()

        ex.submit(pyfuncs.add, 0, 1).add_done_callback(step)
        self.assertEqual(list(ex.map(pyfuncs.square, range(50))),
                         [i * i for i in range(50)])
        self.assertTrue(finished.wait(30))
        self.assertEqual(chain, list(range(1, 11)))

    def test_unknown_pool(self):
        # A pool that does not exist fails each future with UnknownPool.
        ex = forkpool.Executor("nosuchpool", socket=self.socket)
        self.addCleanup(ex.shutdown)
        with self.assertRaises(forkpool.UnknownPool) as cm:
            ex.submit(pyfuncs.square, 1).result(30)
        self.assertEqual(cm.exception.code, 4)

    def test_send_failure(self):
        # A connection that fails while sending fails the future with
        # ConnectionLost; the next submit() connects again.
        ex = self.executor()
        self.assertEqual(ex.submit(pyfuncs.square, 2).result(30), 4)
        real = ex._conn.sock

        class Broken:
            def sendall(self, data):
                raise BrokenPipeError(32, "Broken pipe")

            def __getattr__(self, name):
                return getattr(real, name)

        ex._conn.sock = Broken()
        f = ex.submit(pyfuncs.square, 3)
        self.assertIsInstance(f.exception(30), forkpool.ConnectionLost)
        self.assertEqual(ex.submit(pyfuncs.square, 5).result(30), 25)

    def test_exit_waits_for_pending(self):
        # As with ProcessPoolExecutor, a program that exits without
        # shutdown() still lets its pending tasks finish first.
        code = ("import sys, forkpool, pyfuncs\n"
                "ex = forkpool.Executor('py', socket=sys.argv[1])\n"
                "f = ex.submit(pyfuncs.sleep, 0.2, 7)\n"
                "f.add_done_callback(lambda f: print('done', f.result(),"
                " flush=True))\n")
        proc = subprocess.run([sys.executable, "-c", code, self.socket],
                              env=child_env(), stdout=subprocess.PIPE,
                              timeout=60)
        self.assertEqual(proc.stdout, b"done 7\n")
        self.assertEqual(proc.returncode, 0)

    def test_main_guard(self):
        # A client created while a worker loads the caller's script (no
        # __name__ guard) is refused with an explanation.
        from forkpool import _mainref
        _mainref._loading += 1
        try:
            with self.assertRaises(RuntimeError) as cm:
                forkpool.Executor("py", socket=self.socket)
            self.assertIn("__name__", str(cm.exception))
        finally:
            _mainref._loading -= 1


_support = command_support()


@unittest.skipUnless(_support[0], _support[1])
class TestExecutorDaemon(ExecutorTests, unittest.TestCase):
    """Against the real forkpoold, pool py running the generic worker."""

    crash_words = ("SIGKILL",)

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(
            py_pool_ini("py", 2, "prefetch = 1\n") +
            py_pool_ini("pyslow", 1, "task_timeout = 300ms\n")).start()
        cls.socket = cls.daemon.socket

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def test_task_timeout(self):
        # A task past task_timeout fails with TaskTimeout; its worker is
        # replaced and the pool goes on.
        ex = forkpool.Executor("pyslow", socket=self.socket)
        self.addCleanup(ex.shutdown)
        mark = os.path.join(self.tmp, "t")
        with self.assertRaises(forkpool.TaskTimeout) as cm:
            ex.submit(pyfuncs.wait_for, mark, self.release, 0).result(30)
        self.assertEqual(cm.exception.code, 6)
        self.assertEqual(ex.submit(pyfuncs.square, 4).result(30), 16)

    def test_stdout_in_log(self):
        # A worker's print() reaches the daemon's log; the channel is fine.
        ex = self.executor()
        marker = "marker-%d-%s" % (os.getpid(), id(self))
        self.assertEqual(ex.submit(pyfuncs.shout, marker).result(30),
                         len(marker))
        deadline_poll(lambda: marker in self.daemon.log(), 10,
                      what="the printed line in the daemon's log")

    def test_connection_lost(self):
        # A daemon that dies fails every pending future, running or queued,
        # with ConnectionLost (test_send_failure shows the reconnect).
        daemon = Daemon(py_pool_ini("py", 2)).start()
        self.addCleanup(daemon.stop)
        ex = forkpool.Executor("py", socket=daemon.socket)
        self.addCleanup(ex.shutdown)
        self.socket, saved = daemon.socket, self.socket
        try:
            running = self.blockers(ex)
        finally:
            self.socket = saved
        queued = ex.submit(pyfuncs.square, 2)
        daemon.kill()
        for f in running + [queued]:
            self.assertIsInstance(f.exception(30), forkpool.ConnectionLost)


@unittest.skipUnless(have_daemon(), "forkpoold is not built")
class TestExecutorOnEcho(unittest.TestCase):
    """The plumbing through the real daemon, on its built-in echo pool.

    echo returns the pickled call itself, so the result is the call:
    this checks pickling, ids, the window and the reader thread end to end
    without a Python worker.
    """

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon("[pool:echo]\nhandler = echo\nworkers = 2\n"
                            "prefetch = 16\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def test_submit_and_map(self):
        # Each future gets its own reply, however many are in flight.
        with forkpool.Executor("echo", socket=self.daemon.socket,
                               max_inflight=64) as ex:
            self.assertEqual(ex.submit(pyfuncs.add, 1, b=2).result(30),
                             (pyfuncs.add, (1,), {"b": 2}))
            out = list(ex.map(pyfuncs.square, range(5000)))
            self.assertEqual(out, [(pyfuncs.square, (i,), {})
                                   for i in range(5000)])
            fs = [ex.submit(pyfuncs.square, i) for i in range(2000)]
            self.assertEqual([f.result(30)[1][0] for f in fs],
                             list(range(2000)))

    def test_unknown_pool(self):
        # The daemon's UNKNOWN_POOL fails the future with UnknownPool.
        with forkpool.Executor("nosuchpool", socket=self.daemon.socket) as ex:
            self.assertRaises(forkpool.UnknownPool,
                              ex.submit(pyfuncs.square, 1).result, 30)

    def test_too_large_locally(self):
        # A pickled call over max_payload fails locally; the connection
        # (which the daemon would close) stays up.
        with forkpool.Executor("echo", socket=self.daemon.socket,
                               max_payload=1000) as ex:
            f = ex.submit(pyfuncs.echo, b"x" * 2000)
            self.assertIsInstance(f.exception(30), forkpool.TooLarge)
            self.assertEqual(ex.submit(pyfuncs.echo, 1).result(30)[1], (1,))

    def test_submit_after_shutdown(self):
        # After shutdown() submit() raises RuntimeError, as the standard
        # executors do; shutdown() twice is harmless.
        ex = forkpool.Executor("echo", socket=self.daemon.socket)
        ex.shutdown()
        ex.shutdown()
        self.assertRaises(RuntimeError, ex.submit, pyfuncs.square, 1)


if __name__ == "__main__":
    unittest.main()

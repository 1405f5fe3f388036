"""forkpool.Executor as a drop-in for ProcessPoolExecutor, through a real
forkpoold: the constructor's arguments, the standard library's exception
classes, Future, what may cross to a worker, and OVERLOADED never shown."""

import concurrent.futures as cf
import concurrent.futures.process as cfp
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

import forkpool

import pyfuncs
from fpharness import (FORKPOOLD, Daemon, command_support, deadline_poll,
                       py_pool_ini)

_support = command_support()


@unittest.skipUnless(_support[0], _support[1])
class TestCompat(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # A worker that says it is another Python than this one.
        cls.fake_dir = tempfile.mkdtemp(prefix="fp-py-")
        fake = os.path.join(cls.fake_dir, "fakever.py")
        with open(fake, "w") as f:
            f.write("import os, sys\nsys.path.insert(0, os.getcwd())\n"
                    "import forkpool._calls\n"
                    "forkpool._calls.python_version = lambda: (3, 0, 1)\n"
                    "import forkpool.worker\n"
                    "sys.exit(forkpool.worker.main())\n")
        cls.daemon = Daemon(
            py_pool_ini("py", 2, "prefetch = 1\n") +
            py_pool_ini("pyq", 2, "queue_limit = 64\nprefetch = 4\n") +
            py_pool_ini("pyr", 2, "prefetch = 1\n") +
            py_pool_ini("pyfake", 1).replace("-m forkpool.worker", fake)
        ).start()
        cls.socket = cls.daemon.socket

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        shutil.rmtree(cls.fake_dir, ignore_errors=True)

    def test_interpreter_visible(self):
        # STATUS names each program pool's command and the program its
        # worker really runs; forkpool status prints both.
        st = self.pool_status("py")
        self.assertIn("-m forkpool.worker", st["command"])
        self.assertEqual(os.path.realpath(st["exe"]),
                         os.path.realpath(sys.executable))
        cli = os.environ.get("FORKPOOL") or os.path.join(
            os.path.dirname(os.path.abspath(FORKPOOLD)), "forkpool")
        out = subprocess.run([cli, "-s", self.socket, "status"],
                             stdout=subprocess.PIPE, check=True
                             ).stdout.decode()
        self.assertIn("pool py runs: %s" % st["command"], out)
        self.assertIn(st["exe"], out)

    def test_version_mismatch_warns_once(self):
        # An Executor whose pool's workers run another Python version
        # warns once (RuntimeWarning naming both versions); a second
        # executor on that pool does not warn again.
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                with forkpool.Executor("pyfake", socket=self.socket) as ex:
                    self.assertEqual(ex.submit(pyfuncs.square, 3).result(30),
                                     9)
        mine = [w for w in caught if issubclass(w.category, RuntimeWarning)
                and "pyfake" in str(w.message)]
        self.assertEqual(len(mine), 1, [str(w.message) for w in caught])
        self.assertIn("3.0.1", str(mine[0].message))

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fp-py-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.release = os.path.join(self.tmp, "release")
        self.addCleanup(self.open_gate)

    def open_gate(self):
        with open(self.release, "w"):
            pass

    def executor(self, pool="py", **kw):
        ex = forkpool.Executor(pool, socket=self.socket, **kw)
        self.addCleanup(ex.shutdown)
        self.addCleanup(self.open_gate)
        return ex

    def pool_status(self, name):
        with forkpool.Client(self.socket) as c:
            return [p for p in c.status()["pools"] if p["name"] == name][0]

    def test_constructor_checks(self):
        # max_workers <= 0 and max_tasks_per_child <= 0 are ValueError, as
        # with ProcessPoolExecutor; mp_context is accepted and ignored.
        for bad in (0, -1):
            with self.assertRaises(ValueError):
                forkpool.Executor("py", bad, socket=self.socket)
            with self.assertRaises(ValueError):
                forkpool.Executor("py", socket=self.socket,
                                  max_tasks_per_child=bad)
        ex = self.executor(max_workers=4,
                           mp_context=multiprocessing.get_context("spawn"))
        self.assertEqual(ex.submit(pyfuncs.square, 7).result(30), 49)

    def test_max_workers_caps_running_calls(self):
        # With max_workers=1, a second call is not sent while the first
        # runs (the pool has two idle workers), and submit() does not
        # block for it; both finish once the first is released.
        ex = self.executor(max_workers=1)
        mark = os.path.join(self.tmp, "first")
        second = os.path.join(self.tmp, "second")
        f1 = ex.submit(pyfuncs.wait_for, mark, self.release, 1)
        f2 = ex.submit(pyfuncs.touch, second, 2)
        deadline_poll(lambda: os.path.exists(mark), 30, what="call 1")
        st = self.pool_status("py")
        self.assertEqual(sum(w["state"] == "busy" for w in st["workers"]),
                         1)
        self.assertFalse(os.path.exists(second))
        self.assertFalse(f2.done())
        # A call held in the executor is cancelled at once, never sent.
        f3 = ex.submit(pyfuncs.touch, os.path.join(self.tmp, "never"), 3)
        self.assertTrue(f3.cancel())
        self.assertTrue(f3.cancelled())
        self.open_gate()
        self.assertEqual((f1.result(30), f2.result(30)), (1, 2))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "never")))

    def test_initializer_once_per_worker(self):
        # The initializer runs in a worker before the first call of this
        # executor there, once per worker; the calls see what it set up.
        log = os.path.join(self.tmp, "init")
        ex = self.executor(initializer=pyfuncs.init_record,
                           initargs=(log, "tag-a"))
        seen = [f.result(30) for f in
                [ex.submit(pyfuncs.initialized) for _ in range(40)]]
        pids = set()
        for tags, pid in seen:
            self.assertEqual(tags.count("tag-a"), 1)
            pids.add(pid)
        with open(log) as f:
            inits = [int(line) for line in f]
        self.assertEqual(sorted(inits), sorted(pids))

    def test_failing_initializer(self):
        # An initializer that raises fails that call, and every later one,
        # with BrokenInitializer (a BrokenProcessPool) whose cause names
        # the error; submit() then raises it.  Another executor on the
        # same pool is not affected.
        ex = self.executor(initializer=pyfuncs.init_fail, initargs=("x",))
        with self.assertLogs("concurrent.futures", "CRITICAL") as logged, \
                self.assertRaises(cfp.BrokenProcessPool) as cm:
            ex.submit(pyfuncs.square, 2).result(30)
        self.assertIn("init failed: x", "\n".join(logged.output))
        self.assertIsInstance(cm.exception, forkpool.BrokenInitializer)
        self.assertIn("init failed: x", str(cm.exception.__cause__))
        with self.assertRaises(forkpool.BrokenInitializer):
            ex.submit(pyfuncs.square, 3)
        other = self.executor()
        self.assertEqual(other.submit(pyfuncs.square, 5).result(30), 25)

    def test_max_tasks_per_child(self):
        # A worker that ran max_tasks_per_child calls of this executor
        # retires once idle and is replaced: every call is done, and no
        # pid serves more than that many plus the one call the daemon may
        # hand it in the milliseconds it takes to leave.
        # (Distinct payloads: today's daemon counts an exit 0 toward the
        # quarantine of the task it handed over in that instant.)
        # (A pool of its own, so the exits it causes stay out of the
        # other tests' pool.)
        ex = self.executor("pyr", max_workers=1, max_tasks_per_child=2)
        pids = [ex.submit(pyfuncs.pid_tag, i).result(30) for i in range(8)]
        for pid in set(pids):
            self.assertLessEqual(pids.count(pid), 3, pids)
        self.assertGreaterEqual(len(set(pids)), 3, pids)
        deadline_poll(lambda: len(self.pool_status("pyr")["workers"]) == 2,
                      30, what="the pool back to two workers")

    def test_exception_classes(self):
        # WorkerCrashed is a BrokenProcessPool; a worker's traceback is the
        # standard library's _RemoteTraceback; futures are
        # concurrent.futures.Future and print as Future.
        self.assertTrue(issubclass(forkpool.WorkerCrashed,
                                   cfp.BrokenProcessPool))
        ex = self.executor()
        f = ex.submit(pyfuncs.die)
        self.assertIsInstance(f.exception(30), cfp.BrokenProcessPool)
        f = ex.submit(pyfuncs.boom, "here")
        exc = f.exception(30)
        self.assertIsInstance(exc.__cause__, cfp._RemoteTraceback)
        self.assertIn("in boom", str(exc.__cause__))
        self.assertIsInstance(f, cf.Future)
        self.assertTrue(repr(f).startswith("<Future at "), repr(f))

    def test_submit_after_shutdown(self):
        # submit() after shutdown() raises RuntimeError.
        ex = self.executor()
        ex.shutdown()
        with self.assertRaises(RuntimeError):
            ex.submit(pyfuncs.square, 1)

    def test_submit_after_interpreter_shutdown(self):
        # submit() from an atexit hook, once the interpreter is shutting
        # down, raises RuntimeError, as with ProcessPoolExecutor.
        script = ("import atexit, sys, forkpool\n"
                  "@atexit.register\n"
                  "def run_last():\n"
                  "    try:\n"
                  "        ex.submit(id, None)\n"
                  "    except RuntimeError as e:\n"
                  "        print('runtime-error:', e)\n"
                  "ex = forkpool.Executor('py', socket=sys.argv[1])\n"
                  "print(ex.submit(abs, -3).result(30))\n")
        from fpharness import child_env
        out = subprocess.run([sys.executable, "-c", script, self.socket],
                             env=child_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertEqual(out.stdout.decode().splitlines(),
                         ["3", "runtime-error: cannot schedule new futures "
                          "after interpreter shutdown"])

    def test_objects_that_cannot_cross(self):
        # A Manager proxy, a multiprocessing queue or lock, a thread lock:
        # the call fails with TypeError naming the object and why, and is
        # not sent; plain values and functions by reference do cross.
        ex = self.executor()
        mgr = multiprocessing.Manager()
        self.addCleanup(mgr.shutdown)
        cases = [(mgr.dict(), "Manager proxy"),
                 (multiprocessing.Queue(), "multiprocessing queue"),
                 (multiprocessing.Lock(), "multiprocessing lock"),
                 (threading.Lock(), "lock of this process")]
        for obj, why in cases:
            exc = ex.submit(pyfuncs.echo, obj).exception(30)
            self.assertIsInstance(exc, TypeError)
            self.assertIn(repr(obj)[:20], str(exc))
            self.assertIn(why, str(exc))
        self.assertEqual(ex.submit(pyfuncs.echo, {"a": [1, 2.5, b"x"]})
                         .result(30), {"a": [1, 2.5, b"x"]})
        self.assertEqual(ex.submit(pyfuncs.echo, pyfuncs.square)
                         .result(30), pyfuncs.square)

    def test_overloaded_never_shown(self):
        # Two Executors and a Client of 20,000 calls each (and 5,000) on a
        # pool with queue_limit = 64: every call succeeds, none reports
        # Overloaded, and the pool ran each exactly once (its completed
        # count), although the daemon did refuse some OVERLOADED.
        before = self.pool_status("pyq")
        n = 20000
        results = {}

        def run(tag):
            with forkpool.Executor("pyq", socket=self.socket) as ex:
                results[tag] = list(ex.map(pyfuncs.echo, range(n)))

        def run_client():
            with forkpool.Client(self.socket) as c:
                payloads = [b"%d" % i for i in range(5000)]
                results["client"] = list(c.map("pyq", [
                    forkpool._mainref.dumps_call((pyfuncs.echo, (p,), {}))
                    for p in payloads]))

        threads = [threading.Thread(target=run, args=(t,))
                   for t in ("a", "b")]
        threads.append(threading.Thread(target=run_client))
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        self.assertEqual(results["a"], list(range(n)))
        self.assertEqual(results["b"], list(range(n)))
        self.assertEqual([forkpool._mainref.loads_result(r)
                          for r in results["client"]],
                         [b"%d" % i for i in range(5000)])
        after = self.pool_status("pyq")
        # The version probe of a new (socket, pool) is one more call.
        ran = after["completed"] - before["completed"]
        self.assertIn(ran, (2 * n + 5000, 2 * n + 5001))
        self.assertGreater(after["overloaded"], before["overloaded"])

    def test_overloaded_shown_when_asked(self):
        # retry_overloaded=False hands OVERLOADED to the caller.  Both
        # workers of pyq are held first, so the 256 calls after them meet
        # a full queue (64 queued, 4 prefetched per worker) whatever the
        # machine's speed; every call is answered once, run or refused.
        ex = self.executor("pyq", retry_overloaded=False)
        marks = [os.path.join(self.tmp, "held%d" % i) for i in range(2)]
        held = [ex.submit(pyfuncs.wait_for, m, self.release, i)
                for i, m in enumerate(marks)]
        deadline_poll(lambda: all(os.path.exists(m) for m in marks), 30,
                      what="both workers held")
        fs = [ex.submit(pyfuncs.echo, i) for i in range(256)]
        deadline_poll(lambda: sum(f.done() for f in fs) >= 256 - 72, 30,
                      what="the calls past the queue refused")
        self.open_gate()
        self.assertEqual([f.result(30) for f in held], [0, 1])
        errors = [f.exception(60) for f in fs]
        refused = [e for e in errors if e is not None]
        self.assertGreaterEqual(len(refused), 256 - 72)
        self.assertTrue(all(isinstance(e, forkpool.Overloaded)
                            for e in refused), refused[:3])
        self.assertEqual([f.result() for i, f in enumerate(fs)
                          if errors[i] is None],
                         [i for i in range(256) if errors[i] is None])


if __name__ == "__main__":
    unittest.main()

"""forkpool.redis.Executor and forkpool-redis submit/map, end to end:
a real redis-server, forkpoold with a Python pool, and a bridge."""

import os
import subprocess
import sys
import unittest

from bridgeharness import (BRIDGE, Bridge, RedisServer, TempDirCase,
                           wait_for)

import fpharness
import pyfuncs

import forkpool
import forkpool.redis


class ProducerCase(TempDirCase, unittest.TestCase):

    def setUp(self):
        self.make_tmp()
        self.redis = RedisServer(self.tmp).start()
        self.addCleanup(self.redis.stop)
        ini = fpharness.py_pool_ini("py") + (
            "[pool:echo]\nhandler = echo\nworkers = 1\n")
        self.daemon = fpharness.Daemon(ini).start()
        self.addCleanup(self.daemon.stop)
        self.bridge = Bridge(self.tmp, "h1", self.redis.sock,
                             self.daemon.socket).start()
        self.addCleanup(self.bridge.stop)
        self.url = "unix://" + self.redis.sock

    def cli(self, *args, input=b""):
        return subprocess.run([BRIDGE, "-c", self.bridge.ini] + list(args),
                              input=input, capture_output=True, timeout=60)


class TestExecutor(ProducerCase):

    def test_map_and_submit_across_redis(self):
        # forkpool.redis.Executor is a concurrent.futures.Executor: map()
        # returns results in order, submit() a future; calls run on the
        # pool behind the bridge, pickled as forkpool.Executor pickles them.
        with forkpool.redis.Executor(self.url, "jobs", "py") as ex:
            self.assertEqual(list(ex.map(pyfuncs.square, range(50))),
                             [x * x for x in range(50)])
            self.assertEqual(ex.submit(pyfuncs.add, 2, b=3).result(30), 5)
            self.assertEqual(list(ex.map(pyfuncs.square, range(10),
                                         chunksize=4)),
                             [x * x for x in range(10)])

    def test_exceptions_and_daemon_errors(self):
        # The function's exception comes back as itself; an outcome of the
        # daemon's (UNKNOWN_POOL) as the forkpool.Error of its code.
        with forkpool.redis.Executor(self.url, "jobs", "py") as ex:
            with self.assertRaisesRegex(pyfuncs.Boom, "boom: bad input"):
                ex.submit(pyfuncs.boom, "bad input").result(30)
        with forkpool.redis.Executor(self.url, "jobs", "nopool") as ex:
            with self.assertRaises(forkpool.UnknownPool):
                ex.submit(pyfuncs.square, 3).result(30)

    def test_deadline_expired(self):
        # A call whose deadline passed before it could run fails with
        # forkpool.redis.Expired and is not run.
        with forkpool.redis.Executor(self.url, "jobs", "py",
                                     deadline=-1) as ex:
            with self.assertRaises(forkpool.redis.Expired):
                ex.submit(pyfuncs.square, 3).result(30)


class TestCommandLine(ProducerCase):

    def test_submit(self):
        # forkpool-redis submit prints the output and exits 0; an error
        # outcome exits 3 and says what happened.
        p = self.cli("submit", "echo", "hello")
        self.assertEqual((p.returncode, p.stdout), (0, b"hello"), p.stderr)
        p = self.cli("submit", "nopool", "x")
        self.assertEqual(p.returncode, 3)
        self.assertIn(b"UNKNOWN_POOL", p.stderr)

    def test_map_keeps_input_order(self):
        # forkpool-redis map runs one task per line and prints the outputs
        # in input order.
        lines = b"".join(b"line %d\n" % i for i in range(300))
        p = self.cli("map", "echo", input=lines)
        self.assertEqual((p.returncode, p.stdout), (0, lines), p.stderr)


if __name__ == "__main__":
    unittest.main()

"""forkpool.AsyncClient under asyncio.run, through a real forkpoold: the
same results, errors, flow control and cancellation as forkpool.Client."""

import asyncio
import os
import shutil
import tempfile
import unittest

import forkpool
from forkpool import _mainref

import pyfuncs
from fpharness import (Daemon, command_support, have_daemon,
                       py_pool_ini)

_support = command_support()


def call(fn, *args):
    return _mainref.dumps_call((fn, args, {}))


@unittest.skipUnless(have_daemon() and _support[0],
                     "needs forkpoold with command = pools")
class TestAsyncClient(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(
            "[pool:echo]\nhandler = echo\nworkers = 2\n"
            "[pool:small]\nhandler = echo\nworkers = 1\nqueue_limit = 8\n"
            + py_pool_ini("py1", 1, "prefetch = 1\n")).start()
        cls.socket = cls.daemon.socket

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fp-py-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_submit_map_ping_status(self):
        # submit() and map() return the outputs (map in input order);
        # ping() and status() answer.
        async def main():
            async with forkpool.AsyncClient(self.socket) as c:
                one = await c.submit("echo", b"hello")
                many = await c.map("echo", [b"%d" % i for i in range(500)],
                                   window=32)
                return one, many, await c.ping(), await c.status()

        one, many, pong, status = asyncio.run(main())
        self.assertEqual(one, b"hello")
        self.assertEqual(many, [b"%d" % i for i in range(500)])
        self.assertTrue(pong)
        self.assertIn("echo", [p["name"] for p in status["pools"]])

    def test_errors(self):
        # The daemon's errors are the same forkpool.Error classes.
        async def main():
            async with forkpool.AsyncClient(self.socket) as c:
                with self.assertRaises(forkpool.UnknownPool):
                    await c.submit("nosuchpool", b"x")
                with self.assertRaises(forkpool.TooLarge):
                    c.max_payload = 4
                    await c.submit("echo", b"12345")
                c.max_payload = 1 << 20
                return await c.submit("echo", b"still fine")

        self.assertEqual(asyncio.run(main()), b"still fine")

    def test_overloaded_waited_out(self):
        # 2,000 tasks at once on a pool whose queue holds 8: every one is
        # answered with its output, none raises Overloaded.
        async def main():
            async with forkpool.AsyncClient(self.socket) as c:
                return await c.map("small", [b"%d" % i for i in range(2000)],
                                   window=2000)

        self.assertEqual(asyncio.run(main()),
                         [b"%d" % i for i in range(2000)])
        with forkpool.Client(self.socket) as c:
            small = [p for p in c.status()["pools"]
                     if p["name"] == "small"][0]
        self.assertGreater(small["overloaded"], 0)

    def test_cancel_sends_cancel(self):
        # Cancelling the task that awaits submit() sends CANCEL: a queued
        # task is dropped and never runs.
        started = os.path.join(self.tmp, "started")
        release = os.path.join(self.tmp, "release")
        never = os.path.join(self.tmp, "never")

        async def queued(c, name):
            pools = (await c.status())["pools"]
            return [p for p in pools if p["name"] == name][0]["queued"]

        async def main():
            async with forkpool.AsyncClient(self.socket) as c:
                first = asyncio.ensure_future(c.submit(
                    "py1", call(pyfuncs.wait_for, started, release, 1)))
                end = asyncio.get_running_loop().time() + 30
                while not os.path.exists(started):
                    self.assertLess(asyncio.get_running_loop().time(), end,
                                    "the first task never started")
                    await asyncio.sleep(0.005)
                second = asyncio.ensure_future(c.submit(
                    "py1", call(pyfuncs.touch, never, 2)))
                # Wait until the daemon holds it in the queue.
                while await queued(c, "py1") != 1:
                    self.assertLess(asyncio.get_running_loop().time(), end,
                                    "the second task never got queued")
                    await asyncio.sleep(0.005)
                second.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await second
                # The CANCEL is on the wire before the gate opens.
                await c.ping()
                open(release, "w").close()
                out = await first
                # The worker is free again; a later task runs.
                await c.submit("py1", call(pyfuncs.square, 3))
                return _mainref.loads_result(out)

        self.assertEqual(asyncio.run(main()), 1)
        self.assertFalse(os.path.exists(never))


if __name__ == "__main__":
    unittest.main()

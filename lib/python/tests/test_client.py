"""forkpool.Client against a real forkpoold: the echo pool and, when the
test module is built, the faulty module's pool."""

import os
import threading
import unittest

import forkpool

from fpharness import FAULTY, Daemon, have_daemon


def ini():
    text = "[pool:echo]\nhandler = echo\nworkers = 2\n"
    if os.path.exists(FAULTY):
        text += "[pool:faulty]\nmodule = %s\nworkers = 1\n" % FAULTY
    return text


@unittest.skipUnless(have_daemon(), "forkpoold is not built")
class TestClient(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(ini()).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def setUp(self):
        self.c = forkpool.Client(self.daemon.socket)
        self.addCleanup(self.c.close)

    def need_faulty(self):
        if not os.path.exists(FAULTY):
            self.skipTest("%s is not built" % FAULTY)

    def test_ping(self):
        # PING is answered.
        self.assertIs(self.c.ping(), True)

    def test_submit(self):
        # The echo pool returns the payload, bytes for bytes.
        every = bytes(range(256)) * 3
        self.assertEqual(self.c.submit("echo", every), every)
        self.assertEqual(self.c.submit("echo", b""), b"")
        self.assertEqual(self.c.submit(b"echo", "caf\u00e9"),
                         "caf\u00e9".encode())
        self.assertEqual(self.c.submit("echo", bytearray(b"ba")), b"ba")

    def test_default_socket_from_environment(self):
        # With no socket given, $FORKPOOL_SOCKET is where it connects.
        old = os.environ.get("FORKPOOL_SOCKET")
        os.environ["FORKPOOL_SOCKET"] = self.daemon.socket
        try:
            with forkpool.Client() as c:
                self.assertEqual(c.path, self.daemon.socket)
                self.assertEqual(c.submit("echo", b"env"), b"env")
        finally:
            if old is None:
                del os.environ["FORKPOOL_SOCKET"]
            else:
                os.environ["FORKPOOL_SOCKET"] = old

    def test_map_order(self):
        # map() pipelines with a bounded window and yields in input order,
        # taking payloads from the iterable lazily.
        taken = []

        def payloads():
            for i in range(200):
                taken.append(i)
                yield b"%d" % i

        out = self.c.map("echo", payloads(), window=5)
        first = next(out)
        self.assertEqual(first, b"0")
        self.assertLessEqual(len(taken), 5)
        rest = list(out)
        self.assertEqual([first] + rest, [b"%d" % i for i in range(200)])

    def test_map_abandoned(self):
        # Leaving a map() early leaves the connection usable: the replies
        # still coming are dropped, not taken for later requests.
        out = self.c.map("echo", [b"m%d" % i for i in range(100)], window=50)
        self.assertEqual(next(out), b"m0")
        out.close()
        for i in range(20):
            self.assertEqual(self.c.submit("echo", b"s%d" % i), b"s%d" % i)
        self.assertEqual(list(self.c.map("echo", [b"a", b"b"])),
                         [b"a", b"b"])

    def test_unknown_pool(self):
        # An ERROR reply raises its class, with the daemon's words; the
        # connection stays open.
        with self.assertRaises(forkpool.UnknownPool) as cm:
            self.c.submit("nosuchpool", b"x")
        e = cm.exception
        self.assertEqual((e.code, e.name), (4, "UNKNOWN_POOL"))
        self.assertIn("nosuchpool", e.message)
        self.assertIsInstance(e, forkpool.Error)
        self.assertEqual(self.c.submit("echo", b"after"), b"after")

    def test_unknown_pool_in_map(self):
        # In map(), the error raises when its turn comes.
        out = self.c.map("nosuchpool", [b"x"])
        self.assertRaises(forkpool.UnknownPool, next, out)

    def test_bad_pool_name_refused_locally(self):
        # A name the protocol refuses never reaches the daemon.
        self.assertRaises(ValueError, self.c.submit, "bad name", b"x")
        self.assertRaises(ValueError, self.c.submit, "", b"x")
        self.assertTrue(self.c.ping())

    def test_too_large_refused_locally(self):
        # A payload over max_payload is refused before it is sent (the
        # daemon would close the connection).
        with forkpool.Client(self.daemon.socket, max_payload=10) as c:
            self.assertRaises(forkpool.TooLarge, c.submit, "echo", b"x" * 11)
            self.assertEqual(c.submit("echo", b"x" * 10), b"x" * 10)

    def test_status(self):
        # STATUS is parsed JSON with the keys of PROTOCOL.md.
        st = self.c.status()
        for key in ("version", "pid", "uptime_ms", "pools"):
            self.assertIn(key, st)
        self.assertEqual(st["pid"], self.daemon.proc.pid)
        echo = [pl for pl in st["pools"] if pl["name"] == "echo"][0]
        self.assertEqual(echo["size"], 2)
        for key in ("queued", "queue_limit", "restarts", "completed",
                    "timeouts", "crashes", "overloaded", "workers"):
            self.assertIn(key, echo)

    def test_metrics(self):
        # METRICS is Prometheus text counting tasks by pool and outcome.
        self.c.submit("echo", b"counted")
        text = self.c.metrics()
        self.assertIn('forkpool_tasks_total{pool="echo"', text)

    def test_threads_share_a_client(self):
        # Threads may share one Client: every call gets its own reply.
        errors = []

        def work(t):
            try:
                for i in range(100):
                    want = b"t%d-%d" % (t, i)
                    got = self.c.submit("echo", want)
                    if got != want:
                        errors.append((want, got))
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        self.assertEqual(errors, [])

    def test_task_failed(self):
        # A RESULT with a non-zero status raises TaskFailed with the
        # handler's status and output.
        self.need_faulty()
        with self.assertRaises(forkpool.TaskFailed) as cm:
            self.c.submit("faulty", b"fail:3:bad input")
        self.assertEqual((cm.exception.status, cm.exception.output),
                         (3, b"bad input"))

    def test_map_stops_at_failure(self):
        # map() yields the outputs before a failed task, then raises it.
        self.need_faulty()
        out = self.c.map("faulty", [b"a", b"fail:2:no", b"c"])
        self.assertEqual(next(out), b"a")
        self.assertRaises(forkpool.TaskFailed, next, out)
        self.assertEqual(self.c.submit("echo", b"fine"), b"fine")

    def test_worker_crashed(self):
        # A crash raises WorkerCrashed naming the signal; the next task runs.
        self.need_faulty()
        with self.assertRaises(forkpool.WorkerCrashed) as cm:
            self.c.submit("faulty", b"segv")
        self.assertIn("SIGSEGV", cm.exception.message)
        self.assertEqual(self.c.submit("faulty", b"again"), b"again")

    def test_timeout_keeps_connection(self):
        # A reply later than the client's timeout raises TimeoutError; the
        # late reply is dropped and the connection serves the next call.
        self.need_faulty()
        with forkpool.Client(self.daemon.socket, timeout=0.2) as c:
            self.assertRaises(TimeoutError, c.submit, "faulty", b"sleep:600")
            self.assertEqual(c.submit("echo", b"echo"), b"echo")
            c.timeout = 30
            # The sleeping task's reply comes first, and must be dropped.
            self.assertEqual(c.submit("faulty", b"after"), b"after")


@unittest.skipUnless(have_daemon(), "forkpoold is not built")
class TestConnectionLost(unittest.TestCase):

    def test_daemon_killed(self):
        # A connection the daemon drops raises ConnectionLost; the next
        # call tries again and says where it failed.
        daemon = Daemon(ini()).start()
        try:
            c = forkpool.Client(daemon.socket)
            self.assertEqual(c.submit("echo", b"x"), b"x")
            daemon.kill()
            self.assertRaises(forkpool.ConnectionLost, c.submit, "echo",
                              b"y")
            with self.assertRaises(OSError) as cm:
                c.ping()
            self.assertIn(daemon.socket, str(cm.exception))
        finally:
            daemon.stop()

    def test_no_daemon(self):
        # Connecting where nobody listens is an OSError naming the path
        # and a hint.
        with self.assertRaises(FileNotFoundError) as cm:
            forkpool.Client("/nonexistent/forkpool.sock")
        self.assertIn("/nonexistent/forkpool.sock", str(cm.exception))
        self.assertIn("forkpoold running", str(cm.exception))


if __name__ == "__main__":
    unittest.main()

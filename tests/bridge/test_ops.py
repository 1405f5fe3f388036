"""forkpool-redis in operation: its systemd unit, sd_notify, metrics."""

import os
import shutil
import signal
import socket
import subprocess
import unittest

from bridgeharness import (BRIDGE, Host, RedisServer, TREE, TempDirCase,
                           add_entries, wait_for)


class TestUnit(TempDirCase, unittest.TestCase):

    @unittest.skipUnless(shutil.which("systemd-analyze"),
                         "systemd-analyze is not installed")
    def test_unit_verifies(self):
        # systemd-analyze verify passes on forkpool-redis.service (with its
        # ExecStart pointed at the built bridge), with nothing to say; its
        # Documentation= resolves to man/forkpool-redis.1.
        self.make_tmp()
        with open(os.path.join(TREE, "systemd",
                               "forkpool-redis.service")) as f:
            text = f.read()
        old = "ExecStart=/usr/local/bin/forkpool-redis"
        self.assertIn(old, text)
        with open(os.path.join(self.tmp, "forkpool-redis.service"),
                  "w") as f:
            f.write(text.replace(old, "ExecStart=" + BRIDGE))
        os.makedirs(os.path.join(self.tmp, "man", "man1"))
        os.symlink(os.path.join(TREE, "man", "forkpool-redis.1"),
                   os.path.join(self.tmp, "man", "man1",
                                "forkpool-redis.1"))
        man = [] if shutil.which("man") else ["--man=no"]
        p = subprocess.run(["systemd-analyze", "verify"] + man +
                           ["./forkpool-redis.service"], cwd=self.tmp,
                           capture_output=True, text=True,
                           env=dict(os.environ, SYSTEMD_LOG_COLOR="0",
                                    MANPATH=os.path.join(self.tmp, "man")))
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))


class TestRunning(TempDirCase, unittest.TestCase):

    def setUp(self):
        self.make_tmp()
        self.redis = RedisServer(self.tmp).start()
        self.addCleanup(self.redis.stop)
        self.r = self.redis.client()
        self.addCleanup(self.r.connection_pool.disconnect)

    def test_notify_ready_and_stopping(self):
        # Under systemd (Type=notify) the bridge says READY=1 once started
        # and STOPPING=1 on SIGTERM, on its NOTIFY_SOCKET.
        path = os.path.join(self.tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(path)
        sock.settimeout(20)
        h = Host(self.tmp, "a", self.redis.sock)
        self.addCleanup(h.stop)
        h.daemon.start()
        os.environ["NOTIFY_SOCKET"] = path
        try:
            h.bridge.start()
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.assertIn(b"READY=1", sock.recv(4096))
        h.bridge.signal(signal.SIGTERM)
        self.assertIn(b"STOPPING=1", sock.recv(4096))
        self.assertEqual(h.bridge.wait(), 0)

    def test_metrics(self):
        # The metrics file holds, in Prometheus text, entries read and
        # acknowledged, outcomes by type, the window in use and the
        # group's lag and pending count.
        h = Host(self.tmp, "a", self.redis.sock).start()
        self.addCleanup(h.stop)
        add_entries(self.r, [b"x"] * 10, "echo")
        add_entries(self.r, [b"x"], "nosuchpool")

        def counted():
            m = h.bridge.metrics()
            return (m.get(("forkpool_redis_entries_acked_total", None)) ==
                    11 and ("forkpool_redis_group_lag", None) in m and m)

        m = wait_for(counted, 20, "the metrics to count 11 entries")
        self.assertEqual(m[("forkpool_redis_entries_read_total", None)], 11)
        self.assertEqual(m[("forkpool_redis_outcomes_total", "result")], 10)
        self.assertEqual(m[("forkpool_redis_outcomes_total", "error")], 1)
        self.assertEqual(m[("forkpool_redis_window_size", None)], 64)
        for name in ("forkpool_redis_window_in_use",
                     "forkpool_redis_group_pending",
                     "forkpool_redis_reconnects_total",
                     "forkpool_redis_entries_claimed_total",
                     "forkpool_redis_entries_dead_lettered_total"):
            self.assertIn((name, None), m)


if __name__ == "__main__":
    unittest.main()

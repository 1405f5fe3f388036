"""forkpool-redis against a real redis-server and real forkpoolds.

Each test's first comment states the guarantee it proves.
"""

import collections
import os
import signal
import subprocess
import unittest

from bridgeharness import (BRIDGE, Bridge, Host, RedisServer, SLOW,
                           TempDirCase, add_entries, now_ms, outcomes,
                           pending, tasks_ok, tasks_started, wait_for)

# The 20,000, under sanitizers too (about 2 s here, 10 s there).
N_TASKS = int(os.environ.get("FORKPOOL_REDIS_TASKS", 20000))


class BridgeCase(TempDirCase, unittest.TestCase):

    def setUp(self):
        self.make_tmp()
        self.redis = RedisServer(self.tmp, aof=True).start()
        self.addCleanup(self.redis.stop)
        self.r = self.redis.client()
        self.addCleanup(self.r.connection_pool.disconnect)
        self.hosts = []

    def host(self, name, **keys):
        h = Host(self.tmp, name, self.redis.sock, **keys)
        self.addCleanup(h.stop)
        self.hosts.append(h)
        return h.start()

    def wait_outcomes(self, n, timeout):
        try:
            wait_for(lambda: self.r.xlen("jobs:results") >= n, timeout,
                     "%d outcomes" % n)
        except AssertionError as e:
            logs = "".join("\n--- bridge %s:\n%s" % (h.bridge.dir,
                                                     h.bridge.log()[-3000:])
                           for h in self.hosts)
            held = self.r.xpending_range("jobs", "forkpool", "-", "+", 20)
            raise AssertionError("%s (have %d, pending %d: %s)%s" % (
                e, self.r.xlen("jobs:results"), pending(self.r), held,
                logs))

    def by_entry(self):
        seen = collections.defaultdict(list)
        for o in outcomes(self.r):
            seen[o["entry"].decode()].append(o)
        return seen


class TestTwoHosts(BridgeCase):

    def test_every_entry_exactly_one_outcome(self):
        # Two hosts (two forkpoolds, two bridges, distinct consumers) share
        # a stream of N tasks: every entry gets exactly one outcome, with
        # its output, and the group has nothing pending at the end.
        a = self.host("a")
        b = self.host("b")
        payloads = [b"task-%d" % i for i in range(N_TASKS)]
        ids = add_entries(self.r, payloads, "echo")
        self.wait_outcomes(N_TASKS, 120)
        seen = self.by_entry()
        self.assertEqual(set(seen), set(ids))
        self.assertEqual([k for k, v in seen.items() if len(v) != 1], [])
        for entry, p in zip(ids, payloads):
            o = seen[entry][0]
            self.assertEqual((o["outcome"], o["status"], o["output"]),
                             (b"result", b"0", p))
        wait_for(lambda: pending(self.r) == 0, 10, "no pending entries")
        consumers = collections.Counter(o[0]["consumer"]
                                        for o in seen.values())
        self.assertEqual(set(consumers), {b"a", b"b"})
        for h in (a, b):
            self.assertEqual(h.bridge.stop(), 0, h.bridge.log())

    def test_errors_are_outcomes(self):
        # UNKNOWN_POOL and a handler's failure status are outcomes written
        # like any other; a deadline already past is "expired", not run;
        # reply_to receives the same outcome.
        self.host("a")
        ids = add_entries(self.r, [b"x"], "nosuchpool", reply_to="rt")
        ids += add_entries(self.r, [b"fail:3:bad"], "faulty", reply_to="rt")
        ids += add_entries(self.r, [b"x"], "echo", reply_to="rt",
                           deadline=now_ms() - 1000)
        self.wait_outcomes(3, 30)
        seen = self.by_entry()
        self.assertEqual((seen[ids[0]][0]["outcome"],
                          seen[ids[0]][0]["code"]),
                         (b"error", b"UNKNOWN_POOL"))
        self.assertEqual((seen[ids[1]][0]["status"],
                          seen[ids[1]][0]["output"]), (b"3", b"bad"))
        self.assertEqual(seen[ids[2]][0]["outcome"], b"expired")
        pushed = sorted(self.r.lrange("rt", 0, -1))
        self.assertEqual(len(pushed), 3)
        self.assertGreater(self.r.pttl("rt"), 0)
        self.assertIn(ids[1].encode() + b" result 3 a\nbad", pushed)


class TestTakeOver(BridgeCase):

    def test_dead_host_entries_taken_over(self):
        # A host whose bridge and daemon are SIGKILLed mid-load loses
        # nothing: the other host takes its entries over after claim_idle,
        # every entry gets an outcome, and only entries the dead host held
        # (at most its window) were delivered twice.
        window = 8
        a = self.host("a", window=window, claim_idle="1s")
        b = self.host("b", window=window, claim_idle="1s")
        n = 600
        ids = add_entries(self.r, [b"sleep:5"] * n, "faulty")
        self.wait_outcomes(n // 5, 60)
        a.kill()
        held = {p["message_id"].decode() for p in self.r.xpending_range(
            "jobs", "forkpool", "-", "+", 1000, consumername="a")}
        self.assertLessEqual(len(held), window)
        self.wait_outcomes(n, 120)
        seen = self.by_entry()
        self.assertEqual(set(seen), set(ids))
        self.assertEqual([k for k, v in seen.items() if len(v) != 1], [])
        again = {k for k, v in seen.items() if int(v[0]["deliveries"]) > 1}
        self.assertLessEqual(again, held)
        self.assertEqual(len(again), len(held))
        wait_for(lambda: pending(self.r) == 0, 10, "no pending entries")
        wait_for(lambda: b.bridge.metrics().get(
            ("forkpool_redis_entries_claimed_total", None), 0) >= len(held),
            10, "b's claimed counter")

    def test_long_task_on_live_host_kept(self):
        # A task that runs longer than claim_idle on a live host is not
        # taken over: the bridge keeps its entry fresh.
        a = self.host("a", claim_idle="1s")
        ids = add_entries(self.r, [b"sleep:3500"], "faulty")
        wait_for(lambda: pending(self.r) == 1,
                 10, "a to hold the entry")
        b = self.host("b", claim_idle="1s")
        self.wait_outcomes(1, 30)
        o = self.by_entry()[ids[0]]
        self.assertEqual(len(o), 1)
        self.assertEqual((o[0]["consumer"], o[0]["deliveries"],
                          o[0]["output"]), (b"a", b"1", b"slept"))
        self.assertEqual(b.bridge.metrics().get(
            ("forkpool_redis_entries_claimed_total", None), 0), 0)
        self.assertEqual(a.bridge.stop(), 0)

    def test_reading_resumes_after_empty_claim(self):
        # A claim round that falls due while the window is full is sent
        # as soon as room comes back, and holds that room until answered.
        # When the whole window frees at once (one outcome batch) and
        # nothing is idle, the bridge still reads on: the claim gives the
        # room it held back to reading.
        a = self.host("a", window=2, claim_idle="1s")
        add_entries(self.r, [b"sleep:1000"] * 2, "faulty")
        wait_for(lambda: tasks_started(a.daemon, "faulty") == 2, 10,
                 "a to fill its window")
        # Both results wait in the bridge's socket while it is stopped,
        # past claim rounds: read at once, they go out as one batch.
        a.bridge.signal(signal.SIGSTOP)
        try:
            wait_for(lambda: tasks_ok(a.daemon, "faulty") == 2, 10,
                     "both tasks to finish")
        finally:
            a.bridge.signal(signal.SIGCONT)
        more = add_entries(self.r, [b"more"] * 5, "echo")
        self.wait_outcomes(7, 20)
        seen = self.by_entry()
        self.assertEqual([seen[i][0]["output"] for i in more], [b"more"] * 5)

    def test_poison_entry_dead_lettered(self):
        # An entry that crashes workers is delivered again and again until
        # max_deliveries, then goes to the dead-letter stream with its last
        # error, is acknowledged, and has one error outcome.
        self.host("a", max_deliveries=3)
        ids = add_entries(self.r, [b"segv"], "faulty")
        ok = add_entries(self.r, [b"fine"], "echo")
        self.wait_outcomes(2, 60)
        dead = self.r.xrange("jobs:dead")
        self.assertEqual(len(dead), 1)
        fields = dead[0][1]
        self.assertEqual(fields[b"entry"].decode(), ids[0])
        self.assertEqual(fields[b"payload"], b"segv")
        self.assertEqual(fields[b"deliveries"], b"4")
        self.assertIn(fields[b"code"], (b"WORKER_CRASHED", b"QUARANTINED"))
        seen = self.by_entry()
        self.assertEqual(seen[ids[0]][0]["outcome"], b"error")
        self.assertEqual(seen[ok[0]][0]["output"], b"fine")
        wait_for(lambda: pending(self.r) == 0, 10, "no pending entries")


class TestRestarts(BridgeCase):

    def test_redis_killed_and_restarted(self):
        # redis-server SIGKILLed and restarted (append-only file on)
        # mid-load: the bridges reconnect; in the end every entry has an
        # outcome, nothing is pending, and every acknowledged entry had its
        # outcome written in the same transaction.
        a = self.host("a", claim_idle="30s")
        b = self.host("b", claim_idle="30s")
        n = 2000
        ids = add_entries(self.r, [b"sleep:1"] * n, "faulty")
        self.wait_outcomes(n // 4, 60)
        self.redis.kill()
        self.redis.start()
        self.wait_outcomes(n, 45)
        seen = self.by_entry()
        self.assertEqual(set(seen), set(ids))
        self.assertEqual([k for k, v in seen.items() if len(v) != 1], [])
        wait_for(lambda: pending(self.r) == 0, 10, "no pending entries")
        self.assertGreaterEqual(sum(
            h.bridge.metrics().get(("forkpool_redis_reconnects_total",
                                    None), 0) for h in (a, b)), 2)

    def test_forkpoold_restarted(self):
        # forkpoold SIGKILLed under the bridge: the bridge reconnects when
        # it is back and the tasks it had lost run again; every entry gets
        # exactly one outcome.
        a = self.host("a")
        n = 500
        ids = add_entries(self.r, [b"sleep:2"] * n, "faulty")
        self.wait_outcomes(n // 5, 60)
        a.daemon.kill()
        a.daemon._log.close()
        a.daemon.start()
        self.wait_outcomes(n, 60)
        seen = self.by_entry()
        self.assertEqual(set(seen), set(ids))
        self.assertEqual([k for k, v in seen.items() if len(v) != 1], [])
        self.assertIn("reconnecting", a.bridge.log())

    def test_sigterm_drains_window(self):
        # A bridge told to stop (SIGTERM) reads nothing more, finishes and
        # acknowledges what it holds, exits 0, and leaves the rest for
        # others: each entry acknowledged has its outcome, the rest are
        # still there for the group, and another bridge finishes them.
        a = self.host("a", window=4)
        n = 200
        ids = add_entries(self.r, [b"sleep:50"] * n, "faulty")
        self.wait_outcomes(8, 30)
        a.bridge.signal(signal.SIGTERM)
        self.assertEqual(a.bridge.wait(30), 0, a.bridge.log())
        done = self.r.xlen("jobs:results")
        self.assertLess(done, n)
        # Left pending: only what was read but not started (a read that
        # crossed the signal), never an entry with its outcome written.
        left = {p["message_id"].decode() for p in self.r.xpending_range(
            "jobs", "forkpool", "-", "+", 1000)}
        self.assertLessEqual(len(left), 4)
        self.assertEqual(left & set(self.by_entry()), set())
        info = self.r.xinfo_groups("jobs")[0]
        self.assertEqual(info["lag"], n - done - len(left))
        self.host("b")
        self.wait_outcomes(n, 60)
        seen = self.by_entry()
        self.assertEqual(set(seen), set(ids))
        self.assertEqual([k for k, v in seen.items() if len(v) != 1], [])


class TestConfig(TempDirCase, unittest.TestCase):

    def check(self, text):
        self.make_tmp()
        path = os.path.join(self.tmp, "r.ini")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([BRIDGE, "-t", "-c", path], capture_output=True,
                           text=True)
        return p.returncode, p.stdout + p.stderr.replace(path, "FILE")

    def test_claim_idle_longer_than_refresh(self):
        # claim_idle must be well above the refresh interval, checked at
        # start, or a live host's long task would be taken over.
        rc, out = self.check("[redis:q]\nredis = unix:/x\nstream = s\n"
                             "claim_idle = 1s\nrefresh = 800ms\n")
        self.assertEqual(rc, 2)
        self.assertEqual(out, "forkpool-redis: FILE:5: [redis:q] claim_idle "
                         "(1000 ms) must be at least twice refresh (800 ms),"
                         " or a running task is taken over from a live "
                         "host\n")

    def test_unknown_key_named_with_line(self):
        # Unknown keys are errors naming the file and line.
        rc, out = self.check("[redis:q]\nredis = unix:/x\nstream = s\n"
                             "windw = 3\n")
        self.assertEqual((rc, out), (2, "forkpool-redis: FILE:4: unknown "
                                     "key 'windw' in [redis:q]\n"))


if __name__ == "__main__":
    unittest.main()

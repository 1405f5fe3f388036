"""CPython's own concurrent.futures tests, run against forkpool.Executor.

    python3 adapter.py [-v] [--list]

test.test_concurrent_futures (Debian's libpython3.X-testsuite) is imported
and every generic class (ExecutorTest, WaitTests, AsCompletedTests,
ExecutorShutdownTest, FutureTests, ExecutorDeadlockTest, InitializerTest,
FailingInitializerTest) is run with forkpool.Executor in place of
ProcessPoolExecutor, on a forkpoold of this run's own whose pool runs this
same interpreter.  expected.txt beside this file lists the tests that fail
on purpose, one per line with the reason; the run fails on any failure not
listed, and on any listed test that passes.  The last lines give the
counts per class.
"""

import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)

import forkpool                         # noqa: E402
from fpharness import Daemon, py_pool_ini   # noqa: E402

GENERIC = ["ExecutorTest", "WaitTests", "AsCompletedTests",
           "ExecutorShutdownTest", "FutureTests", "ExecutorDeadlockTest",
           "InitializerMixin", "FailingInitializerMixin"]
# The names for the two mixins.
SHOWN = {"InitializerMixin": "InitializerTest",
         "FailingInitializerMixin": "FailingInitializerTest"}


def expected_failures():
    """{"Class.test": reason} from expected.txt."""
    out = {}
    with open(os.path.join(HERE, "expected.txt")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, reason = line.partition(" ")
            if not reason.strip():
                raise SystemExit("expected.txt: %s has no reason" % name)
            out[name] = reason.strip()
    return out


def build_suite(tcf, socket):
    class ForkpoolExecutor(forkpool.Executor):
        """forkpool.Executor with ProcessPoolExecutor's signature, on the
        pool of this run."""

        def __init__(self, max_workers=None, mp_context=None,
                     initializer=None, initargs=(), *,
                     max_tasks_per_child=None):
            forkpool.Executor.__init__(
                self, "py", max_workers, mp_context, initializer, initargs,
                max_tasks_per_child=max_tasks_per_child, socket=socket)

    class ForkpoolMixin(tcf.ExecutorMixin):
        executor_type = ForkpoolExecutor

        def get_context(self):
            return None         # the daemon starts the workers

    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for name in GENERIC:
        generic = getattr(tcf, name)
        if name == "FutureTests":
            cls = generic
        else:
            cls = type(SHOWN.get(name, name), (generic, ForkpoolMixin,
                                               tcf.BaseTestCase), {})
            cls.__module__ = tcf.__name__
        suite.addTests(loader.loadTestsFromTestCase(cls))
    return suite


class Result(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        unittest.TextTestResult.__init__(self, *args, **kwargs)
        self.outcomes = {}      # "Class.test" -> "pass", "fail", "skip"

    @staticmethod
    def key(test):
        return "%s.%s" % (type(test).__name__, test._testMethodName)

    def addSuccess(self, test):
        unittest.TextTestResult.addSuccess(self, test)
        self.outcomes[self.key(test)] = "pass"

    def addFailure(self, test, err):
        unittest.TextTestResult.addFailure(self, test, err)
        self.outcomes[self.key(test)] = "fail"

    def addError(self, test, err):
        unittest.TextTestResult.addError(self, test, err)
        self.outcomes[self.key(test)] = "fail"

    def addSkip(self, test, reason):
        unittest.TextTestResult.addSkip(self, test, reason)
        self.outcomes[self.key(test)] = "skip"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    try:
        from test import test_concurrent_futures as tcf
    except ImportError as err:
        raise SystemExit("cannot import test.test_concurrent_futures (%s): "
                         "install libpython3.%d-testsuite (tools/deps.sh "
                         "does)" % (err, sys.version_info[1]))
    daemon = Daemon(py_pool_ini("py", 5, "prefetch = 1\n")).start()
    try:
        runner = unittest.TextTestRunner(verbosity=2 if args.verbose else 1,
                                         resultclass=Result,
                                         stream=sys.stdout)
        result = runner.run(build_suite(tcf, daemon.socket))
    finally:
        daemon.stop()
    expected = expected_failures()
    bad = []
    for name, outcome in sorted(result.outcomes.items()):
        if outcome == "fail" and name not in expected:
            bad.append("unexpected failure: %s" % name)
        elif outcome == "pass" and name in expected:
            bad.append("listed in expected.txt but passes now: %s" % name)
    for name in sorted(set(expected) - set(result.outcomes)):
        bad.append("listed in expected.txt but did not run: %s" % name)
    counts = {}
    for name, outcome in result.outcomes.items():
        cls = name.split(".")[0]
        c = counts.setdefault(cls, {"pass": 0, "fail": 0, "skip": 0})
        c[outcome] += 1
    print("\nper class (passed / failed as expected / skipped):")
    for cls in sorted(counts):
        c = counts[cls]
        print("  %-24s %3d / %3d / %3d" % (cls, c["pass"], c["fail"],
                                           c["skip"]))
    total = {k: sum(c[k] for c in counts.values())
             for k in ("pass", "fail", "skip")}
    print("  %-24s %3d / %3d / %3d" % ("all", total["pass"], total["fail"],
                                       total["skip"]))
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

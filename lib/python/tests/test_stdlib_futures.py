"""CPython's own test.test_concurrent_futures against forkpool.Executor
(stdlib/adapter.py): every failure is one listed in stdlib/expected.txt
with its reason, and every listed test still fails."""

import os
import subprocess
import sys
import unittest

from fpharness import HERE, child_env, command_support

_support = command_support()


def _have_stdlib_tests():
    probe = subprocess.run([sys.executable, "-c",
                            "import test.test_concurrent_futures"],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return probe.returncode == 0


@unittest.skipUnless(_support[0], _support[1])
class TestStdlibConcurrentFutures(unittest.TestCase):

    def test_stdlib_suite(self):
        # The generic classes of test_concurrent_futures pass with
        # forkpool.Executor but for the listed, explained differences.
        if not _have_stdlib_tests():
            self.fail("test.test_concurrent_futures is missing for %s: "
                      "install libpython3.%d-testsuite (tools/deps.sh "
                      "does)" % (sys.executable, sys.version_info[1]))
        proc = subprocess.run(
            [sys.executable, os.path.join(HERE, "stdlib", "adapter.py")],
            env=child_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=170)
        out = proc.stdout.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 0, out)
        summary = out[out.rindex("per class"):]
        sys.stderr.write("\n" + summary)

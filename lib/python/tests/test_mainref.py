"""Functions and classes of the caller's own script (its __main__), sent
to Python workers by reference to the script, as ProcessPoolExecutor's
"spawn" start method does."""

import os
import pickle
import subprocess
import sys
import textwrap
import unittest

from forkpool import _mainref

from fpharness import (HERE, Daemon, child_env, command_support,
                       py_pool_ini)


class MainScriptTests:
    """A subclass provides self.socket: a pool py of generic workers."""

    def run_client(self, argv, cwd=HERE):
        env = child_env(FORKPOOL_SOCKET=self.socket)
        proc = subprocess.run(argv, env=env, cwd=cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        return dict(line.split(" ", 1)
                    for line in proc.stdout.decode().splitlines())

    def check_script_output(self, out):
        self.assertEqual(out["primes"], "True")
        self.assertEqual(out["pair"], "True 3 4")
        self.assertEqual(out["sum"], "11")
        return out["name"]

    def test_script_by_path(self):
        # python3 script.py: its functions and classes reach the worker,
        # and values of its classes come back as the caller's own; the
        # worker runs it under another name, so its main block does not run.
        out = self.run_client([sys.executable,
                               os.path.join(HERE, "script_main.py"),
                               self.socket], cwd="/")
        name = self.check_script_output(out)
        self.assertTrue(name.startswith("__fp_main_"), name)

    def test_script_as_module(self):
        # python3 -m script: the worker imports the module by its name.
        out = self.run_client([sys.executable, "-m", "script_main",
                               self.socket])
        self.assertEqual(self.check_script_output(out), "script_main")

    def test_script_without_guard(self):
        # A script without the __name__ guard is refused in the worker with
        # an explanation, instead of running itself again there.
        out = self.run_client([sys.executable,
                               os.path.join(HERE, "script_noguard.py")])
        self.assertTrue(out["error"].startswith("RuntimeError"), out)
        self.assertIn("forkpool.Executor was created while", out["error"])
        self.assertIn("__name__", out["error"])

    def test_module_without_guard(self):
        # The same for python3 -m: importing it in the worker is refused.
        out = self.run_client([sys.executable, "-m", "script_noguard_mod"])
        self.assertTrue(out["error"].startswith("RuntimeError"), out)
        self.assertIn("forkpool.Executor was created while", out["error"])

    def test_example_migration(self):
        # examples/count_primes_forkpool.py, which differs from its
        # ProcessPoolExecutor twin by one import and one constructor,
        # prints exactly what the twin prints.
        examples = os.path.join(os.path.dirname(HERE), "examples")
        outs = []
        for name in ("count_primes_ppe.py", "count_primes_forkpool.py"):
            proc = subprocess.run(
                [sys.executable, os.path.join(examples, name), "30000",
                 "2500"], env=child_env(FORKPOOL_SOCKET=self.socket),
                cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                timeout=120)
            self.assertEqual(proc.returncode, 0, proc.stderr.decode())
            outs.append(proc.stdout.decode())
        self.assertIn("primes below 30000: 3245", outs[0])
        self.assertEqual(outs[1], outs[0])

    def test_interactive_main(self):
        # A function typed into python3 -c (no file) cannot be found by
        # the worker; the error says what to do.
        code = textwrap.dedent("""\
            import sys, forkpool
            def f():
                return 1
            with forkpool.Executor("py", socket=sys.argv[1]) as ex:
                try:
                    ex.submit(f).result(30)
                except Exception as exc:
                    print("error", type(exc).__name__, exc)
            """)
        out = self.run_client([sys.executable, "-c", code, self.socket])
        self.assertIn("module the worker can import", out["error"])


_support = command_support()


@unittest.skipUnless(_support[0], _support[1])
class TestMainDaemon(MainScriptTests, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(py_pool_ini("py", 2)).start()
        cls.socket = cls.daemon.socket

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()


class TestPicklers(unittest.TestCase):
    """The picklers in one process, without a worker."""

    def test_plain_objects_use_plain_pickle(self):
        # Nothing of __main__: the bytes are exactly pickle.dumps's.
        call = (len, ([1, 2],), {"k": "v"})
        self.assertEqual(_mainref.dumps_call(call), pickle.dumps(call, 5))

    def test_resolve_finds_own_main(self):
        # A reference to this process's own __main__ resolves to it.
        ref = _mainref._main_ref()
        main = sys.modules["__main__"]
        name = next(n for n in dir(main) if not n.startswith("_"))
        self.assertIs(_mainref.resolve(*ref, name), getattr(main, name))


if __name__ == "__main__":
    unittest.main()

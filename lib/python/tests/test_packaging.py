"""pip install ./lib/python into a fresh venv, offline, and the README's
example runs on the installed package: pyproject.toml, py.typed, and a
worker that runs from the install too."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from fpharness import Daemon, LIB_PYTHON, command_support

_support = command_support()


def _can_make_venv():
    probe = subprocess.run([sys.executable, "-c", "import venv, ensurepip"],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return probe.returncode == 0


@unittest.skipUnless(_support[0], _support[1])
class TestPipInstall(unittest.TestCase):

    def test_pip_install_and_readme_example(self):
        # pip installs the package from its pyproject.toml with no index
        # (no network), type hints marked by py.typed, and
        # examples/count_primes_forkpool.py (the README's example) runs
        # on it, the pool's workers running the installed worker.
        if not _can_make_venv():
            self.fail("%s cannot make a venv: install python3-venv "
                      "(tools/deps.sh does)" % sys.executable)
        tmp = tempfile.mkdtemp(prefix="fp-pip-")
        self.addCleanup(shutil.rmtree, tmp, True)
        # A copy: building in the tree would leave build/ and egg-info.
        src = os.path.join(tmp, "src")
        shutil.copytree(LIB_PYTHON, src, ignore=shutil.ignore_patterns(
            "tests", "__pycache__", "*.egg-info", "build"))
        venv = os.path.join(tmp, "venv")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "HOME": tmp, "PIP_NO_INDEX": "1",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        # setuptools comes from the system (python3-setuptools): nothing
        # is downloaded.
        subprocess.run([sys.executable, "-m", "venv",
                        "--system-site-packages", venv], check=True,
                       env=env)
        python = os.path.join(venv, "bin", "python")
        pip = subprocess.run([python, "-m", "pip", "install", "--no-index",
                              "--no-build-isolation", src], env=env,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        self.assertEqual(pip.returncode, 0, pip.stdout.decode())
        where = subprocess.run(
            [python, "-c", "import forkpool, os; d = os.path.dirname("
             "forkpool.__file__); print(d); print(os.path.exists("
             "os.path.join(d, 'py.typed')))"], env=env, cwd=tmp,
            check=True, stdout=subprocess.PIPE).stdout.decode().split()
        self.assertTrue(where[0].startswith(venv), where)
        self.assertEqual(where[1], "True")

        daemon = Daemon("[pool:py]\ncommand = %s -m forkpool.worker\n"
                        "workers = 2\n" % python).start()
        self.addCleanup(daemon.stop)
        example = os.path.join(LIB_PYTHON, "examples",
                               "count_primes_forkpool.py")
        run = subprocess.run([python, example, "20000", "5000"],
                             env=dict(env, FORKPOOL_SOCKET=daemon.socket),
                             cwd=tmp, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr.decode())
        self.assertIn("primes below 20000: 2262", run.stdout.decode())

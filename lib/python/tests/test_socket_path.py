"""Socket resolution: explicit, $FORKPOOL_SOCKET, the per-user socket if it
exists, then the system socket (the socket rule shared with the C library's
fp_socket_path())."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import forkpool
from forkpool.client import socket_path

from fpharness import BUILD, TREE

C_PROGRAM = r"""
#include <stdio.h>
#include <forkpool/client.h>

int
main(int argc, char **argv)
{
	char	buf[4096];

	if (fp_socket_path(argc > 1 ? argv[1] : NULL, buf, sizeof(buf)) == NULL)
		return (1);
	printf("%s\n", buf);
	return (0);
}
"""


class TestSocketPath(unittest.TestCase):

    def env(self, **values):
        clean = {k: v for k, v in os.environ.items()
                 if k not in ("FORKPOOL_SOCKET", "XDG_RUNTIME_DIR")}
        clean.update(values)
        return mock.patch.dict(os.environ, clean, clear=True)

    def test_explicit_wins(self):
        # An explicit path is used as given, whatever the environment says.
        with self.env(FORKPOOL_SOCKET="/env.sock", XDG_RUNTIME_DIR="/x"):
            self.assertEqual(socket_path("/my.sock"), "/my.sock")
            self.assertEqual(socket_path(b"/b.sock"), "/b.sock")

    def test_environment_next(self):
        # $FORKPOOL_SOCKET comes before the defaults; an empty one does not
        # count.
        with self.env(FORKPOOL_SOCKET="/env.sock"):
            self.assertEqual(socket_path(), "/env.sock")
        with self.env(FORKPOOL_SOCKET=""), \
                mock.patch("os.getuid", return_value=0):
            self.assertEqual(socket_path(), "/run/forkpool/forkpool.sock")

    def test_root_default(self):
        # Root skips the per-user socket, even one that exists.
        tmp = tempfile.mkdtemp(prefix="fp-py-")
        self.addCleanup(shutil.rmtree, tmp, True)
        open(os.path.join(tmp, "forkpool.sock"), "w").close()
        with self.env(XDG_RUNTIME_DIR=tmp), \
                mock.patch("os.getuid", return_value=0):
            self.assertEqual(socket_path(), "/run/forkpool/forkpool.sock")

    def test_user_socket_if_it_exists(self):
        # Another user gets $XDG_RUNTIME_DIR/forkpool.sock when it exists,
        # else the system socket; without XDG_RUNTIME_DIR (or with an empty
        # one) the per-user socket is /tmp/forkpool-UID/forkpool.sock,
        # UID the real uid, never a socket directly in /tmp.
        tmp = tempfile.mkdtemp(prefix="fp-py-")
        self.addCleanup(shutil.rmtree, tmp, True)
        mine = os.path.join(tmp, "forkpool.sock")
        with mock.patch("os.getuid", return_value=1234):
            with self.env(XDG_RUNTIME_DIR=tmp):
                self.assertEqual(socket_path(), "/run/forkpool/forkpool.sock")
                open(mine, "w").close()
                self.assertEqual(socket_path(), mine)
            for env in ({"XDG_RUNTIME_DIR": ""}, {}):
                with self.env(**env):
                    self.assertEqual(forkpool.client.user_socket(),
                                     "/tmp/forkpool-1234/forkpool.sock")
                    self.assertEqual(forkpool.client._default_candidates(),
                                     ["/tmp/forkpool-1234/forkpool.sock",
                                      "/run/forkpool/forkpool.sock"])

    def test_neither_exists_names_both(self):
        # With no per-user and no system socket, the error names both
        # paths and says to start forkpoold or set FORKPOOL_SOCKET.
        tmp = tempfile.mkdtemp(prefix="fp-py-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with mock.patch("os.getuid", return_value=1234), \
                self.env(XDG_RUNTIME_DIR=tmp), \
                mock.patch("forkpool.client.SYSTEM_SOCKET",
                           os.path.join(tmp, "no-system.sock")):
            with self.assertRaises(FileNotFoundError) as cm:
                forkpool.Client()
        text = str(cm.exception)
        self.assertIn(os.path.join(tmp, "forkpool.sock"), text)
        self.assertIn(os.path.join(tmp, "no-system.sock"), text)
        self.assertIn("start forkpoold", text)
        self.assertIn("FORKPOOL_SOCKET", text)

    def test_exported(self):
        # The package exposes it under the name the docs use.
        self.assertIs(forkpool.socket_path, socket_path)


@unittest.skipUnless(shutil.which("cc") and
                     os.path.exists(os.path.join(BUILD, "libforkpool.a")),
                     "needs cc and %s/libforkpool.a" % BUILD)
class TestSameAsC(unittest.TestCase):
    """The same environment gives the same path from Python and from C."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="fp-py-")
        src = os.path.join(cls.dir, "sp.c")
        cls.prog = os.path.join(cls.dir, "sp")
        with open(src, "w") as f:
            f.write(C_PROGRAM)
        # A sanitized build's library needs its runtime in the program.
        extra = os.environ.get("FORKPOOL_TEST_CFLAGS", "").split()
        subprocess.run(["cc"] + extra + ["-I", os.path.join(TREE, "lib"),
                        src, os.path.join(BUILD, "libforkpool.a"), "-o",
                        cls.prog], check=True)
        os.chmod(cls.dir, 0o755)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_both(self, env, user=None, explicit=None):
        argv = [self.prog] + ([explicit] if explicit else [])
        c = subprocess.run(argv, env=env, user=user, check=True,
                           stdout=subprocess.PIPE).stdout.decode().strip()
        code = ("import sys, forkpool; "
                "print(forkpool.socket_path(%r))" % (explicit,))
        py_env = dict(env, PYTHONPATH=os.path.dirname(
            os.path.dirname(forkpool.__file__)))
        python = sys.executable if user is None else "/usr/bin/python3"
        py = subprocess.run([python, "-c", code], env=py_env, user=user,
                            check=True, stdout=subprocess.PIPE,
                            cwd="/").stdout.decode().strip()
        return c, py

    # The cases whose answer does not depend on which sockets exist.  The
    # per-user search (issue 14) is proved above on the Python side; the C
    # library's own suite proves it there.
    CASES = [
        {"FORKPOOL_SOCKET": "/e/f.sock"},
        {"FORKPOOL_SOCKET": "/e/f.sock", "XDG_RUNTIME_DIR": "/run/user/x"},
    ]

    def test_this_user(self):
        # For this process's user, every environment case agrees.
        for case in self.CASES:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            env.update(case)
            c, py = self.run_both(env)
            self.assertEqual(py, c, case)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        c, py = self.run_both(dict(env, FORKPOOL_SOCKET="/e"),
                              explicit="/given.sock")
        self.assertEqual((py, c), ("/given.sock", "/given.sock"))

    @unittest.skipUnless(os.geteuid() == 0, "needs root to become nobody")
    def test_other_user(self):
        # For an ordinary user (nobody) too, when it can read the tree.
        probe = subprocess.run(["/usr/bin/python3", "-c", "import forkpool"],
                               user="nobody", cwd="/",
                               env={"PATH": os.environ.get("PATH", ""),
                                    "PYTHONPATH": os.path.dirname(
                                        os.path.dirname(forkpool.__file__))},
                               stderr=subprocess.DEVNULL)
        if probe.returncode != 0:
            self.skipTest("nobody cannot import forkpool from this tree")
        for case in self.CASES:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            env.update(case)
            c, py = self.run_both(env, user="nobody")
            self.assertEqual(py, c, case)


if __name__ == "__main__":
    unittest.main()

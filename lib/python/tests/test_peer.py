"""The peer check (issue 14): every client reads SO_PEERCRED right after
connect() and talks only to a daemon run by root, by itself, by the owner
of the socket's directory when nobody else may write there, or by a user
it trusts explicitly (trust_user=, $FORKPOOL_TRUST_USER).  Proved with a
real forkpoold run as another user, nobody."""

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import unittest
from unittest import mock

import forkpool

from fpharness import FORKPOOLD, deadline_poll, have_daemon, ping


def _nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


NOBODY = _nobody()


@unittest.skipUnless(os.geteuid() == 0 and NOBODY is not None and
                     have_daemon(), "needs root, a user nobody and forkpoold")
class TestPeerCheck(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fp-peer-")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ini = os.path.join(self.tmp, "f.ini")
        with open(self.ini, "w") as f:
            f.write("[pool:echo]\nhandler = echo\nworkers = 1\n")
        os.chmod(self.ini, 0o644)

    def start_as_nobody(self, mode, owner):
        """forkpoold as nobody, its socket in a directory of that mode and
        owner; the socket's path."""
        sockdir = os.path.join(self.tmp, "d%o-%d" % (mode, owner))
        os.mkdir(sockdir)
        os.chown(sockdir, owner, -1)
        os.chmod(sockdir, mode)
        path = os.path.join(sockdir, "forkpool.sock")
        log = open(os.path.join(self.tmp, "log"), "ab")
        self.addCleanup(log.close)
        argv = [os.path.abspath(FORKPOOLD), "-c", self.ini, "-s", path]
        proc = subprocess.Popen(argv, user=NOBODY.pw_uid,
                                group=NOBODY.pw_gid, extra_groups=[],
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, cwd="/")
        self.addCleanup(self.stop, proc)
        deadline_poll(lambda: proc.poll() is None and ping(path), 20,
                      what="forkpoold as nobody to answer")
        return path

    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(30)

    def env(self, **values):
        clean = {k: v for k, v in os.environ.items()
                 if k != "FORKPOOL_TRUST_USER"}
        clean.update(values)
        return mock.patch.dict(os.environ, clean, clear=True)

    def test_owner_of_private_directory(self):
        # A daemon run by the owner of a directory only that owner may
        # write to is accepted (the installed /run/forkpool case), by
        # Client, Executor and AsyncClient.
        path = self.start_as_nobody(0o755, NOBODY.pw_uid)
        with self.env():
            with forkpool.Client(path) as c:
                self.assertEqual(c.submit("echo", b"hi"), b"hi")
            with forkpool.Executor("echo", socket=path) as ex:
                self.assertIsInstance(ex, forkpool.Executor)

            async def main():
                async with forkpool.AsyncClient(path) as c:
                    return await c.submit("echo", b"aio")
            self.assertEqual(asyncio.run(main()), b"aio")

    def test_untrusted_refused(self):
        # The same daemon behind a directory others may write to (1777, or
        # its own group-writable one) is refused before anything is sent,
        # with an error naming the uid, the user, the path and the way to
        # trust it.
        for mode, owner in ((0o1777, 0), (0o775, NOBODY.pw_uid)):
            path = self.start_as_nobody(mode, owner)
            with self.env():
                with self.assertRaises(forkpool.UntrustedDaemon) as cm:
                    forkpool.Client(path)
                text = str(cm.exception)
                for word in ("uid %d" % NOBODY.pw_uid, "nobody", path,
                             "trust_user", "FORKPOOL_TRUST_USER"):
                    self.assertIn(word, text)
                with self.assertRaises(forkpool.UntrustedDaemon):
                    forkpool.Executor("echo", socket=path)

                async def main():
                    async with forkpool.AsyncClient(path) as c:
                        await c.ping()
                with self.assertRaises(forkpool.UntrustedDaemon):
                    asyncio.run(main())

    def test_explicit_trust(self):
        # trust_user= (a name or a uid) and $FORKPOOL_TRUST_USER (a comma-
        # separated list of names or numbers) admit that user.
        path = self.start_as_nobody(0o1777, 0)
        with self.env():
            for who in ("nobody", NOBODY.pw_uid, ["root", "nobody"]):
                with forkpool.Client(path, trust_user=who) as c:
                    self.assertTrue(c.ping())
            with forkpool.Executor("echo", socket=path,
                                   trust_user="nobody") as ex:
                self.assertIsInstance(ex, forkpool.Executor)
        for value in ("nobody", "daemon,%d" % NOBODY.pw_uid):
            with self.env(FORKPOOL_TRUST_USER=value):
                with forkpool.Client(path) as c:
                    self.assertTrue(c.ping())


if __name__ == "__main__":
    unittest.main()

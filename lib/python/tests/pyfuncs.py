"""Functions the tests run in Python workers (importable there through
command_dir, the worker's current directory)."""

import os
import signal
import sys
import time


class Boom(Exception):
    """An exception of the tests' own."""


class Unrebuildable(Exception):
    """Pickles, but cannot be rebuilt: __init__ wants two arguments."""

    def __init__(self, a, b):
        Exception.__init__(self, "%s/%s" % (a, b))


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == \
            (other.x, other.y)


def square(x):
    return x * x


def add(a, b=0, *, scale=1):
    return (a + b) * scale


def pid():
    return os.getpid()


def boom(text):
    raise Boom("boom: %s" % text)


def unrebuildable():
    raise Unrebuildable(1, 2)


def unpicklable_value():
    return lambda: None


def exit_now(status):
    sys.exit(status)


def die(sig=signal.SIGKILL):
    os.kill(os.getpid(), sig)
    time.sleep(10)


def echo(value):
    return value


def shout(text):
    print(text, flush=True)
    return len(text)


def loaded(name):
    return name in sys.modules


def sleep(seconds, value=None):
    time.sleep(seconds)
    return value


def wait_for(started, release, value, timeout=30.0):
    """Mark started, then block until release exists (or timeout).

    It gives up as soon as the test's directory is gone, so that a test
    that ends without releasing it does not keep a worker for the next.
    """
    with open(started, "w"):
        pass
    end = time.monotonic() + timeout
    while not os.path.exists(release):
        if time.monotonic() > end:
            raise TimeoutError("%s never appeared" % release)
        if not os.path.isdir(os.path.dirname(release)):
            raise RuntimeError("%s was removed" % os.path.dirname(release))
        time.sleep(0.005)
    return value


def make_point(x, y):
    return Point(x, y)


def point_sum(p):
    return p.x + p.y


def count_primes(lo, hi):
    """A CPU-bound pure-Python function: primes in [lo, hi)."""
    n = 0
    for k in range(max(lo, 2), hi):
        d = 2
        while d * d <= k:
            if k % d == 0:
                break
            d += 1
        else:
            n += 1
    return n


_initialized = []


def init_record(path, tag):
    """An initializer: note this pid in path, remember tag here."""
    _initialized.append(tag)
    with open(path, "a") as f:
        f.write("%d\n" % os.getpid())


def init_fail(text):
    """An initializer that raises."""
    raise Boom("init failed: %s" % text)


def initialized():
    """What initializers ran in this worker, and its pid."""
    return list(_initialized), os.getpid()


def touch(path, value=None):
    """Create path (a side effect a test can see) and return value."""
    with open(path, "w"):
        pass
    return value


def big(n):
    return b"x" * n


def pid_tag(tag):
    """This worker's pid; tag makes each call's payload distinct."""
    return os.getpid()

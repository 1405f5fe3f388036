"""The functions bench/pybench.py runs on every side.

They live in a module, not in pybench.py, so that ProcessPoolExecutor,
multiprocessing.Pool and forkpool's generic worker all find them the same
way: by module and name.  count_primes is the function of the README's
example (lib/python/examples/count_primes_ppe.py), unchanged.
"""

import os
import time

from count_primes_ppe import count_primes   # noqa: F401 (re-exported)


def identity(x):
    """The tiny task: the cost of a call is all transport."""
    return x


def slow_range(i):
    """Task i of uses_slow counts the primes in this range of 1,000."""
    lo = 1000000 + 1000 * i
    return lo, lo + 1000


def uses_slow(i):
    """A task whose code is in a module that takes 1 s to import.

    The caller never imports pyslow: the import happens where the task
    runs, once per process, as a module that loads a model or large tables
    would.  forkpool's workers do it before they report ready (--preload);
    a ProcessPoolExecutor's workers do it on their first task.
    """
    import pyslow
    return pyslow.work(i)


def pinned_primes(cpu, n):
    """count_primes over n ranges of 2,000, with this process pinned to
    one CPU: its CPU milliseconds per call.  The two CPUs of a shared VM
    can differ by half in speed, so CPU times compare only on one CPU."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        t = time.process_time()
        for i in range(n):
            lo = 1000000 + 2000 * i
            count_primes(lo, lo + 2000)
        return (time.process_time() - t) * 1e3 / n
    finally:
        os.sched_setaffinity(0, old)

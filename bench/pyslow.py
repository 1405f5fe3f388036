"""A module that takes 1 s to import (bench/pybench.py, section 2).

It stands for a module whose import loads a model, large tables or heavy
dependencies.  Never imported by the benchmark's own process.
"""

import time

from count_primes_ppe import count_primes
from pywork import slow_range

IMPORT_SECONDS = 1.0
time.sleep(IMPORT_SECONDS)


def work(i):
    """About 6 ms of pure-Python CPU work: primes in a range of 1,000."""
    return count_primes(*slow_range(i))

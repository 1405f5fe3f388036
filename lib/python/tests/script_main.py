"""A user's script whose functions and classes live in __main__ itself.

Run by test_mainref.py as ``python3 script_main.py SOCKET`` and as
``python3 -m script_main SOCKET``; prints one line per check.
"""

import math
import sys

import forkpool


class Pair:
    def __init__(self, a, b):
        self.a = a
        self.b = b


def is_prime(n):
    if n < 2:
        return False
    for d in range(2, math.isqrt(n) + 1):
        if n % d == 0:
            return False
    return True


def make_pair(a, b):
    return Pair(a, b)


def pair_sum(p):
    return p.a + p.b


def module_name():
    return __name__


def main():
    numbers = list(range(100, 160))
    with forkpool.Executor("py", socket=sys.argv[1]) as ex:
        got = list(ex.map(is_prime, numbers))
        print("primes", got == [is_prime(n) for n in numbers])
        p = ex.submit(make_pair, 3, 4).result(30)
        print("pair", type(p) is Pair, p.a, p.b)
        print("sum", ex.submit(pair_sum, Pair(5, 6)).result(30))
        print("name", ex.submit(module_name).result(30))


if __name__ == "__main__":
    main()

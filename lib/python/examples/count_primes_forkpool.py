"""Count the primes below a bound, one range per task, on a process pool.

The forkpool version.  count_primes_ppe.py is the same script on a
ProcessPoolExecutor: diff the two files to see the whole migration.

    FORKPOOL_SOCKET=... python3 count_primes_forkpool.py [BOUND [STEP]]
"""

import sys
import time
import forkpool


def count_primes(lo, hi):
    """Primes in [lo, hi), by trial division: deliberately CPU-bound."""
    found = 0
    for n in range(max(lo, 2), hi):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            found += 1
    return found


def main():
    bound = int(sys.argv[1]) if len(sys.argv) > 1 else 2000000
    step = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
    starts = range(0, bound, step)
    t0 = time.monotonic()
    with forkpool.Executor("py") as pool:
        counts = pool.map(count_primes, starts, [s + step for s in starts])
        total = 0
        for lo, n in zip(starts, counts):
            total += n
            print("[%d, %d): %d" % (lo, lo + step, n))
    print("primes below %d: %d" % (bound, total))
    print("%.2f s" % (time.monotonic() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()

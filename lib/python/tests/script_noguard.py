"""A user's script without the ``if __name__ == "__main__":`` guard.

Loading it in a worker would start its work again there; the worker must
refuse, and the caller must hear why.
"""

import forkpool


def double(x):
    return 2 * x


ex = forkpool.Executor("py")           # $FORKPOOL_SOCKET
try:
    print("result", ex.submit(double, 21).result(30))
except Exception as exc:
    print("error", type(exc).__name__, exc)
ex.shutdown()

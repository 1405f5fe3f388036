"""script_noguard.py's twin for ``python3 -m script_noguard_mod``."""

import forkpool


def double(x):
    return 2 * x


ex = forkpool.Executor("py")           # $FORKPOOL_SOCKET
try:
    print("result", ex.submit(double, 21).result(30))
except Exception as exc:
    print("error", type(exc).__name__, exc)
ex.shutdown()

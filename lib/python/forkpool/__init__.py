"""forkpool for Python: a client for forkpoold, and its Python workers.

* forkpool.Executor(pool): a concurrent.futures.Executor whose workers are
  a forkpool pool running ``python3 -m forkpool.worker``;
* forkpool.Client(): bytes in, bytes out, to any pool;
* forkpool.worker.serve(fn): the loop of a worker program of your own.

Pure standard library, Python 3.9 or newer.  The wire protocol is
spec/PROTOCOL.md; forkpool.protocol is its codec.
"""

from .client import Client, socket_path
from .errors import (BadRequest, BrokenInitializer, Cancelled,
                     ConnectionLost, Error, Forbidden, Internal, Overloaded,
                     ProtocolError, Quarantined, RemoteError, RemoteTraceback,
                     ShuttingDown, TaskFailed, TaskTimeout, TooLarge,
                     Unavailable, UnknownPool, UntrustedDaemon,
                     WorkerCrashed)
from .executor import Executor
from .aio import AsyncClient

__version__ = "0.1.0"

__all__ = [
    "AsyncClient", "BadRequest", "BrokenInitializer", "Cancelled", "Client",
    "ConnectionLost", "Error", "Executor", "Forbidden", "Internal",
    "Overloaded", "ProtocolError", "Quarantined", "RemoteError",
    "RemoteTraceback", "ShuttingDown", "TaskFailed", "TaskTimeout",
    "TooLarge", "Unavailable", "UnknownPool", "UntrustedDaemon",
    "WorkerCrashed", "socket_path",
]

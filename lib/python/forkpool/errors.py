"""Exceptions: the daemon's ERROR replies, failed tasks, a lost connection.

Every ERROR code of spec/PROTOCOL.md has its own class, all under
forkpool.Error, each carrying the daemon's words:

    try:
        out = client.submit("deflate", data)
    except forkpool.WorkerCrashed as e:
        print(e.code, e.name, e.message)   # 7 WORKER_CRASHED killed by ...
"""

import concurrent.futures.process as _cfp

from . import protocol as _p


class Error(Exception):
    """Something forkpool reports: ``code``, ``name`` and ``message``.

    ``code`` is the protocol's error code (0 for the client's own errors),
    ``name`` its name as the C library spells it ("WORKER_CRASHED"), and
    ``message`` the daemon's one line of text for a person.
    """

    code = 0
    name = "ERROR"

    def __init__(self, message="", code=None):
        Exception.__init__(self, message)
        self.message = message
        if code is not None and code != type(self).code:
            self.code = code
            self.name = _p.error_name(code)

    def __str__(self):
        if self.message:
            return "%s: %s" % (self.name, self.message)
        return self.name

    def __reduce__(self):
        return (type(self), (self.message, self.code))


class BadRequest(Error):
    """Unknown frame type, bad pool name, or an id already in flight."""
    code = _p.ERR_BAD_REQUEST
    name = "BAD_REQUEST"


class ProtocolError(Error):
    """A frame of the wrong version; the daemon closes the connection."""
    code = _p.ERR_PROTOCOL
    name = "PROTOCOL"


class TooLarge(Error):
    """A request or a handler's output over max_payload."""
    code = _p.ERR_TOO_LARGE
    name = "TOO_LARGE"


class UnknownPool(Error):
    """No pool has that name."""
    code = _p.ERR_UNKNOWN_POOL
    name = "UNKNOWN_POOL"


class Overloaded(Error):
    """The pool's queue is full; nothing was run."""
    code = _p.ERR_OVERLOADED
    name = "OVERLOADED"


class TaskTimeout(Error):
    """The task ran past task_timeout and its worker was killed.

    Deliberately not a TimeoutError: code that waits with
    ``future.result(timeout=...)`` catches TimeoutError for its own wait.
    """
    code = _p.ERR_TIMEOUT
    name = "TIMEOUT"


class WorkerCrashed(Error, _cfp.BrokenProcessPool):
    """The worker died running the task; the message names signal or status.

    A concurrent.futures.process.BrokenProcessPool, so code written for
    ProcessPoolExecutor catches it; but only this future failed: the
    executor and the pool go on working.
    """
    code = _p.ERR_WORKER_CRASHED
    name = "WORKER_CRASHED"


class ShuttingDown(Error):
    """The daemon is stopping and did not start the task."""
    code = _p.ERR_SHUTTING_DOWN
    name = "SHUTTING_DOWN"


class Cancelled(Error):
    """The task was cancelled before it started."""
    code = _p.ERR_CANCELLED
    name = "CANCELLED"


class Quarantined(Error):
    """This exact task crashed workers again and again; refused unrun."""
    code = _p.ERR_QUARANTINED
    name = "QUARANTINED"


class Forbidden(Error):
    """This user or group may not use the socket."""
    code = _p.ERR_FORBIDDEN
    name = "FORBIDDEN"


class Internal(Error):
    """Anything else the daemon could not do; the message says what."""
    code = _p.ERR_INTERNAL
    name = "INTERNAL"


class Unavailable(Error):
    """The pool has had no worker able to run tasks for its start_timeout."""
    code = _p.ERR_UNAVAILABLE
    name = "UNAVAILABLE"


class UntrustedDaemon(Error, PermissionError):
    """The process behind the socket runs as a user this client does not
    trust (see forkpool.socket_path and the trust_user= option); nothing
    was sent to it."""
    name = "UNTRUSTED_DAEMON"

    def __init__(self, message=""):
        Error.__init__(self, message)

    def __reduce__(self):
        return (type(self), (self.message,))


class BrokenInitializer(Error, _cfp.BrokenProcessPool):
    """The Executor's initializer raised in a worker.

    As with ProcessPoolExecutor, the call that met it and every later call
    of that executor fail with this error; other clients of the pool are
    not affected.  ``__cause__`` carries the initializer's exception.
    """
    name = "BROKEN_INITIALIZER"

    def __init__(self, message="an initializer raised an exception; the "
                 "executor is not usable any more"):
        Error.__init__(self, message)

    def __reduce__(self):
        return (type(self), (self.message,))


class TaskFailed(Error):
    """A RESULT with a non-zero status: the handler said the task failed.

    ``status`` is the handler's status and ``output`` its explanation as
    bytes; ``message`` is that output decoded for a person.
    """
    name = "TASK_FAILED"

    def __init__(self, status, output=b""):
        Error.__init__(self, bytes(output).decode("utf-8", "replace"))
        self.status = status
        self.output = bytes(output)

    def __str__(self):
        return "task failed with status %d: %s" % (self.status,
                                                    self.message.rstrip())

    def __reduce__(self):
        return (type(self), (self.status, self.output))


class ConnectionLost(Error, ConnectionError):
    """The connection to the daemon broke; every pending task is failed.

    Whether such a task ran is unknown.
    """
    name = "CONNECTION_LOST"

    def __init__(self, message="the daemon closed the connection"):
        Error.__init__(self, message)

    def __reduce__(self):
        return (type(self), (self.message,))


class RemoteError(Error):
    """An exception raised in a Python worker that could not be rebuilt here.

    It happens when the exception's class cannot be pickled or imported;
    ``message`` is the worker's repr() of it, and ``__cause__`` carries
    the worker's traceback as with any other exception.
    """
    name = "REMOTE_ERROR"


# The worker's traceback text, attached as ``__cause__``: the standard
# library's own class, the one ProcessPoolExecutor attaches, so a traceback
# printed in the caller shows the worker's frames first and code that looks
# for it finds it.
RemoteTraceback = _cfp._RemoteTraceback


_BY_CODE = {cls.code: cls for cls in (
    BadRequest, ProtocolError, TooLarge, UnknownPool, Overloaded,
    TaskTimeout, WorkerCrashed, ShuttingDown, Cancelled, Quarantined,
    Forbidden, Internal, Unavailable)}


def from_reply(code, body):
    """The exception for an ERROR reply: its code and its one line of text."""
    text = bytes(body).decode("utf-8", "replace").rstrip("\n")
    cls = _BY_CODE.get(code)
    if cls is None:
        return Error(text, code)
    return cls(text)

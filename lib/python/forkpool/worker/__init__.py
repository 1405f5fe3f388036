"""The worker side of a ``command =`` pool, in Python.

A program worker talks to forkpoold over one descriptor, 3 unless
$FORKPOOL_FD says otherwise (spec/PROTOCOL.md, "Program workers"): it sends
PONG with id 0 once it is ready, answers each SUBMIT with one RESULT of the
same id, in order, and exits when the descriptor reaches end of file.  Its
standard output and error go to the daemon's log, so print() freely.

Two ways to use it:

* ``serve(fn)`` in a program of your own, bytes in and bytes out:

      import forkpool.worker
      model = load_model()                # before serve(): the start-up
      forkpool.worker.serve(lambda payload: model.run(payload))

  ``fn(payload)`` returns bytes (str is sent as UTF-8, None as nothing)
  for status 0, or a ``(status, bytes)`` pair to report a failure itself.
  An exception becomes a RESULT with status 1 whose body is the traceback.
  SIGINT is ignored once serving: a Ctrl-C in the daemon's terminal must not
  cut short the daemon's graceful stop.

* ``python3 -m forkpool.worker [--preload MODULE]... [--path DIR]...``, the
  generic worker behind forkpool.Executor.  Each payload is a pickled
  ``(fn, args, kwargs)``; the worker calls ``fn(*args, **kwargs)`` and
  answers:

  - status 0: the body is the pickled return value;
  - status 1: the body is the pickled tuple ``(exception, traceback_text,
    exception_repr)`` for an exception fn raised (any BaseException, as in
    ProcessPoolExecutor), or that unpickling the call or pickling the
    value raised.  ``exception`` is None when it cannot be pickled and
    rebuilt; the caller then raises forkpool.RemoteError(exception_repr).

  A Python exception is a failure the worker reports itself, not a crash:
  the worker goes on serving, and the daemon counts the task as failed.
  ``--preload`` imports modules before PONG, so their start-up cost is
  paid once per worker, before it takes tasks.  Pickle runs code: a pool
  running this worker must accept only trusted users.
"""

import collections
import os
import select
import signal
import sys
import traceback

from .. import _calls
from .. import _mainref
from .. import protocol as _p

__all__ = ["serve", "run", "channel_fd", "call_pickled", "main"]

_READ_CHUNK = 256 * 1024
_JOIN_LIMIT = 64 * 1024
_HEADER = _p.HEADER
# A worker that retired itself (max_tasks_per_child) waits this long for a
# task the daemon may have handed it as it answered the last one.
_RETIRE_GRACE = 0.005


def channel_fd():
    """The channel's descriptor: $FORKPOOL_FD, 3 by default."""
    return int(os.environ.get("FORKPOOL_FD", "3"))


def _write_all(fd, header, body):
    """Write one frame; a large body is not copied to be joined."""
    if len(body) <= _JOIN_LIMIT:
        data = memoryview(header + body)
        while data:
            data = data[os.write(fd, data):]
        return
    parts = [memoryview(header), memoryview(body)]
    while parts:
        n = os.writev(fd, parts)
        while parts and n >= len(parts[0]):
            n -= len(parts[0])
            parts.pop(0)
        if parts and n:
            parts[0] = parts[0][n:]


def _violation(what):
    """The daemon sent something this worker cannot understand: stop."""
    sys.stderr.write("forkpool worker %d: %s; exiting\n" % (os.getpid(),
                                                            what))
    sys.stderr.flush()
    os._exit(1)


def _retire():
    """Exit 0 at once: every moment spent tearing the interpreter down is
    one in which the daemon may hand this worker another task."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


def _line_buffered():
    """Make print() reach the daemon's log line by line, not per 8 KiB."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(line_buffering=True)
        except (ValueError, OSError):
            pass


def _max_payload():
    """The largest output the daemon takes: $FORKPOOL_MAX_PAYLOAD."""
    try:
        return int(os.environ.get("FORKPOOL_MAX_PAYLOAD", ""))
    except ValueError:
        return _p.DEFAULT_MAX_PAYLOAD


def _too_large(size, limit):
    """The ERROR TOO_LARGE text for an output of size bytes."""
    return ("the output of %d bytes is over max_payload (%d bytes); raise "
            "max_payload in [daemon] or return less" % (size, limit)
            ).encode("utf-8")


class _Channel:
    """The worker's end of the channel: frames in, SUBMITs queued.

    SUBMITs are queued in arrival order; a CANCEL naming a queued one
    removes it, and no reply is ever sent for it (the daemon has answered
    it already).  Before each task queued behind another one, the loop
    picks up a CANCEL that arrived meanwhile for the price of one select().
    """

    def __init__(self, fd):
        self.fd = fd
        self.buf = bytearray()
        self.tasks = collections.OrderedDict()     # id -> payload
        self.eof = False

    def fill(self, wait):
        """Read what is there; if wait, block until something is."""
        if not wait and not select.select([self.fd], [], [], 0)[0]:
            return
        data = os.read(self.fd, _READ_CHUNK)
        if not data:
            self.eof = True
            return
        self.buf += data
        self._parse()

    def idle_wait(self, seconds):
        """True if something arrived within seconds."""
        ready = select.select([self.fd], [], [], seconds)[0]
        return bool(ready)

    def _parse(self):
        buf = self.buf
        off = 0
        have = len(buf)
        unpack_from = _HEADER.unpack_from
        while have - off >= _p.HEADER_LEN:
            blen, version, ftype, arg, fid = unpack_from(buf, off)
            if version != _p.VERSION:
                _violation("frame version %d, expected %d" %
                           (version, _p.VERSION))
            end = off + _p.HEADER_LEN + blen
            if end > have:
                break
            if ftype == _p.SUBMIT:
                if arg > blen:
                    _violation("SUBMIT %d: pool name of %d bytes in a "
                               "body of %d" % (fid, arg, blen))
                with memoryview(buf) as view:
                    self.tasks[fid] = view[off + _p.HEADER_LEN + arg:
                                           end].tobytes()
            elif ftype == _p.CANCEL:
                # Not started: skip it.  Unknown (already run): ignore.
                self.tasks.pop(fid, None)
            elif ftype == _p.PING:
                _write_all(self.fd, _HEADER.pack(0, _p.VERSION, _p.PONG, 0,
                                                 fid), b"")
            else:
                _violation("unexpected frame of type 0x%02x" % ftype)
            off = end
        if off:
            del buf[:off]


def run(handler, fd=None):
    """The worker loop: handler(payload) -> (status, body), until EOF.

    Sends PONG id 0 first (call it once initialised), then answers every
    SUBMIT in order, skipping those the daemon cancels before they start.
    An output over $FORKPOOL_MAX_PAYLOAD is answered ERROR TOO_LARGE and
    the worker goes on.  Returns at end of file on the channel, when the
    daemon has gone away, or when the worker has retired itself
    (max_tasks_per_child) and has nothing left to do.
    """
    if fd is None:
        fd = channel_fd()
    # The channel is ours alone: a program the handler execs must not
    # inherit it (and keep it open after this worker is gone).
    os.set_inheritable(fd, False)
    _line_buffered()
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        # A Ctrl-C in the daemon's terminal reaches its workers too; the
        # daemon's graceful stop, not this signal, decides when they end.
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:
            pass        # not the main thread: leave it as it is
    pack = _HEADER.pack
    limit = _max_payload()
    chan = _Channel(fd)
    tasks = chan.tasks
    retiring = False
    try:
        _write_all(fd, pack(0, _p.VERSION, _p.PONG, 0, 0), b"")
        while True:
            if not tasks:
                if chan.eof:
                    return
                if _calls.retire:
                    # Leave while idle, which the daemon treats as a
                    # retirement; but first take what it may have handed
                    # over as it read the last reply (once: a busy caller
                    # must not keep a retiring worker alive).
                    if retiring or not chan.idle_wait(_RETIRE_GRACE):
                        _retire()
                    retiring = True
                chan.fill(True)
                continue
            fid, payload = tasks.popitem(last=False)
            status, out = handler(payload)
            if len(out) > limit:
                out = _too_large(len(out), limit)
                _write_all(fd, pack(len(out), _p.VERSION, _p.ERROR,
                                    _p.ERR_TOO_LARGE, fid), out)
            else:
                _write_all(fd, pack(len(out), _p.VERSION, _p.RESULT,
                                    status, fid), out)
            if tasks and not chan.eof:
                # Tasks wait behind the one that ran: a CANCEL for one of
                # them may have come meanwhile.
                chan.fill(False)
    except (BrokenPipeError, ConnectionResetError):
        # The daemon is gone: nobody is left to answer.
        return


def _short_traceback(exc, skip):
    """The traceback of exc as text, without the frames of skip (code)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code in skip:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _bytes_out(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if value is None:
        return b""
    raise TypeError("a worker function returns bytes, str, None or "
                    "(status, bytes), not %s" % type(value).__name__)


def serve(fn, fd=None):
    """Serve a bytes-in, bytes-out function until the channel closes.

    fn(payload) returns bytes (or str, or None) for status 0, or a
    (status, bytes) pair.  An exception answers status 1 with the traceback
    as the body, and the loop goes on.
    """
    def handle(payload):
        try:
            value = fn(payload)
            if isinstance(value, tuple) and len(value) == 2 and \
                    isinstance(value[0], int):
                status = value[0]
                if not 0 <= status <= 0xffff:
                    raise ValueError("status %d is not in 0..65535" %
                                     status)
                return status, _bytes_out(value[1])
            return 0, _bytes_out(value)
        except Exception as exc:
            text = _short_traceback(exc, (handle.__code__,))
            exc.__traceback__ = None
            return 1, text.encode("utf-8", "replace")

    run(handle, fd)


def _failure(exc, skip):
    """Status 1 and the pickled (exception, traceback, repr) of exc."""
    text = _short_traceback(exc, skip)
    exc.__traceback__ = None
    try:
        described = repr(exc)
    except Exception:
        described = "<%s>" % type(exc).__name__
    try:
        data = _mainref.dumps_result((exc, text, described))
        # An exception that pickles may still not rebuild (an __init__
        # with other arguments than it passes to Exception); find out here
        # rather than in the caller.
        _mainref.loads_call(data)
    except Exception:
        data = _mainref.dumps_result((None, text, described))
    return 1, data


def call_pickled(payload):
    """Run one pickled (fn, args, kwargs); (status, pickled answer)."""
    try:
        fn, args, kwargs = _mainref.loads_call(payload)
        value = fn(*args, **kwargs)
    except BaseException as exc:
        return _failure(exc, (call_pickled.__code__,))
    try:
        return 0, _mainref.dumps_result(value)
    except BaseException as exc:
        return _failure(exc, ())


def main(argv=None):
    """``python3 -m forkpool.worker``: the Executor's generic worker."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python3 -m forkpool.worker",
        description="Serve forkpool.Executor calls on descriptor "
        "$FORKPOOL_FD (3): each task is a pickled (fn, args, kwargs).")
    parser.add_argument("-p", "--preload", action="append", default=[],
                        metavar="MODULE", help="import MODULE before "
                        "taking tasks (repeat it, or separate names with "
                        "commas)")
    parser.add_argument("--path", action="append", default=[],
                        metavar="DIR", help="put DIR first on sys.path")
    args = parser.parse_args(argv)
    for directory in reversed(args.path):
        sys.path.insert(0, directory)
    for item in args.preload:
        for name in item.split(","):
            if name.strip():
                __import__(name.strip())
    run(call_pickled)
    return 0

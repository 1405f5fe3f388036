"""forkpool.Client: bytes-level access to any pool, on one connection.

    with forkpool.Client() as c:              # the default socket
        out = c.submit("deflate", data)       # bytes in, bytes out
        outs = list(c.map("echo", [b"a", b"b"]))   # pipelined, in order
        c.ping()
        print(c.status()["pools"])

Errors the daemon reports are raised as forkpool.Error subclasses; a RESULT
with a non-zero status is raised as forkpool.TaskFailed.  One Client may be
shared by threads (a lock serialises the calls), but a thread waiting for
its reply also waits behind the others; for throughput, pipeline with map()
or give each thread its own Client.
"""

import collections
import itertools
import json
import os
import socket as _socket
import threading

from . import _mainref
from . import errors as _e
from . import protocol as _p

_READ_CHUNK = 256 * 1024


def socket_path(explicit=None):
    """The socket to use, resolved exactly like the C library's.

    The explicit path when given, then $FORKPOOL_SOCKET, then
    /run/forkpool/forkpool.sock for root, $XDG_RUNTIME_DIR/forkpool.sock
    or /tmp/forkpool-UID.sock for other users.
    """
    if explicit is not None:
        return os.fsdecode(explicit)
    env = os.environ.get("FORKPOOL_SOCKET")
    if env:
        return env
    uid = os.geteuid()
    if uid == 0:
        return "/run/forkpool/forkpool.sock"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return xdg + "/forkpool.sock"
    return "/tmp/forkpool-%d.sock" % uid


def _hint(err):
    """A hint for a person after a failed connect, or ""."""
    if isinstance(err, (FileNotFoundError, ConnectionRefusedError)):
        return " (is forkpoold running? set FORKPOOL_SOCKET or pass socket=)"
    if isinstance(err, PermissionError):
        return " (may this user use the socket? check its owner and mode)"
    return ""


def connect(path, timeout=None):
    """A connected Unix stream socket; OSError naming the path otherwise."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except OSError as err:
        sock.close()
        if err.errno is None:
            raise
        raise type(err)(err.errno, "cannot connect to %s: %s%s" %
                        (path, err.strerror, _hint(err))) from None
    return sock


def _as_bytes(payload):
    """A payload as bytes-like; str is sent as UTF-8."""
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return payload
    raise TypeError("a payload is bytes (or str), not %s" %
                    type(payload).__name__)


def result_of(frame):
    """The output of a RESULT frame, or the exception its reply means."""
    ftype, arg, fid, body = frame
    if ftype == _p.RESULT:
        if arg == 0:
            return body
        raise _e.TaskFailed(arg, body)
    if ftype == _p.ERROR:
        raise _e.from_reply(arg, body)
    raise _e.ProtocolError("reply of type 0x%02x to a SUBMIT (id %d)" %
                           (ftype, fid))


class Client:
    """One connection to forkpoold, bytes in and bytes out.

    ``socket`` is resolved with socket_path().  ``timeout`` (seconds, or
    None to wait forever) bounds each wait for a reply; a reply that does
    not come in time raises TimeoutError, and the task is cancelled if it
    has not started.  ``max_payload`` refuses larger payloads before they
    are sent (the daemon would close the connection).
    """

    def __init__(self, socket=None, timeout=None,
                 max_payload=_p.DEFAULT_MAX_PAYLOAD):
        _mainref.check_not_loading("forkpool.Client")
        self.path = socket_path(socket)
        self._timeout = timeout
        self.max_payload = max_payload
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._sock = None
        self._reader = None
        self._stash = {}        # id -> frame, replies someone still wants
        self._wanted = set()    # ids of requests whose reply is awaited
        self._abandoned = set()  # ids whose reply is to be dropped
        self._open()

    @property
    def timeout(self):
        """Seconds to wait for each reply, or None: forever."""
        return self._timeout

    @timeout.setter
    def timeout(self, value):
        with self._lock:
            self._timeout = value
            if self._sock is not None:
                self._sock.settimeout(value)

    def _open(self):
        self._sock = connect(self.path, self._timeout)
        self._reader = _p.FrameReader()
        self._stash.clear()
        self._wanted.clear()
        self._abandoned.clear()

    def close(self):
        """Close the connection; tasks still queued for it are dropped."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()

    def _lost(self, why):
        """The connection broke: forget it; the next call reconnects."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._stash.clear()
        self._wanted.clear()
        self._abandoned.clear()
        return _e.ConnectionLost(why)

    def _send(self, data):
        if self._sock is None:
            self._open()
        try:
            self._sock.sendall(data)
        except OSError as err:
            raise self._lost("sending to %s: %s" % (self.path, err)) from err

    def _read_frames(self):
        """Receive at least one frame and file each under its id."""
        try:
            data = self._sock.recv(_READ_CHUNK)
        except _socket.timeout:
            raise
        except OSError as err:
            raise self._lost("reading from %s: %s" % (self.path, err)) \
                from err
        if not data:
            raise self._lost("the daemon closed the connection")
        self._reader.feed(data)
        try:
            frames = self._reader.frames()
        except _p.FrameError as err:
            raise self._lost("unreadable reply: %s" % err) from err
        for frame in frames:
            fid = frame[2]
            if fid in self._wanted:
                self._stash[fid] = frame
            elif fid in self._abandoned:
                self._abandoned.discard(fid)
            elif frame[0] == _p.ERROR and fid == 0:
                # A connection-level error (PROTOCOL, FORBIDDEN): the
                # daemon closes next; tell whoever waits now.
                raise self._lost(str(_e.from_reply(frame[1], frame[3])))

    def _wait(self, fid):
        """The reply to request fid, reading (and stashing) as needed."""
        try:
            while fid not in self._stash:
                self._read_frames()
        except _socket.timeout:
            self._abandon([fid])
            raise TimeoutError("no reply from %s within %s s" %
                               (self.path, self.timeout)) from None
        self._wanted.discard(fid)
        return self._stash.pop(fid)

    def _abandon(self, ids):
        """Stop waiting for ids: cancel their tasks, drop their replies."""
        if self._sock is None:
            return
        cancels = []
        for fid in ids:
            self._wanted.discard(fid)
            if self._stash.pop(fid, None) is None:
                self._abandoned.add(fid)
                cancels.append(_p.encode(_p.CANCEL, 0, fid))
        if cancels:
            try:
                self._sock.sendall(b"".join(cancels))
            except OSError:
                self._lost("sending a cancel")

    def _request(self, ftype, want, body=b""):
        """Send one request and return its reply's body."""
        with self._lock:
            if self._sock is None:
                self._open()
            fid = next(self._ids)
            self._wanted.add(fid)
            self._send(_p.encode(ftype, 0, fid, body))
            rtype, arg, _, rbody = self._wait(fid)
        if rtype == _p.ERROR:
            raise _e.from_reply(arg, rbody)
        if rtype != want:
            raise _e.ProtocolError("reply of type 0x%02x to a request of "
                                   "type 0x%02x" % (rtype, ftype))
        return rbody

    def _submit_frame(self, fid, pool, payload):
        payload = _as_bytes(payload)
        if len(payload) > self.max_payload:
            raise _e.TooLarge("payload of %d bytes is over max_payload %d" %
                              (len(payload), self.max_payload))
        return _p.encode_submit(fid, pool, bytes(payload))

    def submit(self, pool, payload):
        """Run one task and return its output (bytes).

        Raises TaskFailed for a non-zero status and a forkpool.Error
        subclass for an ERROR reply.
        """
        name = _p.pool_name_bytes(pool)
        with self._lock:
            if self._sock is None:
                self._open()
            fid = next(self._ids)
            frame = self._submit_frame(fid, name, payload)
            self._wanted.add(fid)
            self._send(frame)
            reply = self._wait(fid)
        return result_of(reply)

    def map(self, pool, payloads, window=256):
        """Run a task per payload, pipelined; yield outputs in input order.

        At most ``window`` tasks are outstanding at once, and payloads are
        taken from the iterable only as the window allows.  A failed task
        raises when its turn comes; the tasks after it are cancelled when
        the generator is closed.
        """
        if window < 1:
            raise ValueError("window must be at least 1")
        name = _p.pool_name_bytes(pool)
        it = iter(payloads)
        order = collections.deque()
        more = True
        try:
            while True:
                with self._lock:
                    if self._sock is None:
                        if order:
                            raise _e.ConnectionLost(
                                "the connection was lost")
                        self._open()
                    frames = []
                    while more and len(order) < window:
                        try:
                            payload = next(it)
                        except StopIteration:
                            more = False
                            break
                        fid = next(self._ids)
                        frames.append(self._submit_frame(fid, name, payload))
                        order.append(fid)
                        self._wanted.add(fid)
                    if frames:
                        self._send(b"".join(frames))
                    if not order:
                        return
                    reply = self._wait(order[0])
                    order.popleft()
                yield result_of(reply)
        finally:
            if order:
                with self._lock:
                    self._abandon(order)

    def ping(self):
        """Ask the daemon whether it answers; returns True."""
        self._request(_p.PING, _p.PONG)
        return True

    def status(self):
        """The STATUS document, parsed (a dict)."""
        return json.loads(self._request(_p.STATUS, _p.STATUS_REPLY))

    def metrics(self):
        """The METRICS text (Prometheus exposition format)."""
        return self._request(_p.METRICS, _p.METRICS_REPLY).decode("utf-8")

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
import pwd
import socket as _socket
import stat
import struct
import threading
import time
from typing import Any, Dict, Iterable, Iterator, Optional, Union

from . import _mainref
from . import errors as _e
from . import protocol as _p

_READ_CHUNK = 256 * 1024
# Back-off before sending an OVERLOADED task again when no reply of this
# connection is due to announce room: 1 ms, doubling to 100 ms.
_BACKOFF_MIN = 0.001
_BACKOFF_MAX = 0.1


SYSTEM_SOCKET = "/run/forkpool/forkpool.sock"


def user_socket() -> str:
    """This user's own socket: $XDG_RUNTIME_DIR/forkpool.sock, else
    /tmp/forkpool-UID/forkpool.sock (UID the real uid)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "forkpool.sock")
    return "/tmp/forkpool-%d/forkpool.sock" % os.getuid()


def _default_candidates():
    """The sockets the default search tries, in order."""
    if os.getuid() == 0:
        return [SYSTEM_SOCKET]
    return [user_socket(), SYSTEM_SOCKET]


def socket_path(explicit: "Optional[Union[str, bytes, os.PathLike]]" = None
                ) -> str:
    """The socket to use, resolved exactly like the C library's.

    1. the explicit path when given;
    2. $FORKPOOL_SOCKET when set and not empty;
    3. this user's socket if it exists ($XDG_RUNTIME_DIR/forkpool.sock,
       else /tmp/forkpool-UID/forkpool.sock), skipped for root;
    4. the system socket, /run/forkpool/forkpool.sock.
    When neither 3 nor 4 exists, the system socket is returned and
    connect() names both paths it tried.
    """
    if explicit is not None:
        return os.fsdecode(explicit)
    env = os.environ.get("FORKPOOL_SOCKET")
    if env:
        return env
    for path in _default_candidates():
        if os.path.exists(path):
            return path
    return SYSTEM_SOCKET


def _hint(err, path):
    """A hint for a person after a failed connect, or ""."""
    if isinstance(err, (FileNotFoundError, ConnectionRefusedError)):
        tried = _default_candidates()
        if path == SYSTEM_SOCKET and not os.environ.get("FORKPOOL_SOCKET") \
                and len(tried) > 1:
            return (" (tried %s and %s: start forkpoold, or set "
                    "FORKPOOL_SOCKET or pass socket=)" % tuple(tried))
        return " (is forkpoold running? set FORKPOOL_SOCKET or pass socket=)"
    if isinstance(err, PermissionError):
        return " (may this user use the socket? check its owner and mode)"
    return ""


_PEERCRED = struct.Struct("3i")


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return None


def _uids(spec):
    """The uids a trust list names: user names or numbers, comma-separated
    (a string), or an int, or an iterable of those."""
    if spec is None:
        return set()
    if isinstance(spec, int):
        return {spec}
    if isinstance(spec, str):
        spec = spec.split(",")
    out = set()
    for item in spec:
        if isinstance(item, int):
            out.add(item)
            continue
        item = item.strip()
        if not item:
            continue
        if item.isdigit():
            out.add(int(item))
            continue
        try:
            out.add(pwd.getpwnam(item).pw_uid)
        except KeyError:
            raise ValueError("trust_user: no user is named %r" % item) \
                from None
    return out


def peer_trusted(uid, path, trust_user=None):
    """Whether a daemon running as uid, behind path, is one to talk to.

    Root, this process's effective user, the owner of the socket's
    directory when nobody else may write in it (the installed
    /run/forkpool), or a user trusted explicitly: trust_user= (a name, a
    uid, a comma-separated list or a list) or $FORKPOOL_TRUST_USER.
    An abstract socket ("@name") has no directory.
    """
    if uid == 0 or uid == os.geteuid():
        return True
    if not path.startswith("@"):
        try:
            st = os.stat(os.path.dirname(path) or ".")
        except OSError:
            st = None
        if st is not None and st.st_uid == uid and \
                not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return True
    trusted = _uids(trust_user) | _uids(os.environ.get("FORKPOOL_TRUST_USER"))
    return uid in trusted


def check_peer(sock, path, trust_user=None):
    """Refuse a daemon that runs as a user this client does not trust.

    Called right after connect(), before a byte is sent: a task sent to
    the wrong process is a leak, and with the Executor its reply is
    unpickled, which runs code.
    """
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED,
                            _PEERCRED.size)
    _, uid, _ = _PEERCRED.unpack(creds)
    if peer_trusted(uid, path, trust_user):
        return
    name = _user_name(uid)
    who = "uid %d (%s)" % (uid, name) if name else "uid %d" % uid
    raise _e.UntrustedDaemon(
        "the process behind %s runs as %s, which is not root, not you, "
        "and not the owner of a directory only it may write to; nothing "
        "was sent.  If you trust that user, pass trust_user=%r or set "
        "FORKPOOL_TRUST_USER=%s" % (path, who, name or uid, name or uid))


def _address(path):
    """The address for connect(): "@name" is an abstract socket."""
    if path.startswith("@"):
        return "\0" + path[1:]
    return path


def connect(path: str, timeout: Optional[float] = None,
            trust_user: Any = None) -> _socket.socket:
    """A connected Unix stream socket to a trusted daemon.

    OSError naming the path when it cannot connect, UntrustedDaemon when
    the peer's user is not trusted (see peer_trusted).
    """
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(_address(path))
        check_peer(sock, path, trust_user)
    except OSError as err:
        sock.close()
        if err.errno is None or isinstance(err, _e.Error):
            raise
        raise type(err)(err.errno, "cannot connect to %s: %s%s" %
                        (path, err.strerror, _hint(err, path))) from None
    except BaseException:
        sock.close()
        raise
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


def reply_body(frame, ftype, want):
    """The body of the reply of type want to a request of type ftype, or
    the exception an ERROR reply means."""
    rtype, arg, _, body = frame
    if rtype == _p.ERROR:
        raise _e.from_reply(arg, body)
    if rtype != want:
        raise _e.ProtocolError("reply of type 0x%02x to a request of "
                               "type 0x%02x" % (rtype, ftype))
    return body


class Client:
    """One connection to forkpoold, bytes in and bytes out.

    ``socket`` is resolved with socket_path().  ``timeout`` (seconds, or
    None to wait forever) bounds each wait for a reply; a reply that does
    not come in time raises TimeoutError, and the task is cancelled if it
    has not started.  ``max_payload`` refuses larger payloads before they
    are sent (the daemon would close the connection).  ``trust_user``
    names users whose daemon is accepted besides root, this user and the
    owner of the socket's private directory (see peer_trusted()).
    ``retry_overloaded`` (default True): a task refused OVERLOADED, which
    means it was not run, waits for room and is sent again, so the caller
    never sees Overloaded; False raises it.
    """

    def __init__(self, socket: Optional[str] = None,
                 timeout: Optional[float] = None,
                 max_payload: int = _p.DEFAULT_MAX_PAYLOAD, *,
                 trust_user: Any = None,
                 retry_overloaded: bool = True) -> None:
        _mainref.check_not_loading("forkpool.Client")
        self.path = socket_path(socket)
        self._timeout = timeout
        self._trust = trust_user
        self.retry_overloaded = retry_overloaded
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
        self._sock = connect(self.path, self._timeout, self._trust)
        self._reader = _p.FrameReader()
        self._stash.clear()
        self._wanted.clear()
        self._abandoned.clear()

    def close(self) -> None:
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

    def _wait_any(self):
        """Read until one more reply has been stashed."""
        have = len(self._stash)
        while len(self._stash) == have:
            self._read_frames()

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
            frame = self._wait(fid)
        return reply_body(frame, ftype, want)

    def _submit_frame(self, fid, pool, payload):
        payload = _as_bytes(payload)
        if len(payload) > self.max_payload:
            raise _e.TooLarge("payload of %d bytes is over max_payload %d" %
                              (len(payload), self.max_payload))
        return _p.encode_submit(fid, pool, bytes(payload))

    def submit(self, pool: str, payload: "Union[bytes, str]") -> bytes:
        """Run one task and return its output (bytes).

        Raises TaskFailed for a non-zero status and a forkpool.Error
        subclass for an ERROR reply.
        """
        name = _p.pool_name_bytes(pool)
        backoff = _BACKOFF_MIN
        with self._lock:
            if self._sock is None:
                self._open()
            fid = next(self._ids)
            frame = self._submit_frame(fid, name, payload)
            while True:
                self._wanted.add(fid)
                self._send(frame)
                reply = self._wait(fid)
                if not self._overloaded(reply):
                    break
                # Nothing else of ours is on its way to announce room.
                time.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
        return result_of(reply)

    def _overloaded(self, reply):
        """True for an OVERLOADED reply this client sends again."""
        return self.retry_overloaded and reply[0] == _p.ERROR and \
            reply[1] == _p.ERR_OVERLOADED

    def map(self, pool: str, payloads: "Iterable[Union[bytes, str]]",
            window: int = 256) -> Iterator[bytes]:
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
        frames_of = {}          # id -> frame, to send again if OVERLOADED
        backoff = _BACKOFF_MIN
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
                        frame = self._submit_frame(fid, name, payload)
                        frames.append(frame)
                        if self.retry_overloaded:
                            frames_of[fid] = frame
                        order.append(fid)
                        self._wanted.add(fid)
                    if frames:
                        self._send(b"".join(frames))
                    if not order:
                        return
                    reply = self._wait(order[0])
                    if self._overloaded(reply):
                        # Nothing ran: send it again once a reply of ours
                        # made room, or after a back-off when none is due.
                        if len(order) > len(self._stash) + 1:
                            self._wait_any()
                            backoff = _BACKOFF_MIN
                        else:
                            time.sleep(backoff)
                            backoff = min(backoff * 2, _BACKOFF_MAX)
                        self._wanted.add(order[0])
                        self._send(frames_of[order[0]])
                        continue
                    frames_of.pop(order.popleft(), None)
                yield result_of(reply)
        finally:
            if order:
                with self._lock:
                    self._abandon(order)

    def ping(self) -> bool:
        """Ask the daemon whether it answers; returns True."""
        self._request(_p.PING, _p.PONG)
        return True

    def status(self) -> Dict[str, Any]:
        """The STATUS document, parsed (a dict)."""
        return json.loads(self._request(_p.STATUS, _p.STATUS_REPLY))

    def metrics(self) -> str:
        """The METRICS text (Prometheus exposition format)."""
        return self._request(_p.METRICS, _p.METRICS_REPLY).decode("utf-8")

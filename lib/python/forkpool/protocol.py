"""The forkpool wire protocol, version 1: constants and the frame codec.

The contract is spec/PROTOCOL.md; the C twin is lib/forkpool/proto.h.
Change anything here that goes on the wire and you change the protocol
version.

A frame is a 16-byte little-endian header, ``<IBBHQ`` (len, version, type,
arg, id), then ``len`` bytes of body.  The codec is pure: bytes in, frames
out; it never touches a socket.
"""

import re
import struct

VERSION = 1
HEADER = struct.Struct("<IBBHQ")
HEADER_LEN = HEADER.size
POOL_NAME_MAX = 64
DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024

# Requests, client to daemon (and daemon to a program worker: SUBMIT).
SUBMIT = 0x01
PING = 0x02
STATUS = 0x03
METRICS = 0x04
CANCEL = 0x05

# Replies, daemon to client (and a program worker to the daemon: RESULT, PONG).
RESULT = 0x81
ERROR = 0x82
PONG = 0x83
STATUS_REPLY = 0x84
METRICS_REPLY = 0x85

# Error codes, carried in the arg of an ERROR frame.
ERR_BAD_REQUEST = 1
ERR_PROTOCOL = 2
ERR_TOO_LARGE = 3
ERR_UNKNOWN_POOL = 4
ERR_OVERLOADED = 5
ERR_TIMEOUT = 6
ERR_WORKER_CRASHED = 7
ERR_SHUTTING_DOWN = 8
ERR_CANCELLED = 9
ERR_QUARANTINED = 10
ERR_FORBIDDEN = 11
ERR_INTERNAL = 12
ERR_UNAVAILABLE = 13

# The names the C library's fp_err_name() gives, index = code.
ERROR_NAMES = {
    ERR_BAD_REQUEST: "BAD_REQUEST",
    ERR_PROTOCOL: "PROTOCOL",
    ERR_TOO_LARGE: "TOO_LARGE",
    ERR_UNKNOWN_POOL: "UNKNOWN_POOL",
    ERR_OVERLOADED: "OVERLOADED",
    ERR_TIMEOUT: "TIMEOUT",
    ERR_WORKER_CRASHED: "WORKER_CRASHED",
    ERR_SHUTTING_DOWN: "SHUTTING_DOWN",
    ERR_CANCELLED: "CANCELLED",
    ERR_QUARANTINED: "QUARANTINED",
    ERR_FORBIDDEN: "FORBIDDEN",
    ERR_INTERNAL: "INTERNAL",
    ERR_UNAVAILABLE: "UNAVAILABLE",
}

_POOL_NAME = re.compile(rb"[A-Za-z0-9_.\-]{1,64}\Z")


class FrameError(ValueError):
    """A byte stream that is not a valid frame sequence.

    ``code`` is the protocol error it amounts to (ERR_PROTOCOL for a bad
    version, ERR_TOO_LARGE for a body over the limit) and ``id`` the
    offending frame's id, as far as it could be read.
    """

    def __init__(self, code, message, frame_id=0):
        ValueError.__init__(self, message)
        self.code = code
        self.id = frame_id


def error_name(code):
    """"WORKER_CRASHED" for 7; "UNKNOWN" for a code out of range."""
    return ERROR_NAMES.get(code, "UNKNOWN")


def pool_name_bytes(pool):
    """The pool name as bytes, or ValueError when the protocol refuses it."""
    if isinstance(pool, str):
        try:
            pool = pool.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("bad pool name %r: use 1 to 64 of "
                             "A-Z a-z 0-9 _ . -" % (pool,)) from None
    if not isinstance(pool, (bytes, bytearray)) or \
            _POOL_NAME.match(pool) is None:
        raise ValueError("bad pool name %r: use 1 to 64 of "
                         "A-Z a-z 0-9 _ . -" % (pool,))
    return bytes(pool)


def encode(ftype, arg=0, frame_id=0, body=b""):
    """One frame as bytes: the header, then the body."""
    return HEADER.pack(len(body), VERSION, ftype, arg, frame_id) + body


def encode_submit(frame_id, pool, payload):
    """A SUBMIT frame; pool is already checked bytes (pool_name_bytes)."""
    return HEADER.pack(len(pool) + len(payload), VERSION, SUBMIT,
                       len(pool), frame_id) + pool + payload


def decode_header(data, offset=0):
    """(len, version, type, arg, id) from 16 bytes at offset."""
    return HEADER.unpack_from(data, offset)


class FrameReader:
    """A streaming decoder: feed() bytes as they come, take whole frames.

    Each frame is a tuple (type, arg, id, body) with body as bytes.  The
    version is checked before len is trusted, and len is bounded by
    max_body before anything is buffered for it; a broken stream raises
    FrameError and stays broken.
    """

    __slots__ = ("_buf", "_off", "max_body", "error")

    def __init__(self, max_body=None):
        self._buf = bytearray()
        self._off = 0
        self.max_body = max_body
        self.error = None

    def __len__(self):
        """Bytes held and not yet returned as frames."""
        return len(self._buf) - self._off

    def feed(self, data):
        """Append bytes received."""
        if self._off:
            # Drop the frames already returned; what is left is at most one
            # partial frame, so the move is short.
            del self._buf[:self._off]
            self._off = 0
        self._buf += data

    def next(self):
        """One whole frame, or None when more bytes are needed."""
        if self.error is not None:
            raise self.error
        buf = self._buf
        off = self._off
        if len(buf) - off < HEADER_LEN:
            return None
        blen, version, ftype, arg, fid = HEADER.unpack_from(buf, off)
        if version != VERSION:
            self.error = FrameError(ERR_PROTOCOL,
                                    "frame version %d, expected %d" %
                                    (version, VERSION), fid)
            raise self.error
        if self.max_body is not None and blen > self.max_body:
            self.error = FrameError(ERR_TOO_LARGE,
                                    "frame body of %d bytes is over the "
                                    "limit of %d" % (blen, self.max_body),
                                    fid)
            raise self.error
        end = off + HEADER_LEN + blen
        if end > len(buf):
            return None
        with memoryview(buf) as view:
            body = view[off + HEADER_LEN:end].tobytes()
        self._off = end
        return (ftype, arg, fid, body)

    def frames(self):
        """Every whole frame held now, in order."""
        out = []
        while True:
            frame = self.next()
            if frame is None:
                return out
            out.append(frame)

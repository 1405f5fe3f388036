"""The frame codec and the exceptions, without a daemon."""

import os
import pickle
import re
import unittest

import forkpool
from forkpool import errors
from forkpool import protocol as p

from fpharness import TREE

PROTO_H = os.path.join(TREE, "lib", "forkpool", "proto.h")


class TestEncode(unittest.TestCase):

    def test_spec_example_request(self):
        # The bytes of PROTOCOL.md's "complete exchange": SUBMIT hello to
        # echo with id 7.
        want = bytes.fromhex("09000000 01 01 0400 0700000000000000"
                             "6563686f 68656c6c6f".replace(" ", ""))
        self.assertEqual(p.encode_submit(7, b"echo", b"hello"), want)
        self.assertEqual(p.encode(p.SUBMIT, 4, 7, b"echohello"), want)

    def test_spec_example_reply(self):
        # The daemon's reply of the same example decodes to RESULT id 7.
        data = bytes.fromhex("05000000 01 81 0000 0700000000000000"
                             "68656c6c6f".replace(" ", ""))
        r = p.FrameReader()
        r.feed(data)
        self.assertEqual(r.frames(), [(p.RESULT, 0, 7, b"hello")])

    def test_header_is_little_endian(self):
        # Every integer field is little-endian, id included, 16 bytes.
        h = p.encode(p.ERROR, 0x0102, 0x0807060504030201)
        self.assertEqual(len(h), p.HEADER_LEN)
        self.assertEqual(h, bytes([0, 0, 0, 0, 1, 0x82, 2, 1,
                                   1, 2, 3, 4, 5, 6, 7, 8]))
        self.assertEqual(p.decode_header(h),
                         (0, 1, p.ERROR, 0x0102, 0x0807060504030201))


class TestReader(unittest.TestCase):

    def frames(self):
        return [(p.RESULT, 0, 1, b"one"), (p.ERROR, 7, 2, b"crashed"),
                (p.PONG, 0, 3, b""), (p.RESULT, 3, 2 ** 64 - 1, b"x" * 70000)]

    def stream(self):
        return b"".join(p.encode(t, a, i, b) for t, a, i, b in self.frames())

    def test_whole_stream(self):
        # Frames fed at once come out whole and in order.
        r = p.FrameReader()
        r.feed(self.stream())
        self.assertEqual(r.frames(), self.frames())
        self.assertEqual(len(r), 0)

    def test_byte_at_a_time(self):
        # A frame split anywhere is held until it is whole.
        data = self.stream()
        r = p.FrameReader()
        got = []
        for i in range(len(data)):
            r.feed(data[i:i + 1])
            got.extend(r.frames())
        self.assertEqual(got, self.frames())

    def test_odd_chunks(self):
        # Chunks that straddle headers and bodies give the same frames.
        data = self.stream()
        for size in (3, 15, 16, 17, 1000, 65536):
            r = p.FrameReader()
            got = []
            for i in range(0, len(data), size):
                r.feed(data[i:i + size])
                got.extend(r.frames())
            self.assertEqual(got, self.frames(), "chunk size %d" % size)

    def test_version_checked_before_len(self):
        # A bad version is a PROTOCOL error even when len is huge: len is
        # not trusted before version is checked.
        r = p.FrameReader(max_body=10)
        r.feed(b"\xff\xff\xff\xff\x02\x81\x00\x00" + b"\x05" + b"\0" * 7)
        with self.assertRaises(p.FrameError) as cm:
            r.next()
        self.assertEqual(cm.exception.code, p.ERR_PROTOCOL)
        self.assertEqual(cm.exception.id, 5)

    def test_too_large(self):
        # A body over max_body is refused from its header alone.
        r = p.FrameReader(max_body=10)
        r.feed(p.encode(p.RESULT, 0, 9, b"x" * 11)[:16])
        with self.assertRaises(p.FrameError) as cm:
            r.next()
        self.assertEqual(cm.exception.code, p.ERR_TOO_LARGE)
        self.assertEqual(cm.exception.id, 9)

    def test_error_is_sticky(self):
        # Once broken, the stream stays broken, even after good bytes.
        r = p.FrameReader()
        r.feed(b"\0\0\0\0\x09" + b"\0" * 11)
        self.assertRaises(p.FrameError, r.next)
        r.feed(p.encode(p.PONG))
        self.assertRaises(p.FrameError, r.next)


class TestPoolName(unittest.TestCase):

    def test_valid(self):
        # 1 to 64 of A-Z a-z 0-9 _ . - are accepted, as str or bytes.
        for name in ("a", "echo", "Py-3.11_x", "x" * 64):
            self.assertEqual(p.pool_name_bytes(name), name.encode())
            self.assertEqual(p.pool_name_bytes(name.encode()), name.encode())

    def test_invalid(self):
        # Anything else is refused before it is sent.
        for name in ("", "x" * 65, "a b", "a/b", "\u00e9", b"a\0", 7):
            self.assertRaises(ValueError, p.pool_name_bytes, name)


class TestMatchesCHeader(unittest.TestCase):
    """The Python constants are the C header's, value for value."""

    def setUp(self):
        if not os.path.exists(PROTO_H):
            self.skipTest("no %s" % PROTO_H)
        with open(PROTO_H) as f:
            self.text = f.read()

    def test_types(self):
        # Frame types have the values of enum fp_type.
        found = dict(re.findall(r"\bFP_([A-Z_]+)\s*=\s*(0x[0-9a-fA-F]+)",
                                self.text))
        self.assertTrue(found)
        for name, value in found.items():
            self.assertEqual(getattr(p, name), int(value, 16), name)

    def test_errors(self):
        # Error codes and names are those of enum fp_err.
        found = dict(re.findall(r"\bFP_ERR_([A-Z_]+)\s*=\s*(\d+)", self.text))
        self.assertEqual(len(found), 13)
        for name, value in found.items():
            self.assertEqual(getattr(p, "ERR_" + name), int(value), name)
            self.assertEqual(p.error_name(int(value)), name)

    def test_sizes(self):
        # Header length, version and limits agree.
        for cname, pyvalue in (("FP_HDR_LEN", p.HEADER_LEN),
                               ("FP_PROTO_VERSION", p.VERSION),
                               ("FP_POOL_NAME_MAX", p.POOL_NAME_MAX)):
            m = re.search(r"#define\s+%s\s+(\d+)" % cname, self.text)
            self.assertEqual(int(m.group(1)), pyvalue, cname)


class TestErrors(unittest.TestCase):

    CLASSES = {
        1: forkpool.BadRequest, 2: forkpool.ProtocolError,
        3: forkpool.TooLarge, 4: forkpool.UnknownPool,
        5: forkpool.Overloaded, 6: forkpool.TaskTimeout,
        7: forkpool.WorkerCrashed, 8: forkpool.ShuttingDown,
        9: forkpool.Cancelled, 10: forkpool.Quarantined,
        11: forkpool.Forbidden, 12: forkpool.Internal,
    }

    def test_one_class_per_code(self):
        # Each ERROR code becomes its own class, under forkpool.Error, with
        # the code, the C library's name, and the daemon's text.
        for code, cls in self.CLASSES.items():
            exc = errors.from_reply(code, b"the daemon's words\n")
            self.assertIs(type(exc), cls)
            self.assertIsInstance(exc, forkpool.Error)
            self.assertEqual(exc.code, code)
            self.assertEqual(exc.name, p.error_name(code))
            self.assertEqual(exc.message, "the daemon's words")
            self.assertIn("the daemon's words", str(exc))

    def test_unknown_code(self):
        # A code this client does not know still raises a forkpool.Error.
        exc = errors.from_reply(99, b"new")
        self.assertIs(type(exc), forkpool.Error)
        self.assertEqual((exc.code, exc.name, exc.message),
                         (99, "UNKNOWN", "new"))

    def test_task_timeout_is_not_a_wait_timeout(self):
        # TaskTimeout must not be caught by "except TimeoutError" meant
        # for future.result(timeout=...).
        self.assertFalse(issubclass(forkpool.TaskTimeout, TimeoutError))

    def test_task_failed(self):
        # A non-zero status carries the status and the raw output.
        exc = forkpool.TaskFailed(3, b"bad \xff input")
        self.assertIsInstance(exc, forkpool.Error)
        self.assertEqual((exc.status, exc.output), (3, b"bad \xff input"))
        self.assertIn("status 3", str(exc))

    def test_connection_lost(self):
        # ConnectionLost is both a forkpool.Error and a ConnectionError.
        exc = forkpool.ConnectionLost("gone")
        self.assertIsInstance(exc, forkpool.Error)
        self.assertIsInstance(exc, ConnectionError)
        self.assertEqual(exc.message, "gone")

    def test_pickle_round_trip(self):
        # The exceptions survive pickling (a worker may re-raise one).
        samples = [errors.from_reply(c, b"text") for c in self.CLASSES] + \
            [forkpool.TaskFailed(2, b"out"), forkpool.ConnectionLost("x"),
             forkpool.RemoteError("r"), errors.from_reply(99, b"n")]
        for exc in samples:
            back = pickle.loads(pickle.dumps(exc))
            self.assertIs(type(back), type(exc))
            self.assertEqual(str(back), str(exc))
            self.assertEqual(back.code, exc.code)


if __name__ == "__main__":
    unittest.main()

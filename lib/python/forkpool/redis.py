"""forkpool.redis.Executor: concurrent.futures across hosts, through Redis.

    import forkpool.redis
    with forkpool.redis.Executor("redis://queue:6379/0", "jobs", "py") as ex:
        for n, r in zip(nums, ex.map(is_prime, nums)):
            print(n, r)

Each call is pickled exactly as forkpool.Executor pickles it and added to
the stream as an entry (``payload``, ``pool``, ``reply_to``); the
forkpool-redis bridge on some host runs it in that host's forkpoold and
pushes the outcome to this executor's own ``reply_to`` list, from which a
reader thread settles the futures.  An outcome the bridge could not get
(UNKNOWN_POOL, a task sent to the dead letters after max_deliveries, ...)
fails its future with the forkpool.Error for its code; a task whose
``deadline`` passed before it could run fails with Expired.

This is the only module of the package that needs python3-redis; the rest
is the standard library alone.
"""

import concurrent.futures
import itertools
import os
import socket
import threading
import time
import uuid

import redis as _redis

from . import _mainref
from . import errors as _e
from . import executor as _x
from . import protocol as _p

_CODES = {name: code for code, name in _p.ERROR_NAMES.items()}
_CODES.setdefault("UNAVAILABLE", 13)


class Expired(_e.Error):
    """The task's deadline passed before any host could run it."""
    name = "EXPIRED"


def parse_outcome(blob):
    """(entry, outcome, status-or-code, consumer, body) of a reply_to item.

    The bridge pushes "ENTRY OUTCOME STATUS|CODE CONSUMER\\n" then the
    output (or the error's text).
    """
    head, _, body = bytes(blob).partition(b"\n")
    entry, outcome, what, consumer = head.decode().split(" ", 3)
    return entry, outcome, what, consumer, body


def _settle(future, outcome, what, body):
    """Settle future with an outcome, as forkpool.Executor would."""
    if outcome == "result":
        _x._resolve(future, _p.RESULT, int(what), body)
    elif outcome == "expired":
        if future.set_running_or_notify_cancel():
            future.set_exception(Expired(body.decode("utf-8", "replace")))
    else:
        code = _CODES.get(what)
        if code is None:
            code = int(what) if what.isdigit() else _p.ERR_INTERNAL
        _x._resolve(future, _p.ERROR, code, body)


class Executor(concurrent.futures.Executor):
    """A concurrent.futures.Executor whose calls run on forkpool pools of
    any host that runs forkpool-redis on ``stream``.

    redis_url: as redis.Redis.from_url takes it ("redis://host:6379/0",
    "unix:///run/redis/redis.sock"); or an existing redis.Redis client.
    deadline: seconds; a call not started by then is not run (Expired).
    """

    def __init__(self, redis_url, stream, pool, deadline=None):
        self._own = not isinstance(redis_url, _redis.Redis)
        if self._own:
            self._r = _redis.Redis.from_url(redis_url)
        else:
            self._r = redis_url
        self._stream = stream
        self._pool = pool
        self._deadline = deadline
        self._reply_to = "forkpool:reply:%s:%d:%s" % (
            socket.gethostname(), os.getpid(), uuid.uuid4().hex)
        self._lock = threading.Lock()
        self._futures = {}
        self._early = {}        # outcomes read before XADD's reply
        self._shutdown = False
        self._thread = None

    def _entry(self, fn, args, kwargs):
        fields = {"payload": _mainref.dumps_call((fn, args, kwargs)),
                  "pool": self._pool, "reply_to": self._reply_to}
        if self._deadline is not None:
            fields["deadline"] = int((time.time() + self._deadline) * 1000)
        return fields

    def _send(self, calls):
        """Add the calls as entries in one round trip; their futures."""
        futures = []
        pipe = self._r.pipeline(transaction=False)
        for fn, args, kwargs in calls:
            pipe.xadd(self._stream, self._entry(fn, args, kwargs))
            futures.append(concurrent.futures.Future())
        ids = pipe.execute()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after "
                                   "shutdown")
            early = []
            for entry, future in zip(ids, futures):
                outcome = self._early.pop(entry.decode(), None)
                if outcome is None:
                    self._futures[entry.decode()] = future
                else:
                    early.append((future, outcome))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._read_loop, name="forkpool.redis reader",
                    daemon=True)
                self._thread.start()
        for future, outcome in early:
            _settle(future, *outcome)
        return futures

    def _read_loop(self):
        """Settle futures from the reply_to list until none is pending."""
        r = self._r
        while True:
            with self._lock:
                if not self._futures and self._shutdown:
                    return
            item = r.brpop(self._reply_to, timeout=1)
            if item is None:
                continue
            entry, outcome, what, _, body = parse_outcome(item[1])
            with self._lock:
                future = self._futures.pop(entry, None)
                if future is None:
                    # Another thread's XADD has not returned its id yet.
                    self._early[entry] = (outcome, what, body)
            if future is not None:
                _settle(future, outcome, what, body)

    def submit(self, fn, /, *args, **kwargs):
        """Schedule fn(*args, **kwargs) on a host's pool; its Future."""
        return self._send([(fn, args, kwargs)])[0]

    submit.__doc__ = concurrent.futures.Executor.submit.__doc__

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like map(fn, *iterables), run across hosts; results in order."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end_time = None if timeout is None else time.monotonic() + timeout
        args = zip(*iterables)
        if chunksize == 1:
            calls = [(fn, a, {}) for a in args]
        else:
            calls = [(_x._process_chunk, (fn, chunk), {})
                     for chunk in _x._chunks(args, chunksize)]
        futures = []
        for i in range(0, len(calls), 1000):
            futures.extend(self._send(calls[i:i + 1000]))

        def result_iterator():
            for future in futures:
                left = None
                if end_time is not None:
                    left = end_time - time.monotonic()
                yield future.result(left)

        if chunksize == 1:
            return result_iterator()
        return itertools.chain.from_iterable(result_iterator())

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Take no more calls; with wait, return once every one settled.

        cancel_futures cancels the futures here; entries already on the
        stream still run somewhere and their outcomes are dropped.
        """
        with self._lock:
            self._shutdown = True
            thread = self._thread
            if cancel_futures:
                for future in self._futures.values():
                    future.cancel()
                self._futures.clear()
        if wait and thread is not None:
            thread.join()
        if wait and self._own:
            self._r.connection_pool.disconnect()

"""forkpool.Executor: concurrent.futures on a forkpool pool of Python workers.

    import forkpool
    with forkpool.Executor("py") as ex:        # was ProcessPoolExecutor()
        for n, r in zip(nums, ex.map(is_prime, nums)):
            print(n, r)

The pool runs the generic worker (``command = python3 -m forkpool.worker``).
submit(fn, *args, **kwargs) pickles ``(fn, args, kwargs)`` -- fn by
reference, as ProcessPoolExecutor does -- and the worker imports fn, calls
it and pickles back the value or the exception.  Functions defined in the
caller's own script are sent by reference to that script, which the worker
loads once (see forkpool._mainref); everything else must be importable in
the worker (command_dir, command_env PYTHONPATH=...).

What differs from ProcessPoolExecutor, on purpose:

* A worker that dies fails its own future with forkpool.WorkerCrashed; the
  executor keeps working (no BrokenProcessPool).  A task past the pool's
  task_timeout fails with forkpool.TaskTimeout, its worker killed.
* Errors the daemon reports are forkpool.Error subclasses with its words.
  A connection that breaks fails every pending future with
  forkpool.ConnectionLost; the next submit() connects again.
* Future.cancel() of a task already sent asks the daemon to drop it and
  returns False: the answer comes later.  The future ends cancelled if the
  task had not started, and with its result otherwise.  shutdown(
  cancel_futures=True) does this for every pending future.
* At most max_inflight tasks are outstanding; submit() waits for a slot
  beyond that (map() submits everything before it returns, like the
  standard library's, so it may wait too).

Pickle runs code in the worker, as with ProcessPoolExecutor: a pool serving
this executor must accept only trusted users (socket_mode, allow_users).
"""

import collections
import concurrent.futures
import itertools
import logging
import select
import threading
import sys
import time
import uuid
import warnings
import weakref
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple

from . import _calls
from . import _mainref
from . import client as _client
from . import errors as _e
from . import protocol as _p

_READ_CHUNK = 256 * 1024
_BATCH_BYTES = 1024 * 1024
# Back-off before OVERLOADED tasks are sent again when no reply of this
# connection is on its way to announce room: 1 ms, doubling to 100 ms.
_BACKOFF_MIN = 0.001
_BACKOFF_MAX = 0.1
# Calls outstanding per executor by default: well under a typical
# queue_limit (1024), so that two or three executors sharing a pool rarely
# meet OVERLOADED at all, and enough to keep workers with prefetch busy.
DEFAULT_WINDOW = 256
_global_shutdown = False
_RETIRED_WORDS = b" exited with status 0 after "

_live = weakref.WeakSet()       # connections whose reader still runs


class Future(concurrent.futures.Future):
    """A concurrent.futures.Future whose cancel() asks the daemon to drop a
    queued task."""

    _fp_conn = None
    _fp_id = 0

    def cancel(self):
        """Ask the daemon to drop the task; see the module's notes.

        Returns True when the future is cancelled now (a call still held
        in the executor); for a task at the daemon, whether it gets
        cancelled is known when the daemon answers, and this returns
        False.
        """
        if self.done():
            return self.cancelled()
        conn = self._fp_conn
        if conn is None:
            # Never sent (the executor refused it before): cancel here.
            return concurrent.futures.Future.cancel(self)
        # True at once for a call that was still waiting in the executor
        # (max_workers, or OVERLOADED): it never reached the daemon.
        return conn.send_cancels([self._fp_id]) > 0


def _rebuild_exception(body):
    """The exception a Python worker pickled, with its traceback as cause."""
    try:
        exc, tb, described = _mainref.loads_result(body)
    except Exception:
        # Not our worker's answer (a pool of another kind?): report it raw.
        return _e.TaskFailed(1, body)
    if exc is None:
        exc = _e.RemoteError(described)
    elif isinstance(exc, _calls.InitializerFailed):
        broken = _e.BrokenInitializer()
        broken.__cause__ = _e.RemoteTraceback('\n"""\n%s"""' % exc.args[0])
        return broken
    exc.__cause__ = _e.RemoteTraceback('\n"""\n%s"""' % tb)
    return exc


def _resolve(future, ftype, arg, body):
    """Settle a future with the daemon's reply to its task."""
    if ftype == _p.ERROR and arg == _p.ERR_CANCELLED:
        concurrent.futures.Future.cancel(future)
        future.set_running_or_notify_cancel()
        return
    if not future.set_running_or_notify_cancel():
        return
    if ftype == _p.RESULT and arg == 0:
        try:
            value = _mainref.loads_result(body)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(value)
    else:
        future.set_exception(_exception_of(ftype, arg, body))


def _exception_of(ftype, arg, body):
    """The exception a reply that is not a success means."""
    if ftype is None:
        return body             # a local failure: body is the exception
    if ftype == _p.RESULT:
        if arg == 1:
            return _rebuild_exception(body)
        return _e.TaskFailed(arg, body)
    if ftype == _p.ERROR:
        if arg == _p.ERR_CANCELLED:
            return concurrent.futures.CancelledError()
        return _e.from_reply(arg, body)
    return _e.ProtocolError("reply of type 0x%02x to a SUBMIT" % ftype)


class _MapRun:
    """The replies of one map() call, by input index.

    map() needs no Future per call: the reader thread files each raw reply
    under its index and the consumer decodes it when its turn comes, so a
    call costs a dict entry, and unpickling happens in the consumer's
    thread rather than the reader's.
    """

    __slots__ = ("cond", "replies", "ids", "want")

    def __init__(self):
        self.cond = threading.Condition(threading.Lock())
        self.replies = {}       # index -> (type, arg, id, body)
        self.ids = {}           # index -> task id, for cancelling
        self.want = -1          # the index the consumer waits for

    def put(self, items):
        """File replies (a dict index -> frame); wake the consumer."""
        with self.cond:
            self.replies.update(items)
            if self.want in items:
                self.cond.notify()

    def take(self, index, end_time):
        """The reply for index, waiting until end_time (monotonic) at most."""
        with self.cond:
            frame = self.replies.pop(index, None)
            if frame is not None:
                return frame
            self.want = index
            try:
                while index not in self.replies:
                    if end_time is None:
                        self.cond.wait()
                        continue
                    left = end_time - time.monotonic()
                    if left <= 0 or not self.cond.wait(left):
                        if index in self.replies:
                            break
                        raise concurrent.futures.TimeoutError()
            finally:
                self.want = -1
            return self.replies.pop(index)

    def pending_ids(self, start, stop):
        """Task ids of the indexes in [start, stop) not answered yet."""
        with self.cond:
            return [self.ids[i] for i in range(start, stop)
                    if i in self.ids and i not in self.replies]


def _outcome(frame):
    """The value of a map() reply, or raise what it means."""
    ftype, arg, _, body = frame
    if ftype == _p.RESULT and arg == 0:
        return _mainref.loads_result(body)
    raise _exception_of(ftype, arg, body)


class _Connection:
    """One pipelined connection: sends under a lock, a thread reads replies.

    The reader thread settles futures by id.  It never sends a request and
    never waits for a window slot, so replies keep flowing however busy the
    senders are; a sender that waits for a slot waits for the reader.

    OVERLOADED (nothing was run) is not the caller's business unless it
    asked (retry_overloaded=False): the task is parked with its payload and
    sent again, one parked task per reply of this connection that arrives
    (a reply means room was made), or after a back-off of 1 ms doubling to
    100 ms when nothing else of this connection is outstanding.
    """

    def __init__(self, path, max_inflight, retry_overloaded=True,
                 trust_user=None, watch_init=False, cap=None,
                 retiring=False):
        self.path = path
        self.sock = _client.connect(path, trust_user=trust_user)
        self.lock = threading.Lock()            # pending, inflight, state
        self.room = threading.Condition(self.lock)  # a window slot freed
        self.send_lock = threading.Lock()       # whole frames on the socket
        self.max_inflight = max_inflight
        # A sender that found the window full waits until it is down to
        # this: it then sends a batch, not one frame per reply that freed
        # a slot (each wake-up costs more than the frame).
        self.low_water = max_inflight - max(1, max_inflight // 4)
        self.inflight = 0
        self.waiting = 0        # senders waiting for room
        self.pending = {}       # id -> Future or (_MapRun, index)
        self.retry = retry_overloaded
        self.payloads = {}      # id -> frame, kept to send again
        self.parked = collections.deque()   # ids refused OVERLOADED
        self.backoff = _BACKOFF_MIN
        # max_workers: at most cap tasks at the daemon; the others wait
        # here (held), so that submit() need not block for them.
        self.cap = cap
        self.retiring = retiring    # max_tasks_per_child: workers retire
        self.sent = 0
        self.held = collections.deque()
        self.watch_init = watch_init
        self.broken = None      # BrokenInitializer once an initializer fails
        self.cancel_rest = False
        self.ids = itertools.count(1)
        self.dead = None        # the exception factory once broken
        self.closing = False
        self.thread = threading.Thread(target=self._read_loop,
                                       name="forkpool-reader", daemon=True)
        _live.add(self)
        self.thread.start()

    def in_reader(self):
        return threading.get_ident() == self.thread.ident

    def send_calls(self, targets, pool, payloads):
        """Send one SUBMIT per (target, payload), as the window allows.

        A target is a Future, or a (_MapRun, index) pair.

        Each round registers as many tasks as there is room for under one
        lock, then writes their frames with one sendall().  The reader
        thread itself (a done-callback that submits) never waits for room:
        it is the one that makes room.
        """
        in_reader = self.in_reader()
        i = 0
        n = len(targets)
        while i < n:
            with self.lock:
                if not in_reader and self.inflight >= self.max_inflight:
                    while self.dead is None and \
                            self.inflight > self.low_water:
                        self.waiting += 1
                        self.room.wait()
                        self.waiting -= 1
                if self.dead is not None:
                    break
                take = n - i
                if not in_reader:
                    take = min(take, self.max_inflight - self.inflight)
                frames = []
                pending = self.pending
                keep = self.payloads if self.retry or self.cap else None
                for k in range(i, i + take):
                    fid = next(self.ids)
                    target = targets[k]
                    if type(target) is tuple:
                        target[0].ids[target[1]] = fid
                    else:
                        target._fp_conn = self
                        target._fp_id = fid
                    pending[fid] = target
                    frame = _p.encode_submit(fid, pool, payloads[k])
                    if keep is not None:
                        keep[fid] = frame
                    frames.append(frame)
                self.inflight += take
                if self.cap is not None:
                    room = max(0, min(take, self.cap - self.sent))
                    self.sent += room
                    if room < take:
                        # The ids are consecutive: the last ones wait.
                        self.held.extend(range(fid - (take - room) + 1,
                                               fid + 1))
                        frames = frames[:room]
            i += take
            if frames:
                self._write(frames)
        if i < n:
            _fail(targets[i:], self.dead)

    def send_cancels(self, ids):
        """Ask the daemon to drop these tasks if they have not started.

        A task parked after OVERLOADED, or held for max_workers, is not at
        the daemon: it is cancelled here at once.  Returns how many were.
        """
        local = []
        with self.lock:
            ids = [fid for fid in ids if fid in self.pending]
            if self.dead is not None or not ids:
                return 0
            for name in ("parked", "held"):
                here = getattr(self, name)
                mine = set(here).intersection(ids) if here else None
                if not mine:
                    continue
                setattr(self, name, collections.deque(
                    fid for fid in here if fid not in mine))
                for fid in mine:
                    local.append((self.pending.pop(fid), fid))
                    self.payloads.pop(fid, None)
                self.inflight -= len(mine)
                if name == "parked" and self.cap is not None:
                    self.sent -= len(mine)
                ids = [fid for fid in ids if fid not in mine]
                self.room.notify_all()
        for target, fid in local:
            _settle(target, (_p.ERROR, _p.ERR_CANCELLED, fid,
                             b"cancelled before it was sent again"))
        if ids:
            self._write([_p.encode(_p.CANCEL, 0, fid) for fid in ids])
        return len(local)

    def cancel_all(self):
        with self.lock:
            ids = list(self.pending)
        if ids:
            self.send_cancels(ids)

    def _write(self, frames):
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        try:
            with self.send_lock:
                self.sock.sendall(data)
        except OSError as err:
            why = "sending to %s: %s" % (self.path, err)
            self._break(lambda: _e.ConnectionLost(why))

    def _break(self, factory):
        """The connection is unusable: fail every pending future."""
        with self.lock:
            if self.dead is None:
                self.dead = factory
            pending = list(self.pending.values())
            self.pending.clear()
            self.payloads.clear()
            self.parked.clear()
            self.held.clear()
            self.inflight = 0
            self.room.notify_all()
        try:
            self.sock.shutdown(2)       # wakes the reader if it waits
        except OSError:
            pass
        _fail(pending, self.dead)

    def close_when_idle(self):
        """Close once no task is pending (now, if none is)."""
        with self.lock:
            self.closing = True
            idle = not self.pending
        if idle:
            try:
                self.sock.shutdown(2)
            except OSError:
                pass

    def join(self, timeout=None):
        if not self.in_reader():
            self.thread.join(timeout)

    def _resend(self, count):
        """Send again up to count parked tasks (all of them for None), and
        then held tasks while the cap allows."""
        with self.lock:
            frames = []
            while self.parked and (count is None or len(frames) < count):
                frame = self.payloads.get(self.parked.popleft())
                if frame is not None:
                    frames.append(frame)
            if self.cap is not None:
                while self.held and self.sent < self.cap:
                    frames.append(self.payloads[self.held.popleft()])
                    self.sent += 1
        if frames:
            self._write(frames)

    def _wait_readable(self):
        """Before a read: when only parked tasks are outstanding, wait at
        most the back-off, then send them again."""
        with self.lock:
            out = self.sent if self.cap is not None else self.inflight
            idle = self.parked and len(self.parked) >= out
        if not idle:
            return
        if select.select([self.sock], [], [], self.backoff)[0]:
            return
        self.backoff = min(self.backoff * 2, _BACKOFF_MAX)
        self._resend(None)

    def _initializer_check(self, frame):
        """Once an initializer failed, every reply is that failure."""
        if self.broken is None and frame[0] == _p.RESULT and frame[1] == 1:
            exc = _rebuild_exception(frame[3])
            if isinstance(exc, _e.BrokenInitializer):
                self.broken = exc
                self.cancel_rest = True
                # Where ProcessPoolExecutor's worker logs it, so that it is
                # seen even when no one looks at the futures.
                logging.getLogger("concurrent.futures").critical(
                    "Exception in initializer (forkpool worker):%s",
                    exc.__cause__)
        if self.broken is not None:
            return (None, 0, frame[2], self.broken)
        return frame

    def _read_loop(self):
        reader = _p.FrameReader()
        why = None
        refused = None          # a connection-level ERROR (id 0)
        try:
            while True:
                if self.parked:
                    self._wait_readable()
                try:
                    data = self.sock.recv(_READ_CHUNK)
                except OSError as err:
                    why = "reading from %s: %s" % (self.path, err)
                    break
                if not data:
                    why = "the daemon closed the connection"
                    break
                reader.feed(data)
                try:
                    frames = reader.frames()
                except _p.FrameError as err:
                    why = "unreadable reply: %s" % err
                    break
                settle = []
                runs = {}
                done = 0
                with self.lock:
                    pending = self.pending
                    for frame in frames:
                        fid = frame[2]
                        if self.retry and frame[0] == _p.ERROR and \
                                fid in pending and \
                                _not_run(frame, self.retiring):
                            self.parked.append(fid)
                            continue
                        target = pending.pop(fid, None)
                        if target is None:
                            if frame[0] == _p.ERROR and fid == 0:
                                refused = _e.from_reply(frame[1], frame[3])
                            continue
                        done += 1
                        if self.retry or self.cap:
                            self.payloads.pop(fid, None)
                        if self.watch_init:
                            frame = self._initializer_check(frame)
                        if type(target) is tuple:
                            items = runs.get(target[0])
                            if items is None:
                                items = runs[target[0]] = {}
                            items[target[1]] = frame
                        else:
                            settle.append((target, frame))
                    self.inflight -= done
                    if self.cap is not None:
                        self.sent -= done
                    if self.waiting and self.inflight <= self.low_water:
                        self.room.notify_all()
                if done and (self.parked or self.held):
                    # Replies made room at the daemon: one parked task
                    # each may take it, then held ones up to the cap.
                    self.backoff = _BACKOFF_MIN
                    self._resend(done)
                if self.cancel_rest:
                    self.cancel_rest = False
                    self.cancel_all()
                for run, items in runs.items():
                    run.put(items)
                for future, frame in settle:
                    _settle(future, frame)
                with self.lock:
                    if self.closing and not self.pending:
                        break
            if refused is not None:
                # FORBIDDEN, PROTOCOL: the daemon's words explain the loss.
                self._break(lambda: type(refused)(refused.message,
                                                  refused.code))
            elif why is not None:
                with self.lock:
                    quiet = self.closing and not self.pending
                if not quiet:
                    self._break(lambda: _e.ConnectionLost(why))
        finally:
            with self.lock:
                if self.dead is None:
                    self.dead = lambda: _e.ConnectionLost(
                        "the executor's connection is closed")
            self.sock.close()
            _live.discard(self)


def _not_run(frame, retiring):
    """Whether an ERROR reply means the task was not run, so that it can
    be sent again: OVERLOADED; or, for an executor whose workers retire
    (max_tasks_per_child), WORKER_CRASHED from a worker that exited with
    status 0, which the generic worker does only while idle, when it
    retires: the daemon handed it the task in the instant before it
    noticed the exit."""
    if frame[1] == _p.ERR_OVERLOADED:
        return True
    return retiring and frame[1] == _p.ERR_WORKER_CRASHED and \
        _RETIRED_WORDS in frame[3]


def _settle(target, frame):
    """Settle a future, or file a map() reply, with one reply frame."""
    if type(target) is tuple:
        target[0].put({target[1]: frame})
    else:
        _resolve(target, *frame[:2], frame[3])


def _fail(targets, factory):
    """Fail futures and map() calls whose connection broke."""
    runs = {}
    for target in targets:
        if type(target) is tuple:
            runs.setdefault(target[0], {})[target[1]] = \
                (None, 0, 0, factory())
        elif target.set_running_or_notify_cancel():
            target.set_exception(factory())
    for run, items in runs.items():
        run.put(items)


def _process_chunk(fn, chunk):
    """Run a batch of calls in one task (map with chunksize > 1)."""
    return [fn(*args) for args in chunk]


def _chunks(iterator, size):
    while True:
        chunk = tuple(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk


class Executor(concurrent.futures.Executor):
    """A concurrent.futures.Executor whose workers are a forkpool pool.

    The arguments of ProcessPoolExecutor keep their meaning:

    * ``pool`` names a pool running ``python3 -m forkpool.worker``
      (default "py", the sample configuration's);
    * ``max_workers``: at most that many of this executor's calls run at
      once (a cap on the calls outstanding; the pool's size is the
      daemon's); ValueError when <= 0.  None: no cap but the window;
    * ``mp_context`` is accepted and ignored: the workers are the daemon's
      processes, started its way;
    * ``initializer(*initargs)`` runs in a worker before the first call of
      this executor that lands on it, once per worker (pickled by
      reference, like the calls).  If it raises, that call and every later
      one fail with forkpool.BrokenInitializer (a BrokenProcessPool), and
      submit() raises it; other clients of the pool are not affected;
    * ``max_tasks_per_child``: a worker that has run that many calls of
      this executor retires once idle and the daemon starts another, so
      what the calls left in memory is released.

    And forkpool's own, keyword only: ``socket`` (resolved by
    forkpool.socket_path), ``trust_user`` (users whose daemon this client
    accepts besides root, itself and the owner of the socket's private
    directory; see forkpool.client.connect), ``max_inflight`` (the
    window: calls outstanding on the connection, default 256),
    ``max_payload`` (larger pickled calls fail locally with TooLarge), and
    ``retry_overloaded`` (default True: a call refused OVERLOADED waits
    for room and is sent again; False fails its future with Overloaded).
    """

    def __init__(self, pool: str = "py", max_workers: Optional[int] = None,
                 mp_context: Any = None,
                 initializer: Optional[Callable[..., Any]] = None,
                 initargs: Tuple[Any, ...] = (), *,
                 max_tasks_per_child: Optional[int] = None,
                 socket: Optional[str] = None, trust_user: Any = None,
                 max_inflight: int = DEFAULT_WINDOW,
                 max_payload: int = _p.DEFAULT_MAX_PAYLOAD,
                 retry_overloaded: bool = True) -> None:
        _mainref.check_not_loading("forkpool.Executor")
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        del mp_context          # the daemon starts the workers
        self._pool = _p.pool_name_bytes(pool)
        self.pool = self._pool.decode("ascii")
        self.socket = _client.socket_path(socket)
        self._max_workers = max_workers
        self._max_inflight = max_inflight
        self._max_payload = max_payload
        self._retry = retry_overloaded
        self._trust = trust_user
        self._wrap = None
        if initializer is not None or max_tasks_per_child is not None:
            self._wrap = (uuid.uuid4().hex, initializer, tuple(initargs),
                          max_tasks_per_child)
        self._lock = threading.Lock()
        self._shutdown = False
        self._conn = self._new_connection()
        _check_version(self)

    @property
    def _broken(self):
        """ProcessPoolExecutor's flag: why the executor is unusable, or
        False."""
        broken = self._conn.broken
        return str(broken) if broken is not None else False

    def _new_connection(self):
        conn = _Connection(self.socket, self._max_inflight, self._retry,
                           self._trust, self._wrap is not None
                           and self._wrap[1] is not None,
                           self._max_workers,
                           self._wrap is not None
                           and self._wrap[3] is not None)
        weakref.finalize(self, _Connection.close_when_idle, conn)
        return conn

    def _connection(self):
        """The live connection; a new one when the last one broke."""
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after "
                                   "shutdown")
            if _global_shutdown:
                raise RuntimeError("cannot schedule new futures after "
                                   "interpreter shutdown")
            if self._conn.broken is not None:
                raise _e.BrokenInitializer(
                    "an initializer raised an exception; the executor is "
                    "not usable any more") from self._conn.broken.__cause__
            if self._conn.dead is not None:
                self._conn = self._new_connection()
            return self._conn

    def _dispatch(self, calls, run=None, wrap=True):
        """Pickle and send (fn, args, kwargs) calls, in batches.

        Without run, returns a Future per call.  With a _MapRun, the replies
        are filed in it by index, and the number of calls is returned.  A
        call that cannot be pickled or is too large fails on its own, as a
        ProcessPoolExecutor future does, without being sent.
        """
        conn = self._connection()
        futures = []
        targets = []
        payloads = []
        index = 0
        wrap = self._wrap if wrap else None
        for call in calls:
            if wrap is not None:
                call = (_calls.run, wrap + call, {})
            if run is None:
                target = Future()
                futures.append(target)
            else:
                target = (run, index)
            index += 1
            try:
                payload = _mainref.dumps_call(call)
                if len(payload) > self._max_payload:
                    raise _e.TooLarge(
                        "the pickled call is %d bytes, over max_payload %d" %
                        (len(payload), self._max_payload))
            except BaseException as exc:
                _fail([target], lambda exc=exc: exc)
                continue
            targets.append(target)
            payloads.append(payload)
            if len(targets) >= 256:
                conn.send_calls(targets, self._pool, payloads)
                targets = []
                payloads = []
        if targets:
            conn.send_calls(targets, self._pool, payloads)
        return futures if run is None else index

    def submit(self, fn: Callable[..., Any], /, *args: Any,
               **kwargs: Any) -> Future:
        """Schedule fn(*args, **kwargs) on the pool; return its Future."""
        return self._dispatch(((fn, args, kwargs),))[0]

    submit.__doc__ = concurrent.futures.Executor.submit.__doc__

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any],
            timeout: Optional[float] = None,
            chunksize: int = 1) -> Iterator[Any]:
        """Like map(fn, *iterables), run on the pool; results in order.

        Every call is sent before map() returns, as with the standard
        library's.  chunksize > 1 sends that many calls as one task (their
        results come back as one list), which pays off for many small
        calls.  Raises concurrent.futures.TimeoutError when a result is not
        there ``timeout`` seconds after the call to map(); leaving the
        iterator early cancels the calls not started.
        """
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end_time = None
        if timeout is not None:
            end_time = timeout + time.monotonic()
        args = zip(*iterables)
        if chunksize == 1:
            calls = ((fn, a, {}) for a in args)
        else:
            calls = ((_process_chunk, (fn, chunk), {})
                     for chunk in _chunks(args, chunksize))
        run = _MapRun()
        count = self._dispatch(calls, run)
        conn = self._conn

        def result_iterator():
            i = 0
            try:
                while i < count:
                    frame = run.take(i, end_time)
                    i += 1
                    yield _outcome(frame)
            finally:
                if i < count:
                    conn.send_cancels(run.pending_ids(i, count))

        if chunksize == 1:
            return result_iterator()
        return itertools.chain.from_iterable(result_iterator())

    def shutdown(self, wait: bool = True, *,
                 cancel_futures: bool = False) -> None:
        """Take no more work; finish (or cancel) what is pending.

        cancel_futures=True sends CANCEL for every pending task: those not
        started end cancelled, those running finish.  wait=True returns
        once every pending future is settled and the connection closed.
        """
        with self._lock:
            self._shutdown = True
            conn = self._conn
        if cancel_futures:
            conn.cancel_all()
        conn.close_when_idle()
        if wait:
            conn.join()


_versions_checked = set()      # (socket, pool) asked once per process


def _check_version(executor):
    """Warn once when the pool's workers run another Python than this one.

    A pickle from another version may not load, and a build of another
    speed surprises a benchmark: the worker's interpreter is named in the
    pool's command (forkpool status shows it), and this asks it once.
    """
    key = (executor.socket, executor.pool)
    if key in _versions_checked:
        return
    _versions_checked.add(key)
    mine = tuple(sys.version_info[:3])

    def compare(future):
        try:
            theirs = tuple(future.result())
        except BaseException:
            return              # the calls themselves will say what fails
        if len(theirs) != 3 or not all(isinstance(v, int) for v in theirs):
            return              # not a Python worker (an echo pool?)
        if theirs != mine:
            warnings.warn(
                "forkpool pool %r runs Python %s, this program Python %s: "
                "name the same interpreter in the pool's command (forkpool "
                "status shows it)" % (executor.pool,
                                      ".".join(map(str, theirs)),
                                      ".".join(map(str, mine))),
                RuntimeWarning, stacklevel=2)

    future = executor._dispatch(((_calls.python_version, (), {}),),
                                wrap=False)[0]
    future.add_done_callback(compare)


def _python_exit():
    """At interpreter exit, let pending tasks finish, as ProcessPool does."""
    global _global_shutdown
    _global_shutdown = True
    conns = list(_live)
    for conn in conns:
        conn.close_when_idle()
    for conn in conns:
        conn.join()


try:
    threading._register_atexit(_python_exit)
except (AttributeError, RuntimeError):
    import atexit
    atexit.register(_python_exit)

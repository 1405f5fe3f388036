"""forkpool.AsyncClient: bytes in, bytes out, on asyncio streams.

    async def main():
        async with forkpool.AsyncClient() as c:
            out = await c.submit("deflate", data)
            outs = await c.map("echo", [b"a", b"b"])     # in input order

The same rules as forkpool.Client: the same socket search and peer check,
the same exceptions, OVERLOADED waited out and sent again (unless
retry_overloaded=False), at most ``window`` tasks of one map() outstanding.
Cancelling the task that awaits submit() sends CANCEL: the daemon drops the
task if it has not started, and its reply is discarded either way.
"""

import asyncio
import itertools
import json
from typing import Any, Dict, Iterable, List, Optional, Union

from . import client as _client
from . import errors as _e
from . import protocol as _p

_READ_CHUNK = 256 * 1024
_BACKOFF_MIN = 0.001
_BACKOFF_MAX = 0.1

Payload = Union[bytes, bytearray, memoryview, str]


class AsyncClient:
    """One connection to forkpoold for asyncio code.

    ``socket``, ``trust_user``, ``max_payload`` and ``retry_overloaded``
    mean what they mean for forkpool.Client.  Connects on first use (or
    ``await client.connect()``); ``await client.close()``, or use it as an
    ``async with`` block.
    """

    def __init__(self, socket: Optional[str] = None, *,
                 trust_user: Any = None,
                 max_payload: int = _p.DEFAULT_MAX_PAYLOAD,
                 retry_overloaded: bool = True) -> None:
        self.path = _client.socket_path(socket)
        self.max_payload = max_payload
        self.retry_overloaded = retry_overloaded
        self._trust = trust_user
        self._ids = itertools.count(1)
        self._reader: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None
        self._task: Optional[asyncio.Task] = None
        self._waiting: Dict[int, asyncio.Future] = {}
        self._dead: Optional[BaseException] = None
        self._replied = None    # an Event set whenever a reply arrives

    async def connect(self) -> None:
        """Connect now (the calls connect by themselves otherwise)."""
        if self._writer is not None:
            return
        # connect() and the peer check are local and brief: done in one go
        # before asyncio takes the socket over.
        sock = _client.connect(self.path, None, self._trust)
        sock.setblocking(False)
        self._reader, self._writer = await asyncio.open_unix_connection(
            sock=sock, limit=_READ_CHUNK)
        self._dead = None
        self._replied = asyncio.Event()
        self._task = asyncio.ensure_future(self._read_loop())

    async def close(self) -> None:
        """Close the connection; tasks still queued for it are dropped."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def __aenter__(self) -> "AsyncClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _read_loop(self) -> None:
        frames = _p.FrameReader()
        why: BaseException = _e.ConnectionLost()
        try:
            while True:
                data = await self._reader.read(_READ_CHUNK)
                if not data:
                    break
                frames.feed(data)
                for frame in frames.frames():
                    fut = self._waiting.pop(frame[2], None)
                    if fut is not None:
                        if not fut.done():
                            fut.set_result(frame)
                    elif frame[0] == _p.ERROR and frame[2] == 0:
                        why = _e.from_reply(frame[1], frame[3])
                self._replied.set()
                self._replied = asyncio.Event()
        except (OSError, _p.FrameError) as err:
            why = _e.ConnectionLost("reading from %s: %s" % (self.path, err))
        finally:
            self._dead = why
            self._writer = None
            waiting, self._waiting = self._waiting, {}
            for fut in waiting.values():
                if not fut.done():
                    fut.set_exception(why)
            self._replied.set()

    def _frame(self, fid: int, name: bytes, payload: Payload) -> bytes:
        payload = _client._as_bytes(payload)
        if len(payload) > self.max_payload:
            raise _e.TooLarge("payload of %d bytes is over max_payload %d" %
                              (len(payload), self.max_payload))
        return _p.encode_submit(fid, name, bytes(payload))

    async def _send(self, data: bytes) -> None:
        if self._writer is None:
            raise self._dead or _e.ConnectionLost()
        self._writer.write(data)
        await self._writer.drain()

    async def _run(self, fid: int, frame: bytes) -> bytes:
        """Send one SUBMIT and wait for its reply, OVERLOADED waited out."""
        backoff = _BACKOFF_MIN
        loop = asyncio.get_running_loop()
        while True:
            fut = loop.create_future()
            self._waiting[fid] = fut
            try:
                await self._send(frame)
                reply = await fut
            except asyncio.CancelledError:
                # The caller gave up: drop the task if it has not started.
                if self._waiting.pop(fid, None) is not None and \
                        self._writer is not None:
                    self._writer.write(_p.encode(_p.CANCEL, 0, fid))
                raise
            if not (self.retry_overloaded and reply[0] == _p.ERROR and
                    reply[1] == _p.ERR_OVERLOADED):
                return _client.result_of(reply)
            # Nothing ran.  Wait for a reply of this connection (room was
            # made), or a back-off when nothing else is outstanding.
            if self._waiting:
                await self._replied.wait()
                backoff = _BACKOFF_MIN
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)

    async def submit(self, pool: str, payload: Payload) -> bytes:
        """Run one task and return its output (bytes).

        Raises TaskFailed for a non-zero status and a forkpool.Error
        subclass for an ERROR reply, as forkpool.Client.submit().
        """
        name = _p.pool_name_bytes(pool)
        await self.connect()
        fid = next(self._ids)
        return await self._run(fid, self._frame(fid, name, payload))

    async def map(self, pool: str, payloads: Iterable[Payload],
                  window: int = 256) -> List[bytes]:
        """Run a task per payload, at most window at once; the outputs in
        input order.  The first failure is raised, and the tasks still
        outstanding are cancelled."""
        if window < 1:
            raise ValueError("window must be at least 1")
        name = _p.pool_name_bytes(pool)
        await self.connect()
        slots = asyncio.Semaphore(window)

        async def one(payload: Payload) -> bytes:
            async with slots:
                fid = next(self._ids)
                return await self._run(fid, self._frame(fid, name, payload))

        tasks = []
        for payload in payloads:
            tasks.append(asyncio.ensure_future(one(payload)))
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()

    async def _request(self, ftype: int, want: int) -> bytes:
        await self.connect()
        fid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[fid] = fut
        await self._send(_p.encode(ftype, 0, fid))
        return _client.reply_body(await fut, ftype, want)

    async def ping(self) -> bool:
        """Ask the daemon whether it answers; returns True."""
        await self._request(_p.PING, _p.PONG)
        return True

    async def status(self) -> Dict[str, Any]:
        """The STATUS document, parsed."""
        return json.loads(await self._request(_p.STATUS, _p.STATUS_REPLY))

    async def metrics(self) -> str:
        """The METRICS text."""
        body = await self._request(_p.METRICS, _p.METRICS_REPLY)
        return body.decode("utf-8")

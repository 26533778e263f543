"""Bridges between the event loop and worker threads that run blocking codecs.

tarfile, gzip and zipfile are synchronous; they run in worker threads (so compression
is off the event loop) and exchange bytes with async code through these objects.

Downloads use `run_in_thread`: the worker thread never runs a coroutine on the loop
itself (`anyio.from_thread.run` starts a task there, and a task started after its cancel
scope was cancelled, once the scope stopped delivering the cancellation, is never
cancelled: it spins in anyio's `checkpoint_if_cancelled` with the loop at 100% CPU and
the thread waits for it forever). Instead the thread asks a `LoopPort`, whose requests
run in an ordinary task of the caller's task group: cancelled like any other, and its
end wakes the thread.
"""

from __future__ import annotations

import io
import math
import queue
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar, cast

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream

__all__ = ["LoopPort", "PortClosedError", "PortReader", "SinkWriter", "ThreadProducer",
           "run_in_thread"]

_FLUSH = 1024 * 1024
_T = TypeVar("_T")
_CLOSED = object()


class SinkWriter(io.RawIOBase):
    """A write-only file for a worker thread; hands ~1 MiB chunks to the event loop."""

    def __init__(self, send: MemoryObjectSendStream[bytes]) -> None:
        self._send = send
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._buffer += b
        if len(self._buffer) >= _FLUSH:
            self._flush_chunk()
        return len(b)

    def _flush_chunk(self) -> None:
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            anyio.from_thread.run(self._send.send, chunk)

    def finish(self) -> None:
        """Send what is buffered."""
        self._flush_chunk()


class ThreadProducer:
    """Runs `produce(writer)` in a worker thread and exposes its output as async chunks.

    Use as an async context manager; leaving it early stops the producer.
    """

    def __init__(self, produce: Callable[[SinkWriter], None]) -> None:
        self._produce = produce
        self._error: BaseException | None = None

    async def __aenter__(self) -> AsyncIterator[bytes]:
        send, self._receive = anyio.create_memory_object_stream[bytes](2)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._run, send)
        return self._chunks()

    async def _run(self, send: MemoryObjectSendStream[bytes]) -> None:
        def work() -> None:
            writer = SinkWriter(send)
            self._produce(writer)
            writer.finish()

        async with send:
            try:
                await anyio.to_thread.run_sync(work)
            except anyio.BrokenResourceError:
                pass  # the consumer left early
            except Exception as exc:
                # Invariant: a producer error reaches the consumer instead of looking
                # like the end of the stream, which would store a truncated archive.
                self._error = exc

    async def _chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._receive:
            yield chunk
        if self._error is not None:
            raise self._error

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._receive.close()
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # The producer task never raises (its errors reach the consumer), so a group
            # here only wraps the consumer's own exception: raise that, unwrapped.
            if exc is not None and group.exceptions == (exc,):
                raise exc from exc.__cause__
            raise




class PortClosedError(Exception):
    """Raised in a worker thread when its `LoopPort` stopped serving (a cancellation)."""


class LoopPort:
    """A worker thread's one door to the event loop: `call` runs a coroutine function
    there, in the serving task, and blocks the thread until it returns.

    Invariant: when the serving task ends (done, failed or cancelled), a waiting or
    later `call` raises `PortClosedError` at once, so the thread unwinds promptly.
    """

    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[
            Callable[[], Awaitable[Any]]
        ](math.inf)
        self._results: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self.error: Exception | None = None

    def call(self, func: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """Run `func(*args)` on the loop and return its result or raise its error.

        Worker thread only. Raises `PortClosedError` once the port stopped serving.
        """
        try:
            anyio.from_thread.run_sync(self._send.send_nowait, lambda: func(*args))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise PortClosedError("the event loop side has stopped") from None
        ok, value = self._results.get()
        if value is _CLOSED:
            raise PortClosedError("the event loop side has stopped")
        if not ok:
            raise value
        return cast(_T, value)

    async def serve(self) -> None:
        """Run the requests of the thread until `close`; then wake the thread for good."""
        try:
            async with self._receive:
                async for request in self._receive:
                    try:
                        result = await request()
                    except Exception as exc:
                        # Kept for the caller: whatever the thread's library makes of the
                        # error (zipfile turns an OSError into BadZipFile), this is the cause.
                        if self.error is None:
                            self.error = exc
                        self._results.put((False, exc))
                    else:
                        self._results.put((True, result))
        finally:
            self._results.put((False, _CLOSED))

    def close(self) -> None:
        """Stop serving once the pending request (if any) is answered."""
        self._send.close()


async def run_in_thread(work: Callable[[LoopPort], _T]) -> _T:
    """Run `work(port)` in a worker thread while `port` serves it on the loop.

    If a request the port served failed, that error is raised (it is the cause of
    whatever `work` raised). Cancelling the caller stops the port, which makes `work`'s
    next or pending `call` raise `PortClosedError`; the caller waits for the thread to end
    (it holds files open), then the cancellation propagates.
    """
    port = LoopPort()
    failure: Exception | None = None
    result: _T | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(port.serve)
        try:
            result = await anyio.to_thread.run_sync(work, port)
        except Exception as exc:
            # Raised after the task group, so it is not wrapped in an ExceptionGroup.
            failure = exc
        finally:
            port.close()
    if port.error is not None:
        raise port.error
    if isinstance(failure, PortClosedError):
        # The port only stops early when the serving task was cancelled: let the
        # pending cancellation surface here.
        await anyio.lowlevel.checkpoint()
    if failure is not None:
        raise failure
    return cast(_T, result)


class PortReader(io.RawIOBase):
    """A read-only file for a worker thread over an async iterator of chunks on the loop."""

    def __init__(self, port: LoopPort, chunks: AsyncIterator[bytes]) -> None:
        self._port = port
        self._chunks = chunks
        self._buffer = memoryview(b"")
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        while not self._buffer and not self._eof:
            chunk = self._port.call(_next_or_none, self._chunks)
            if chunk is None:
                self._eof = True
            else:
                self._buffer = memoryview(chunk)
        n = min(len(view), len(self._buffer))
        view[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def drain(self) -> None:
        """Read to the end, so a check at the end of the stream runs."""
        self._buffer = memoryview(b"")
        while not self._eof:
            if self._port.call(_next_or_none, self._chunks) is None:
                self._eof = True


async def _next_or_none(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None

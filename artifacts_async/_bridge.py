"""Bridges between the event loop and worker threads that run blocking codecs.

tarfile, gzip and zipfile are synchronous; they run in worker threads (so compression
is off the event loop) and exchange bytes with async code through these objects.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream

_FLUSH = 1024 * 1024


@asynccontextmanager
async def closing_chunks(chunks: AsyncIterator[bytes]) -> AsyncIterator[AsyncIterator[bytes]]:
    """Close `chunks` (an async generator: a driver's read, say) when the block exits.

    `async for` alone leaves an abandoned generator open until garbage collection; this
    closes it, and so the backend response under it, at a known point.
    """
    try:
        yield chunks
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):
                await aclose()


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


class AsyncIteratorReader(io.RawIOBase):
    """A read-only file for a worker thread, fed by an async iterator of chunks."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._eof = False
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        while not self._buffer and not self._eof:
            try:
                self._buffer = anyio.from_thread.run(_next_or_none, self._chunks) or b""
            except StopAsyncIteration:
                self._eof = True
            if self._buffer == b"" and not self._eof:
                continue
        n = min(len(view), len(self._buffer))
        view[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        self.consumed += n
        return n

    def drain(self) -> None:
        """Read to the end, so a trailing checksum check runs."""
        while self.readinto(bytearray(_FLUSH)):
            pass


async def _next_or_none(chunks: AsyncIterator[bytes]) -> bytes:
    return await chunks.__anext__()



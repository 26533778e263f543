"""One budget shared by every part of a save: parts in flight and bytes buffered."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import final

import anyio
import anyio.lowlevel

from ._options import TransferOptions

__all__ = ["TransferBudget"]

#: Buffers smaller than this are allocated per use, never pooled.
POOL_MIN = 1024 * 1024


@final
class TransferBudget:
    """At most `max_parts` parts in flight and `max_bytes` bytes held, FIFO-fair.

    Each save or load gets its own budget from `TransferOptions`; pass one budget to
    several `Artifacts` (`Artifacts(config, budget=...)`) to bound all their transfers
    together, as a server serving many repositories does. `peak_parts` and `peak_bytes`
    record the highest values reached, for tests and benchmarks.
    """

    @classmethod
    def from_options(cls, options: TransferOptions) -> TransferBudget:
        """The budget `options` describe (`max_parts_in_flight`, `max_buffer_bytes`)."""
        return cls(max_parts=options.max_parts_in_flight, max_bytes=options.max_buffer_bytes)

    def __init__(self, *, max_parts: int, max_bytes: int) -> None:
        # Part buffers are pooled by size and reused: memory stays at the budget instead of
        # growing with the allocator's fragmentation, and pages are not faulted in anew.
        self._free_buffers: dict[int, list[bytearray]] = {}
        self._pooled = 0  # bytes in pooled buffers, in use or free
        self.max_parts = max_parts
        self.max_bytes = max_bytes
        self._parts = anyio.Semaphore(max_parts)
        self._free = max_bytes
        self._waiters: collections.deque[tuple[int, anyio.Event]] = collections.deque()
        self.in_flight = 0
        self.peak_parts = 0
        self.peak_bytes = 0

    @property
    def held_bytes(self) -> int:
        """Bytes currently held by buffered parts."""
        return self.max_bytes - self._free

    async def acquire_bytes(self, n: int) -> None:
        """Wait until `n` bytes are free and take them."""
        if n > self.max_bytes:
            raise ValueError(f"cannot hold {n} bytes in a budget of {self.max_bytes}")
        if not self._waiters and self._free >= n:
            # A cancellation point but no yield to the loop when the bytes are free: every
            # small file passes here, and each yield is a round of the event loop.
            await anyio.lowlevel.checkpoint_if_cancelled()
            self._take(n)
            return
        entry = (n, anyio.Event())
        self._waiters.append(entry)
        try:
            await entry[1].wait()
        except BaseException:
            if entry in self._waiters:
                self._waiters.remove(entry)
            else:  # granted while being cancelled: give it back
                self.release_bytes(n)
            raise

    def try_acquire_bytes(self, n: int) -> bool:
        """Take `n` bytes if they are free now and nobody waits (no checkpoint)."""
        if self._waiters or self._free < n:
            return False
        self._take(n)
        return True

    def _take(self, n: int) -> None:
        self._free -= n
        self.peak_bytes = max(self.peak_bytes, self.held_bytes)

    def release_bytes(self, n: int) -> None:
        """Return `n` bytes and wake waiters that now fit, in order."""
        self._free += n
        while self._waiters and self._waiters[0][0] <= self._free:
            size, event = self._waiters.popleft()
            self._take(size)
            event.set()

    async def acquire_buffer(self, n: int) -> bytearray:
        """Take `n` bytes from the budget and return a buffer of exactly that size.

        Only part-sized buffers (at least `POOL_MIN` bytes) are pooled: small ones are
        cheap to allocate, and pooling them by size would keep one list per distinct size.
        """
        await self.acquire_bytes(n)
        if n < POOL_MIN:
            return bytearray(n)
        free = self._free_buffers.get(n)
        if free:
            buffer = free.pop()
            if not free:
                del self._free_buffers[n]
            return buffer
        # Invariant: pooled bytes (in use or free) never exceed the budget, so free buffers
        # of other sizes are dropped to make room. Only sizes with free buffers are keys,
        # and each is at least POOL_MIN, so this loop is short (max_bytes / POOL_MIN).
        for size in list(self._free_buffers):
            if self._pooled + n <= self.max_bytes:
                break
            buffers = self._free_buffers[size]
            while buffers and self._pooled + n > self.max_bytes:
                buffers.pop()
                self._pooled -= size
            if not buffers:
                del self._free_buffers[size]
        self._pooled += n
        return bytearray(n)

    def release_buffer(self, buffer: bytearray) -> None:
        """Return a buffer from `acquire_buffer` (its bytes go back to the budget)."""
        if len(buffer) >= POOL_MIN:
            self._free_buffers.setdefault(len(buffer), []).append(buffer)
        self.release_bytes(len(buffer))

    @asynccontextmanager
    async def part_slot(self) -> AsyncIterator[None]:
        """Hold one of the `max_parts` in-flight slots."""
        async with self._parts:
            self.in_flight += 1
            self.peak_parts = max(self.peak_parts, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1

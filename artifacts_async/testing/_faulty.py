"""A fault-injecting wrapper around any driver: transient errors, lost answers, stalls.

The TCP `FaultProxy` needs a network; the local and memory drivers have none. This
wrapper puts the same kinds of faults at the driver boundary, seeded:

- before a call: `TransientBackendError` (the request never reached the backend);
- after a call: `TransientBackendError` (the backend did it, the answer was lost);
- a stall: the call never returns until it is cancelled (a dead connection);
- in a read: an error or a stall after some chunks.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Self, TypeVar, final

import anyio

from .._exceptions import ConfigurationError, TransientBackendError
from ..abc import (
    DeleteOutcome,
    Driver,
    DriverLimits,
    ObjectInfo,
    PartChecksums,
    PendingUpload,
    UploadedPart,
)

__all__ = ["FaultyDriver"]

T = TypeVar("T")

#: Operations a `FaultyDriver` injects faults into unless told otherwise.
OPERATIONS = frozenset({
    "put", "start_upload", "upload_part", "list_parts", "complete_upload", "abort_upload",
    "list_uploads", "stat", "read", "delete",
})


@final
class FaultyDriver:
    """Wrap `inner` and inject faults into its calls at seeded random rates.

    - `transient_rate`: probability that a call fails with `TransientBackendError` before
      reaching `inner`;
    - `lost_answer_rate`: probability that a call reaches `inner`, succeeds, and then
      fails with `TransientBackendError` (the answer was lost);
    - `stall_rate`: probability that a call hangs until cancelled;
    - `operations`: the names of the operations faults apply to (default: all I/O).

    `fired` counts injected faults by "operation:kind". `aclose` closes `inner`.
    """

    def __init__(
        self,
        inner: Driver,
        *,
        seed: int = 0,
        transient_rate: float = 0.0,
        lost_answer_rate: float = 0.0,
        stall_rate: float = 0.0,
        operations: frozenset[str] = OPERATIONS,
    ) -> None:
        if transient_rate + lost_answer_rate + stall_rate > 1.0:
            raise ValueError("the fault rates must sum to at most 1")
        self.inner = inner
        self.transient_rate = transient_rate
        self.lost_answer_rate = lost_answer_rate
        self.stall_rate = stall_rate
        self.operations = operations
        self.fired: Counter[str] = Counter()
        self._rng = random.Random(seed)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Self:
        """Not built from settings: wrap a driver instance instead."""
        raise ConfigurationError("FaultyDriver wraps a driver instance; it has no settings")

    @property
    def limits(self) -> DriverLimits:
        """The inner driver's limits."""
        return self.inner.limits

    def describe(self, key: str) -> str:
        """The inner driver's location of `key`."""
        return self.inner.describe(key)

    def _fault(self, operation: str) -> str | None:
        if operation not in self.operations:
            return None
        roll = self._rng.random()
        for kind, rate in (("transient", self.transient_rate),
                           ("lost", self.lost_answer_rate), ("stall", self.stall_rate)):
            if roll < rate:
                self.fired[f"{operation}:{kind}"] += 1
                return kind
            roll -= rate
        return None

    async def _run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        fault = self._fault(operation)
        if fault == "transient":
            raise TransientBackendError(f"injected fault: {operation} failed before sending")
        if fault == "stall":
            await anyio.sleep_forever()
        result = await call()
        if fault == "lost":
            raise TransientBackendError(f"injected fault: {operation}'s answer was lost")
        return result

    async def put(
        self,
        key: str,
        data: bytes | bytearray,
        *,
        checksums: PartChecksums,
        metadata: Mapping[str, str],
    ) -> ObjectInfo:
        """Faulty `put`."""
        return await self._run(
            "put", lambda: self.inner.put(key, data, checksums=checksums, metadata=metadata)
        )

    async def start_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        """Faulty `start_upload`."""
        return await self._run("start_upload",
                               lambda: self.inner.start_upload(key, metadata=metadata))

    async def upload_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        data: bytes | bytearray,
        *,
        offset: int,
        checksums: PartChecksums,
    ) -> UploadedPart:
        """Faulty `upload_part`."""
        return await self._run("upload_part", lambda: self.inner.upload_part(
            key, upload_id, number, data, offset=offset, checksums=checksums))

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        """Faulty `list_parts`."""
        return await self._run("list_parts", lambda: self.inner.list_parts(key, upload_id))

    async def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> ObjectInfo:
        """Faulty `complete_upload`."""
        return await self._run("complete_upload",
                               lambda: self.inner.complete_upload(key, upload_id, parts))

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Faulty `abort_upload`."""
        await self._run("abort_upload", lambda: self.inner.abort_upload(key, upload_id))

    async def list_uploads(self, prefix: str) -> Sequence[PendingUpload]:
        """Faulty `list_uploads`."""
        return await self._run("list_uploads", lambda: self.inner.list_uploads(prefix))

    async def stat(self, key: str) -> ObjectInfo:
        """Faulty `stat`."""
        return await self._run("stat", lambda: self.inner.stat(key))

    async def read(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Faulty `read`: a fault may fire before the first chunk or between chunks."""
        fault = self._fault("read")
        if fault == "transient":
            raise TransientBackendError("injected fault: read failed before the first byte")
        # A lost answer or a stall in a stream strikes after a random number of chunks.
        # (or at the end of a shorter stream).
        after = self._rng.randint(0, 3)
        count = 0
        async for chunk in self.inner.read(key, offset=offset, length=length):
            if fault is not None and count == after:
                break
            count += 1
            yield chunk
        else:
            if fault is None:
                return
        if fault == "stall":
            await anyio.sleep_forever()
        raise TransientBackendError("injected fault: the connection broke mid-read")

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        """Faulty `delete`."""
        return await self._run("delete", lambda: self.inner.delete(keys))

    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """The inner driver's listing (no faults)."""
        return self.inner.list(prefix)

    async def aclose(self) -> None:
        """Close the inner driver."""
        await self.inner.aclose()

"""Helpers shared by the core's drivers (the public ones live in `artifacts_async.abc`)."""

from __future__ import annotations

from collections.abc import Iterator

from ..abc import resolve_range


def chunks_of(data: bytes, offset: int, length: int | None, chunk: int) -> Iterator[bytes]:
    """Slices of `data` for a ranged read."""
    start, end = resolve_range(len(data), offset, length)
    view = memoryview(data)
    for pos in range(start, end, chunk):
        yield bytes(view[pos : min(end, pos + chunk)])

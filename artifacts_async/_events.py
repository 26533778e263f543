"""Callbacks and the frozen details objects they receive."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Protocol, final

import attrs

from ._records import ArtifactRecord

__all__ = ["CompleteDetails", "ProgressEvent", "ReportDetails"]


@final
@attrs.frozen(kw_only=True)
class ReportDetails:
    """Given to `on_report` once, with every planned record, before any byte is uploaded."""

    records: Sequence[ArtifactRecord]


@final
@attrs.frozen(kw_only=True)
class CompleteDetails:
    """Given to `on_complete` once, when every upload has ended (stored, failed or skipped)."""

    records: Sequence[ArtifactRecord]


@final
@attrs.frozen(kw_only=True)
class ProgressEvent:
    """A transfer event.

    `name` is one of `upload.started`, `upload.part.complete`, `upload.retry`,
    `upload.complete`, `upload.failed` (saves), and `download.started`,
    `download.progress`, `download.complete`, `download.failed` (loads and streams).
    `bytes` is what this event moved (a part's size; for `download.progress` the bytes
    since the previous one, about a MiB); `transferred` the artifact's total so far;
    `size` the artifact's size when known.
    """

    name: str
    artifact: str
    key: str
    bytes: int = 0
    transferred: int = 0
    size: int | None = None
    part: int | None = None
    attempt: int | None = None
    error: str | None = None


class ReportCallback(Protocol):
    """`on_report`: called once with every planned record, before any upload."""

    def __call__(self, details: ReportDetails, /) -> Awaitable[None] | None: ...


class CompleteCallback(Protocol):
    """`on_complete`: called once with the final records."""

    def __call__(self, details: CompleteDetails, /) -> Awaitable[None] | None: ...


class ProgressCallback(Protocol):
    """`on_progress`: called for each transfer event; keep it fast."""

    def __call__(self, event: ProgressEvent, /) -> None: ...


async def call(callback: object, details: object) -> None:
    """Call a sync or async callback."""
    result = begin_call(callback, details)
    if result is not None:
        await result


def begin_call(callback: object, details: object) -> Awaitable[object] | None:
    """Call a sync or async callback: what is left to await of an async one, else None."""
    if callback is None:
        return None
    result = callback(details)  # type: ignore[operator]
    return result if isinstance(result, Awaitable) else None

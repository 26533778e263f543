"""Optional OpenTelemetry spans and metrics for saves (no cost when it is not installed).

Filled in by `_otel.py` when `opentelemetry-api` can be imported; otherwise every hook is
a no-op method of this base class.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._events import ProgressEvent
from ._records import ArtifactRecord

__all__ = ["Telemetry"]


class Telemetry:
    """The hooks a save calls; this base class does nothing."""

    @staticmethod
    def get() -> Telemetry:
        """A fresh recorder for one save: OpenTelemetry's if installed, else a no-op."""
        return _NOOP

    def save_started(self, records: Sequence[ArtifactRecord]) -> None:
        """The save planned `records`."""

    def save_ended(self, records: Sequence[ArtifactRecord]) -> None:
        """Every upload of the save has ended."""

    def artifact_started(self, artifact: str, record: ArtifactRecord | None,
                         size: int | None) -> None:
        """One artifact's upload began."""

    def part_done(self, artifact: str, event: ProgressEvent) -> None:
        """One part was stored."""

    def retry(self, artifact: str) -> None:
        """One request was retried."""

    def artifact_ended(self, artifact: str, *, size: int | None, error: str | None) -> None:
        """One artifact's upload ended (stored when `error` is None)."""


_NOOP = Telemetry()

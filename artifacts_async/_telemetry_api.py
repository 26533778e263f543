"""The telemetry hooks a save calls, as a no-op base class (no OpenTelemetry import here).

`_otel.py` subclasses it when `opentelemetry-api` is installed; `_telemetry.py` picks one.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._events import ProgressEvent
from ._records import ArtifactRecord

__all__ = ["TelemetryHooks"]


class TelemetryHooks:
    """The hooks a save calls; this base class does nothing."""

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

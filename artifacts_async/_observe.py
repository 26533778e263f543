"""Logs (and, when OpenTelemetry is installed, traces) derived from a save's events.

The engine emits progress events in one place; `SaveObserver` sits between the engine and
the caller's `on_progress`, so logs and traces follow exactly what the caller sees and the
transfer code knows nothing about them.

Loggers: `artifacts_async.save` (INFO: one line per artifact planned, stored, failed or
skipped; DEBUG: one per part and per retry). Structured fields are in each record's
`extra` (`event`, `artifact`, `repository`, `size`, `seconds`, `part`, `attempt`, ...).
Keys can be sensitive: they appear at INFO only when `ARTIFACTS_ASYNC_LOG_KEYS=1` (always
at DEBUG). Credentials are never logged: nothing here can see them.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from ._events import CompleteCallback, CompleteDetails, ProgressCallback, ProgressEvent, call
from ._records import ArtifactRecord, ArtifactStatus
from ._telemetry import Telemetry

__all__ = ["SaveObserver", "check_progress_callback"]

log = logging.getLogger("artifacts_async.save")
# A library adds no handler of its own but this one, so nothing reaches Python's last-resort
# stderr handler when the application has not configured logging.
logging.getLogger("artifacts_async").addHandler(logging.NullHandler())


def keys_at_info() -> bool:
    """True when the user asked for keys in INFO lines (`ARTIFACTS_ASYNC_LOG_KEYS=1`)."""
    return os.environ.get("ARTIFACTS_ASYNC_LOG_KEYS", "").lower() in ("1", "true", "yes")


def check_progress_callback(callback: object) -> None:
    """Refuse an async `on_progress`: events are delivered synchronously, in order."""
    if callback is None:
        return
    target = getattr(callback, "__call__", None)  # noqa: B004 - an async __call__ counts too
    if inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(target):
        raise TypeError(
            "on_progress must be a plain function: progress events are delivered in order "
            "from the transfer itself; hand them to a queue (anyio memory object stream) if "
            "you need to await something"
        )


class SaveObserver:
    """Logs and traces one save; forwards every event to the caller's `on_progress`."""

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        check_progress_callback(on_progress)
        self._forward = on_progress
        self._planned: Sequence[ArtifactRecord] = ()
        self._by_name: dict[str, ArtifactRecord] | None = None
        self._started: dict[str, float] = {}
        self._retries: dict[str, int] = {}
        self._parts: dict[str, int] = {}
        self._keys = keys_at_info()
        self._telemetry = Telemetry.get()


    def _record(self, artifact: str) -> ArtifactRecord | None:
        if self._by_name is None:
            self._by_name = {r.name: r for r in self._planned}
        return self._by_name.get(artifact)

    def _fields(self, artifact: str, event: str, key: str, **more: Any) -> dict[str, Any]:
        record = self._record(artifact)
        fields: dict[str, Any] = {"event": event, "artifact": artifact}
        if record is not None:
            fields["repository"] = record.location.repository
        if self._keys:
            fields["key"] = key
        fields.update(more)
        return fields

    def begin(self, records: Sequence[ArtifactRecord],
              on_complete: CompleteCallback | None) -> CompleteCallback:
        """Log the planned records; return `on_complete` wrapped to close the save."""
        # Indexed on first use, after `on_report`: 10,000 records cost a millisecond.
        self._planned, self._by_name = records, None
        self._telemetry.save_started(records)
        # Checked once: the fields of 10,000 lines nobody reads cost milliseconds.
        for record in records if log.isEnabledFor(logging.INFO) else ():
            where = f" at {record.location.key!r}" if self._keys else ""
            log.info("artifact %r planned in repository %r%s (archive %s)", record.name,
                     record.location.repository, where, record.archive.kind.value,
                     extra=self._fields(record.name, "artifact.planned", record.location.key,
                                        archive=record.archive.kind.value))

        async def complete(details: CompleteDetails) -> None:
            for record in details.records:
                if record.status is ArtifactStatus.SKIPPED:
                    log.info("artifact %r skipped: %s", record.name, record.error,
                             extra=self._fields(record.name, "artifact.skipped",
                                                record.location.key, reason=record.error))
            self._telemetry.save_ended(details.records)
            await call(on_complete, details)

        return complete

    def __call__(self, event: ProgressEvent, /) -> None:
        self._observe(event)
        if self._forward is not None:
            self._forward(event)

    def _observe(self, event: ProgressEvent) -> None:
        name, artifact = event.name, event.artifact
        if name == "upload.started":
            self._started[artifact] = time.monotonic()
            self._telemetry.artifact_started(artifact, self._record(artifact), event.size)
        elif name == "upload.part.complete":
            self._parts[artifact] = self._parts.get(artifact, 0) + 1
            if log.isEnabledFor(logging.DEBUG):  # its fields are built only when shown
                    log.debug("artifact %r part %s stored (%d bytes, key %r)", artifact,
                          event.part, event.bytes, event.key,
                          extra=self._fields(artifact, name, event.key, part=event.part,
                                             bytes=event.bytes,
                                             transferred=event.transferred))
            self._telemetry.part_done(artifact, event)
        elif name == "upload.retry":
            self._retries[artifact] = self._retries.get(artifact, 0) + 1
            log.debug("artifact %r retrying part %s (attempt %s, key %r)", artifact,
                      event.part, event.attempt, event.key,
                      extra=self._fields(artifact, name, event.key, part=event.part,
                                         attempt=event.attempt))
            self._telemetry.retry(artifact)
        elif name in ("upload.complete", "upload.failed"):
            seconds = time.monotonic() - self._started.pop(artifact, time.monotonic())
            stored = name == "upload.complete"
            # The structured fields are built only for a line that is shown.
            if log.isEnabledFor(logging.INFO if stored else logging.WARNING):
                fields = self._fields(artifact, "artifact.stored" if stored
                                      else "artifact.failed", event.key,
                                      seconds=round(seconds, 3),
                                      parts=self._parts.get(artifact, 0),
                                      retries=self._retries.get(artifact, 0))
                if stored:
                    fields["size"] = event.size
                    log.info("artifact %r stored: %s bytes in %.2f s", artifact, event.size,
                             seconds, extra=fields)
                else:
                    reason = event.error or ""
                    if not self._keys and event.key:
                        reason = reason.replace(event.key, "<key>")
                    fields["reason"] = reason
                    log.warning("artifact %r failed: %s", artifact, reason, extra=fields)
            self._telemetry.artifact_ended(artifact, size=event.size if stored else None,
                                           error=None if stored else event.error)

"""OpenTelemetry spans and metrics. Imported only when `opentelemetry-api` is installed.

Spans: `artifacts_async.save` / `.load` / `.collect_garbage` (one per call), under a save one
`artifacts_async.upload` per artifact, and one `artifacts_async.request` per driver request
(`put`, `upload_part`, `complete_upload`, `read`, `stat`, `delete`, ...), parented to its
artifact's span while that artifact uploads. Metrics: counters of bytes uploaded, requests,
retries, artifacts by outcome, failures and GC outcomes; histograms of artifact size and
duration. With only the API installed (no SDK configured) all of it is OpenTelemetry's
no-op implementation.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Self

import anyio
from opentelemetry import metrics, trace
from opentelemetry.context import Context as OtelContext
from opentelemetry.trace import Span, Status, StatusCode

from ._events import ProgressEvent
from ._records import ArtifactRecord
from ._telemetry_api import TelemetryHooks
from .abc import (
    DeleteOutcome,
    Driver,
    DriverLimits,
    ObjectInfo,
    PartChecksums,
    PendingUpload,
    UploadedPart,
)

__all__ = ["OtelTelemetry", "TracedDriver", "configured", "tracer"]

try:  # the API's stand-in until an SDK's provider is set (private, hence guarded)
    from opentelemetry.metrics._internal import _ProxyMeterProvider as _DefaultMeters
except ImportError:  # pragma: no cover - another API version: assume an SDK may be set
    _DefaultMeters = None  # type: ignore[assignment,misc]

_meter = metrics.get_meter("artifacts_async")
BYTES = _meter.create_counter("artifacts_async.upload.bytes", unit="By",
                              description="Bytes uploaded (confirmed parts and objects)")
REQUESTS = _meter.create_counter("artifacts_async.requests", unit="{request}",
                                 description="Driver requests, by operation")
RETRIES = _meter.create_counter("artifacts_async.retries", unit="{retry}",
                                description="Retried upload requests")
ARTIFACTS = _meter.create_counter("artifacts_async.artifacts", unit="{artifact}",
                                  description="Artifacts uploaded, by outcome")
FAILURES = _meter.create_counter("artifacts_async.failures", unit="{artifact}",
                                 description="Artifacts whose upload failed")
GC_OUTCOMES = _meter.create_counter("artifacts_async.gc.outcomes", unit="{artifact}",
                                    description="GC outcomes, by status")
SIZE = _meter.create_histogram("artifacts_async.artifact.size", unit="By",
                               description="Size of stored artifacts")
DURATION = _meter.create_histogram("artifacts_async.artifact.duration", unit="s",
                                   description="Upload time of an artifact")

# Artifact spans in flight, by key, so the requests for a key nest under their artifact.
_IN_FLIGHT: dict[str, Span] = {}


def configured() -> bool:
    """Whether an OpenTelemetry SDK is set up: a tracer or meter provider other than the
    API's default stand-ins. Without one every span and metric is a no-op, which still
    costs tens of µs per request: the library then makes none. Checked per save and per
    request (about 2 µs), so a provider set later is honoured."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return True
    return _DefaultMeters is None or not isinstance(metrics.get_meter_provider(),
                                                    _DefaultMeters)


def tracer() -> trace.Tracer:
    """The library's tracer (looked up on use, so a provider set later is honoured)."""
    return trace.get_tracer("artifacts_async")


class OtelTelemetry(TelemetryHooks):
    """One save's artifact spans and metrics."""

    def __init__(self, *, keys: bool) -> None:
        self._keys = keys
        self._planned: Sequence[ArtifactRecord] = ()
        self._by_name: dict[str, ArtifactRecord] | None = None
        self._spans: dict[str, tuple[Span, str, float]] = {}
        self._counts: dict[str, list[int]] = {}  # artifact -> [parts, retries, bytes]


    def _record(self, artifact: str) -> ArtifactRecord | None:
        if self._by_name is None:
            self._by_name = {r.name: r for r in self._planned}
        return self._by_name.get(artifact)

    def save_started(self, records: Sequence[ArtifactRecord]) -> None:
        # Indexed on first use, after `on_report`: 10,000 records cost a millisecond.
        self._planned, self._by_name = records, None
        trace.get_current_span().set_attribute("artifacts_async.artifacts", len(records))

    def _attributes(self, artifact: str) -> dict[str, Any]:
        record = self._record(artifact)
        attributes: dict[str, Any] = {"artifacts_async.artifact": artifact}
        if record is not None:
            attributes["artifacts_async.repository"] = record.location.repository
            attributes["artifacts_async.driver"] = record.location.driver
        return attributes

    def _metric_attributes(self, artifact: str) -> dict[str, Any]:
        # Metrics carry the repository and driver only: artifact names would be unbounded.
        return {k: v for k, v in self._attributes(artifact).items()
                if k != "artifacts_async.artifact"}

    def artifact_started(self, artifact: str, record: ArtifactRecord | None,
                         size: int | None) -> None:
        attributes = self._attributes(artifact)
        if size is not None:
            attributes["artifacts_async.size"] = size
        if self._keys and record is not None:
            attributes["artifacts_async.key"] = record.location.key
        span = tracer().start_span("artifacts_async.upload", attributes=attributes)
        key = record.location.key if record is not None else ""
        self._spans[artifact] = (span, key, time.monotonic())
        self._counts[artifact] = [0, 0, 0]
        if key:
            _IN_FLIGHT[key] = span

    def part_done(self, artifact: str, event: ProgressEvent) -> None:
        counts = self._counts.setdefault(artifact, [0, 0, 0])
        counts[0] += 1
        counts[2] += event.bytes
        BYTES.add(event.bytes, self._metric_attributes(artifact))
        entry = self._spans.get(artifact)
        if entry is not None:
            entry[0].add_event("part.complete", {"part": event.part or 0, "bytes": event.bytes})

    def retry(self, artifact: str) -> None:
        self._counts.setdefault(artifact, [0, 0, 0])[1] += 1
        RETRIES.add(1, self._metric_attributes(artifact))

    def artifact_ended(self, artifact: str, *, size: int | None, error: str | None) -> None:
        parts, retries, sent = self._counts.pop(artifact, [0, 0, 0])
        attributes = self._metric_attributes(artifact)
        ARTIFACTS.add(1, {**attributes, "status": "failed" if error else "stored"})
        if error is None and size is not None:
            if size > sent:
                BYTES.add(size - sent, attributes)  # a single put has no part events
            SIZE.record(size, attributes)
        elif error is not None:
            FAILURES.add(1, attributes)
        entry = self._spans.pop(artifact, None)
        if entry is None:
            return
        span, key, started = entry
        DURATION.record(time.monotonic() - started, attributes)
        span.set_attribute("artifacts_async.parts", parts)
        span.set_attribute("artifacts_async.retries", retries)
        if size is not None:
            span.set_attribute("artifacts_async.size", size)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        _IN_FLIGHT.pop(key, None)
        span.end()


def count_gc(report: Any) -> None:
    """Count a `GCReport`'s outcomes by status."""
    for outcome in getattr(report, "outcomes", ()):
        GC_OUTCOMES.add(1, {"status": outcome.status.value,
                            "artifacts_async.repository": outcome.location.repository})


class TracedDriver:
    """A driver whose every request is a span and a count; delegates to `inner`."""

    def __init__(self, inner: Driver, name: str) -> None:
        self.inner = inner
        self._name = name

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Self:
        raise NotImplementedError("wrap a driver instance instead")

    def __getattr__(self, name: str) -> Any:
        # A driver's own extras (settings, clients) stay reachable through the wrapper.
        return getattr(self.inner, name)

    @property
    def limits(self) -> DriverLimits:
        return self.inner.limits

    def describe(self, key: str) -> str:
        return self.inner.describe(key)

    def _span(self, operation: str, key: str, **attributes: Any) -> Any:
        if not configured():
            return contextlib.nullcontext()
        REQUESTS.add(1, {"operation": operation, "artifacts_async.driver": self._name})
        parent = _IN_FLIGHT.get(key)
        context: OtelContext | None = trace.set_span_in_context(parent) if parent else None
        return tracer().start_as_current_span(
            "artifacts_async.request", context=context,
            attributes={"artifacts_async.operation": operation,
                        "artifacts_async.driver": self._name, **attributes})

    async def put(self, key: str, data: bytes | bytearray, *, checksums: PartChecksums,
                  metadata: Mapping[str, str]) -> ObjectInfo:
        with self._span("put", key, **{"artifacts_async.bytes": len(data)}):
            return await self.inner.put(key, data, checksums=checksums, metadata=metadata)

    async def start_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        with self._span("start_upload", key):
            return await self.inner.start_upload(key, metadata=metadata)

    async def upload_part(self, key: str, upload_id: str, number: int,
                          data: bytes | bytearray, *, offset: int,
                          checksums: PartChecksums) -> UploadedPart:
        with self._span("upload_part", key, **{"artifacts_async.part": number,
                                              "artifacts_async.bytes": len(data)}):
            return await self.inner.upload_part(key, upload_id, number, data, offset=offset,
                                                checksums=checksums)

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        with self._span("list_parts", key):
            return await self.inner.list_parts(key, upload_id)

    async def complete_upload(self, key: str, upload_id: str,
                              parts: Sequence[UploadedPart]) -> ObjectInfo:
        with self._span("complete_upload", key, **{"artifacts_async.parts": len(parts)}):
            return await self.inner.complete_upload(key, upload_id, parts)

    async def abort_upload(self, key: str, upload_id: str) -> None:
        with self._span("abort_upload", key):
            await self.inner.abort_upload(key, upload_id)

    async def list_uploads(self, prefix: str) -> Sequence[PendingUpload]:
        with self._span("list_uploads", ""):
            return await self.inner.list_uploads(prefix)

    async def stat(self, key: str) -> ObjectInfo:
        with self._span("stat", key):
            return await self.inner.stat(key)

    async def read(self, key: str, *, offset: int = 0,
                   length: int | None = None) -> AsyncIterator[bytes]:
        # Not `start_as_current_span` across yields: the span is ended explicitly.
        REQUESTS.add(1, {"operation": "read", "artifacts_async.driver": self._name})
        span = tracer().start_span("artifacts_async.request", attributes={
            "artifacts_async.operation": "read", "artifacts_async.driver": self._name,
            "artifacts_async.offset": offset})
        received = 0
        chunks = self.inner.read(key, offset=offset, length=length)
        try:
            async for chunk in chunks:
                received += len(chunk)
                yield chunk
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        finally:
            # Closed with this wrapper, not left to garbage collection (an abandoned read
            # would hold its backend response, and its finalizer runs as a stray task).
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
            span.set_attribute("artifacts_async.bytes", received)
            span.end()

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        with self._span("delete", "", **{"artifacts_async.keys": len(keys)}):
            return await self.inner.delete(keys)

    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        REQUESTS.add(1, {"operation": "list", "artifacts_async.driver": self._name})
        return self.inner.list(prefix)

    async def aclose(self) -> None:
        await self.inner.aclose()

"""OpenTelemetry: the spans and metrics of one save, load and GC (SDK in-memory exporter),
and nothing at all when opentelemetry is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import artifacts_async as aa
from artifacts_async._drivers._memory import MemoryDriver

MiB = 1024 * 1024
CTX = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p",
                 artifact_gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION)


@pytest.fixture(scope="session")
def otel() -> tuple[InMemorySpanExporter, InMemoryMetricReader]:
    """Global SDK providers (they can be set once per process) with in-memory exports."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return exporter, reader


@pytest.fixture
def spans(otel: tuple[InMemorySpanExporter, InMemoryMetricReader]) -> InMemorySpanExporter:
    """The span exporter, emptied for this test."""
    otel[0].clear()
    return otel[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    context = span.context
    assert context is not None
    return int(context.span_id)


def attr(span: ReadableSpan, name: str) -> Any:
    return (span.attributes or {}).get(name)


def sums(reader: InMemoryMetricReader) -> dict[str, dict[tuple[Any, ...], float]]:
    """Every metric's data points: {name: {sorted attributes: value or count}}."""
    data = reader.get_metrics_data()
    result: dict[str, dict[tuple[Any, ...], float]] = {}
    if data is None:  # nothing recorded yet
        return result
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points = result.setdefault(metric.name, {})
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    attrs = tuple(sorted((point.attributes or {}).items()))
                    points[attrs] = value if value is not None else getattr(point, "count", 0)
    return result


@pytest.mark.anyio
async def test_spans_and_metrics_of_one_save(
    tmp_path: Path, memory_store_name: str, spans: InMemorySpanExporter,
    otel: tuple[InMemorySpanExporter, InMemoryMetricReader],
) -> None:
    """One save span; one upload span per artifact with its attributes; a request span per
    part under its artifact; byte, request and GC counters."""
    reader = otel[1]
    before = sums(reader).get("artifacts_async.upload.bytes", {})
    config = aa.RepositoryConfig.from_dict({"repositories": {"mem": {
        "driver": "memory", "name": memory_store_name}}})
    (tmp_path / "big.bin").write_bytes(os.urandom(3 * MiB))
    (tmp_path / "small.txt").write_text("hello")
    options = aa.TransferOptions(part_size=MiB, single_put_threshold=MiB, resume=False)
    async with aa.Artifacts(config, options=options) as artifacts:
        result = await artifacts.save_outputs(
            [aa.OutputArtifact(name="big", path=tmp_path / "big.bin", archive=aa.Archive.none()),
             aa.OutputArtifact(name="small", path=tmp_path / "small.txt",
                               archive=aa.Archive.none())],
            context=CTX)
        result.raise_for_errors()
        saved: tuple[ReadableSpan, ...] = spans.get_finished_spans()
        await artifacts.load_inputs(
            [aa.InputArtifact(name="small", path=tmp_path / "in.txt", record=result.records[1])],
            context=CTX)
        await artifacts.collect_garbage(result.records, event=aa.GCEvent.WORKFLOW_COMPLETED)

    (save,) = [s for s in saved if s.name == "artifacts_async.save"]
    uploads = {attr(s, "artifacts_async.artifact"): s
               for s in saved if s.name == "artifacts_async.upload"}
    assert set(uploads) == {"big", "small"}
    big = uploads["big"]
    assert parent_of(big) == span_id(save)
    assert dict(big.attributes or {}).items() >= {
        "artifacts_async.repository": "mem", "artifacts_async.driver": "memory",
        "artifacts_async.size": 3 * MiB, "artifacts_async.parts": 3,
        "artifacts_async.retries": 0}.items()
    assert attr(save, "artifacts_async.artifacts") == 2
    requests = [s for s in saved if s.name == "artifacts_async.request"]
    part_spans = [s for s in requests if attr(s, "artifacts_async.operation") == "upload_part"]
    assert sorted(attr(s, "artifacts_async.part") for s in part_spans) == [1, 2, 3]
    assert {parent_of(s) for s in part_spans} == {span_id(big)}
    (put,) = [s for s in requests if attr(s, "artifacts_async.operation") == "put"]
    assert parent_of(put) == span_id(uploads["small"])
    # No key in any attribute unless asked.
    for span in saved:
        assert not any("p/big.bin" in str(v) for v in (span.attributes or {}).values())

    later = spans.get_finished_spans()
    (load,) = [s for s in later if s.name == "artifacts_async.load"]
    reads = [s for s in later if attr(s, "artifacts_async.operation") == "read"]
    assert reads
    assert {parent_of(s) for s in reads} == {span_id(load)}
    assert [s.name for s in later].count("artifacts_async.collect_garbage") == 1

    async with aa.Artifacts(config) as artifacts:
        wrapped = await artifacts.driver("mem")
        # The tracing wrapper still exposes the driver's own attributes.
        assert wrapped.store is MemoryDriver.get_store(memory_store_name)  # type: ignore[attr-defined]

    metric = sums(reader)
    attrs = (("artifacts_async.driver", "memory"), ("artifacts_async.repository", "mem"))
    sent = metric["artifacts_async.upload.bytes"][attrs] - before.get(attrs, 0)
    assert sent == 3 * MiB + 5
    assert metric["artifacts_async.artifacts"][(*attrs, ("status", "stored"))] >= 2
    assert metric["artifacts_async.gc.outcomes"][
        (("artifacts_async.repository", "mem"), ("status", "deleted"))] >= 2
    assert metric["artifacts_async.artifact.duration"][attrs] >= 2  # histogram count


def test_nothing_happens_without_opentelemetry(tmp_path: Path) -> None:
    """Without opentelemetry importable, telemetry is a shared no-op and drivers are bare."""
    code = textwrap.dedent(f"""
        import sys
        sys.modules["opentelemetry"] = None  # as if it were not installed
        import anyio
        import artifacts_async as aa
        from artifacts_async import _telemetry
        from artifacts_async._drivers._memory import MemoryDriver
        assert _telemetry._otel is None
        assert _telemetry.Telemetry.get() is _telemetry.Telemetry.get()
        assert "opentelemetry" not in {{m.split(".")[0] for m in sys.modules if sys.modules[m]}}

        async def main():
            config = aa.RepositoryConfig.from_dict({{"repositories": {{"m": {{
                "driver": "memory", "name": "no-otel"}}}}}})
            path = {str(tmp_path / "f.txt")!r}
            open(path, "w").write("x")
            async with aa.Artifacts(config, options=aa.TransferOptions(resume=False)) as a:
                result = await a.save_outputs(
                    [aa.OutputArtifact(name="f", path=path, archive=aa.Archive.none())],
                    context=aa.Context(workflow_name="w", pod_name="p"))
                assert result.ok
                assert type(await a.driver("m")) is MemoryDriver
                assert aa.Artifacts.save_outputs.__qualname__ == "Artifacts.save_outputs"
                assert not hasattr(aa.Artifacts.save_outputs, "__wrapped__")
            print("ok")

        anyio.run(main)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"ok\n"


def test_no_spans_are_made_until_an_sdk_is_set_up(tmp_path: Path) -> None:
    """With the API installed but no SDK provider set, a save makes no span or metric (they
    would all be no-ops, at tens of µs per request); one set afterwards is honoured."""
    code = textwrap.dedent(f"""
        import anyio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        import artifacts_async as aa
        from artifacts_async import _otel, _telemetry

        def refused(*args, **kwargs):
            raise AssertionError("a span was made without an SDK")

        real_tracer, _otel.tracer = _otel.tracer, refused
        assert not _otel.configured()
        assert _telemetry.Telemetry.get() is _telemetry._NOOP

        async def save(name):
            config = aa.RepositoryConfig.from_dict({{"repositories": {{"m": {{
                "driver": "memory", "name": name}}}}}})
            path = {str(tmp_path / "f.txt")!r}
            open(path, "w").write("x")
            async with aa.Artifacts(config, options=aa.TransferOptions(resume=False)) as a:
                result = await a.save_outputs(
                    [aa.OutputArtifact(name="f", path=path, archive=aa.Archive.none())],
                    context=aa.Context(workflow_name="w", pod_name="p"))
                assert result.ok

        anyio.run(save, "bare")
        trace.set_tracer_provider(TracerProvider())
        assert _otel.configured()
        assert isinstance(_telemetry.Telemetry.get(), _otel.OtelTelemetry)
        made = []
        _otel.tracer = lambda: made.append(1) or real_tracer()
        anyio.run(save, "sdk")
        assert made
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"ok\n"

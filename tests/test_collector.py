"""Planning many artifacts holds off the garbage collector's passes until the report."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import artifacts_async as aa
from artifacts_async._collector import collector_paused

pytestmark = pytest.mark.anyio

CTX = aa.Context(workflow_name="wf", workflow_uid="u", pod_name="p")


class _Reported(Exception):
    pass


@pytest.fixture
def passes() -> Iterator[list[tuple[str, int]]]:
    """Every collector pass: the thread it ran in and its generation."""
    seen: list[tuple[str, int]] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append((threading.current_thread().name, info["generation"]))

    gc.callbacks.append(record)
    yield seen
    gc.callbacks.remove(record)


async def test_no_collection_runs_while_many_artifacts_are_planned(
        tmp_path: Path, memory_store_name: str, passes: list[tuple[str, int]]) -> None:
    """Planning 5,000 outputs (10,000 tracked objects: several passes' worth) runs no
    collector pass in its worker thread; the report has every record, and the collector
    is on again afterwards."""
    (tmp_path / "f").write_bytes(b"x")
    outputs = [aa.OutputArtifact(name=f"a{i}", path=tmp_path / "f", key=f"k/{i}",
                                 archive=aa.Archive.none()) for i in range(5000)]
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    at_report: list[tuple[str, int]] = []

    def on_report(details: aa.ReportDetails) -> None:
        assert len(details.records) == 5000
        at_report.extend(passes)
        raise _Reported  # only what runs before the report is looked at

    async with aa.Artifacts(config) as arts:
        with pytest.raises(_Reported):
            await arts.save_outputs(outputs, context=CTX, on_report=on_report)
    assert gc.isenabled()
    assert not [p for p in at_report if p[0].startswith("AnyIO worker")]


def test_the_pause_leaves_a_disabled_collector_disabled() -> None:
    """A collector the caller disabled stays so; an enabled one is enabled again, also
    when the block raises."""
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
    def fails() -> None:
        with collector_paused():
            assert not gc.isenabled()
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fails()
    assert gc.isenabled()

"""Logs: one INFO line per artifact, DEBUG per part and retry, structured fields, no keys at
INFO unless asked, never a secret."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import WrappedDriver

import artifacts_async as aa
from artifacts_async._drivers._memory import MemoryDriver

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CTX = aa.Context(workflow_name="wf", workflow_uid="secretive-uid", pod_name="p")
SECRET = "s3cr3t-value-that-must-not-leak"


async def save(tmp_path: Path, store: str, *, fail_once: bool = False) -> aa.SaveResult:
    """Save a 3-part file, a small file and a missing one into a memory store."""
    failed = {"done": not fail_once}

    async def hook(method: str, kwargs: dict[str, Any]) -> None:
        if method == "upload_part" and kwargs["number"] == 2 and not failed["done"]:
            failed["done"] = True
            raise aa.TransientBackendError("throttled")

    config = aa.RepositoryConfig.from_dict({"repositories": {"m": {
        "driver": "memory", "name": store,
        "credentials": {"access_key_env": "TEST_LOG_SECRET"}}}})
    driver = WrappedDriver(MemoryDriver(name=store), hook)
    (tmp_path / "big.bin").write_bytes(os.urandom(3 * MiB))
    (tmp_path / "small.txt").write_text("hello")
    options = aa.TransferOptions(part_size=MiB, single_put_threshold=MiB, resume=False)
    async with aa.Artifacts(config, options=options, drivers={"m": driver}) as artifacts:
        return await artifacts.save_outputs(
            [aa.OutputArtifact(name="big", path=tmp_path / "big.bin", archive=aa.Archive.none()),
             aa.OutputArtifact(name="small", path=tmp_path / "small.txt",
                               archive=aa.Archive.none()),
             aa.OutputArtifact(name="gone", path=tmp_path / "nothing",
                               archive=aa.Archive.none()),
             aa.OutputArtifact(name="maybe", path=tmp_path / "nothing", optional=True)],
            context=CTX)


def by_event(records: list[logging.LogRecord]) -> dict[str, list[logging.LogRecord]]:
    grouped: dict[str, list[logging.LogRecord]] = {}
    for record in records:
        grouped.setdefault(getattr(record, "event", "?"), []).append(record)
    return grouped


async def test_info_lines_per_artifact_without_keys(tmp_path: Path, memory_store_name: str,
                                                    caplog: pytest.LogCaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """At INFO: planned, stored (size, seconds), failed (reason), skipped; no key anywhere."""
    monkeypatch.setenv("TEST_LOG_SECRET", SECRET)
    monkeypatch.delenv("ARTIFACTS_ASYNC_LOG_KEYS", raising=False)
    caplog.set_level(logging.INFO, logger="artifacts_async")
    result = await save(tmp_path, memory_store_name)
    events = by_event(caplog.records)
    assert [r.artifact for r in events["artifact.planned"]] == [  # type: ignore[attr-defined]
        "big", "small", "gone", "maybe"]
    stored = {r.artifact: r for r in events["artifact.stored"]}  # type: ignore[attr-defined]
    assert set(stored) == {"big", "small"}
    assert stored["big"].size == 3 * MiB  # type: ignore[attr-defined]
    assert stored["big"].parts == 3  # type: ignore[attr-defined]
    assert stored["big"].seconds >= 0  # type: ignore[attr-defined]
    assert stored["big"].repository == "m"  # type: ignore[attr-defined]
    assert f"stored: {3 * MiB} bytes in " in stored["big"].getMessage()
    (failed,) = events["artifact.failed"]
    assert failed.levelno == logging.WARNING
    assert "does not exist" in failed.reason  # type: ignore[attr-defined]
    assert [r.artifact for r in events["artifact.skipped"]] == ["maybe"]  # type: ignore[attr-defined]
    assert "upload.part.complete" not in events  # DEBUG only
    keys = [r.location.key for r in result.records]
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert SECRET not in text
        assert not hasattr(record, "key")
        for key in keys:
            assert key not in text, (key, text)


async def test_debug_parts_and_retries(tmp_path: Path, memory_store_name: str,
                                       caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG: one line per part and per retry, with part numbers and attempts."""
    caplog.set_level(logging.DEBUG, logger="artifacts_async")
    await save(tmp_path, memory_store_name, fail_once=True)
    events = by_event(caplog.records)
    parts = [r for r in events["upload.part.complete"] if r.artifact == "big"]  # type: ignore[attr-defined]
    assert sorted(r.part for r in parts) == [1, 2, 3]  # type: ignore[attr-defined]
    (retry,) = events["upload.retry"]
    assert (retry.part, retry.attempt) == (2, 2)  # type: ignore[attr-defined]
    stored = {r.artifact: r for r in events["artifact.stored"]}  # type: ignore[attr-defined]
    assert stored["big"].retries == 1  # type: ignore[attr-defined]
    assert {r.name for r in caplog.records if r.name.startswith("artifacts_async")} == {
        "artifacts_async.save"}


async def test_keys_at_info_when_asked(tmp_path: Path, memory_store_name: str,
                                       caplog: pytest.LogCaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """ARTIFACTS_ASYNC_LOG_KEYS=1 puts keys in INFO lines and their `key` field."""
    monkeypatch.setenv("ARTIFACTS_ASYNC_LOG_KEYS", "1")
    caplog.set_level(logging.INFO, logger="artifacts_async")
    result = await save(tmp_path, memory_store_name)
    planned = by_event(caplog.records)["artifact.planned"]
    assert [r.key for r in planned] == [  # type: ignore[attr-defined]
        r.location.key for r in result.records]
    assert result.records[0].location.key in planned[0].getMessage()


def test_library_logs_reach_no_handler_unless_configured() -> None:
    """The package logger has a NullHandler, so an unconfigured app prints nothing."""
    handlers = logging.getLogger("artifacts_async").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


async def test_planned_lines_come_after_the_report(tmp_path: Path, memory_store_name: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """At INFO a save logs a line per planned artifact, but after `on_report`: 10,000 log
    lines are not what the early report waits for."""
    caplog.set_level(logging.INFO, logger="artifacts_async")
    (tmp_path / "f").write_bytes(b"x")
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    at_report: list[int] = []

    def on_report(details: aa.ReportDetails) -> None:
        at_report.append(len(by_event(caplog.records).get("artifact.planned", [])))

    async with aa.Artifacts(config) as artifacts:
        await artifacts.save_outputs(
            [aa.OutputArtifact(name=f"a{i}", path=tmp_path / "f", key=f"k/{i}",
                               archive=aa.Archive.none()) for i in range(3)],
            context=CTX, on_report=on_report)
    assert at_report == [0]
    assert len(by_event(caplog.records)["artifact.planned"]) == 3

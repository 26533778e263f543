"""Directories stored with archive `none`, through a driver under test: the round trip,
the manifest, resume and GC. Part of `DriverConformance` (which inherits these tests),
so every driver runs them against its own backend.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import attrs
import pytest

from .._artifacts import Artifacts
from .._checksums import crc32c
from .._config import RepositoryConfig
from .._events import ProgressEvent
from .._exceptions import IntegrityError, MissingInputError, SourceChangedError
from .._gc import GCEvent, GCStatus
from .._manifest import MANIFEST_NAME
from .._options import TransferOptions
from .._records import ArtifactRecord, ArtifactStatus
from .._specs import Archive, Context, GCStrategy, InputArtifact, OutputArtifact
from ..abc import Driver, part_checksums

__all__ = ["DirectoryConformance"]

_CONTEXT = Context(workflow_name="conf", workflow_uid="conf-uid", pod_name="conf-pod")
_CONFIG = RepositoryConfig.from_dict(
    {"default": "conf", "repositories": {"conf": {"driver": "conformance"}}}
)


def _part(driver: Driver) -> int:
    """The smallest part size the backend accepts, at least 64 KiB."""
    return max(driver.limits.min_part_size, 64 * 1024)


def _artifacts(driver: Driver, state: Path, **options: object) -> Artifacts:
    # Small parts, so that the large file is a multipart upload of three parts.
    part = _part(driver)
    settings: dict[str, object] = {
        "part_size": part, "single_put_threshold": part, "state_dir": state, **options,
    }
    return Artifacts(_CONFIG, options=TransferOptions(**settings),  # type: ignore[arg-type]
                     drivers={"conf": driver})


def _tree(root: Path, driver: Driver) -> Path:
    """Nested files (one of three parts), an empty file, an empty directory, a link."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "large.bin").write_bytes(os.urandom(2 * _part(driver) + 123))
    (root / "sub" / "deeper" / "c.txt").write_text("gamma")
    (root / "sub" / "empty").write_bytes(b"")
    (root / "link").symlink_to("sub/deeper/c.txt")
    return root


def _snapshot(root: Path) -> Mapping[str, object]:
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = path.read_bytes()
    return found


async def _keys(driver: Driver, prefix: str) -> list[str]:
    return [info.key async for info in driver.list(prefix)]


async def _save(artifacts: Artifacts, path: Path, *,
                on_progress: object = None) -> ArtifactRecord:
    result = await artifacts.save_outputs(
        [OutputArtifact(name="tree", path=path, archive=Archive.none(),
                        gc=GCStrategy.ON_WORKFLOW_COMPLETION)],
        context=_CONTEXT, on_progress=on_progress,  # type: ignore[arg-type]
    )
    result.raise_for_errors()
    return result.records[0]


class DirectoryConformance:
    """Directory-with-archive-none tests; `DriverConformance` provides the `driver`."""

    pytestmark = pytest.mark.anyio

    async def test_directory_none_round_trip(self, driver: Driver, tmp_path: Path) -> None:
        """A directory with archive none is reported as one before any upload, stored as one
        object per file plus a manifest, and loads back identical (links, empty ones too)."""
        source = _tree(tmp_path / "tree", driver)
        reported: list[ArtifactRecord] = []
        async with _artifacts(driver, tmp_path / "state") as artifacts:
            result = await artifacts.save_outputs(
                [OutputArtifact(name="tree", path=source, archive=Archive.none())],
                context=_CONTEXT, on_report=lambda d: reported.extend(d.records),
            )
            result.raise_for_errors()
            (record,) = result.records
            assert reported[0].directory
            assert reported[0].status is ArtifactStatus.PLANNED
            assert record.directory
            assert record.status is ArtifactStatus.STORED
            key = record.location.key
            assert await _keys(driver, f"{key}/") == sorted([
                f"{key}/{MANIFEST_NAME}", f"{key}/a.txt", f"{key}/sub/deeper/c.txt",
                f"{key}/sub/empty", f"{key}/sub/large.bin",
            ])
            await artifacts.load_inputs([InputArtifact(name="tree", path=tmp_path / "out",
                                                       record=record)], context=_CONTEXT)
            # A key-only input finds the directory by its manifest.
            await artifacts.load_inputs([InputArtifact(name="tree", path=tmp_path / "by-key",
                                                       key=key, archive=Archive.none())],
                                        context=_CONTEXT)
        assert _snapshot(tmp_path / "out") == _snapshot(source)
        assert _snapshot(tmp_path / "by-key") == _snapshot(source)

    async def test_directory_none_manifest(self, driver: Driver, tmp_path: Path) -> None:
        """The manifest lists every file's size and CRC32C; the record holds the total size
        and the manifest's CRC32C; a damaged file fails the load and keeps what was there."""
        source = _tree(tmp_path / "tree", driver)
        async with _artifacts(driver, tmp_path / "state") as artifacts:
            record = await _save(artifacts, source)
            key = record.location.key
            data = b"".join([c async for c in driver.read(f"{key}/{MANIFEST_NAME}")])
            assert record.checksum == f"crc32c:{crc32c(data):08x}"
            manifest = json.loads(data)
            files = {f["path"]: (f["size"], f["crc32c"]) for f in manifest["files"]}
            expected = {p.relative_to(source).as_posix(): p.read_bytes()
                        for p in source.rglob("*") if p.is_file() and not p.is_symlink()}
            assert files == {rel: (len(b), f"{crc32c(b):08x}") for rel, b in expected.items()}
            assert record.size == sum(len(b) for b in expected.values())
            assert {"path": "link", "target": "sub/deeper/c.txt"} in manifest["symlinks"]
            # The same size, other bytes: only the manifest's CRC32C tells.
            damaged = b"alphA\n"
            await driver.put(f"{key}/a.txt", damaged,
                             checksums=part_checksums(damaged, driver.limits.checksums)[0],
                             metadata={})
            (tmp_path / "out").mkdir()
            (tmp_path / "out" / "old").write_text("kept")
            with pytest.raises(IntegrityError):
                await artifacts.load_inputs([InputArtifact(name="tree", path=tmp_path / "out",
                                                           record=record)], context=_CONTEXT)
        assert _snapshot(tmp_path / "out") == {"old": b"kept"}

    async def test_directory_none_without_manifest_is_missing(self, driver: Driver,
                                                              tmp_path: Path) -> None:
        """A directory whose manifest is gone (never committed) is not loaded from a
        record: its files alone are not the artifact."""
        source = _tree(tmp_path / "tree", driver)
        async with _artifacts(driver, tmp_path / "state") as artifacts:
            record = await _save(artifacts, source)
            await driver.delete([f"{record.location.key}/{MANIFEST_NAME}"])
            with pytest.raises(MissingInputError):
                await artifacts.load_inputs([InputArtifact(name="tree", path=tmp_path / "out",
                                                           record=record)], context=_CONTEXT)
        assert not (tmp_path / "out").exists()

    async def test_directory_none_resume(self, driver: Driver, tmp_path: Path) -> None:
        """A save interrupted before its manifest leaves no artifact; the rerun sends only
        the files not already stored with the same size and CRC32C, then the manifest."""
        source = _tree(tmp_path / "tree", driver)
        started: list[str] = []

        def change_once(event: ProgressEvent) -> None:
            # The tree changes during the first save: it stores its files, no manifest.
            if event.name == "upload.complete" and not (source / "added.txt").exists():
                (source / "added.txt").write_text("new")

        def record_starts(event: ProgressEvent) -> None:
            if event.name == "upload.started":
                started.append(event.key)

        async with _artifacts(driver, tmp_path / "state") as artifacts:
            with pytest.raises(SourceChangedError):
                await _save(artifacts, source, on_progress=change_once)
            key = f"{_CONTEXT.workflow_name}/{_CONTEXT.pod_name}/tree"
            assert f"{key}/{MANIFEST_NAME}" not in await _keys(driver, f"{key}/")
            (source / "a.txt").write_text("ALPHA\n")  # same size, other bytes: sent again
            record = await _save(artifacts, source, on_progress=record_starts)
            await artifacts.load_inputs([InputArtifact(name="tree", path=tmp_path / "out",
                                                       record=record)], context=_CONTEXT)
        assert sorted(started) == [f"{key}/{MANIFEST_NAME}", f"{key}/a.txt",
                                   f"{key}/added.txt"]
        assert _snapshot(tmp_path / "out") == _snapshot(source)

    async def test_directory_none_gc(self, driver: Driver, tmp_path: Path) -> None:
        """GC deletes every object of a stored directory and its manifest; a failed
        attempt's leftovers (files, no manifest) are deleted, but never a key another
        attempt stored (its manifest exists)."""
        source = _tree(tmp_path / "tree", driver)
        async with _artifacts(driver, tmp_path / "state") as artifacts:
            record = await _save(artifacts, source)
            key = record.location.key
            failed = attrs.evolve(record, status=ArtifactStatus.FAILED, attempt=1)
            report = await artifacts.collect_garbage([failed],
                                                     event=GCEvent.WORKFLOW_COMPLETED)
            assert [o.status for o in report.outcomes] == [GCStatus.SKIPPED]
            assert len(await _keys(driver, f"{key}/")) == 5
            report = await artifacts.collect_garbage([record],
                                                     event=GCEvent.WORKFLOW_COMPLETED)
            assert [o.status for o in report.outcomes] == [GCStatus.DELETED]
            assert await _keys(driver, f"{key}/") == []
            report = await artifacts.collect_garbage([record],
                                                     event=GCEvent.WORKFLOW_COMPLETED)
            assert [o.status for o in report.outcomes] == [GCStatus.ALREADY_ABSENT]
            # An interrupted attempt: files stored, no manifest.
            (source / "x.txt").write_text("x")

            def change(event: ProgressEvent) -> None:
                if event.name == "upload.complete":
                    (source / "x.txt").write_text("changed")

            planned = attrs.evolve(record, status=ArtifactStatus.PLANNED, size=None,
                                   checksum=None)
            with pytest.raises(SourceChangedError):
                await _save(artifacts, source, on_progress=change)
            assert await _keys(driver, f"{key}/")
            report = await artifacts.collect_garbage([planned],
                                                     event=GCEvent.WORKFLOW_COMPLETED)
            assert [o.status for o in report.outcomes] == [GCStatus.DELETED]
            assert await _keys(driver, f"{key}/") == []

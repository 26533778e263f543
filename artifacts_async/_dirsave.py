"""Saving a directory with archive `none`: one object per file, then the manifest.

Every file goes through the upload engine's own per-file path (small put or multipart,
part checksums, source-changed checks, retries, the resume journal), all of them
concurrently under the save's one budget; the manifest (`_manifest`) is written last.

Resume: one listing of `<key>/` tells which files are stored and their sizes; their
CRC32C comes from the listing when the backend reports it, else from an earlier manifest
under the key, else from the journal, which records each file once it is stored. A file
stored with the same size and CRC32C as the local one is not sent again.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
import attrs

from ._checksums import crc32c
from ._config import RepositoryConfig
from ._exceptions import (
    ArtifactError,
    MissingInputError,
    SourceChangedError,
    TransientBackendError,
)
from ._journal import Journal
from ._manifest import Manifest, ManifestFile, ScannedTree, manifest_key, scan_tree
from ._options import TransferOptions
from ._outcomes import first_error_tasks
from ._planning import Describe, plan_outputs
from ._records import ArtifactRecord, ArtifactStatus
from ._sources import Source, StreamSource
from ._specs import Archive, ArchiveKind, Context, OutputArtifact
from ._transfer import StoredObject, UploadEngine
from ._trusted import with_record_fields
from .abc import Driver, ObjectInfo

__all__ = ["delete_keys", "directory_outputs", "list_prefix", "plan_marked",
           "read_object", "save_directory"]

_BLOCK = 1024 * 1024


#: Outputs in one parent directory from which one listing of it replaces their stats.
_LIST_FROM = 32


def directory_outputs(outputs: Sequence[OutputArtifact]) -> frozenset[int]:
    """The indexes of outputs that may be stored with archive 'none' (theirs, or the
    repository's default) and whose path is a directory now. Blocking.

    Outputs that share a parent directory are looked up in one listing of it (its
    entries' types come with the listing) rather than with a `stat` each: 10,000 outputs
    are planned before the early report.
    """
    # Each parent's output indexes and names, in two lists: no tuple per output (10,000
    # more objects for the collector to count before the report).
    by_parent: dict[str, tuple[list[int], list[str]]] = {}
    found: set[int] = set()
    none, sep, unlisted = ArchiveKind.NONE, os.sep, ("", ".", "..")
    for index, spec in enumerate(outputs):
        archive = spec.archive
        if archive is not None and archive.kind is not none:
            continue
        # Strings, not `Path.parent`: a Path built per output costs more than a stat.
        # (`str` is the only step here that costs a µs: pathlib formats a path once.)
        parent, slash, name = str(spec.path).rpartition(sep)
        if name in unlisted:  # the root, or a name no listing shows
            if os.path.isdir(spec.path):
                found.add(index)
            continue
        members = by_parent.get(parent or slash or ".")
        if members is None:
            members = by_parent[parent or slash or "."] = ([], [])
        members[0].append(index)
        members[1].append(name)
    for parent, (indexes, names) in by_parent.items():
        directories = None
        if len(indexes) >= _LIST_FROM:
            try:
                with os.scandir(parent) as entries:
                    # `is_dir` follows symbolic links, as `os.path.isdir` does.
                    directories = {entry.name for entry in entries if entry.is_dir()}
            except OSError:
                directories = None
        if directories is None:
            found.update(i for i, name in zip(indexes, names, strict=True)
                         if os.path.isdir(os.path.join(parent, name)))
        elif directories:  # a parent holding only files (the common case): nothing to match
            found.update(i for i, name in zip(indexes, names, strict=True)
                         if name in directories)
    return frozenset(found)


def plan_marked(outputs: Sequence[OutputArtifact], *, context: Context,
                config: RepositoryConfig, describe: Describe) -> list[ArtifactRecord]:
    """`plan_outputs`' records, those of directories stored with archive none marked so,
    so that the early report already says how each will be stored. Blocking.

    One pass in the calling thread: planning first (a bad key fails before any stat),
    then one listing per shared parent (`directory_outputs`); only the records found to
    be directories are rebuilt. A second thread for the listings would gain nothing:
    both halves are Python code under the one GIL, and two threads contending for it
    delayed the report by more than either took alone.
    """
    records = plan_outputs(outputs, context=context, config=config, describe=describe)
    for index in directory_outputs(outputs):
        if records[index].archive.kind is ArchiveKind.NONE:
            records[index] = with_record_fields(records[index], directory=True)
    return records


#: Files recorded in the journal per transaction (a killed save sends at most these again).
_JOURNAL_BATCH = 32


async def list_prefix(driver: Driver, prefix: str, options: TransferOptions) -> list[ObjectInfo]:
    """Every object under `prefix`, the whole listing retried on transient failures."""
    async for attempt in options.retrying(TransientBackendError):
        with attempt, options.deadline(None, f"list of {driver.describe(prefix)}"):
            return [info async for info in driver.list(prefix)]
    raise AssertionError("unreachable: the retry loop returns or raises")


async def delete_keys(driver: Driver, keys: Sequence[str], options: TransferOptions) -> None:
    """Delete `keys` in the driver's batches, each retried on transient failures; raise
    the first key's error (an absent key is no error)."""
    batch = max(1, driver.limits.delete_batch_size)
    for start in range(0, len(keys), batch):
        chunk = list(keys[start : start + batch])
        async for attempt in options.retrying(TransientBackendError):
            with attempt, options.deadline(None, f"delete under {driver.describe(chunk[0])}"):
                outcomes = await driver.delete(chunk)
        for outcome in outcomes:
            if outcome.error is not None:
                raise outcome.error


async def read_object(driver: Driver, key: str, options: TransferOptions) -> bytes:
    """A small object's bytes (a manifest), retried on transient failures."""
    async for attempt in options.retrying(TransientBackendError):
        with attempt, options.deadline(None, f"read of {driver.describe(key)}"):
            return b"".join([chunk async for chunk in driver.read(key)])
    raise AssertionError("unreachable: the retry loop returns or raises")


def _file_crc(path: Path, size: int) -> int | None:
    """The CRC32C of the file at `path` if it still has `size` bytes (blocking)."""
    crc = 0
    seen = 0
    with path.open("rb", buffering=0) as f:
        while block := f.read(_BLOCK):
            crc = crc32c(block, crc)
            seen += len(block)
    return crc if seen == size else None


def _journal_prefix(driver: Driver, key: str) -> str:
    """The start of every journal target of a file under `key/` (`describe` of its key)."""
    return f"{driver.describe(key).rstrip('/')}/"


async def _known(driver: Driver, key: str, listed: dict[str, ObjectInfo],
                 journal: Journal | None, options: TransferOptions) -> dict[str, str]:
    """The CRC32C (hex) of each stored object under `key/` whose checksum is known."""
    known = {k: info.checksums["crc32c"] for k, info in listed.items()
             if "crc32c" in info.checksums}
    if manifest_key(key) in listed:
        # An earlier manifest only saves work: one attempt, and any failure (gone since
        # the listing, damaged, a listing a server cached) means no CRC32C from it.
        try:
            with options.deadline(None, f"read of {driver.describe(manifest_key(key))}"):
                data = b"".join([c async for c in driver.read(manifest_key(key))])
            where = driver.describe(key)
            old = await anyio.to_thread.run_sync(lambda: Manifest.parse(data, where=where))
        except ArtifactError:
            old = None
        for f in old.files if old is not None else ():
            known.setdefault(f"{key}/{f.path}", f.crc32c)
    if journal is not None:
        recorded_all = await journal.objects(_journal_prefix(driver, key))
        for object_key, info in listed.items():
            recorded = recorded_all.get(driver.describe(object_key))
            if object_key not in known and recorded is not None and recorded[0] == info.size:
                known[object_key] = recorded[1]
    return known


class _Recorder:
    """Journals stored files in batches; `flush` writes what is pending."""

    def __init__(self, journal: Journal | None) -> None:
        self._journal = journal
        self._pending: list[tuple[str, int, str]] = []

    async def add(self, target: str, size: int, crc: str) -> None:
        if self._journal is None:
            return
        self._pending.append((target, size, crc))
        if len(self._pending) >= _JOURNAL_BATCH:
            await self.flush()

    async def flush(self) -> None:
        if self._journal is None or not self._pending:
            return
        pending, self._pending = self._pending, []
        with anyio.CancelScope(shield=True):
            await self._journal.record_objects(pending)


async def save_directory(
    engine: UploadEngine, driver: Driver, spec: OutputArtifact, record: ArtifactRecord
) -> ArtifactRecord:
    """Save the directory of `spec` as the directory artifact of `record`; return the
    stored record: `size` the files' total, `checksum` the manifest's CRC32C."""
    metadata = {"artifact": spec.name, "archive": record.archive.kind.value}
    stored = await _save_tree(engine, driver, key=record.location.key, root=spec.path,
                              artifact=spec.name, metadata=metadata)
    return attrs.evolve(record, status=ArtifactStatus.STORED, size=stored.size,
                        checksum=f"crc32c:{stored.crc32c}")


async def _save_tree(
    engine: UploadEngine,
    driver: Driver,
    *,
    key: str,
    root: Path,
    artifact: str,
    metadata: dict[str, str],
) -> StoredObject:
    """Upload every file of `root` under `key/`, then its manifest; return the total size
    of the files and the manifest's CRC32C.

    Raises `MissingInputError` when `root` is gone, `SourceChangedError` when the tree
    changed during the save (no manifest is written), and the first file's error.
    """
    options = engine.options
    try:
        tree = await anyio.to_thread.run_sync(scan_tree, root, key)
    except FileNotFoundError:
        raise MissingInputError(f"{root} does not exist") from None
    listed = {i.key: i for i in await list_prefix(driver, f"{key}/", options)}
    known = await _known(driver, key, listed, engine.journal, options)
    if manifest_key(key) in listed:
        # The earlier artifact under this key stops existing before any of its files
        # changes: a load never sees a manifest that describes other bytes.
        await delete_keys(driver, [manifest_key(key)], options)
    entries: dict[str, ManifestFile] = {}
    recorder = _Recorder(engine.journal)

    async def one(path: Path, rel: str, size: int, mode: int) -> None:
        object_key = f"{key}/{rel}"
        stored = listed.get(object_key)
        crc = known.get(object_key)
        if stored is not None and crc is not None and stored.size == size:
            local = await anyio.to_thread.run_sync(_file_crc, path, size)
            if local is not None and local == int(crc, 16):
                entries[rel] = ManifestFile(path=rel, size=size, crc32c=f"{local:08x}",
                                            mode=mode)
                return
        # The engine's small-file path: one thread hop opens, reads and checksums it.
        done = await engine.upload_path(driver, object_key, path, Archive.none(),
                                        artifact=artifact,
                                        metadata={**metadata, "mode": f"{mode:o}"})
        entries[rel] = ManifestFile(path=rel, size=done.size, crc32c=done.crc32c, mode=mode)
        await recorder.add(driver.describe(object_key), done.size, done.crc32c)

    # `max_artifacts_in_flight` workers take the files in order from one shared iterator
    # (as a save's artifacts are taken): no task, semaphore round or cancel scope per file.
    pending = iter(tree.files)

    async def worker() -> None:
        for path, rel, size, mode in pending:
            await one(path, rel, size, mode)

    try:
        async with first_error_tasks() as tg:
            for _ in range(min(options.max_artifacts_in_flight, len(tree.files))):
                tg.start_soon(worker)
    finally:
        await recorder.flush()
    await _check_unchanged(root, key, tree)
    manifest = Manifest(files=[entries[rel] for _, rel, _, _ in tree.files],
                        directories=tree.directories, symlinks=tree.symlinks)
    await _remove_strays(driver, key, listed, manifest, options)
    # JSON of thousands of entries takes milliseconds: off the event loop.
    data = await anyio.to_thread.run_sync(manifest.to_bytes)
    async with _bytes_source(data) as source:
        written = await engine.upload(driver, manifest_key(key), source, artifact=artifact,
                                      metadata={**metadata, "directory": "manifest"})
    if engine.journal is not None:
        with anyio.CancelScope(shield=True):
            await engine.journal.forget_objects(_journal_prefix(driver, key))
    return StoredObject(size=manifest.size, crc32c=written.crc32c)


async def _check_unchanged(root: Path, key: str, tree: ScannedTree) -> None:
    try:
        again = await anyio.to_thread.run_sync(scan_tree, root, key)
    except OSError:  # the directory is gone, or no longer readable
        again = None
    if again is None or again.state != tree.state:
        raise SourceChangedError(
            f"{root} changed while it was being uploaded (a file's name, size, modification "
            "time or mode differs): no manifest was written, so nothing is stored; save it "
            "again once it is written (files already sent are not sent again)"
        )


async def _remove_strays(driver: Driver, key: str, listed: dict[str, ObjectInfo],
                         manifest: Manifest, options: TransferOptions) -> None:
    """Delete objects under `key/` that an earlier save left and this tree no longer has."""
    wanted = {f"{key}/{f.path}" for f in manifest.files} | {manifest_key(key)}
    await delete_keys(driver, sorted(k for k in listed if k not in wanted), options)


@asynccontextmanager
async def _bytes_source(data: bytes) -> AsyncIterator[Source]:
    async def chunks() -> AsyncIterator[bytes]:
        yield data

    yield StreamSource(chunks(), f"bytes:{len(data)}:{crc32c(data):08x}")


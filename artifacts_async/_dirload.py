"""Loading a directory stored with archive `none` (`_manifest` describes the layout).

The manifest is read first (and checked against the record's CRC32C), then every file
is fetched concurrently, each checked against the manifest's size and CRC32C, into a
fresh directory beside the destination that replaces it only when everything passed:
nothing partial is ever visible at the destination.

Safety is the archive extractor's: every path is relative with no '.', '..' or empty
segment; files and directories are written before any symbolic link exists, so no write
goes through a link; links are created last and each must resolve inside the directory
(checked again once all exist), else `UnsafeArchiveError` and nothing is kept.

A directory written by Argo (one object per file, no manifest) is loaded by listing
`<key>/`: each file is checked against the CRC32C the backend lists, when it lists one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.to_thread

from ._archive import replace_path
from ._budget import TransferBudget
from ._checksums import crc32c
from ._dirsave import list_prefix, read_object
from ._exceptions import ArtifactNotFoundError, IntegrityError, UnsafeArchiveError
from ._manifest import MANIFEST_NAME, Manifest, ManifestFile, manifest_key, safe_relative
from ._options import TransferOptions
from ._outcomes import first_error_tasks
from ._reads import check_crc
from ._records import ArtifactRecord, Location
from .abc import Driver

__all__ = ["LoadFile", "load_directory"]


#: `_download._load_file`: fetches one file, verified, staged and renamed into place.
LoadFile = Callable[..., Awaitable[None]]


async def _manifest(driver: Driver, record: ArtifactRecord, *, verify: bool,
                    options: TransferOptions) -> Manifest:
    key = record.location.key
    data = await read_object(driver, manifest_key(key), options)
    if verify:
        check_crc(driver, record, crc32c(data))
    where = driver.describe(key)
    # Parsing and checking thousands of entries takes milliseconds: off the event loop.
    manifest = await anyio.to_thread.run_sync(lambda: Manifest.parse(data, where=where))
    if verify and record.size is not None and manifest.size != record.size:
        raise IntegrityError(
            f"{driver.describe(key)}: the manifest lists {manifest.size} bytes of files, the "
            f"record says {record.size}"
        )
    return manifest


async def _listed(driver: Driver, key: str, options: TransferOptions) -> Manifest | None:
    """A manifest built from a listing of `key/` (a directory Argo wrote), or None."""
    files = []
    dirs = []
    for info in await list_prefix(driver, f"{key}/", options):
        rel = info.key[len(key) + 1 :]
        if rel.endswith("/"):  # a "folder" marker some consoles create
            dirs.append((rel.rstrip("/"), 0o755))
        elif rel:
            files.append(ManifestFile(path=rel, size=info.size,
                                      crc32c=info.checksums.get("crc32c", ""), mode=-1))
    if not files and not dirs:
        return None
    return Manifest(files=files, directories=[d for d in dirs if d[0]])


def _check_layout(manifest: Manifest, where: str) -> None:
    """Refuse unsafe paths, two entries with one path, and entries beneath a file or a
    link (a manifest read back was checked for the first two already; a listing not)."""
    everything = [f.path for f in manifest.files] + [d for d, _ in manifest.directories] + \
        [s for s, _ in manifest.symlinks]
    for path in everything:
        safe_relative(path, where=where)
    if len(set(everything)) != len(everything):
        raise UnsafeArchiveError(f"{where}: two entries have the same path")
    leaves = {f.path for f in manifest.files} | {s for s, _ in manifest.symlinks}
    for path in everything:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in leaves:
                raise UnsafeArchiveError(
                    f"{where}: entry {path!r} lies under {parent!r}, which is a file or a link"
                )


def _file_mode(mode: int) -> int:
    # As tar's data filter: no setuid, setgid or sticky bits, no group or other write,
    # always readable and writable by the owner.
    return (mode & 0o755) | 0o600


def _finish(staging: Path, manifest: Manifest, where: str) -> None:
    """Create the links, check every one resolves inside `staging`, set directory modes
    (deepest first, so a read-only directory does not block its contents). Blocking."""
    root = os.path.realpath(staging)
    for rel, target in sorted(manifest.symlinks):
        path = staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.isabs(target):
            raise UnsafeArchiveError(f"{where}: link {rel!r} has an absolute target {target!r}")
        os.symlink(target, path)
    for rel, target in manifest.symlinks:
        resolved = os.path.realpath(staging / rel)
        if resolved != root and not resolved.startswith(root + os.sep):
            raise UnsafeArchiveError(
                f"{where}: link {rel!r} points outside the destination ({target!r})"
            )
    for rel, mode in sorted(manifest.directories, key=lambda d: -d[0].count("/")):
        path = staging / rel
        path.mkdir(parents=True, exist_ok=True)
        # Never a link: `_check_layout` refused any entry at or beneath one.
        os.chmod(path, (mode & 0o755) | 0o700)


async def load_directory(
    driver: Driver,
    record: ArtifactRecord,
    dest: Path,
    *,
    mode: int | None,
    verify: bool,
    options: TransferOptions,
    budget: TransferBudget,
    load_file: LoadFile,
    listing: bool = False,
) -> None:
    """Write the directory artifact of `record` to `dest`.

    With `listing` (a key-only input that names no object), a directory with no manifest
    is loaded from a listing of `<key>/`; `ArtifactNotFoundError` when there is nothing.
    """
    key = record.location.key
    where = driver.describe(key)
    manifest: Manifest | None
    try:
        manifest = await _manifest(driver, record, verify=verify, options=options)
    except ArtifactNotFoundError:
        if not listing:
            raise ArtifactNotFoundError(
                f"{where}: the directory's manifest ({MANIFEST_NAME}) does not exist: it was "
                "never completely stored, or was deleted"
            ) from None
        manifest = await _listed(driver, key, options)
        if manifest is None:
            raise ArtifactNotFoundError(
                f"{where} does not exist (neither an object nor a directory of objects)"
            ) from None
    await anyio.to_thread.run_sync(_check_layout, manifest, where)
    staging = dest.parent / f".{dest.name}.extract-{uuid.uuid4().hex[:12]}"

    def make_staging() -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()

    await anyio.to_thread.run_sync(make_staging)
    slots = anyio.Semaphore(options.max_artifacts_in_flight)

    async def one(entry: ManifestFile) -> None:
        try:
            file_record = ArtifactRecord(
                name=record.name,
                location=Location(repository=record.location.repository,
                                  driver=record.location.driver, key=f"{key}/{entry.path}"),
                archive=record.archive, gc=record.gc, status=record.status, size=entry.size,
                checksum=f"crc32c:{entry.crc32c}" if entry.crc32c else None,
            )
            file_mode = mode if mode is not None else (
                _file_mode(entry.mode) if entry.mode >= 0 else None)
            await load_file(driver, file_record, staging / entry.path, mode=file_mode,
                            verify=verify, options=options, budget=budget)
        finally:
            slots.release()

    try:
        async with first_error_tasks() as tg:
            for entry in manifest.files:
                await slots.acquire()
                tg.start_soon(one, entry)
        await anyio.to_thread.run_sync(_finish, staging, manifest, where)
        await anyio.to_thread.run_sync(replace_path, staging, dest)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(
                lambda: shutil.rmtree(staging, ignore_errors=True)
            )


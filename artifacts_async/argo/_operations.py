"""What each plugin method does, in this library's terms (no gRPC here).

Argo's executor archives an output itself before it calls the plugin (`.tgz`, `.zip`, or
the file as is), so `Save` receives a file and stores its bytes unchanged; a directory
(an output with `archive: none`) is stored as a directory with archive none: one object
per file under `<key>/`, as Argo's own drivers store it, all uploaded concurrently, and a
manifest written last. `Load` mirrors that: an object becomes a file, a directory (with a
manifest, or Argo's own, found by listing `<key>/`) becomes a directory; the executor
then unpacks archives as it does for its built-in drivers.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

import attrs

from .._artifacts import Artifacts
from .._exceptions import ArtifactNotFoundError, BackendError, KeyTemplateError, MissingInputError
from .._gc import GCEvent, GCStatus
from .._manifest import manifest_key
from .._records import ArtifactRecord, ArtifactStatus, Location
from .._specs import Archive, Context, GCStrategy, InputArtifact, OutputArtifact
from .._templates import validate_key
from ..abc import ObjectInfo
from ._settings import REPOSITORY

__all__ = ["delete", "is_directory", "list_objects", "load", "open_frames", "save", "save_stream"]

# Frames of OpenStream: well under gRPC's default 4 MiB message limit.
FRAME_SIZE = 1024 * 1024
_CONTEXT = Context(workflow_name="argo")


def checked_key(key: str) -> str:
    """Argo's key without a trailing '/', validated; raise `KeyTemplateError` if unsafe."""
    if "{{" in key or "}}" in key:
        raise KeyTemplateError(f"key {key!r} contains '{{{{': Argo sends keys already rendered")
    try:
        return validate_key(key.rstrip("/"))
    except KeyTemplateError as exc:
        raise KeyTemplateError(f"artifact.plugin.key: {exc}") from None


def _name(name: str) -> str:
    return name.replace("/", "_") or "artifact"


def _record(artifacts: Artifacts, key: str, info: ObjectInfo | None = None) -> ArtifactRecord:
    repository = artifacts.config.get(REPOSITORY)
    crc = info.checksums.get("crc32c") if info is not None else None
    return ArtifactRecord(
        name=key.rsplit("/", 1)[-1],
        location=Location(repository=repository.name, driver=repository.driver, key=key),
        archive=Archive.none(), gc=GCStrategy.ON_WORKFLOW_COMPLETION,
        status=ArtifactStatus.STORED, size=info.size if info is not None else None,
        checksum=f"crc32c:{crc}" if crc is not None else None,
    )


async def save(artifacts: Artifacts, name: str, key: str, path: Path) -> None:
    """Store the file at `path` under `key`, or the directory at `path` under `key/`."""
    key = checked_key(key)
    outputs = [OutputArtifact(name=_name(name), path=path, key=key, archive=Archive.none())]
    result = await artifacts.save_outputs(outputs, context=_CONTEXT)
    result.raise_for_errors()


async def save_stream(artifacts: Artifacts, name: str, key: str,
                      chunks: AsyncIterable[bytes]) -> None:
    """Store the bytes of `chunks` under `key`, with no local copy."""
    await artifacts.save_stream(_name(name), chunks, context=_CONTEXT, key=checked_key(key))


async def _stat(artifacts: Artifacts, key: str) -> ObjectInfo | None:
    driver = await artifacts.driver(REPOSITORY)
    try:
        return await driver.stat(key)
    except ArtifactNotFoundError:
        return None


async def _children(artifacts: Artifacts, key: str) -> list[str]:
    """The files under `key/` (a directory's manifest is not one of them)."""
    driver = await artifacts.driver(REPOSITORY)
    return [info.key async for info in driver.list(f"{key}/")
            if not info.key.endswith("/") and info.key != manifest_key(key)]


async def load(artifacts: Artifacts, name: str, key: str, path: Path) -> None:
    """Write the object `key` to the file `path`, or the directory under `key/` to the
    directory `path`; raise `MissingInputError` when there is neither."""
    key = checked_key(key)
    inputs = [InputArtifact(name=_name(name), path=path, key=key, archive=Archive.none())]
    await artifacts.load_inputs(inputs, context=_CONTEXT)


async def open_frames(artifacts: Artifacts, key: str) -> AsyncIterator[bytes]:
    """The object's bytes in frames of at most `FRAME_SIZE`, verified at the end."""
    key = checked_key(key)
    info = await _stat(artifacts, key)
    if info is None:
        driver = await artifacts.driver(REPOSITORY)
        if await _children(artifacts, key):
            raise MissingInputError(f"{driver.describe(key)} is a directory: stream its files")
        raise MissingInputError(f"{driver.describe(key)} does not exist")
    pending = bytearray()
    async for chunk in artifacts.open_stream(_record(artifacts, key, info)):
        pending += chunk
        while len(pending) >= FRAME_SIZE:
            yield bytes(pending[:FRAME_SIZE])
            del pending[:FRAME_SIZE]
    if pending:
        yield bytes(pending)


async def delete(artifacts: Artifacts, key: str) -> None:
    """Delete the object `key` and any directory under `key/` (its manifest first);
    absent ones are success."""
    key = checked_key(key)
    records = [_record(artifacts, key), attrs.evolve(_record(artifacts, key), directory=True)]
    report = await artifacts.collect_garbage(records, event=GCEvent.WORKFLOW_COMPLETED)
    failed = [o for o in report.outcomes if o.status is GCStatus.FAILED]
    if failed:
        raise BackendError("; ".join(f"{o.location.key}: {o.reason}" for o in failed))


async def list_objects(artifacts: Artifacts, key: str) -> list[str]:
    """The keys under `key/` (as Argo's UI expects: whole keys); an empty list for a file;
    `MissingInputError` when there is nothing at all."""
    key = checked_key(key)
    children = await _children(artifacts, key)
    if not children and await _stat(artifacts, key) is None:
        driver = await artifacts.driver(REPOSITORY)
        raise MissingInputError(f"{driver.describe(key)} does not exist")
    return children


async def is_directory(artifacts: Artifacts, key: str) -> bool:
    """True when at least one object lies under `key/`."""
    key = checked_key(key)
    driver = await artifacts.driver(REPOSITORY)
    async for _ in driver.list(f"{key}/"):
        return True
    return False

"""The local filesystem driver: a directory tree, written atomically.

Layout under `root`:

- `<key>`: a finished object.
- `.artifacts-async/tmp/`: single-request writes in progress, renamed into place.
- `.artifacts-async/uploads/<id>/`: a multipart upload: `data` (parts written at their
  offsets), `meta.json`, and one `part-<n>.json` per part whose bytes are fully written.
- `.artifacts-async/meta/`: each object's metadata, in a sidecar bound to the version of
  the file it was written with (see `_sidecar.py`).

Invariant: a file appears under its final key only by `os.replace` of a complete file
on the same filesystem, so a reader never sees a partial object.

Checksums: nothing is in transit between the engine and a file, so the driver declares no
per-part checksum (`DriverLimits.checksums` is empty) and computes none. The engine's
CRC32C of each part (from the very buffer written here) is the record's checksum, and every
load checks the bytes it reads from the file against it (docs/transfers.md, "Integrity").
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self, final

import anyio

from .._exceptions import (
    ArtifactNotFoundError,
    BackendError,
    ConfigurationError,
    IntegrityError,
    PermissionDeniedError,
)
from .._filewrite import write_at
from ..abc import (
    DeleteOutcome,
    DriverLimits,
    ObjectInfo,
    PartChecksums,
    PendingUpload,
    SettingsReader,
    UploadedPart,
    limits_from_settings,
    resolve_range,
)
from ._sidecar import MetadataSidecars

__all__ = ["LocalDriver"]

_STATE = ".artifacts-async"
# One worker-thread call reads this much: a range of the default part size is one call.
_READ_BLOCK = 8 * 1024 * 1024
_TMP_PREFIX = "tmp:"


def default_threads() -> int:
    """The local driver's default number of worker threads copying bytes: the cores, at
    least 2."""
    return max(2, os.cpu_count() or 2)


def _translate(exc: OSError, what: str) -> BackendError:
    if isinstance(exc, FileNotFoundError):
        return ArtifactNotFoundError(f"{what} does not exist", backend_error=str(exc))
    if isinstance(exc, PermissionError):
        return PermissionDeniedError(f"{what}: permission denied", backend_error=str(exc))
    return BackendError(f"{what}: {exc.strerror or exc}", backend_error=str(exc))


@final
class LocalDriver:
    """Objects as files under `root`, each byte written once from the engine's buffer."""

    DEFAULT_LIMITS: ClassVar[DriverLimits] = DriverLimits(
        min_part_size=1,
        max_part_size=5 * 1024**3,
        max_parts=100_000,
        max_object_size=None,
        max_single_put=8 * 1024**2,
        # Nothing is in transit: no per-part checksum to verify (see the module docstring).
        checksums=frozenset(),
        delete_batch_size=1000,
    )

    def __init__(self, root: str | os.PathLike[str], *, limits: DriverLimits | None = None,
                 threads: int | None = None) -> None:
        self.root = Path(root).absolute()
        self._state = self.root / _STATE
        self._sidecars = MetadataSidecars(self._state)
        self._limits = limits or self.DEFAULT_LIMITS
        # Copying bytes to and from files is bound by the cores and the memory bus: more
        # worker threads than cores at once only contend for the GIL and for the cores,
        # and the event loop waits behind them (docs/benchmarks.md, "Local driver").
        self._copiers = anyio.CapacityLimiter(threads or default_threads())

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Self:
        """Settings: `root` (a directory, created if missing), optional limits, and
        `threads`: how many worker threads copy bytes at once (default: the cores, at
        least 2)."""
        root = settings.get("root")
        if not isinstance(root, str | os.PathLike) or not str(root):
            raise ConfigurationError("local driver: set 'root' to a directory path")
        threads = SettingsReader(settings, driver="local").count("threads", default_threads())
        return cls(root, limits=limits_from_settings(cls.DEFAULT_LIMITS, settings),
                   threads=threads)

    @property
    def limits(self) -> DriverLimits:
        return self._limits

    def describe(self, key: str) -> str:
        return (self.root / key).as_uri()

    def _path(self, key: str) -> Path:
        if key.split("/", 1)[0] == _STATE:
            raise ConfigurationError(f"keys under {_STATE}/ are reserved by the local driver")
        path = self.root / key
        if not path.is_relative_to(self.root) or ".." in key.split("/"):
            raise ConfigurationError(f"key {key!r} escapes the repository root")
        return path

    def _info(self, key: str, st: os.stat_result, checksums: Mapping[str, str],
              metadata: Mapping[str, str] | None = None) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=st.st_size,
            checksums=checksums,
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
            metadata=dict(metadata or {}),
        )

    async def put(
        self,
        key: str,
        data: bytes | bytearray,
        *,
        checksums: PartChecksums,
        metadata: Mapping[str, str],
    ) -> ObjectInfo:
        path = self._path(key)
        tmp = self._state / "tmp" / f"{uuid.uuid4().hex}"

        def write() -> ObjectInfo:
            # One worker-thread call: the bytes, the sidecar and the rename.
            try:
                tmp.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                try:
                    write_at(fd, data, 0)
                finally:
                    os.close(fd)
                self._sidecars.write(key, tmp, metadata)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp.replace(path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            return self._info(key, path.stat(), {}, metadata)

        try:
            return await anyio.to_thread.run_sync(write, limiter=self._copiers)
        except OSError as exc:
            raise _translate(exc, self.describe(key)) from exc

    def _upload_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise ArtifactNotFoundError(f"no upload {upload_id!r}")
        return self._state / "uploads" / upload_id

    async def start_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        self._path(key)
        upload_id = uuid.uuid4().hex
        directory = self._upload_dir(upload_id)
        meta = {"key": key, "started": datetime.now(UTC).isoformat(), "metadata": dict(metadata)}

        def create() -> None:
            directory.mkdir(parents=True)
            (directory / "data").touch()
            (directory / "meta.json").write_text(json.dumps(meta))

        try:
            await anyio.to_thread.run_sync(create)
        except OSError as exc:
            raise _translate(exc, self.describe(key)) from exc
        return upload_id

    def _check_upload(self, key: str, upload_id: str) -> Path:
        return self._upload_meta(key, upload_id)[0]

    def _upload_meta(self, key: str, upload_id: str) -> tuple[Path, dict[str, Any]]:
        directory = self._upload_dir(upload_id)
        try:
            meta = json.loads((directory / "meta.json").read_text())
        except (OSError, ValueError):
            raise ArtifactNotFoundError(
                f"no upload {upload_id!r} for {self.describe(key)}"
            ) from None
        if meta.get("key") != key:
            raise ArtifactNotFoundError(f"upload {upload_id!r} is not for {self.describe(key)}")
        return directory, meta

    async def upload_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        data: bytes | bytearray,
        *,
        offset: int,
        checksums: PartChecksums,
    ) -> UploadedPart:
        def write() -> UploadedPart:
            directory = self._check_upload(key, upload_id)
            fd = os.open(directory / "data", os.O_WRONLY)
            try:
                write_at(fd, data, offset)
            finally:
                os.close(fd)
            # The marker is written after the bytes: list_parts never reports a part
            # whose bytes are not all on disk.
            marker = directory / f"part-{number:06d}.json"
            marker_tmp = marker.with_suffix(".tmp")
            marker_tmp.write_text(json.dumps({"size": len(data), "offset": offset}))
            marker_tmp.replace(marker)
            return UploadedPart(number=number, size=len(data))

        try:
            return await anyio.to_thread.run_sync(write, limiter=self._copiers)
        except OSError as exc:
            raise _translate(exc, self.describe(key)) from exc

    def _parts(self, directory: Path) -> list[tuple[UploadedPart, int]]:
        parts = []
        for marker in sorted(directory.glob("part-*.json")):
            info = json.loads(marker.read_text())
            number = int(marker.stem.removeprefix("part-"))
            part = UploadedPart(number=number, size=info["size"])
            parts.append((part, info["offset"]))
        return parts

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        def scan() -> list[UploadedPart]:
            return [p for p, _ in self._parts(self._check_upload(key, upload_id))]

        try:
            return await anyio.to_thread.run_sync(scan)
        except OSError as exc:
            raise _translate(exc, self.describe(key)) from exc

    async def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> ObjectInfo:
        path = self._path(key)

        def finish() -> ObjectInfo:
            directory, meta = self._upload_meta(key, upload_id)
            metadata = meta.get("metadata") or {}
            held = {p.number: (p, offset) for p, offset in self._parts(directory)}
            expected_offset = 0
            for wanted in parts:
                if wanted.number not in held:
                    raise IntegrityError(f"{self.describe(key)}: part {wanted.number} is missing")
                part, offset = held[wanted.number]
                if offset != expected_offset or part.size != wanted.size:
                    raise IntegrityError(
                        f"{self.describe(key)}: part {wanted.number} does not follow the "
                        "previous part (offset or size differs)"
                    )
                expected_offset += part.size
            data = directory / "data"
            os.truncate(data, expected_offset)
            self._sidecars.write(key, data, metadata)
            path.parent.mkdir(parents=True, exist_ok=True)
            data.replace(path)
            shutil.rmtree(directory, ignore_errors=True)
            return self._info(key, path.stat(), {}, metadata)

        try:
            return await anyio.to_thread.run_sync(finish)
        except OSError as exc:
            raise _translate(exc, self.describe(key)) from exc

    async def abort_upload(self, key: str, upload_id: str) -> None:
        if upload_id.startswith(_TMP_PREFIX):
            name = upload_id.removeprefix(_TMP_PREFIX)
            if name.isalnum():
                with contextlib.suppress(FileNotFoundError):
                    await anyio.to_thread.run_sync(os.remove, self._state / "tmp" / name)
            return
        with contextlib.suppress(ArtifactNotFoundError):
            directory = self._upload_dir(upload_id)
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(directory, ignore_errors=True))

    async def list_uploads(self, prefix: str) -> Sequence[PendingUpload]:
        def scan() -> list[PendingUpload]:
            found = []
            for meta_file in sorted((self._state / "uploads").glob("*/meta.json")):
                with contextlib.suppress(OSError, ValueError):
                    meta = json.loads(meta_file.read_text())
                    if meta["key"].startswith(prefix):
                        found.append(PendingUpload(
                            key=meta["key"], upload_id=meta_file.parent.name,
                            started=datetime.fromisoformat(meta["started"]),
                        ))
            # Interrupted single-request writes: their key is unknown, so they belong to
            # every prefix.
            for tmp in sorted((self._state / "tmp").glob("*")):
                with contextlib.suppress(OSError):
                    started = datetime.fromtimestamp(tmp.stat().st_mtime, UTC)
                    found.append(PendingUpload(
                        key="", upload_id=f"{_TMP_PREFIX}{tmp.name}", started=started
                    ))
            return found

        return await anyio.to_thread.run_sync(scan)

    async def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)

        def look() -> tuple[os.stat_result, dict[str, str]]:
            st = path.stat()
            return st, self._sidecars.read(key, st)

        try:
            st, metadata = await anyio.to_thread.run_sync(look)
        except OSError as exc:
            raise _translate(exc, self.describe(key)) from exc
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactNotFoundError(f"{self.describe(key)} does not exist (it is a directory)")
        return self._info(key, st, {}, metadata)

    async def read(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(key)

        def open_range() -> tuple[int, int, int]:
            fd = os.open(path, os.O_RDONLY)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
                return fd, *resolve_range(st.st_size, offset, length)
            except BaseException:
                os.close(fd)
                raise

        try:
            # Shielded: a cancellation while the worker thread opens the file would leak
            # the descriptor.
            with anyio.CancelScope(shield=True):
                fd, start, end = await anyio.to_thread.run_sync(open_range)
        except OSError as exc:
            raise _translate(exc, self.describe(key)) from exc
        try:
            # Large reads, one worker-thread call each: a range of a parallel download
            # of the default part size is read in one call.
            while start < end:
                chunk = await anyio.to_thread.run_sync(
                    os.pread, fd, min(_READ_BLOCK, end - start), start, limiter=self._copiers
                )
                if not chunk:
                    break
                start += len(chunk)
                yield chunk
        except OSError as exc:
            raise _translate(exc, self.describe(key)) from exc
        finally:
            os.close(fd)

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        def remove_all() -> list[DeleteOutcome]:
            outcomes = []
            for key in keys:
                path = self._path(key)
                try:
                    path.unlink()
                except (FileNotFoundError, IsADirectoryError):
                    # A directory is no object (`stat` says so too): other keys lie under it.
                    outcomes.append(DeleteOutcome(key=key, existed=False))
                    continue
                except OSError as exc:
                    outcomes.append(DeleteOutcome(key=key, error=_translate(exc, key)))
                    continue
                outcomes.append(DeleteOutcome(key=key, existed=True))
                with contextlib.suppress(OSError):
                    self._sidecars.remove(key)
                self._prune(path.parent)
            return outcomes

        return await anyio.to_thread.run_sync(remove_all)

    def _prune(self, directory: Path) -> None:
        # Remove directories the deletes left empty, up to (not including) the root.
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""

        def scan() -> list[tuple[str, os.stat_result]]:
            start = self.root / base
            found = []
            for dirpath, dirnames, filenames in os.walk(start):
                rel = Path(dirpath).relative_to(self.root).as_posix()
                if rel == ".":
                    dirnames[:] = [d for d in dirnames if d != _STATE]
                for name in filenames:
                    key = name if rel == "." else f"{rel}/{name}"
                    if key.startswith(prefix):
                        with contextlib.suppress(FileNotFoundError):
                            found.append((key, os.stat(os.path.join(dirpath, name))))
            return sorted(found)

        for key, st in await anyio.to_thread.run_sync(scan):
            yield self._info(key, st, {})

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()

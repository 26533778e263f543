"""The in-memory driver: for tests, ours and users'.

Stores are named (`settings["name"]`, default "default") and shared by every driver
instance in the process, so a test can save with one instance and collect with another.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, final

import anyio
import attrs

from .._exceptions import ArtifactNotFoundError, ConfigurationError, IntegrityError
from ..abc import (
    ChecksumKind,
    DeleteOutcome,
    DriverLimits,
    ObjectInfo,
    PartChecksums,
    PendingUpload,
    UploadedPart,
    crc32c,
    limits_from_settings,
    verify_part,
)
from ._common import chunks_of

__all__ = ["MemoryDriver"]

_CHUNK = 256 * 1024


@attrs.define
class _Upload:
    key: str
    started: datetime
    metadata: Mapping[str, str]
    parts: dict[int, tuple[bytes, str]] = attrs.field(factory=dict)


@attrs.define
class MemoryStore:
    """One named in-memory bucket."""

    objects: dict[str, tuple[bytes, Mapping[str, str], datetime]] = attrs.field(factory=dict)
    uploads: dict[str, _Upload] = attrs.field(factory=dict)
    requests: int = 0

    def clear(self) -> None:
        """Forget every object and upload."""
        self.objects.clear()
        self.uploads.clear()
        self.requests = 0


_STORES: dict[str, MemoryStore] = {}
_IDS = itertools.count(1)


@final
class MemoryDriver:
    """Objects in a process-wide dict; verifies MD5 and CRC32C of every part."""

    DEFAULT_LIMITS: ClassVar[DriverLimits] = DriverLimits(
        min_part_size=1,
        max_part_size=5 * 1024**3,
        max_parts=10_000,
        max_object_size=None,
        max_single_put=8 * 1024**2,
        checksums=frozenset({ChecksumKind.MD5, ChecksumKind.CRC32C}),
        delete_batch_size=1000,
    )

    def __init__(self, *, name: str = "default", limits: DriverLimits | None = None) -> None:
        self.name = name
        self.store = _STORES.setdefault(name, MemoryStore())
        self._limits = limits or self.DEFAULT_LIMITS

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Self:
        """Settings: `name` (the store), and optional limits for tests."""
        name = settings.get("name", "default")
        if not isinstance(name, str):
            raise ConfigurationError("memory driver: 'name' must be a string")
        return cls(name=name, limits=limits_from_settings(cls.DEFAULT_LIMITS, settings))

    @classmethod
    def get_store(cls, name: str = "default") -> MemoryStore:
        """The store called `name` (created empty if new)."""
        return _STORES.setdefault(name, MemoryStore())

    @property
    def limits(self) -> DriverLimits:
        return self._limits

    def describe(self, key: str) -> str:
        return f"memory://{self.name}/{key}"

    def _info(self, key: str) -> ObjectInfo:
        data, metadata, modified = self.store.objects[key]
        return ObjectInfo(
            key=key,
            size=len(data),
            checksums={"crc32c": f"{crc32c(data):08x}"},
            modified=modified,
            metadata=metadata,
        )

    async def put(
        self,
        key: str,
        data: bytes | bytearray,
        *,
        checksums: PartChecksums,
        metadata: Mapping[str, str],
    ) -> ObjectInfo:
        await anyio.lowlevel.checkpoint()
        self.store.requests += 1
        if problem := verify_part(data, checksums):
            raise IntegrityError(f"{self.describe(key)}: {problem} in the sent object")
        self.store.objects[key] = (bytes(data), dict(metadata), datetime.now(UTC))
        return self._info(key)

    async def start_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        await anyio.lowlevel.checkpoint()
        self.store.requests += 1
        upload_id = f"mem-{next(_IDS)}"
        self.store.uploads[upload_id] = _Upload(key, datetime.now(UTC), dict(metadata))
        return upload_id

    def _upload(self, key: str, upload_id: str) -> _Upload:
        upload = self.store.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise ArtifactNotFoundError(f"no upload {upload_id!r} for {self.describe(key)}")
        return upload

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
        await anyio.lowlevel.checkpoint()
        self.store.requests += 1
        upload = self._upload(key, upload_id)
        if problem := verify_part(data, checksums):
            raise IntegrityError(f"{self.describe(key)}: {problem} in part {number}")
        crc = f"{crc32c(data):08x}"
        upload.parts[number] = (bytes(data), crc)
        return UploadedPart(number=number, size=len(data), etag=crc, checksums={"crc32c": crc})

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        await anyio.lowlevel.checkpoint()
        self.store.requests += 1
        upload = self._upload(key, upload_id)
        return [
            UploadedPart(number=n, size=len(d), etag=crc, checksums={"crc32c": crc})
            for n, (d, crc) in sorted(upload.parts.items())
        ]

    async def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> ObjectInfo:
        await anyio.lowlevel.checkpoint()
        self.store.requests += 1
        upload = self._upload(key, upload_id)
        try:
            data = b"".join(upload.parts[p.number][0] for p in parts)
        except KeyError as exc:
            raise IntegrityError(f"{self.describe(key)}: part {exc} was never uploaded") from None
        del self.store.uploads[upload_id]
        self.store.objects[key] = (data, upload.metadata, datetime.now(UTC))
        return self._info(key)

    async def abort_upload(self, key: str, upload_id: str) -> None:
        await anyio.lowlevel.checkpoint()
        self.store.requests += 1
        self.store.uploads.pop(upload_id, None)

    async def list_uploads(self, prefix: str) -> Sequence[PendingUpload]:
        await anyio.lowlevel.checkpoint()
        return [
            PendingUpload(key=u.key, upload_id=uid, started=u.started)
            for uid, u in sorted(self.store.uploads.items())
            if u.key.startswith(prefix)
        ]

    async def stat(self, key: str) -> ObjectInfo:
        await anyio.lowlevel.checkpoint()
        self.store.requests += 1
        if key not in self.store.objects:
            raise ArtifactNotFoundError(f"{self.describe(key)} does not exist")
        return self._info(key)

    async def read(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        self.store.requests += 1
        if key not in self.store.objects:
            raise ArtifactNotFoundError(f"{self.describe(key)} does not exist")
        data = self.store.objects[key][0]
        for chunk in chunks_of(data, offset, length, _CHUNK):
            await anyio.lowlevel.checkpoint()
            yield chunk

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        await anyio.lowlevel.checkpoint()
        self.store.requests += 1
        return [
            DeleteOutcome(key=k, existed=self.store.objects.pop(k, None) is not None) for k in keys
        ]

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        self.store.requests += 1
        for key in sorted(k for k in self.store.objects if k.startswith(prefix)):
            await anyio.lowlevel.checkpoint()
            if key in self.store.objects:
                yield self._info(key)

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()



"""The driver protocol: the primitive operations every storage backend implements.

Drivers do I/O and nothing else. Chunking, concurrency, whole-object checksums,
retries, resume and progress live in the core, once, for every driver.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, Self

import attrs

from .._exceptions import BackendError


class ChecksumKind(enum.Enum):
    """A per-part checksum a backend can verify on receipt."""

    MD5 = "md5"
    CRC32C = "crc32c"


@attrs.frozen
class PartChecksums:
    """Raw digests of one part (or one small object), as computed by the engine.

    Only the kinds the driver declared in `DriverLimits.checksums` are filled in.
    """

    md5: bytes | None = None
    crc32c: bytes | None = None  # 4 bytes, big-endian, as GCS and S3 expect


@attrs.frozen(kw_only=True)
class DriverLimits:
    """What a backend allows and verifies; the engine plans parts within these."""

    min_part_size: int
    max_part_size: int
    max_parts: int
    max_object_size: int | None
    max_single_put: int
    checksums: frozenset[ChecksumKind] = frozenset()
    delete_batch_size: int = 1000
    ranged_reads: bool = True
    # False when `delete` cannot tell a deleted key from one already absent (S3's
    # DeleteObjects): GC then `stat`s each key first, so its report stays truthful.
    delete_reports_absence: bool = True
    # True when the backend's multipart ETag is the MD5 of the parts' MD5s plus "-N" (S3).
    s3_multipart_etag: bool = False


@attrs.frozen(kw_only=True)
class ObjectInfo:
    """What the backend reports about a stored object."""

    key: str
    size: int
    etag: str | None = None
    # Whole-object checksums the backend computed, as lowercase hex: "crc32c", "md5".
    checksums: Mapping[str, str] = attrs.field(factory=dict)
    modified: datetime | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class UploadedPart:
    """A part the backend has confirmed."""

    number: int  # 1-based, contiguous
    size: int
    etag: str | None = None
    # The backend's own record of the part's checksums (hex), when it keeps one.
    checksums: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class PendingUpload:
    """A multipart upload that was started and neither completed nor aborted."""

    key: str
    upload_id: str
    started: datetime | None


@attrs.frozen(kw_only=True)
class DeleteOutcome:
    """The result of deleting one key in a batch.

    `existed` is True when the object was there and is now deleted, False when it was
    already absent (which counts as deleted), and None when the backend cannot tell: a
    driver whose backend never can declares `DriverLimits.delete_reports_absence=False`,
    and GC then learns it from `stat` before deleting. `error` is set when the backend
    refused this key.
    """

    key: str
    existed: bool | None = None
    error: BackendError | None = None


class Driver(Protocol):
    """One storage backend.

    Keys are '/'-separated, relative, already validated by the core. Every method
    raises only `artifacts_async` exceptions: `ArtifactNotFoundError` when an object
    or upload does not exist, `PermissionDeniedError`, `TransientBackendError` for
    failures worth retrying, and `BackendError` for the rest.

    What the core guarantees, so that a driver does not check or do it again:

    - `delete` is called with at most `limits.delete_batch_size` distinct keys (and at
      least one): the core splits larger sets into batches.
    - Parts are planned within `limits`: `put` only for objects up to `max_single_put`;
      parts numbered 1..N, contiguous, each at its `offset`, every part but the last at
      least `min_part_size`, none above `max_part_size`, at most `max_parts`.
    - `checksums` carries the digests of each body for exactly the kinds in
      `limits.checksums`; the core verifies whole objects itself (CRC32C, and the
      multipart ETag when `limits.s3_multipart_etag`).
    - Retries: a `TransientBackendError` (and an `IntegrityError` from `upload_part`) is
      retried with backoff by the core; a driver does not retry (turn the SDK's off).
    - Deadlines: each request attempt runs under a deadline (`TransferOptions`'
      `request_timeout` plus its size over `min_throughput`); when it passes, the call
      is cancelled. Every method must be cancellation safe: leave no half-visible object
      and no lock or connection held.
    - Resume: the core compares `list_parts` with its own journal and sends again what
      is missing or differs; `complete_upload` gets exactly the parts to assemble.
    - Orphans: incomplete uploads are swept by the core (`sweep_orphans`) through
      `list_uploads` and `abort_upload`; a driver has no sweep of its own.

    Limits that never change are a class constant, `DEFAULT_LIMITS`, that settings may
    override (`limits_from_settings`); `limits` stays a property.
    """

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Self:
        """Build the driver from a repository's settings (bucket, endpoint, root, ...).

        Raises `ConfigurationError` for a missing or invalid setting.
        """
        ...

    @property
    def limits(self) -> DriverLimits:
        """The backend's limits and the per-part checksums it verifies."""
        ...

    def describe(self, key: str) -> str:
        """A human-readable URL-like location for `key` (s3://bucket/key, file:///...)."""
        ...

    async def put(
        self,
        key: str,
        data: bytes | bytearray,
        *,
        checksums: PartChecksums,
        metadata: Mapping[str, str],
    ) -> ObjectInfo:
        """Store a small object in one request; it becomes visible only when whole.

        `data` is valid only during the call (the engine reuses its buffers): copy it to
        keep it. `metadata` (str to str, names in lowercase ASCII) is stored with the
        object, replacing any earlier object's, and returned by `stat`.
        """
        ...

    async def start_upload(self, key: str, *, metadata: Mapping[str, str]) -> str:
        """Begin a multipart upload of `key`; return its upload id.

        `metadata` is stored with the object once completed, and returned by `stat`.
        """
        ...

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
        """Send part `number` (1-based), which starts at byte `offset` of the object.

        `data` is valid only during the call (the engine reuses its buffers).

        The backend verifies the `checksums` it supports; a mismatch raises
        `IntegrityError`. Sending a part number again replaces it.
        """
        ...

    async def list_parts(self, key: str, upload_id: str) -> Sequence[UploadedPart]:
        """The parts the backend holds for an upload, sorted by number."""
        ...

    async def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart]
    ) -> ObjectInfo:
        """Assemble `parts` into the object under `key`, atomically."""
        ...

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Discard an upload and its parts. Aborting an unknown upload is not an error."""
        ...

    async def list_uploads(self, prefix: str) -> Sequence[PendingUpload]:
        """Uploads under `prefix` that were started and never completed or aborted."""
        ...

    async def stat(self, key: str) -> ObjectInfo:
        """Size, checksums and metadata (as written by `put`/`start_upload`) of an object."""
        ...

    def read(self, key: str, *, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream `length` bytes (all when None) from `offset`, in chunks.

        A negative `offset` reads the last `-offset` bytes. Reading past the end yields
        what exists; an offset beyond the end yields nothing. Lazy: bytes are fetched as
        the caller iterates (a chunk of at most a few MiB at a time, never the whole
        object), and closing the iterator early stops the transfer.
        """
        ...

    async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
        """Delete `keys` (at most `limits.delete_batch_size`, which the core ensures).

        One outcome per key. Absent keys are reported with `existed=False`, not as errors.
        """
        ...

    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in key order."""
        ...

    async def aclose(self) -> None:
        """Release connections; the driver is not used afterwards."""
        ...

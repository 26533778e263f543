"""What the library reports: where each artifact lives and what happened to it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, final

import attrs
import cattrs

from ._specs import Archive, ArchiveKind, GCStrategy

__all__ = ["ArtifactRecord", "ArtifactStatus", "Location"]


class ArtifactStatus(enum.Enum):
    """Where an artifact is in its life.

    Invariant: a record is `stored` only after the backend confirmed the whole object.
    """

    PLANNED = "planned"
    STORED = "stored"
    FAILED = "failed"
    SKIPPED = "skipped"  # an optional output whose path did not exist


@final
@attrs.frozen(kw_only=True)
class Location:
    """Where an artifact's bytes live: a repository, its driver, and a key."""

    repository: str
    driver: str
    key: str
    url: str = ""


@final
@attrs.frozen(kw_only=True)
class ArtifactRecord:
    """One artifact of one step attempt: its location, strategy and status.

    `checksum` is `crc32c:<hex>` of the stored bytes (after archiving).
    """

    name: str
    location: Location
    archive: Archive
    gc: GCStrategy
    status: ArtifactStatus = ArtifactStatus.PLANNED
    workflow_uid: str = ""
    node_id: str = ""
    attempt: int = 0
    size: int | None = None
    checksum: str | None = None
    mode: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as their values)."""
        result: dict[str, Any] = _converter.unstructure(self)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArtifactRecord:
        """The inverse of `to_dict`."""
        return _converter.structure(dict(data), cls)


_converter = cattrs.Converter()
_converter.register_unstructure_hook(
    Archive, lambda a: {"kind": a.kind.value, "compression_level": a.compression_level}
)
_converter.register_structure_hook(
    Archive,
    lambda d, _: Archive(ArchiveKind(d["kind"]), compression_level=d.get("compression_level", 6)),
)

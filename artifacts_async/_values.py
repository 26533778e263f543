"""Value types shared by specs, records and configuration: archives and GC strategies.

A leaf module: it imports nothing of this package but exceptions and field checks, so
`_specs`, `_records` and `_config` can all depend on it without depending on each other.
"""

from __future__ import annotations

import enum
from typing import final

import attrs

from ._exceptions import ConfigurationError
from ._validate import describe, of_type

__all__ = ["Archive", "ArchiveKind", "GCStrategy"]


class ArchiveKind(enum.Enum):
    """How an artifact's bytes are packed in storage."""

    NONE = "none"
    TAR = "tar"
    ZIP = "zip"


def _check_level(_: object, __: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
        shown = value if isinstance(value, int) else describe(value)
        raise ConfigurationError(f"Archive.compression_level must be 0-9, got {shown!r}")


@final
@attrs.frozen
class Archive:
    """An archive strategy: `Archive.none()`, `Archive.tar(compression_level=6)`, `Archive.zip()`.

    For tar, `compression_level` 0 means a plain tar and 1-9 a gzip-compressed one.
    A file stored with `none` keeps its bytes; a directory is stored as one object per
    file under its key, with a manifest (`ArtifactRecord.directory`).
    """

    kind: ArchiveKind = attrs.field(validator=of_type(ArchiveKind, "an ArchiveKind"))
    compression_level: int = attrs.field(default=6, validator=_check_level, kw_only=True)

    @classmethod
    def none(cls) -> Archive:
        """Store the file's bytes as they are."""
        return cls(ArchiveKind.NONE, compression_level=0)

    @classmethod
    def tar(cls, *, compression_level: int = 6) -> Archive:
        """A tar stream, gzip-compressed at `compression_level` (0 = no compression)."""
        return cls(ArchiveKind.TAR, compression_level=compression_level)

    @classmethod
    def zip(cls) -> Archive:
        """A zip file (members deflated)."""
        return cls(ArchiveKind.ZIP, compression_level=6)

    @property
    def suffix(self) -> str:
        """The key suffix Argo uses for this archive kind ('' for none)."""
        if self.kind is ArchiveKind.TAR:
            return ".tgz" if self.compression_level else ".tar"
        if self.kind is ArchiveKind.ZIP:
            return ".zip"
        return ""

    @classmethod
    def for_key(cls, key: str) -> Archive:
        """Guess the archive kind of an existing object from its key's suffix."""
        lower = key.lower()
        if lower.endswith((".tgz", ".tar.gz")):
            return cls.tar()
        if lower.endswith(".tar"):
            return cls.tar(compression_level=0)
        if lower.endswith(".zip"):
            return cls.zip()
        return cls.none()


class GCStrategy(enum.Enum):
    """When an artifact may be garbage-collected."""

    ON_WORKFLOW_COMPLETION = "on_workflow_completion"
    ON_WORKFLOW_DELETION = "on_workflow_deletion"
    NEVER = "never"

    @classmethod
    def parse(cls, value: object, *, field: str = "gc") -> GCStrategy:
        """Accept our names and Argo's (`OnWorkflowCompletion`, `OnWorkflowDeletion`, `Never`).

        Raises `ConfigurationError` naming `field` for anything else.
        """
        if isinstance(value, GCStrategy):
            return value
        choices = ", ".join(m.value for m in cls)
        if not isinstance(value, str):
            raise ConfigurationError(
                f"{field} must be a GC strategy name ({choices}), got {describe(value)}"
            )
        normalized = value.replace("-", "_").strip()
        argo = {"OnWorkflowCompletion": "on_workflow_completion",
                "OnWorkflowDeletion": "on_workflow_deletion", "Never": "never", "": "never"}
        normalized = argo.get(normalized, normalized.lower())
        try:
            return cls(normalized)
        except ValueError:
            raise ConfigurationError(
                f"{field}: unknown GC strategy {value!r}: use one of {choices}"
            ) from None

"""What callers describe: artifact specs, archive kinds, GC strategies, the step's context."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, final

import attrs

from ._exceptions import ConfigurationError

if TYPE_CHECKING:
    from ._records import ArtifactRecord

__all__ = ["Archive", "ArchiveKind", "Context", "GCStrategy", "InputArtifact", "OutputArtifact"]


class ArchiveKind(enum.Enum):
    """How an artifact's bytes are packed in storage."""

    NONE = "none"
    TAR = "tar"
    ZIP = "zip"


def _check_level(_: object, __: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 9:
        raise ConfigurationError(f"gzip compression_level must be 0-9, got {value!r}")


@final
@attrs.frozen
class Archive:
    """An archive strategy: `Archive.none()`, `Archive.tar(compression_level=6)`, `Archive.zip()`.

    For tar, `compression_level` 0 means a plain tar and 1-9 a gzip-compressed one.
    A directory cannot be stored with `none`; a file stored with `none` keeps its bytes.
    """

    kind: ArchiveKind
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
    def parse(cls, value: str | GCStrategy) -> GCStrategy:
        """Accept our names and Argo's (`OnWorkflowCompletion`, `OnWorkflowDeletion`, `Never`)."""
        if isinstance(value, GCStrategy):
            return value
        normalized = value.replace("-", "_").strip()
        argo = {"OnWorkflowCompletion": "on_workflow_completion",
                "OnWorkflowDeletion": "on_workflow_deletion", "Never": "never", "": "never"}
        normalized = argo.get(normalized, normalized.lower())
        try:
            return cls(normalized)
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ConfigurationError(
                f"unknown GC strategy {value!r}: use one of {choices}"
            ) from None


def _opt_mode(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 0o7777:
        raise ConfigurationError(f"mode must be a permission value like 0o644, got {value!r}")
    return value


def _frozen_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(value or {})


@final
@attrs.frozen(kw_only=True)
class OutputArtifact:
    """A file or directory a step produced, to be saved.

    `key` is a key template (`{{workflow.uid}}/model.bin`); when omitted the repository's
    key format plus `/<name><suffix>` is used, as Argo does. `archive` and `gc` fall back
    to the workflow's and then the repository's defaults. A missing `path` fails the
    artifact unless `optional` is true, in which case it is recorded as skipped.
    `mode`, when set, is stored with the object and applied when it is loaded.
    """

    name: str
    path: Path = attrs.field(converter=Path)
    key: str | None = None
    repository: str | None = None
    archive: Archive | None = None
    gc: GCStrategy | None = None
    optional: bool = False
    mode: int | None = attrs.field(default=None, converter=_opt_mode)


@final
@attrs.frozen(kw_only=True)
class InputArtifact:
    """An object to load into `path` before a step runs.

    Give either `key` (a key template, resolved in `repository` or the default) or
    `record` (a record saved by an earlier step). The archive kind comes from the record,
    then `archive`, then the key's suffix. A missing object fails the artifact unless
    `optional`. `mode` sets the permissions of what is written.
    """

    name: str
    path: Path = attrs.field(converter=Path)
    key: str | None = None
    record: ArtifactRecord | None = None
    repository: str | None = None
    archive: Archive | None = None
    optional: bool = False
    mode: int | None = attrs.field(default=None, converter=_opt_mode)
    verify: bool = True


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.fromtimestamp(0, UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@final
@attrs.frozen(kw_only=True)
class Context:
    """The workflow step an artifact belongs to: the values key templates can use.

    `artifact_gc` is the workflow's GC strategy, the default for its artifacts.
    `retry_attempt` tells attempts of a retried step apart (0 for the first).
    """

    workflow_name: str
    workflow_uid: str = ""
    namespace: str = ""
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map)
    annotations: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map)
    parameters: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map)
    creation_timestamp: datetime = attrs.field(default=None, converter=_utc)
    pod_name: str = ""
    node_id: str = ""
    retry_attempt: int = 0
    artifact_gc: GCStrategy | None = None

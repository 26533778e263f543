"""What callers describe: artifact specs, archive kinds, GC strategies, the step's context."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any, final

import attrs

from ._exceptions import ConfigurationError
from ._records import ArtifactRecord
from ._validate import describe, field_of, mapping_of_str, non_negative_int, of_type, optional

# Archive, ArchiveKind and GCStrategy live in the leaf module `_values`; they are
# re-exported here for the modules that import them from `_specs`.
from ._values import Archive, ArchiveKind, GCStrategy

__all__ = ["Archive", "ArchiveKind", "Context", "GCStrategy", "InputArtifact", "OutputArtifact"]


def _check_mode(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o7777:
        shown = oct(value) if isinstance(value, int) else describe(value)
        raise ConfigurationError(
            f"{field_of(instance, attribute)} must be a permission value like 0o644, got {shown}"
        )


def _check_name(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value or "/" in value:
        shown = repr(value) if isinstance(value, str) else describe(value)
        raise ConfigurationError(
            f"{field_of(instance, attribute)} must be a non-empty string without '/', "
            f"got {shown}"
        )


def _to_path(value: object) -> Path:
    # A converter has no access to the field: the only path field is called `path`.
    if not isinstance(value, str | PathLike):
        raise ConfigurationError(f"path must be a str or os.PathLike, got {describe(value)}")
    return Path(value)


def _frozen_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    if value is None:
        return {}
    return dict(value) if isinstance(value, Mapping) else value


_key = optional(of_type(str, "a key template string"))
_repository = optional(of_type(str, "a repository name"))
_archive = optional(of_type(Archive, "an Archive (Archive.tar(), Archive.zip(), Archive.none())"))
_bool = of_type(bool, "True or False")


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

    name: str = attrs.field(validator=_check_name)
    path: Path = attrs.field(converter=_to_path)
    key: str | None = attrs.field(default=None, validator=_key)
    repository: str | None = attrs.field(default=None, validator=_repository)
    archive: Archive | None = attrs.field(default=None, validator=_archive)
    gc: GCStrategy | None = attrs.field(
        default=None, validator=optional(of_type(GCStrategy, "a GCStrategy"))
    )
    optional: bool = attrs.field(default=False, validator=_bool)
    mode: int | None = attrs.field(default=None, validator=_check_mode)


@final
@attrs.frozen(kw_only=True)
class InputArtifact:
    """An object to load into `path` before a step runs.

    Give either `key` (a key template, resolved in `repository` or the default) or
    `record` (a record saved by an earlier step). The archive kind comes from the record,
    then `archive`, then the key's suffix. A missing object fails the artifact unless
    `optional`. `mode` sets the permissions of what is written.
    """

    name: str = attrs.field(validator=_check_name)
    path: Path = attrs.field(converter=_to_path)
    key: str | None = attrs.field(default=None, validator=_key)
    record: ArtifactRecord | None = attrs.field(
        default=None, validator=optional(of_type(ArtifactRecord, "an ArtifactRecord"))
    )
    repository: str | None = attrs.field(default=None, validator=_repository)
    archive: Archive | None = attrs.field(default=None, validator=_archive)
    optional: bool = attrs.field(default=False, validator=_bool)
    mode: int | None = attrs.field(default=None, validator=_check_mode)
    verify: bool = attrs.field(default=True, validator=_bool)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or not isinstance(value, datetime):
        return value  # None stays unknown; another type is refused by the validator
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_str = of_type(str, "a string")


@final
@attrs.frozen(kw_only=True)
class Context:
    """The workflow step an artifact belongs to: the values key templates can use.

    `artifact_gc` is the workflow's GC strategy, the default for its artifacts.
    `retry_attempt` tells attempts of a retried step apart (0 for the first).
    `creation_timestamp` (naive means UTC) is None when unknown: a key template that uses
    `{{workflow.creationTimestamp...}}` then raises `KeyTemplateError`, as for any other
    missing variable.
    """

    workflow_name: str = attrs.field(validator=_str)
    workflow_uid: str = attrs.field(default="", validator=_str)
    namespace: str = attrs.field(default="", validator=_str)
    labels: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_map, validator=mapping_of_str
    )
    annotations: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_map, validator=mapping_of_str
    )
    parameters: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_map, validator=mapping_of_str
    )
    creation_timestamp: datetime | None = attrs.field(
        default=None, converter=_utc, validator=optional(of_type(datetime, "a datetime"))
    )
    pod_name: str = attrs.field(default="", validator=_str)
    node_id: str = attrs.field(default="", validator=_str)
    retry_attempt: int = attrs.field(default=0, validator=non_negative_int)
    artifact_gc: GCStrategy | None = attrs.field(
        default=None, validator=optional(of_type(GCStrategy, "a GCStrategy"))
    )

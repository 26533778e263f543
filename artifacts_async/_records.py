"""What the library reports: where each artifact lives and what happened to it."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, final

import attrs
import cattrs
from cattrs.v import format_exception

from ._exceptions import ConfigurationError
from ._validate import describe, field_of, non_negative_int, of_type, optional
from ._values import Archive, ArchiveKind, GCStrategy

__all__ = ["ArtifactRecord", "ArtifactStatus", "Location"]

_CHECKSUM = re.compile(r"crc32c:[0-9a-fA-F]{8}")


class ArtifactStatus(enum.Enum):
    """Where an artifact is in its life.

    Invariant: a record is `stored` only after the backend confirmed the whole object.
    """

    PLANNED = "planned"
    STORED = "stored"
    FAILED = "failed"
    SKIPPED = "skipped"  # an optional output whose path did not exist


_str = of_type(str, "a string")


@final
@attrs.frozen(kw_only=True)
class Location:
    """Where an artifact's bytes live: a repository, its driver, and a key."""

    repository: str = attrs.field(validator=_str)
    driver: str = attrs.field(validator=_str)
    key: str = attrs.field(validator=_str)
    url: str = attrs.field(default="", validator=_str)


def _check_checksum(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # Invariant: a record's checksum is one this library verifies; anything else would
    # silently disable the check on load, so it is refused here, where the record is built.
    if value is None:
        return
    if not isinstance(value, str) or not _CHECKSUM.fullmatch(value):
        shown = repr(value[:40]) if isinstance(value, str) else describe(value)
        raise ConfigurationError(
            f"{field_of(instance, attribute)} must be 'crc32c:' and 8 hex digits "
            f"(or None), got {shown}"
        )


@final
@attrs.frozen(kw_only=True)
class ArtifactRecord:
    """One artifact of one step attempt: its location, strategy and status.

    `checksum` is `crc32c:<8 hex digits>` of the stored bytes (after archiving),
    or None when unknown; any other value raises `ConfigurationError` when the record is
    built, since it could not be verified. Every field is type-checked the same way.

    `directory` is true for a directory stored with archive `none`: one object per file
    under `<key>/` and a manifest, `<key>/.artifacts-async-manifest.json`, written last
    (docs/transfers.md). Its `size` is the total size of its files and its `checksum`
    the CRC32C of the manifest, which holds each file's size and CRC32C.
    """

    name: str = attrs.field(validator=_str)
    location: Location = attrs.field(validator=of_type(Location, "a Location"))
    archive: Archive = attrs.field(validator=of_type(Archive, "an Archive"))
    gc: GCStrategy = attrs.field(validator=of_type(GCStrategy, "a GCStrategy"))
    status: ArtifactStatus = attrs.field(
        default=ArtifactStatus.PLANNED, validator=of_type(ArtifactStatus, "an ArtifactStatus")
    )
    workflow_uid: str = attrs.field(default="", validator=_str)
    node_id: str = attrs.field(default="", validator=_str)
    attempt: int = attrs.field(default=0, validator=non_negative_int)
    size: int | None = attrs.field(default=None, validator=optional(non_negative_int))
    checksum: str | None = attrs.field(default=None, validator=_check_checksum)
    mode: int | None = attrs.field(
        default=None, validator=optional(of_type(int, "a permission value like 0o644"))
    )
    error: str | None = attrs.field(default=None, validator=optional(_str))
    directory: bool = attrs.field(default=False, validator=of_type(bool, "True or False"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as their values)."""
        result: dict[str, Any] = _converter.unstructure(self)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArtifactRecord:
        """The inverse of `to_dict`.

        Raises `ConfigurationError` naming the field for a missing, unknown or mistyped one.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"an ArtifactRecord must be a mapping, got {describe(data)}")
        try:
            return _converter.structure(dict(data), cls)
        except cattrs.ClassValidationError as exc:
            problems = "; ".join(cattrs.transform_error(exc, path="record",
                                                        format_exception=_problem))
            raise ConfigurationError(f"invalid ArtifactRecord: {problems}") from None


def _problem(exc: BaseException, kind: type | None) -> str:
    """One field's problem: a field check's own message, else cattrs' with the cause."""
    if isinstance(exc, ConfigurationError):
        return str(exc)
    text = format_exception(exc, kind)
    return f"{text} ({exc})" if isinstance(exc, TypeError | ValueError) and str(exc) else text


def _strict(kind: type) -> Any:
    """A structure hook that refuses a value of another type instead of converting it."""

    def structure(value: object, _: object) -> object:
        if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
            raise TypeError(f"got {describe(value)}")
        return value

    return structure


def _archive(value: object, _: object) -> Archive:
    if not isinstance(value, Mapping) or not isinstance(value.get("kind"), str):
        raise TypeError(f"expected {{'kind': ..., 'compression_level': ...}}, "
                        f"got {describe(value)}")
    try:
        kind = ArchiveKind(value["kind"])
    except ValueError:
        raise ValueError(f"unknown archive kind {value['kind']!r}") from None
    return Archive(kind, compression_level=value.get("compression_level", 6))


# Strict: a record read back must be exactly what `to_dict` wrote (no str(5) -> "5").
_converter = cattrs.Converter(forbid_extra_keys=True)
for _kind in (str, int, bool):
    _converter.register_structure_hook(_kind, _strict(_kind))
_converter.register_unstructure_hook(
    Archive, lambda a: {"kind": a.kind.value, "compression_level": a.compression_level}
)
_converter.register_structure_hook(Archive, _archive)

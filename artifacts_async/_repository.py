"""One artifact repository and how it is read from a table of this library's format.

`_config` (named repositories) and `_argo` (Argo's ConfigMap) both build `Repository`
values from here; neither imports the other's reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, final

import attrs

from ._credentials import Credentials
from ._exceptions import ConfigurationError
from ._validate import describe, of_type, optional
from ._values import Archive, ArchiveKind, GCStrategy

__all__ = ["DEFAULT_KEY_FORMAT", "Repository", "parse_archive", "repository_from_table"]

DEFAULT_KEY_FORMAT = "{{workflow.name}}/{{pod.name}}"

_str = of_type(str, "a string")


def _non_empty(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _str(instance, attribute, value)
    if not value:
        raise ConfigurationError(f"{type(instance).__name__}.{attribute.name} must not be empty")


@final
@attrs.frozen(kw_only=True)
class Repository:
    """One artifact repository: a driver, its settings, a key format and defaults.

    `settings` are passed to the driver (`bucket`, `endpoint`, `root`, ...); credentials
    are references only and never appear in the repr.
    """

    name: str = attrs.field(validator=_non_empty)
    driver: str = attrs.field(validator=_non_empty)
    settings: Mapping[str, Any] = attrs.field(
        factory=dict, validator=of_type(Mapping, "a mapping of driver settings")
    )
    key_format: str = attrs.field(default=DEFAULT_KEY_FORMAT, validator=_str)
    archive: Archive = attrs.field(factory=Archive.tar, validator=of_type(Archive, "an Archive"))
    gc: GCStrategy | None = attrs.field(
        default=None, validator=optional(of_type(GCStrategy, "a GCStrategy"))
    )
    credentials: Credentials = attrs.field(
        factory=Credentials, validator=of_type(Credentials, "a Credentials")
    )

    def driver_settings(self) -> dict[str, Any]:
        """The settings a driver's `from_settings` receives (credentials included)."""
        return {**self.settings, "credentials": self.credentials}


_ARCHIVES = "'none', 'tar' or 'zip'"


def parse_archive(value: object, *, where: str = "archive") -> Archive:
    """Accept `"tar"`, `"none"`, `"zip"`, `{kind="tar", compression_level=9}` or Argo's
    `{tar: {compressionLevel: 9}}` / `{none: {}}` / `{zip: {}}`.

    Raises `ConfigurationError` naming `where` for anything else."""
    if isinstance(value, Archive):
        return value
    if isinstance(value, str):
        return _archive_of(value, {}, where)
    if isinstance(value, Mapping):
        if "kind" in value:
            return _archive_of(value["kind"], value, where)
        if len(value) == 1:
            (kind, options), = value.items()
            return _archive_of(kind, {} if options is None else options, where)
    raise ConfigurationError(f"{where} must be {_ARCHIVES}, got {describe(value)}")


def _archive_of(kind: object, options: object, where: str) -> Archive:
    if not isinstance(kind, str):
        raise ConfigurationError(f"{where} kind must be {_ARCHIVES}, got {describe(kind)}")
    try:
        archive_kind = ArchiveKind(kind.lower())
    except ValueError:
        raise ConfigurationError(f"{where} must be {_ARCHIVES}, got {kind!r}") from None
    if not isinstance(options, Mapping):
        raise ConfigurationError(
            f"{where}.{kind} options must be a table such as {{compressionLevel: 9}}, "
            f"got {describe(options)}"
        )
    level = options.get("compression_level", options.get("compressionLevel", 6))
    if isinstance(level, bool) or not isinstance(level, int):
        raise ConfigurationError(
            f"{where}: compression_level must be an integer 0-9, got {describe(level)}"
        )
    if archive_kind is ArchiveKind.TAR:
        if not 0 <= level <= 9:
            raise ConfigurationError(f"{where}: compression_level must be 0-9, got {level}")
        return Archive.tar(compression_level=level)
    return Archive.zip() if archive_kind is ArchiveKind.ZIP else Archive.none()


_GENERIC = {"driver", "key_format", "archive", "gc", "credentials"}


def repository_from_table(name: str, data: object) -> Repository:
    """The repository `name` of a config in this library's format.

    Every key but `driver`, `key_format`, `archive`, `gc` and `credentials` is a driver
    setting. Raises `ConfigurationError` naming `repositories.<name>.<field>`.
    """
    where = f"repositories.{name}"
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where} must be a table, got {describe(data)}")
    for key in data:
        if not isinstance(key, str):
            raise ConfigurationError(f"{where}: every key must be a string, got {key!r}")
    driver = data.get("driver")
    if not isinstance(driver, str) or not driver:
        raise ConfigurationError(
            f"repository {name!r} has no driver: set {where}.driver = \"local\", \"s3\", "
            "\"gcs\", ..."
        )
    key_format = data.get("key_format", DEFAULT_KEY_FORMAT)
    if not isinstance(key_format, str):
        raise ConfigurationError(
            f"{where}.key_format must be a string, got {describe(key_format)}"
        )
    gc = data.get("gc")
    return Repository(
        name=name,
        driver=driver,
        settings={k: v for k, v in data.items() if k not in _GENERIC},
        key_format=key_format,
        archive=parse_archive(data["archive"], where=f"{where}.archive")
        if "archive" in data else Archive.tar(),
        gc=None if gc is None or gc == "" else GCStrategy.parse(gc, field=f"{where}.gc"),
        credentials=Credentials.parse(data.get("credentials"), where=f"{where}.credentials"),
    )

"""Central repository configuration: named repositories plus a default.

Loaded from a dict, a TOML file or a YAML file. The data of Argo Workflows'
`artifact-repositories` ConfigMap is accepted too (see `_argo.py`).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, final

import attrs
import yaml

from ._credentials import Credentials
from ._exceptions import ConfigurationError
from ._specs import Archive, ArchiveKind, GCStrategy

__all__ = ["Repository", "RepositoryConfig"]

DEFAULT_KEY_FORMAT = "{{workflow.name}}/{{pod.name}}"


@final
@attrs.frozen(kw_only=True)
class Repository:
    """One artifact repository: a driver, its settings, a key format and defaults.

    `settings` are passed to the driver (`bucket`, `endpoint`, `root`, ...); credentials
    are references only and never appear in the repr.
    """

    name: str
    driver: str
    settings: Mapping[str, Any] = attrs.field(factory=dict)
    key_format: str = DEFAULT_KEY_FORMAT
    archive: Archive = attrs.field(factory=Archive.tar)
    gc: GCStrategy | None = None
    credentials: Credentials = attrs.field(factory=Credentials)

    def driver_settings(self) -> dict[str, Any]:
        """The settings a driver's `from_settings` receives (credentials included)."""
        return {**self.settings, "credentials": self.credentials}


def parse_archive(value: Any) -> Archive:
    """Accept `"tar"`, `"none"`, `"zip"`, `{kind="tar", compression_level=9}` or Argo's
    `{tar: {compressionLevel: 9}}` / `{none: {}}` / `{zip: {}}`."""
    if isinstance(value, Archive):
        return value
    if isinstance(value, str):
        return _archive_of(value, {})
    if isinstance(value, Mapping):
        if "kind" in value:
            return _archive_of(str(value["kind"]), value)
        if len(value) == 1:
            (kind, options), = value.items()
            return _archive_of(str(kind), options or {})
    raise ConfigurationError(f"archive must be 'none', 'tar' or 'zip', got {value!r}")


def _archive_of(kind: str, options: Mapping[str, Any]) -> Archive:
    try:
        archive_kind = ArchiveKind(kind.lower())
    except ValueError:
        raise ConfigurationError(f"archive must be 'none', 'tar' or 'zip', got {kind!r}") from None
    level = options.get("compression_level", options.get("compressionLevel", 6))
    if not isinstance(level, int):
        raise ConfigurationError(f"compression_level must be an integer 0-9, got {level!r}")
    if archive_kind is ArchiveKind.TAR:
        return Archive.tar(compression_level=level)
    return Archive.zip() if archive_kind is ArchiveKind.ZIP else Archive.none()


_GENERIC = {"driver", "key_format", "archive", "gc", "credentials"}


def _repository(name: str, data: Mapping[str, Any]) -> Repository:
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"repository {name!r} must be a table, got {type(data).__name__}")
    driver = data.get("driver")
    if not isinstance(driver, str) or not driver:
        raise ConfigurationError(
            f"repository {name!r} has no driver: set driver = \"local\", \"s3\", \"gcs\", ..."
        )
    key_format = data.get("key_format", DEFAULT_KEY_FORMAT)
    if not isinstance(key_format, str):
        raise ConfigurationError(f"repository {name!r}: key_format must be a string")
    return Repository(
        name=name,
        driver=driver,
        settings={k: v for k, v in data.items() if k not in _GENERIC},
        key_format=key_format,
        archive=parse_archive(data["archive"]) if "archive" in data else Archive.tar(),
        gc=GCStrategy.parse(data["gc"]) if data.get("gc") else None,
        credentials=Credentials.parse(data.get("credentials")),
    )


@final
@attrs.frozen(kw_only=True)
class RepositoryConfig:
    """Named repositories and the name of the default one."""

    repositories: Mapping[str, Repository] = attrs.field(factory=dict)
    default: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.default is not None and self.default not in self.repositories:
            known = ", ".join(sorted(self.repositories)) or "none"
            raise ConfigurationError(
                f"default repository {self.default!r} is not defined (defined: {known})"
            )

    def get(self, name: str | None, *, artifact: str | None = None) -> Repository:
        """The repository called `name`, or the default when `name` is None."""
        wanted = name or self.default
        if wanted is None:
            if len(self.repositories) == 1:
                return next(iter(self.repositories.values()))
            subject = f"artifact {artifact!r}" if artifact else "this artifact"
            raise ConfigurationError(
                f"{subject} has no repository: set a default repository or name one"
            )
        try:
            return self.repositories[wanted]
        except KeyError:
            known = ", ".join(sorted(self.repositories)) or "none"
            raise ConfigurationError(
                f"repository {wanted!r} is not configured (configured: {known})"
            ) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RepositoryConfig:
        """Build from `{"default": ..., "repositories": {...}}` or Argo ConfigMap data."""
        if not isinstance(data, Mapping):
            raise ConfigurationError("repository configuration must be a mapping")
        if "repositories" not in data:
            from ._argo import config_from_argo  # noqa: PLC0415 - only for Argo-shaped data

            return config_from_argo(data)
        repos = data["repositories"]
        if not isinstance(repos, Mapping):
            raise ConfigurationError("'repositories' must be a table of named repositories")
        default = data.get("default")
        return cls(
            repositories={name: _repository(name, spec) for name, spec in repos.items()},
            default=str(default) if default else None,
        )

    @classmethod
    def load(cls, path: str | Path) -> RepositoryConfig:
        """Load a TOML (`.toml`), YAML (`.yaml`/`.yml`) or JSON file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read repository config {path}: {exc.strerror}"
            ) from None
        try:
            if path.suffix == ".toml":
                data: Any = tomllib.loads(text)
            elif path.suffix == ".json":
                data = json.loads(text)
            else:
                data = yaml.safe_load(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"repository config {path} is not valid: {exc}") from None
        return cls.from_dict(data or {})

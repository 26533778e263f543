"""Central repository configuration: named repositories plus a default.

Loaded from a dict, a TOML, YAML or JSON file in this library's format
(`RepositoryConfig.from_dict` / `load`), or from Argo Workflows' `artifact-repositories`
ConfigMap (`RepositoryConfig.from_argo`, see `_argo.py`).
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, final

import attrs
import yaml

from ._argo import parse_configmap
from ._exceptions import ConfigurationError

# Repository lives in `_repository`; re-exported here for existing importers.
from ._repository import Repository, repository_from_table
from ._validate import describe

__all__ = ["Repository", "RepositoryConfig"]

_TOP_LEVEL = ("default", "repositories")


def _check_repositories(
    instance: RepositoryConfig, _: attrs.Attribute[Any], value: object
) -> None:
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"RepositoryConfig.repositories must be a mapping, got {describe(value)}"
        )
    for name, repository in value.items():
        if not isinstance(repository, Repository) or repository.name != name:
            raise ConfigurationError(
                f"RepositoryConfig.repositories[{name!r}] must be a Repository named {name!r}"
            )


_ARGO_KINDS = ("s3", "gcs", "azure", "oss", "artifactory", "hdfs")


def _looks_like_argo(data: Mapping[Any, Any]) -> bool:
    """A whole ConfigMap, or data entries that name an Argo backend (as YAML text or not)."""

    def argo_entry(entry: object) -> bool:
        if isinstance(entry, str):
            return any(f"{kind}:" in entry for kind in _ARGO_KINDS)
        return isinstance(entry, Mapping) and any(kind in entry for kind in _ARGO_KINDS)

    return data.get("kind") == "ConfigMap" or any(
        argo_entry(entry) for key, entry in data.items() if key != "repositories")


_ARGO_HINT = ": this is Argo's ConfigMap, read it with RepositoryConfig.from_argo"


@final
@attrs.frozen(kw_only=True)
class RepositoryConfig:
    """Named repositories and the name of the default one.

    `unusable` holds the entries of an Argo ConfigMap that could not be loaded, each with
    the reason: using one (by name, or as the default) raises `ConfigurationError` with
    that reason, while the other repositories work.
    """

    repositories: Mapping[str, Repository] = attrs.field(
        factory=dict, validator=_check_repositories
    )
    default: str | None = None
    unusable: Mapping[str, str] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.default is not None and not isinstance(self.default, str):
            raise ConfigurationError(
                f"RepositoryConfig.default must be a repository name, got {describe(self.default)}"
            )
        if self.default is not None and self.default not in self._names():
            known = ", ".join(sorted(self._names())) or "none"
            raise ConfigurationError(
                f"default repository {self.default!r} is not defined (defined: {known})"
            )

    def _names(self) -> set[str]:
        return {*self.repositories, *self.unusable}

    def get(self, name: str | None, *, artifact: str | None = None) -> Repository:
        """The repository called `name`, or the default when `name` is None.

        Raises `ConfigurationError` for an unknown or unusable repository, or when `name`
        is None and there is no default among several repositories.
        """
        wanted = name or self.default
        if wanted is None:
            if len(self.repositories) == 1 and not self.unusable:
                return next(iter(self.repositories.values()))
            subject = f"artifact {artifact!r}" if artifact else "this artifact"
            raise ConfigurationError(
                f"{subject} has no repository: set a default repository or name one"
            )
        if wanted in self.unusable:
            raise ConfigurationError(
                f"repository {wanted!r} cannot be used: {self.unusable[wanted]}"
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
        """Build from this library's format: `{"default": ..., "repositories": {...}}`.

        Raises `ConfigurationError` naming the field for anything malformed, for an
        unknown top-level key and for a config without repositories. Argo's ConfigMap
        has its own entry: `from_argo`.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"repository configuration must be a mapping, got {describe(data)}"
            )
        for key in data:
            if key not in _TOP_LEVEL:
                close = difflib.get_close_matches(str(key), _TOP_LEVEL, n=1)
                hint = (_ARGO_HINT if _looks_like_argo(data) else
                        f": did you mean {close[0]!r}?" if close else "")
                raise ConfigurationError(
                    f"unknown top-level key {key!r} in the repository configuration: expected "
                    f"'default' and 'repositories'{hint}"
                )
        repos = data.get("repositories")
        if not isinstance(repos, Mapping) or not repos:
            raise ConfigurationError(
                "'repositories' must be a table of named repositories, got "
                + ("an empty one" if isinstance(repos, Mapping) else describe(repos))
                + (_ARGO_HINT if _looks_like_argo(data) else "")
            )
        for name in repos:
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"repository names must be strings, got {name!r}")
        default = data.get("default")
        if default is not None and not isinstance(default, str):
            raise ConfigurationError(
                f"'default' must be the name of a repository, got {describe(default)}"
            )
        return cls(
            repositories={name: repository_from_table(name, spec) for name, spec in repos.items()},
            default=default or None,
        )

    @classmethod
    def from_argo(cls, data: Mapping[str, Any]) -> RepositoryConfig:
        """Build from Argo's `artifact-repositories` ConfigMap: the whole ConfigMap
        (`kind: ConfigMap`, the default from its annotation) or only its `data`.

        An entry that cannot be loaded is kept in `unusable` and refused only when used;
        a malformed ConfigMap raises `ConfigurationError`.
        """
        parsed = parse_configmap(data)
        return cls(repositories=parsed.repositories, default=parsed.default,
                   unusable=parsed.unusable)

    @classmethod
    def load(cls, path: str | Path, *, argo: bool | None = None) -> RepositoryConfig:
        """Load a TOML (`.toml`), YAML (`.yaml`/`.yml`) or JSON file.

        With `argo=None`, a document with `kind: ConfigMap` is read as Argo's ConfigMap
        and anything else in this library's format; `argo=True` reads the file as a
        ConfigMap or its `data`, `argo=False` never does. Raises `ConfigurationError`.
        """
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read repository config {path}: {exc.strerror}"
            ) from None
        except UnicodeDecodeError as exc:
            raise ConfigurationError(
                f"repository config {path} is not UTF-8 (byte {exc.start}): save it as UTF-8"
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
        if not data:
            raise ConfigurationError(f"repository config {path} is empty")
        if argo is None:
            argo = isinstance(data, Mapping) and data.get("kind") == "ConfigMap"
        return cls.from_argo(data) if argo else cls.from_dict(data)

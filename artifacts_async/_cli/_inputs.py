"""What the commands read: the repository config, the context, specs and records files."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from .._config import RepositoryConfig
from .._exceptions import ConfigurationError
from .._records import ArtifactRecord
from .._repository import parse_archive
from .._specs import Archive, Context, GCStrategy, InputArtifact, OutputArtifact

CONFIG_ENV = "ARTIFACTS_ASYNC_CONFIG"


def load_config(path: str | None) -> RepositoryConfig:
    """The config from `--config` / `$ARTIFACTS_ASYNC_CONFIG`: a TOML, YAML or JSON file,
    or a directory holding a mounted Argo `artifact-repositories` ConfigMap."""
    if not path:
        raise ConfigurationError(
            f"no repository config: pass --config PATH or set {CONFIG_ENV} (a TOML, YAML or "
            "JSON file, or a mounted ConfigMap directory)"
        )
    where = Path(path)
    if where.is_dir():
        # A mounted ConfigMap: one file per data key (Kubernetes adds hidden `..data` links).
        data = {p.name: p.read_text(encoding="utf-8") for p in sorted(where.iterdir())
                if not p.name.startswith(".") and p.is_file()}
        if not data:
            raise ConfigurationError(f"{where} is an empty directory, not a mounted ConfigMap")
        return RepositoryConfig.from_argo(data)
    return RepositoryConfig.load(where)


def read_data(path: str) -> Any:
    """A YAML or JSON file's content (JSON is YAML)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} is not valid YAML or JSON: {exc}") from None


_CONTEXT_FIELDS = {"workflow_name", "workflow_uid", "namespace", "labels", "annotations",
                   "parameters", "pod_name", "node_id", "retry_attempt", "artifact_gc"}


def load_context(path: str | None, overrides: Mapping[str, Any]) -> Context:
    """The context from a file (`--context`), then flags on top of it."""
    data: dict[str, Any] = {}
    if path:
        loaded = read_data(path)
        if not isinstance(loaded, Mapping):
            raise ConfigurationError(f"context file {path} must hold a mapping")
        unknown = set(loaded) - _CONTEXT_FIELDS
        if unknown:
            raise ConfigurationError(
                f"context file {path}: unknown fields {sorted(unknown)} "
                f"(known: {sorted(_CONTEXT_FIELDS)})"
            )
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    if data.get("artifact_gc"):
        data["artifact_gc"] = GCStrategy.parse(str(data["artifact_gc"]))
    data.setdefault("workflow_name", "")
    try:
        return Context(**data)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid context: {exc}") from None


def name_value(items: Sequence[str], what: str) -> list[tuple[str, str]]:
    """Split `NAME=VALUE` arguments."""
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigurationError(f"expected NAME={what.upper()}, got {item!r}")
        pairs.append((name, value))
    return pairs


def _archive(value: Any) -> Archive | None:
    if value is None:
        return None
    if isinstance(value, str) and ":" in value:
        kind, _, level = value.partition(":")
        if not level.isdigit():
            raise ConfigurationError(f"archive {value!r}: use tar:LEVEL with LEVEL 0-9")
        return parse_archive({"kind": kind, "compression_level": int(level)})
    return parse_archive(value)


_OUTPUT_FIELDS = {"name", "path", "key", "repository", "archive", "gc", "optional", "mode"}
_INPUT_FIELDS = {"name", "path", "key", "record", "repository", "archive", "optional", "mode",
                 "verify"}


def _entries(path: str) -> list[Mapping[str, Any]]:
    data = read_data(path)
    if isinstance(data, Mapping):
        data = data.get("artifacts", data.get("records"))
    if not isinstance(data, list) or not all(isinstance(d, Mapping) for d in data):
        raise ConfigurationError(f"{path} must hold a list of artifact mappings "
                                 "(or {artifacts: [...]})")
    return data


def _check_fields(entry: Mapping[str, Any], known: set[str], path: str) -> None:
    unknown = set(entry) - known
    if unknown or "name" not in entry:
        raise ConfigurationError(
            f"{path}: artifact {entry.get('name', '?')!r} needs a name and may have "
            f"{sorted(known)}; unknown: {sorted(unknown)}"
        )


def output_specs(pairs: Sequence[str], specs_file: str | None, *, keys: Mapping[str, str],
                 repository: str | None, archive: str | None,
                 optional: bool) -> list[OutputArtifact]:
    """`NAME=PATH` arguments (with the shared flags) plus the specs of `--specs`."""
    outputs = [
        OutputArtifact(name=name, path=path, key=keys.get(name), repository=repository,
                       archive=_archive(archive), optional=optional)
        for name, path in name_value(pairs, "path")
    ]
    if specs_file:
        for entry in _entries(specs_file):
            _check_fields(entry, _OUTPUT_FIELDS, specs_file)
            fields = dict(entry)
            fields["archive"] = _archive(fields.get("archive"))
            if fields.get("gc"):
                fields["gc"] = GCStrategy.parse(str(fields["gc"]))
            if "path" not in fields:
                raise ConfigurationError(f"{specs_file}: output {entry['name']!r} has no path")
            outputs.append(OutputArtifact(**fields))
    return outputs


def read_records(path: str) -> list[ArtifactRecord]:
    """Records written by `save --json` or `--report-file` (or a plain list of them)."""
    try:
        return [ArtifactRecord.from_dict(entry) for entry in _entries(path)]
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"{path} does not hold artifact records ({exc})") from None
    except Exception as exc:  # cattrs raises its own ExceptionGroup subclasses
        raise ConfigurationError(f"{path} does not hold artifact records ({exc})") from None


def input_specs(pairs: Sequence[str], specs_file: str | None, *, records: str | None,
                keys: Mapping[str, str], repository: str | None,
                optional: bool) -> list[InputArtifact]:
    """`NAME=PATH` arguments read from `--records` or `--key NAME=KEY`, plus `--specs`."""
    by_name = {r.name: r for r in read_records(records)} if records else {}
    inputs = []
    for name, path in name_value(pairs, "path"):
        if name in keys:
            inputs.append(InputArtifact(name=name, path=path, key=keys[name],
                                        repository=repository, optional=optional))
        elif name in by_name:
            inputs.append(InputArtifact(name=name, path=path, record=by_name[name],
                                        optional=optional))
        else:
            raise ConfigurationError(
                f"input {name!r}: give --key {name}=KEY or a --records file that has it"
            )
    if specs_file:
        for entry in _entries(specs_file):
            _check_fields(entry, _INPUT_FIELDS, specs_file)
            fields = dict(entry)
            fields["archive"] = _archive(fields.get("archive"))
            if isinstance(fields.get("record"), Mapping):
                fields["record"] = ArtifactRecord.from_dict(fields["record"])
            inputs.append(InputArtifact(**fields))
    return inputs


_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str) -> timedelta:
    """`90s`, `30m`, `24h`, `7d`."""
    match = _DURATION.match(value.strip())
    if not match:
        raise ConfigurationError(f"duration {value!r}: use a number and s, m, h or d (24h)")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def write_json_atomically(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` so a reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

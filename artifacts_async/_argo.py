"""Reading Argo Workflows' `artifact-repositories` ConfigMap (or only its `data`).

Each data entry is a YAML string (or mapping) with one of `s3`, `gcs`, `azure`; the
default comes from the annotation `workflows.argoproj.io/default-artifact-repository`.
Kubernetes secret selectors (`accessKeySecret: {name, key}`) become references to files
under `$ARTIFACTS_ASYNC_SECRETS_DIR/<name>/<key>`.

A ConfigMap is shared with Argo and other tools, so one entry this library cannot use
(an `oss:` repository, Argo's quick-start `empty: ""`, a typo) does not fail the others:
it is kept with the reason, and refused only when a workflow uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import yaml

from ._credentials import Credentials, SecretRef
from ._exceptions import ConfigurationError
from ._repository import DEFAULT_KEY_FORMAT, Repository
from ._validate import describe

__all__ = ["DEFAULT_ANNOTATION", "ArgoRepositories", "parse_configmap"]

DEFAULT_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"

# Argo's secret fields, per backend, and the credential role each one fills.
_SECRETS = {
    "s3": {"accessKeySecret": "access_key", "secretKeySecret": "secret_key",
           "sessionTokenSecret": "session_token"},
    "gcs": {"serviceAccountKeySecret": "service_account_key"},
    "azure": {"accountKeySecret": "account_key"},
}
# Argo's setting -> (this library's setting, its type).
_SETTINGS: dict[str, dict[str, tuple[str, type]]] = {
    "s3": {"bucket": ("bucket", str), "endpoint": ("endpoint", str), "region": ("region", str),
           "insecure": ("insecure", bool), "roleARN": ("role_arn", str)},
    "gcs": {"bucket": ("bucket", str)},
    "azure": {"container": ("container", str), "endpoint": ("endpoint", str)},
}
# Kinds of Argo repository this library has no driver for.
_FOREIGN = ("artifactory", "hdfs", "oss", "git", "http", "raw")
_SUPPORTED = ", ".join(_SETTINGS)


@attrs.frozen(kw_only=True)
class ArgoRepositories:
    """What a ConfigMap holds: usable repositories, refused entries (with why), a default."""

    repositories: dict[str, Repository]
    unusable: dict[str, str]
    default: str | None


def parse_configmap(data: object) -> ArgoRepositories:
    """Read a whole ConfigMap (a mapping with `kind: ConfigMap`) or only its `data`.

    Raises `ConfigurationError` when the ConfigMap itself is malformed; a malformed entry
    is returned in `unusable` instead.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"an Argo ConfigMap must be a mapping, got {describe(data)}")
    default: object = None
    if "kind" in data or "apiVersion" in data:
        if data.get("kind") != "ConfigMap":
            raise ConfigurationError(
                f"kind must be ConfigMap for an Argo artifact repository, got {data.get('kind')!r}"
            )
        metadata = data.get("metadata") or {}
        annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
        if not isinstance(metadata, Mapping) or not isinstance(annotations or {}, Mapping):
            raise ConfigurationError("ConfigMap metadata.annotations must be a mapping")
        default = (annotations or {}).get(DEFAULT_ANNOTATION)
        if default is not None and not isinstance(default, str):
            raise ConfigurationError(
                f"ConfigMap annotation {DEFAULT_ANNOTATION} must be a string, "
                f"got {describe(default)}"
            )
        data = data.get("data") or {}
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"ConfigMap data must be a mapping of named entries, got {describe(data)}"
            )
    repositories: dict[str, Repository] = {}
    unusable: dict[str, str] = {}
    for name, entry in data.items():
        if not isinstance(name, str):
            raise ConfigurationError(f"ConfigMap data keys must be strings, got {name!r}")
        try:
            repositories[name] = _repository(name, entry)
        except ConfigurationError as exc:
            unusable[name] = str(exc)
    if default is None and "default" in data:
        default = "default"
    return ArgoRepositories(repositories=repositories, unusable=unusable,
                            default=default if isinstance(default, str) else None)


def _entry(name: str, entry: object) -> Mapping[str, Any]:
    if isinstance(entry, str):
        if not entry.strip():
            raise ConfigurationError(f"ConfigMap entry {name!r} is empty")
        try:
            entry = yaml.safe_load(entry)
        except yaml.YAMLError as exc:
            # The YAML error quotes the line, which may hold a secret: give its position only.
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise ConfigurationError(f"ConfigMap entry {name!r} is not valid YAML{where}") from None
    if entry is None:
        raise ConfigurationError(f"ConfigMap entry {name!r} is empty")
    if not isinstance(entry, Mapping):
        raise ConfigurationError(
            f"ConfigMap entry {name!r} must be a mapping with one of {_SUPPORTED}, "
            f"got {describe(entry)}"
        )
    return entry


def _repository(name: str, raw: object) -> Repository:
    entry = _entry(name, raw)
    kinds = [k for k in entry if k != "archiveLogs"]
    foreign = [k for k in kinds if k in _FOREIGN]
    if foreign:
        raise ConfigurationError(
            f"ConfigMap entry {name!r} is an Argo {foreign[0]!r} repository: this library "
            f"has drivers for {_SUPPORTED} only"
        )
    unknown = [k for k in kinds if k not in _SETTINGS]
    if unknown:
        raise ConfigurationError(
            f"ConfigMap entry {name!r} has unknown field {unknown[0]!r}: expected one of "
            f"{_SUPPORTED} (and archiveLogs)"
        )
    if len(kinds) != 1:
        raise ConfigurationError(
            f"ConfigMap entry {name!r} must have exactly one of {_SUPPORTED}"
            + (f", got {', '.join(map(str, kinds))}" if kinds else "")
        )
    kind = kinds[0]
    spec = entry[kind] if entry[kind] is not None else {}
    if not isinstance(spec, Mapping):
        raise ConfigurationError(
            f"ConfigMap entry {name!r}: {kind} must be a mapping, got {describe(spec)}"
        )
    settings: dict[str, Any] = {}
    for theirs, (ours, kind_of) in _SETTINGS[kind].items():
        if theirs in spec:
            settings[ours] = _typed(spec[theirs], kind_of, f"{name!r}: {kind}.{theirs}")
    if kind == "s3" and "endpoint" in settings and "://" not in settings["endpoint"]:
        scheme = "http" if settings.get("insecure") else "https"
        settings["endpoint"] = f"{scheme}://{settings['endpoint']}"
    if kind == "s3":
        settings.setdefault("path_style", True)
    refs = _secret_refs(name, kind, spec)
    use_sdk = _typed(spec.get("useSDKCreds", False), bool, f"{name!r}: {kind}.useSDKCreds")
    # Azure's entry names its key format `blobNameFormat`; the others, `keyFormat`.
    format_field = "blobNameFormat" if kind == "azure" else "keyFormat"
    key_format = spec.get(format_field) or DEFAULT_KEY_FORMAT
    return Repository(
        name=name,
        driver=kind,
        settings=settings,
        key_format=_typed(key_format, str, f"{name!r}: {kind}.{format_field}"),
        credentials=Credentials(refs=refs, use_sdk_default=use_sdk or not refs),
    )


def _typed(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        raise ConfigurationError(
            f"ConfigMap entry {where} must be a {kind.__name__}, got {describe(value)}"
        )
    return value


def _secret_refs(name: str, kind: str, spec: Mapping[str, Any]) -> dict[str, SecretRef]:
    """Each `*Secret` field as a reference to a mounted Kubernetes secret.

    Invariant: a literal value is refused, never ignored (ignoring it would fall back to
    the SDK's default credentials without a word) and never echoed in the message.
    """
    refs: dict[str, SecretRef] = {}
    for field, selector in spec.items():
        if not isinstance(field, str) or not field.endswith("Secret"):
            continue
        where = f"ConfigMap entry {name!r}: {kind}.{field}"
        role = _SECRETS[kind].get(field)
        if role is None:
            raise ConfigurationError(f"{where} is not supported by this library")
        if not (isinstance(selector, Mapping)
                and isinstance(selector.get("name"), str) and selector["name"]
                and isinstance(selector.get("key"), str) and selector["key"]):
            got = ("a mapping without a non-empty string name and key"
                   if isinstance(selector, Mapping) else describe(selector))
            raise ConfigurationError(
                f"{where} must be a Kubernetes secret selector {{name: ..., key: ...}}, "
                f"got {got}: a literal secret is never accepted"
            )
        refs[role] = SecretRef("kubernetes", selector["name"], selector["key"])
    return refs

"""Reading the data of Argo Workflows' `artifact-repositories` ConfigMap.

Each data entry is a YAML string (or mapping) with one of `s3`, `gcs`, `azure`; the
default comes from the annotation `workflows.argoproj.io/default-artifact-repository`.
Kubernetes secret selectors (`accessKeySecret: {name, key}`) become references to files
under `$ARTIFACTS_ASYNC_SECRETS_DIR/<name>/<key>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from ._config import DEFAULT_KEY_FORMAT, Repository, RepositoryConfig
from ._credentials import Credentials, SecretRef
from ._exceptions import ConfigurationError

DEFAULT_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"

# Argo's secret fields, per backend, and the credential role each one fills.
_SECRETS = {
    "s3": {"accessKeySecret": "access_key", "secretKeySecret": "secret_key",
           "sessionTokenSecret": "session_token"},
    "gcs": {"serviceAccountKeySecret": "service_account_key"},
    "azure": {"accountKeySecret": "account_key"},
}
_SETTINGS = {
    "s3": {"bucket": "bucket", "endpoint": "endpoint", "region": "region",
           "insecure": "insecure", "roleARN": "role_arn"},
    "gcs": {"bucket": "bucket"},
    "azure": {"container": "container", "endpoint": "endpoint"},
}


def config_from_argo(data: Mapping[str, Any]) -> RepositoryConfig:
    """Build a config from a whole ConfigMap (`kind: ConfigMap`) or from its `data`."""
    default: str | None = None
    if data.get("kind") == "ConfigMap" or "data" in data:
        annotations = (data.get("metadata") or {}).get("annotations") or {}
        default = annotations.get(DEFAULT_ANNOTATION)
        data = data.get("data") or {}
    repositories = {name: _repository(name, entry) for name, entry in data.items()}
    if default is None and "default" in repositories:
        default = "default"
    return RepositoryConfig(repositories=repositories, default=default)


def _repository(name: str, entry: Any) -> Repository:
    if isinstance(entry, str):
        try:
            entry = yaml.safe_load(entry)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"ConfigMap entry {name!r} is not valid YAML: {exc}") from None
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"ConfigMap entry {name!r} must be a mapping")
    kinds = [k for k in _SETTINGS if k in entry]
    if len(kinds) != 1:
        raise ConfigurationError(
            f"ConfigMap entry {name!r} must have exactly one of s3, gcs, azure "
            "(or use this library's own format with a 'repositories' table)"
        )
    kind = kinds[0]
    spec = entry[kind] or {}
    settings = {ours: spec[theirs] for theirs, ours in _SETTINGS[kind].items() if theirs in spec}
    if kind == "s3" and "endpoint" in settings and "://" not in str(settings["endpoint"]):
        scheme = "http" if spec.get("insecure") else "https"
        settings["endpoint"] = f"{scheme}://{settings['endpoint']}"
    if kind == "s3":
        settings.setdefault("path_style", True)
    refs = {}
    for field, role in _SECRETS[kind].items():
        selector = spec.get(field)
        if isinstance(selector, Mapping) and selector.get("name") and selector.get("key"):
            refs[role] = SecretRef("kubernetes", str(selector["name"]), str(selector["key"]))
    use_sdk = bool(spec.get("useSDKCreds")) or not refs
    return Repository(
        name=name,
        driver=kind,
        settings=settings,
        # Azure's entry names its key format `blobNameFormat`; the others, `keyFormat`.
        key_format=str(spec.get("keyFormat") or spec.get("blobNameFormat") or DEFAULT_KEY_FORMAT),
        credentials=Credentials(refs=refs, use_sdk_default=use_sdk),
    )

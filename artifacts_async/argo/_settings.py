"""The plugin's configuration: `artifact.plugin.configuration` as one repository.

Argo hands every request the configuration string the user wrote in the
`artifactDrivers` ConfigMap or the workflow. It is JSON or YAML (YAML reads both) of one
repository of this library's config, plus an optional `transfer` table:

    {"driver": "s3", "bucket": "artifacts", "endpoint": "https://minio:9000",
     "credentials": {"access_key_env": "AWS_ACCESS_KEY_ID", "secret_key_env": "..."},
     "transfer": {"part_size": 16777216, "retry_attempts": 8}}

Argo's own repository shape (`{"s3": {"bucket": ..., "accessKeySecret": {...}}}`) is
accepted too. Each distinct configuration gets one `Artifacts` (and so one driver) for the
life of the server; every one of them shares the server's transfer budget and journal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import yaml

from .._artifacts import Artifacts
from .._budget import TransferBudget
from .._config import RepositoryConfig
from .._exceptions import ConfigurationError
from .._options import TransferOptions

__all__ = ["REPOSITORY", "Repositories"]

# The name of the one repository a configuration describes.
REPOSITORY = "default"

# Set by the server for all configurations together, not by one configuration.
_SERVER_WIDE = frozenset({"max_buffer_bytes", "max_parts_in_flight", "state_dir", "resume"})
_ARGO_KINDS = ("s3", "gcs", "azure")


def _parse(text: str) -> tuple[str, Mapping[str, Any]]:
    """The configuration as a mapping, and a canonical form of it for the cache."""
    try:
        data = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"the plugin configuration is not valid JSON or YAML: {exc}") \
            from None
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            "the plugin configuration (artifact.plugin.configuration) must be a JSON or YAML "
            'mapping of one repository, e.g. {"driver": "s3", "bucket": "artifacts"}; got '
            f"{type(data).__name__ if data is not None else 'nothing'}"
        )
    return json.dumps(data, sort_keys=True, default=str), data


def _options(base: TransferOptions, transfer: Any) -> TransferOptions:
    if transfer is None:
        return base
    if not isinstance(transfer, Mapping):
        raise ConfigurationError("'transfer' in the plugin configuration must be a mapping")
    known = {a.name for a in attrs.fields(TransferOptions)} - _SERVER_WIDE
    for name in transfer:
        if name in _SERVER_WIDE:
            raise ConfigurationError(
                f"transfer.{name} is set for the whole plugin server, not per configuration: "
                f"use the server's --{name.replace('_', '-')} option"
            )
        if name not in known:
            raise ConfigurationError(
                f"unknown transfer option {name!r}: use one of {', '.join(sorted(known))}"
            )
    try:
        return attrs.evolve(base, **dict(transfer))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid transfer options: {exc}") from None


def build(text: str, base: TransferOptions) -> tuple[RepositoryConfig, TransferOptions]:
    """The repository config and transfer options of one configuration string."""
    _, data = _parse(text)
    repository = {k: v for k, v in data.items() if k != "transfer"}
    if "driver" not in repository and any(k in repository for k in _ARGO_KINDS):
        # Argo's repository shape: read as the one entry of a ConfigMap's data.
        config = RepositoryConfig.from_argo({REPOSITORY: repository})
    else:
        config = RepositoryConfig.from_dict(
            {"default": REPOSITORY, "repositories": {REPOSITORY: repository}}
        )
    config.get(REPOSITORY)  # an entry that cannot be used is refused now, not cached
    return config, _options(base, data.get("transfer"))


class Repositories:
    """One `Artifacts` per distinct configuration, all under one budget, kept until closed."""

    def __init__(self, options: TransferOptions) -> None:
        self.options = options
        self.budget = TransferBudget.from_options(options)
        self._cache: dict[str, Artifacts] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, text: str) -> Artifacts:
        """The `Artifacts` of configuration `text` (built on first use).

        Raises `ConfigurationError` for a malformed configuration; nothing is cached then.
        """
        canonical, _ = _parse(text)
        artifacts = self._cache.get(canonical)
        if artifacts is None:
            config, options = build(text, self.options)
            artifacts = Artifacts(config, options=options, budget=self.budget)
            self._cache[canonical] = artifacts
        return artifacts

    async def aclose(self) -> None:
        """Close every driver and journal."""
        for artifacts in self._cache.values():
            await artifacts.aclose()
        self._cache.clear()

"""The GCS driver's settings: parsed once, validated, never holding a secret."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, final
from urllib.parse import urlsplit

import attrs

from artifacts_async import ConfigurationError, Credentials

__all__ = ["EMULATOR_ENV", "GCSSettings"]

#: The variable Google's own clients read to talk to an emulator (no authentication).
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
_PUBLIC_ENDPOINT = "https://storage.googleapis.com"
# The one credential role this driver understands: a service account (or other
# google-auth) JSON key, or the path of one.
_ROLE = "service_account_key"
_CLASSES = frozenset({"STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE", "MULTI_REGIONAL",
                      "REGIONAL", "DURABLE_REDUCED_AVAILABILITY"})


def _prefix(value: str) -> str:
    stripped = value.strip("/")
    return f"{stripped}/" if stripped else ""


@final
@attrs.frozen(kw_only=True)
class GCSSettings:
    """Everything the GCS driver is configured with (see `parse` for the setting names).

    `credentials` holds references to secrets, never their values, and is left out of
    the repr anyway.
    """

    bucket: str
    prefix: str = attrs.field(default="", converter=_prefix)
    endpoint: str | None = None
    anonymous: bool = False
    project: str | None = None
    create_bucket: bool = False
    storage_class: str | None = None
    kms_key_name: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_connections: int = 32
    credentials: Credentials = attrs.field(factory=Credentials, repr=False)

    @property
    def api_root(self) -> str:
        """The JSON API's root: `endpoint`, else `$STORAGE_EMULATOR_HOST`, else Google's."""
        if self.endpoint is not None:
            return self.endpoint.rstrip("/")
        emulator = os.environ.get(EMULATOR_ENV)
        if emulator:
            return (emulator if "://" in emulator else f"http://{emulator}").rstrip("/")
        return _PUBLIC_ENDPOINT

    @property
    def unauthenticated(self) -> bool:
        """True when requests carry no token: `anonymous`, or an emulator from the env."""
        return self.anonymous or (self.endpoint is None and bool(os.environ.get(EMULATOR_ENV)))

    @classmethod
    def parse(cls, settings: Mapping[str, Any]) -> GCSSettings:
        """Read a repository's settings.

        - `bucket` (required): the bucket name.
        - `prefix`: a folder every key is stored under (`team-a` → `team-a/<key>`).
        - `endpoint`: the URL of the JSON API for emulators and private endpoints
          (`http://127.0.0.1:4443`); default `$STORAGE_EMULATOR_HOST` if set (then
          unauthenticated, like Google's clients), else `https://storage.googleapis.com`.
        - `anonymous`: send no access token (emulators, public buckets).
        - `project`: the project a bucket is created in (`create_bucket`).
        - `create_bucket`: create the bucket on first use if it does not exist.
        - `storage_class`: `STANDARD`, `NEARLINE`, `COLDLINE`, `ARCHIVE` (GCS composes
          only objects of one class, so parts are stored in it too).
        - `kms_key_name`: a Cloud KMS key (`projects/p/locations/l/keyRings/r/cryptoKeys/k`)
          that encrypts every object written.
        - `connect_timeout`, `read_timeout`: seconds to connect, and the longest silence
          on a connection while a request is under way (`TransferOptions.request_timeout`
          and `min_throughput` bound each whole attempt).
        - `max_connections`: connections kept open to the API.
        - `credentials`: references only: `service_account_key_file` (a JSON key file),
          `service_account_key_env` (a variable holding the key's path or the key itself),
          or nothing / `use_sdk_creds = true` for Application Default Credentials
          (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's login, the metadata server: workload
          identity on GKE).

        Raises `ConfigurationError` naming the setting that is missing or invalid.
        """
        known = {f.name for f in attrs.fields(cls)}
        unknown = set(settings) - known
        if unknown:
            raise ConfigurationError(
                f"gcs driver: unknown setting(s) {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(known))})"
            )
        bucket = settings.get("bucket")
        if not isinstance(bucket, str) or not bucket.strip():
            raise ConfigurationError("gcs driver: set 'bucket' to the bucket's name")
        if "/" in bucket or bucket != bucket.strip() or bucket.startswith("gs:"):
            raise ConfigurationError(
                f"gcs driver: 'bucket' must be a bare bucket name, got {bucket!r} "
                "(put a key prefix in 'prefix')"
            )
        endpoint = _opt_str(settings, "endpoint")
        if endpoint is not None:
            _check_endpoint(endpoint)
        storage_class = _opt_str(settings, "storage_class")
        if storage_class is not None:
            storage_class = storage_class.upper()
            if storage_class not in _CLASSES:
                raise ConfigurationError(
                    f"gcs driver: 'storage_class' must be one of {', '.join(sorted(_CLASSES))}, "
                    f"got {settings['storage_class']!r}"
                )
        kms = _opt_str(settings, "kms_key_name")
        if kms is not None and not kms.startswith("projects/"):
            raise ConfigurationError(
                "gcs driver: 'kms_key_name' must be a full key name, "
                f"projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>, got {kms!r}"
            )
        create = _bool(settings, "create_bucket", default=False)
        return cls(
            bucket=bucket,
            prefix=_opt_str(settings, "prefix") or "",
            endpoint=endpoint,
            anonymous=_bool(settings, "anonymous", default=False),
            project=_opt_str(settings, "project"),
            create_bucket=create,
            storage_class=storage_class,
            kms_key_name=kms,
            connect_timeout=_seconds(settings, "connect_timeout", 10.0),
            read_timeout=_seconds(settings, "read_timeout", 60.0),
            max_connections=_count(settings, "max_connections", 32),
            credentials=_credentials(settings.get("credentials")),
        )


def _opt_str(settings: Mapping[str, Any], name: str) -> str | None:
    value = settings.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(
            f"gcs driver: {name!r} must be a string, got {type(value).__name__}"
        )
    return value


def _bool(settings: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = settings.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigurationError(f"gcs driver: {name!r} must be true or false, got {value!r}")
    return value


def _seconds(settings: Mapping[str, Any], name: str, default: float) -> float:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"gcs driver: {name!r} must be a positive number of seconds, got {value!r}"
        )
    return float(value)


def _count(settings: Mapping[str, Any], name: str, default: int) -> int:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"gcs driver: {name!r} must be a positive integer, got {value!r}"
        )
    return value


def _check_endpoint(endpoint: str) -> None:
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/"):
        raise ConfigurationError(
            "gcs driver: 'endpoint' must be an http(s) URL without a path, like "
            f"http://127.0.0.1:4443, got {endpoint!r}"
        )
    try:
        url.port  # noqa: B018 - parsing the port validates it
    except ValueError:
        raise ConfigurationError(f"gcs driver: 'endpoint' has an invalid port: {endpoint!r}") \
            from None


def _credentials(value: object) -> Credentials:
    if value is None:
        credentials = Credentials(use_sdk_default=True)
    elif isinstance(value, Credentials):
        credentials = value
    elif isinstance(value, Mapping):
        credentials = Credentials.parse(value)
    else:
        raise ConfigurationError(
            "gcs driver: 'credentials' must be a Credentials or a mapping, "
            f"got {type(value).__name__}"
        )
    unknown = set(credentials.refs) - {_ROLE}
    if unknown:
        raise ConfigurationError(
            f"gcs driver: credentials {', '.join(sorted(unknown))} are not used by GCS "
            f"(use {_ROLE}_file or {_ROLE}_env, or Application Default Credentials)"
        )
    if credentials.profile is not None:
        raise ConfigurationError(
            "gcs driver: credentials 'profile' is not used by GCS (use "
            f"{_ROLE}_file or {_ROLE}_env, or Application Default Credentials)"
        )
    return credentials

"""The Azure driver's settings: parsed once, validated, never holding a secret."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Literal, cast, final
from urllib.parse import urlsplit

import attrs

from artifacts_async import ConfigurationError, Credentials

__all__ = ["AzureSettings"]

# Roles of `Credentials.refs` this driver understands; at most one is used.
_ROLES = ("account_key", "connection_string", "sas_token")
_TIERS = {"hot": "Hot", "cool": "Cool", "cold": "Cold", "archive": "Archive"}
# Azure's container names: 3-63 of a-z, 0-9 and single hyphens, starting and ending with a
# letter or digit; `$root` and `$web` are the special ones.
_CONTAINER = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]|\$root|\$web")
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}|devstoreaccount1")
_ALIASES = {"account_url": "endpoint"}

Tier = Literal["Hot", "Cool", "Cold", "Archive"]


def _prefix(value: str) -> str:
    stripped = value.strip("/")
    return f"{stripped}/" if stripped else ""


@final
@attrs.frozen(kw_only=True)
class AzureSettings:
    """Everything the Azure driver is configured with (see `parse` for the setting names).

    `credentials` holds references to secrets, never their values, and is left out of
    the repr anyway.
    """

    container: str
    endpoint: str | None = None
    account_name: str | None = None
    prefix: str = attrs.field(default="", converter=_prefix)
    create_container: bool = False
    access_tier: Tier | None = None
    content_md5: bool = True
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_connections: int = 32
    sdk_logging: bool = False
    credentials: Credentials = attrs.field(factory=Credentials, repr=False)

    @property
    def credential_kind(self) -> str:
        """`account_key`, `connection_string`, `sas_token`, or `sdk` (DefaultAzureCredential).

        An explicit `use_sdk_creds` wins over references, as in Argo (`useSDKCreds`).
        """
        if self.credentials.use_sdk_default:
            return "sdk"
        for role in _ROLES:
            if role in self.credentials.refs:
                return role
        return "sdk"

    @classmethod
    def parse(cls, settings: Mapping[str, Any]) -> AzureSettings:
        """Read a repository's settings.

        - `container` (required): the blob container.
        - `endpoint` (or `account_url`): the account's blob endpoint,
          `https://<account>.blob.core.windows.net`, or an emulator's
          `http://127.0.0.1:10000/devstoreaccount1` (account name as the path). Not needed
          with a connection string, which names its own endpoint.
        - `account_name`: the storage account, when the endpoint does not show it (a custom
          domain); needed with an account key only.
        - `prefix`: a folder every key is stored under (`team-a` → `team-a/<key>`).
        - `create_container`: create the container on first use if it does not exist.
        - `access_tier`: `Hot`, `Cool`, `Cold` or `Archive` for new blobs (the account's
          default tier when unset). Archived blobs cannot be read until rehydrated.
        - `content_md5`: send each block's MD5, which the service verifies (default true);
          false saves the MD5 pass and leaves the bytes to TLS.
        - `connect_timeout`, `read_timeout` (seconds), `max_connections` (per driver).
        - `sdk_logging`: let the SDK log every request and response (headers, URLs) at
          DEBUG; credentials are scrubbed from those lines.
        - `credentials`: a `Credentials` (or its mapping form) with one of the roles
          `account_key`, `connection_string`, `sas_token`, each an environment variable
          (`account_key_env`) or a file (`account_key_file`); or `use_sdk_creds = true`
          (the default without references) for `DefaultAzureCredential`: workload identity,
          managed identity, environment, Azure CLI.

        Raises `ConfigurationError` naming the setting that is missing or invalid.
        """
        settings = {_ALIASES.get(k, k): v for k, v in settings.items()}
        unknown = set(settings) - {f.name for f in attrs.fields(cls)}
        if unknown:
            known = ", ".join(sorted([*(f.name for f in attrs.fields(cls)), *_ALIASES]))
            raise ConfigurationError(
                f"azure driver: unknown setting(s) {', '.join(sorted(unknown))} (known: {known})"
            )
        container = settings.get("container")
        if not isinstance(container, str) or not container.strip():
            raise ConfigurationError("azure driver: set 'container' to the blob container's name")
        if not _CONTAINER.fullmatch(container):
            raise ConfigurationError(
                f"azure driver: 'container' must be a container name (3-63 lowercase letters, "
                f"digits and single hyphens), got {container!r}; put a key prefix in 'prefix'"
            )
        credentials = _credentials(settings.get("credentials"))
        endpoint = _opt_str(settings, "endpoint")
        account = _opt_str(settings, "account_name")
        if endpoint is not None:
            endpoint, derived = _check_endpoint(endpoint)
            account = account or derived
        if account is not None and not _ACCOUNT.fullmatch(account):
            raise ConfigurationError(
                f"azure driver: 'account_name' must be a storage account name (3-24 lowercase "
                f"letters and digits), got {account!r}"
            )
        parsed = cls(
            container=container,
            endpoint=endpoint,
            account_name=account,
            prefix=_opt_str(settings, "prefix") or "",
            create_container=_bool(settings, "create_container", default=False),
            access_tier=_tier(settings.get("access_tier")),
            content_md5=_bool(settings, "content_md5", default=True),
            connect_timeout=_seconds(settings, "connect_timeout", 10.0),
            read_timeout=_seconds(settings, "read_timeout", 60.0),
            max_connections=_count(settings, "max_connections", 32),
            sdk_logging=_bool(settings, "sdk_logging", default=False),
            credentials=credentials,
        )
        _check_credentials(parsed)
        return parsed


def _check_credentials(settings: AzureSettings) -> None:
    kind = settings.credential_kind
    if kind == "connection_string":
        if settings.endpoint is not None:
            raise ConfigurationError(
                "azure driver: a connection string names its own endpoint: remove 'endpoint' "
                "or use an account_key or sas_token reference instead"
            )
        return
    if settings.endpoint is None:
        raise ConfigurationError(
            "azure driver: set 'endpoint' to the account's blob endpoint, like "
            "https://<account>.blob.core.windows.net (or use a connection string)"
        )
    if kind == "account_key" and settings.account_name is None:
        raise ConfigurationError(
            f"azure driver: an account key needs the account's name, which endpoint "
            f"{settings.endpoint!r} does not show: set 'account_name'"
        )
    if kind == "sdk" and not settings.endpoint.startswith("https://"):
        raise ConfigurationError(
            "azure driver: SDK credentials (tokens) are sent over https only: use an https "
            "endpoint, or an account_key, sas_token or connection_string reference"
        )


def _opt_str(settings: Mapping[str, Any], name: str) -> str | None:
    value = settings.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(
            f"azure driver: {name!r} must be a string, got {type(value).__name__}"
        )
    return value


def _bool(settings: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = settings.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigurationError(f"azure driver: {name!r} must be true or false, got {value!r}")
    return value


def _seconds(settings: Mapping[str, Any], name: str, default: float) -> float:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"azure driver: {name!r} must be a positive number of seconds, got {value!r}"
        )
    return float(value)


def _count(settings: Mapping[str, Any], name: str, default: int) -> int:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"azure driver: {name!r} must be a positive integer, got {value!r}"
        )
    return value


def _tier(value: object) -> Tier | None:
    if value is None or value == "":
        return None
    tier = _TIERS.get(str(value).lower()) if isinstance(value, str) else None
    if tier is None:
        raise ConfigurationError(
            f"azure driver: 'access_tier' must be one of Hot, Cool, Cold, Archive, got {value!r}"
        )
    return cast("Tier", tier)


def _check_endpoint(endpoint: str) -> tuple[str, str | None]:
    """The endpoint without a trailing slash, and the account name it shows (if any)."""
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigurationError(
            f"azure driver: 'endpoint' must be an http(s) URL like "
            f"https://<account>.blob.core.windows.net, got {endpoint!r}"
        )
    try:
        url.port  # noqa: B018 - parsing the port validates it
    except ValueError:
        raise ConfigurationError(
            f"azure driver: 'endpoint' has an invalid port: {endpoint!r}"
        ) from None
    if url.query or url.fragment:
        raise ConfigurationError(
            "azure driver: 'endpoint' must not carry a query (a SAS token goes in the "
            "credentials, as a sas_token reference)"
        )
    path = url.path.strip("/")
    if "/" in path:
        raise ConfigurationError(
            f"azure driver: 'endpoint' may have at most the account name as its path "
            f"(emulator form http://127.0.0.1:10000/devstoreaccount1), got {endpoint!r}"
        )
    if path:
        return endpoint.rstrip("/"), path
    # Azure's endpoints, in every cloud, read <account>.blob.<suffix>; a custom domain or
    # an address does not show the account.
    labels = url.hostname.split(".")
    if len(labels) > 2 and labels[1] == "blob" and not _is_ip(url.hostname):
        return endpoint.rstrip("/"), labels[0]
    return endpoint.rstrip("/"), None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _credentials(value: object) -> Credentials:
    if value is None:
        credentials = Credentials(use_sdk_default=True)
    elif isinstance(value, Credentials):
        credentials = value
    elif isinstance(value, Mapping):
        credentials = Credentials.parse(value)
    else:
        raise ConfigurationError(
            f"azure driver: 'credentials' must be a Credentials or a mapping, "
            f"got {type(value).__name__}"
        )
    unknown = set(credentials.refs) - set(_ROLES)
    if unknown:
        raise ConfigurationError(
            f"azure driver: credentials {', '.join(sorted(unknown))} are not used by Azure "
            f"(use one of {', '.join(_ROLES)})"
        )
    if len(credentials.refs) > 1:
        raise ConfigurationError(
            f"azure driver: set one of the credentials {', '.join(_ROLES)}, not "
            f"{' and '.join(sorted(credentials.refs))}"
        )
    if credentials.profile is not None:
        raise ConfigurationError(
            "azure driver: credential profiles are an AWS notion: use an account_key, "
            "sas_token or connection_string reference, or use_sdk_creds"
        )
    return credentials

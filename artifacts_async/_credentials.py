"""Credential references: where a secret can be found, never the secret itself."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, final

import attrs

from ._exceptions import ConfigurationError
from ._validate import describe

__all__ = ["Credentials", "SecretRef"]

#: Where Kubernetes secrets named by an Argo ConfigMap are looked up: `<dir>/<name>/<key>`.
SECRETS_DIR_ENV = "ARTIFACTS_ASYNC_SECRETS_DIR"
_DEFAULT_SECRETS_DIR = "/var/run/secrets/artifacts-async"


@final
@attrs.frozen
class SecretRef:
    """A reference to a secret: an environment variable, a file, or a Kubernetes secret key.

    The repr names the reference, never the value; `resolve()` reads the value when a
    driver needs it.
    """

    kind: Literal["env", "file", "kubernetes"]
    name: str
    key: str = ""

    def __repr__(self) -> str:
        where = f"{self.name}/{self.key}" if self.kind == "kubernetes" else self.name
        return f"SecretRef({self.kind}:{where})"

    def resolve(self) -> str:
        """Read the secret. Raises `ConfigurationError` naming the reference if it is absent."""
        if self.kind == "env":
            value = os.environ.get(self.name)
            if value is None:
                raise ConfigurationError(
                    f"credential environment variable {self.name} is not set: export it or "
                    "change the repository's credentials"
                )
            return value
        path = Path(self.name)
        if self.kind == "kubernetes":
            base = Path(os.environ.get(SECRETS_DIR_ENV, _DEFAULT_SECRETS_DIR))
            path = base / self.name / self.key
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read credential file {path} ({exc.strerror}): mount the secret there"
                + (f" or set {SECRETS_DIR_ENV}" if self.kind == "kubernetes" else "")
            ) from None


@final
@attrs.frozen(kw_only=True)
class Credentials:
    """How a driver authenticates: named secret references, a profile, or the SDK's chain.

    `refs` maps a driver-defined role (`access_key`, `secret_key`, `session_token`,
    `account_key`, `service_account_key`, ...) to where that secret is found.
    """

    refs: Mapping[str, SecretRef] = attrs.field(factory=dict)
    profile: str | None = None
    use_sdk_default: bool = False

    def get(self, role: str) -> str | None:
        """The resolved secret for `role`, or None when no reference was configured."""
        ref = self.refs.get(role)
        return None if ref is None else ref.resolve()

    @classmethod
    def parse(cls, data: object, *, where: str = "credentials") -> Credentials:
        """Parse `{access_key_env = "X", secret_key_file = "/p", profile = "p"}`.

        A literal secret (`access_key = "..."`) is refused: configs get copied and logged.
        Raises `ConfigurationError` naming the field (`where.<field>`), never its value.
        """
        if data is None or (isinstance(data, Mapping) and not data):
            return cls(use_sdk_default=True)
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"{where} must be a table such as {{access_key_env = \"VAR\"}}, "
                f"got {describe(data)}"
            )
        refs: dict[str, SecretRef] = {}
        profile: str | None = None
        use_sdk = False
        for field, value in data.items():
            if not isinstance(field, str):
                raise ConfigurationError(f"{where}: every key must be a string, got {field!r}")
            name = f"{where}.{field}"
            if field in ("use_sdk_creds", "use_sdk_default", "useSDKCreds"):
                use_sdk = _flag(value, name)
            elif field == "profile":
                profile = _text(value, name)
            elif field.endswith("_env"):
                refs[field.removesuffix("_env")] = SecretRef("env", _text(value, name))
            elif field.endswith("_file"):
                refs[field.removesuffix("_file")] = SecretRef("file", _text(value, name))
            elif isinstance(value, SecretRef):
                refs[field] = value
            else:
                raise ConfigurationError(
                    f"credential {name!r} must be a reference: use '{field}_env' (an environment "
                    f"variable name) or '{field}_file' (a file path), never the secret itself"
                )
        return cls(refs=refs, profile=profile, use_sdk_default=use_sdk or not (refs or profile))


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty string, got {describe(value)}")
    return value


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be true or false, got {describe(value)}")
    return value

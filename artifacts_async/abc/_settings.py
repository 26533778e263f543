"""Reading a driver's settings: typed values, one message shape, credentials' common part.

Public through `artifacts_async.abc`. Every message starts with `"<driver> driver: "` and
names the setting, so a repository's author sees which line of their config to fix.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, final

import attrs

from .._credentials import Credentials
from .._exceptions import ConfigurationError
from ._helpers import is_int_at_least

__all__ = ["SettingsReader"]


@final
@attrs.frozen
class SettingsReader:
    """Typed reads of a repository's `settings` for the driver named `driver`.

    `SettingsReader(settings, driver="s3").seconds("read_timeout", 60.0)` returns the
    value or raises `ConfigurationError("s3 driver: 'read_timeout' must be ...")`.
    """

    settings: Mapping[str, Any]
    driver: str = attrs.field(kw_only=True)

    def error(self, message: str) -> ConfigurationError:
        """A `ConfigurationError` whose message starts with `"<driver> driver: "`."""
        return ConfigurationError(f"{self.driver} driver: {message}")

    def check_known(self, names: Collection[str], *, aliases: Collection[str] = ()) -> None:
        """Raise naming every setting not in `names`, and listing `names` and `aliases`."""
        unknown = set(self.settings) - set(names)
        if unknown:
            known = ", ".join(sorted([*names, *aliases]))
            raise self.error(f"unknown setting(s) {', '.join(sorted(unknown))} (known: {known})")

    def string(self, name: str) -> str | None:
        """A string setting; None when unset or empty."""
        value = self.settings.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.error(f"{name!r} must be a string, got {type(value).__name__}")
        return value

    def flag(self, name: str, *, default: bool) -> bool:
        """A `true`/`false` setting; `default` when unset (or None)."""
        value = self.settings.get(name, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(f"{name!r} must be true or false, got {value!r}")
        return value

    def seconds(self, name: str, default: float) -> float:
        """A positive number of seconds (an int or a float; never a bool)."""
        value = self.settings.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise self.error(f"{name!r} must be a positive number of seconds, got {value!r}")
        return float(value)

    def count(self, name: str, default: int) -> int:
        """A positive integer (connections, workers)."""
        value = self.settings.get(name, default)
        if not is_int_at_least(value, 1):
            raise self.error(f"{name!r} must be a positive integer, got {value!r}")
        return int(value)

    def credentials(self, name: str = "credentials") -> Credentials:
        """The `Credentials` in setting `name`: a `Credentials`, its mapping form, or
        unset (then the SDK's default chain, `use_sdk_default=True`).

        Which roles and profiles the driver accepts is the driver's to check after.
        """
        value = self.settings.get(name)
        if value is None:
            return Credentials(use_sdk_default=True)
        if isinstance(value, Credentials):
            return value
        if isinstance(value, Mapping):
            return Credentials.parse(value)
        raise self.error(
            f"{name!r} must be a Credentials or a mapping, got {type(value).__name__}"
        )

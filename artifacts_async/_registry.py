"""Driver discovery through the entry-point group `artifacts_async.drivers`.

Entry points are read without importing them; a driver's module is imported on first
use, so a broken or heavy driver costs nothing until a repository names it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ._exceptions import ConfigurationError, DriverNotInstalledError
from .abc import Driver

__all__ = ["available_drivers", "create_driver", "load_driver"]

GROUP = "artifacts_async.drivers"

# Our own drivers: each is an extra of the core (`artifacts-async[s3]`), named after it.
FIRST_PARTY = frozenset({"s3", "gcs", "azure"})


@functools.cache
def _entry_points() -> Mapping[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available_drivers() -> list[str]:
    """Names of the installed drivers, without importing any of them (no `Artifacts` needed)."""
    return sorted(_entry_points())


@functools.cache
def load_driver(name: str) -> type[Driver]:
    """Import and return the driver class registered as `name`.

    For code that needs the class itself, without an `Artifacts` (a driver's test that
    its entry point resolves, a tool that lists drivers' limits); `Artifacts.driver(name)`
    gives a configured instance. Raises `DriverNotInstalledError` with what to install.
    """
    ep = _entry_points().get(name)
    if ep is None:
        _entry_points.cache_clear()
        ep = _entry_points().get(name)
    if ep is None:
        hint = (
            f"pip install 'artifacts-async[{name}]'"
            if name in FIRST_PARTY
            else f"install a distribution that registers {name!r} in the {GROUP!r} entry points"
        )
        raise DriverNotInstalledError(f"driver {name!r} is not installed: {hint}")
    try:
        driver: type[Driver] = ep.load()
    except ImportError as exc:
        raise DriverNotInstalledError(
            f"driver {name!r} is registered but cannot be imported ({exc}): reinstall it"
        ) from exc
    return driver


def create_driver(name: str, settings: Mapping[str, Any]) -> Driver:
    """Load the driver `name` and build it from a repository's settings.

    The engine of `Artifacts.driver`; not part of the public surface. Raises
    `ConfigurationError` (invalid settings) or `DriverNotInstalledError`.
    """
    cls = load_driver(name)
    try:
        return cls.from_settings(settings)
    except ConfigurationError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"driver {name!r}: invalid settings ({exc})") from None

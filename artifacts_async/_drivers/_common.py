"""Helpers shared by the core's drivers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from .._exceptions import ConfigurationError
from ..abc import DriverLimits

_LIMIT_FIELDS = ("min_part_size", "max_part_size", "max_parts", "max_single_put",
                 "delete_batch_size", "max_object_size")


def int_setting(settings: Mapping[str, Any], name: str, default: int) -> int:
    """An integer setting, or a `ConfigurationError` naming it."""
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"setting {name!r} must be a non-negative integer, got {value!r}")
    return value


def limits_from_settings(base: DriverLimits, settings: Mapping[str, Any]) -> DriverLimits:
    """`base` with any limit overridden by `settings` (used to test small limits)."""
    changes: dict[str, Any] = {
        name: int_setting(settings, name, 0) for name in _LIMIT_FIELDS if name in settings
    }
    return attrs.evolve(base, **changes) if changes else base


def resolve_range(size: int, offset: int, length: int | None) -> tuple[int, int]:
    """`(start, end)` of a read within an object of `size` bytes (end exclusive)."""
    if offset < 0:
        start = max(0, size + offset)
        end = size if length is None else min(size, start + length)
    else:
        start = min(offset, size)
        end = size if length is None else min(size, offset + length)
    return start, max(start, end)


def chunks_of(data: bytes, offset: int, length: int | None, chunk: int) -> Iterator[bytes]:
    """Slices of `data` for a ranged read."""
    start, end = resolve_range(len(data), offset, length)
    view = memoryview(data)
    for pos in range(start, end, chunk):
        yield bytes(view[pos : min(end, pos + chunk)])

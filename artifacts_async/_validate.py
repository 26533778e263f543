"""Field checks shared by specs, records and configuration: each error names its field.

A wrong type given by a caller or read from a file becomes a `ConfigurationError` that
says which field of which object is wrong, never an `AttributeError` or `TypeError` from
deep inside. Messages show a value's type, not the value: the value may be a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._exceptions import ConfigurationError

__all__ = ["describe", "field_of", "mapping_of_str", "non_negative_int", "of_type", "optional"]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def describe(value: object) -> str:
    """A value's type as a message shows it (`str`, `int`, `list`), never the value."""
    return "None" if value is None else type(value).__name__


def field_of(instance: object, attribute: attrs.Attribute[Any]) -> str:
    """`OutputArtifact.mode`: the field's name as a message shows it."""
    return f"{type(instance).__name__}.{attribute.name}"


def of_type(kind: type | tuple[type, ...], what: str) -> Validator:
    """A validator: the value is a `kind` (never a bool where an int is wanted)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        wrong_bool = isinstance(value, bool) and bool not in (
            kind if isinstance(kind, tuple) else (kind,)
        )
        if wrong_bool or not isinstance(value, kind):
            raise ConfigurationError(
                f"{field_of(instance, attribute)} must be {what}, got {describe(value)}"
            )

    return check


def optional(validator: Validator) -> Validator:
    """A validator that lets None through."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            validator(instance, attribute, value)

    return check


def non_negative_int(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A validator: an int (not a bool) >= 0."""
    of_type(int, "an integer >= 0")(instance, attribute, value)
    if isinstance(value, int) and value < 0:
        raise ConfigurationError(f"{field_of(instance, attribute)} must be >= 0, got {value}")


def mapping_of_str(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A validator: a mapping of strings to strings."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{field_of(instance, attribute)} must be a mapping of strings, got {describe(value)}"
        )
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ConfigurationError(
                f"{field_of(instance, attribute)}[{key!r}] must map a string to a string, "
                f"got {describe(key)} -> {describe(item)}"
            )

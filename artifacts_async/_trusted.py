"""Building records from values the engine derived itself, without re-checking each field.

The public constructors of `ArtifactRecord` and `Location` check every field, because a
caller (or a file) may hand them anything. Planning builds them from specs and a
configuration that were checked when they were built, and the engine then only changes
fields to values it computed itself (a status, a size, a checksum it formatted). Checking
those again cost most of `on_report`'s time at 10,000 artifacts (about 15 µs a record).

The builders are generated once per class, like the `__init__` attrs and dataclasses
generate: straight-line code that sets each slot through its descriptor, with the field
defaults as defaults.

Invariant: only values derived from validated objects or computed by the engine are given
here; anything that comes from a caller, a file or a driver goes through the public
constructor, or is checked by the caller of these helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from ._records import ArtifactRecord, Location

__all__ = ["trusted_location", "trusted_record", "with_location_fields", "with_record_fields"]

T = TypeVar("T")


def _builders(cls: type[T]) -> tuple[Callable[..., T], Callable[..., T]]:
    """A keyword-only constructor and an `evolve` for `cls`, neither checking fields."""
    fields = attrs.fields(cls)  # type: ignore[arg-type] # an attrs class, as every caller's
    # Neither class has a factory default or a converter: a default is the value itself.
    assert all(f.converter is None and not isinstance(f.default, attrs.Factory)  # type: ignore[arg-type]
               for f in fields)
    # Each slot's own descriptor sets it, bypassing the frozen class's `__setattr__`.
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_keep": object()}
    params = []
    for f in fields:
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is attrs.NOTHING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    sets = "".join(f"    _set_{f.name}(self, {f.name})\n" for f in fields)
    changes = "".join(
        f"    _set_{f.name}(self, old.{f.name} if {f.name} is _keep else {f.name})\n"
        for f in fields
    )
    keeps = ", ".join(f"{f.name}=_keep" for f in fields)
    source = (
        f"def build(*, {', '.join(params)}):\n    self = _new(_cls)\n{sets}    return self\n"
        f"def evolve(old, *, {keeps}):\n    self = _new(_cls)\n{changes}    return self\n"
    )
    # The source is made of field names only, never of a value.
    exec(compile(source, f"<trusted builders of {cls.__name__}>", "exec"), namespace)
    return namespace["build"], namespace["evolve"]


#: An `ArtifactRecord` of engine-derived values (omitted fields take their default).
trusted_record: Callable[..., ArtifactRecord]
#: `attrs.evolve(record, **changes)` without the field checks, for engine values.
with_record_fields: Callable[..., ArtifactRecord]
trusted_record, with_record_fields = _builders(ArtifactRecord)

#: A `Location` of engine-derived values.
trusted_location: Callable[..., Location]
#: `attrs.evolve(location, **changes)` without the field checks, for engine values.
with_location_fields: Callable[..., Location]
trusted_location, with_location_fields = _builders(Location)

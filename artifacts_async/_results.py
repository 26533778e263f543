"""What a save and a load return."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import final

import attrs

from ._exceptions import ArtifactError
from ._records import ArtifactRecord

__all__ = ["LoadResult", "SaveResult", "describe_error"]


@final
@attrs.frozen(kw_only=True)
class SaveResult:
    """The final records of a save, in the order of the specs, and each failure's error."""

    records: Sequence[ArtifactRecord]
    # In the order of the specs, whatever order the transfers ended in.
    errors: Mapping[str, ArtifactError]
    peak_parts_in_flight: int = 0
    peak_buffered_bytes: int = 0

    @property
    def ok(self) -> bool:
        """True when no artifact failed (skipped optional ones are fine)."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise the error of the first failed artifact, in the order of the specs."""
        for error in self.errors.values():
            raise error


@final
@attrs.frozen(kw_only=True)
class LoadResult:
    """The records read, the names skipped (optional and absent), and errors by name."""

    records: Sequence[ArtifactRecord]
    skipped: Sequence[str]
    errors: Mapping[str, ArtifactError]


def describe_error(exc: BaseException) -> str:
    """An error as a record and an event show it: `TypeName: message`."""
    return f"{type(exc).__name__}: {exc}"



"""One artifact's failure as one typed error of this library.

Every transfer of a save or a load runs in its own task; whatever it raises becomes an
`ArtifactError` for that artifact alone, so the others carry on and callers catch one
hierarchy. Errors are unwrapped at their source where the code knows them (the upload
engine raises its first error as itself); this is the boundary that catches the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

from ._exceptions import ArtifactError, TransferError

__all__ = ["as_artifact_error", "in_spec_order"]

V = TypeVar("V")


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def as_artifact_error(exc: Exception, what: str) -> ArtifactError:
    """`exc` as an `ArtifactError` about `what` (say "artifact 'model'").

    An `ArtifactError` is returned as is; a group holding a single error is unwrapped
    first; anything else becomes a `TransferError` naming `what`, with `__cause__` set to
    the original exception.
    """
    if isinstance(exc, BaseExceptionGroup):
        leaves = list(_leaves(exc))
        if len(leaves) == 1 and isinstance(leaves[0], Exception):
            exc = leaves[0]
    if isinstance(exc, ArtifactError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        detail = "; ".join(f"{type(e).__name__}: {e}" for e in _leaves(exc))
    else:
        detail = f"{type(exc).__name__}: {exc}"
    error = TransferError(f"{what}: {detail}")
    error.__cause__ = exc
    return error


def in_spec_order(errors: Mapping[str, V], names: Sequence[str]) -> dict[str, V]:
    """`errors` re-keyed in the order of `names` (the specs), not of completion."""
    return {name: errors[name] for name in names if name in errors}

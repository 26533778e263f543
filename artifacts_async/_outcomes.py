"""One artifact's failure as one typed error of this library.

Every transfer of a save or a load runs in its own task; whatever it raises becomes an
`ArtifactError` for that artifact alone, so the others carry on and callers catch one
hierarchy. Errors are unwrapped at their source where the code knows them (the upload
engine raises its first error as itself); this is the boundary that catches the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
from anyio.abc import TaskGroup

from ._exceptions import ArtifactError, TransferError

__all__ = ["as_artifact_error", "first_error_tasks", "in_spec_order"]

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


@asynccontextmanager
async def first_error_tasks() -> AsyncIterator[TaskGroup]:
    """A task group that fails with its first error, not an `ExceptionGroup`: one
    transfer of many (the ranges of a file, the files of a directory) fails with one
    error of this library."""
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        first = _first_error(group)
        if first is None:
            raise
    else:
        return
    raise first  # outside the handler: its own cause and traceback stay as they were


def _first_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    """The first error of this library in `group`, else its first error of any kind."""
    leaves = [e for e in _leaves(group) if isinstance(e, Exception)]
    return next((e for e in leaves if isinstance(e, ArtifactError)), None) or \
        next(iter(leaves), None)

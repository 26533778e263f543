"""Raising only `artifacts_async` errors from a block of SDK calls (for driver authors)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .._exceptions import ArtifactError

__all__ = ["translated_errors"]


@contextmanager
def translated_errors(translate: Callable[[Exception], ArtifactError | None]) -> Iterator[None]:
    """Run a block, re-raising what `translate` maps as that `ArtifactError` (chained).

    `ArtifactError`s pass through unchanged; an exception `translate` returns None for
    (not the SDK's) propagates as it is. Each driver keeps its own `translate`: which
    status, code or transport error becomes which class is the SDK's business.
    """
    try:
        yield
    except ArtifactError:
        raise
    except Exception as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from exc

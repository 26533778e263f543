"""Driver requests with per-attempt deadlines and retries, cheap when nothing fails.

Most requests succeed at once: the first attempt runs under its deadline alone, with no
retry machinery (building a stamina retry loop costs about as much as the rest of a small
file's engine work). Only when it fails with a retryable error does a stamina loop start,
replaying that failure as its first attempt, so that backoff, the attempt count, the
total timeout's clock (from the failure on) and stamina's hooks and test mode behave as if
the loop had run from the start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ._options import TransferOptions

__all__ = ["call_with_retries"]

T = TypeVar("T")


async def call_with_retries(
    options: TransferOptions,
    fn: Callable[[], Awaitable[T]],
    *,
    what: str,
    nbytes: int | None = None,
    on: Callable[[Exception], bool],
    on_retry: Callable[[int], None] | None = None,
    then: Callable[[T], Awaitable[None]] | None = None,
) -> T:
    """Call `fn` with retries of the errors `on` accepts; each attempt has a deadline for
    `nbytes` bytes. `on_retry(attempt)` is called before each attempt after the first.

    With `then`, each attempt is shielded from cancellation and `then(result)` runs in the
    same shield: a result the backend created (an upload id) is always handed over, never
    lost to a cancellation between the answer and its bookkeeping.
    """

    async def attempt() -> T:
        if then is None:  # the common case: no shield scope to build
            with options.deadline(nbytes, what):
                return await fn()
            raise AssertionError("unreachable")  # pragma: no cover - a deadline never swallows
        with anyio.CancelScope(shield=True):
            with options.deadline(nbytes, what):
                result = await fn()
            await then(result)
            return result
        raise AssertionError("unreachable")  # pragma: no cover - a deadline never swallows

    try:
        return await attempt()
    except Exception as exc:
        if not on(exc):
            raise
        first = exc
    async for retry in options.retrying(on):
        with retry:
            if retry.num == 1:
                raise first  # the failure above, as the loop's first attempt
            if on_retry is not None:
                on_retry(retry.num)
            return await attempt()
    raise AssertionError("unreachable")  # pragma: no cover

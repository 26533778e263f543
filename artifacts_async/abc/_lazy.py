"""`LazyClient`: a driver's SDK client, created on first use and closed with the driver."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar, final

import anyio

__all__ = ["LazyClient"]

T = TypeVar("T")


@final
class LazyClient(Generic[T]):
    """What `opener` makes, made once, on first use, inside the running event loop.

    `opener(stack)` creates the SDK client (and checks the bucket, say), registering on
    `stack` what closes it; it runs under a lock, so concurrent first calls make one
    client. A failed `opener` closes what it had registered at once (shielded from
    cancellation) and the next `get` tries again. `aclose` closes the client (shielded,
    inside `errors`, so the SDK's errors are translated) and may be called more than
    once; a `get` after it makes a new client.

    ```python
    self._sdk = LazyClient(self._open, errors=self._errors)

    async def _open(self, stack: contextlib.AsyncExitStack) -> StoreClient:
        client = await stack.enter_async_context(StoreClient(self.settings.endpoint))
        await client.check_bucket(self.settings.bucket)
        return client
    ```
    """

    def __init__(
        self,
        opener: Callable[[contextlib.AsyncExitStack], Awaitable[T]],
        *,
        errors: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        self._opener = opener
        self._errors = errors
        self._lock = anyio.Lock()
        self._opened: tuple[T, contextlib.AsyncExitStack] | None = None

    def __repr__(self) -> str:
        return f"<LazyClient {'open' if self._opened is not None else 'not open'}>"

    @property
    def current(self) -> T | None:
        """The client if it is open, else None (nothing is created)."""
        return self._opened[0] if self._opened is not None else None

    async def get(self) -> T:
        """The client, created (inside `errors`) if it is not open."""
        if self._opened is not None:
            return self._opened[0]
        async with self._lock:
            if self._opened is None:
                stack = contextlib.AsyncExitStack()
                try:
                    with self._errors():
                        client = await self._opener(stack)
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await stack.aclose()
                    raise
                self._opened = (client, stack)
            return self._opened[0]

    async def aclose(self) -> None:
        """Close the client, if it is open, and what `opener` registered with it."""
        async with self._lock:
            opened, self._opened = self._opened, None
            if opened is not None:
                with anyio.CancelScope(shield=True), self._errors():
                    await opened[1].aclose()

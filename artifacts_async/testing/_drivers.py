"""A driver factory for tests: build drivers with settings overrides, close them all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from ..abc import Driver

__all__ = ["driver_factory"]

D = TypeVar("D", bound=Driver)


@asynccontextmanager
async def driver_factory(
    from_settings: Callable[[Mapping[str, Any]], D], settings: Mapping[str, Any]
) -> AsyncIterator[Callable[..., D]]:
    """Yield `make(**overrides)`, which builds `from_settings({**settings, **overrides})`;
    every driver it made is closed (`aclose`) on exit, even when the block fails.

    ```python
    @pytest.fixture
    async def make_driver(settings):
        async with driver_factory(MyDriver.from_settings, settings) as make:
            yield make
    ```
    """
    made: list[D] = []

    def make(**overrides: Any) -> D:
        driver = from_settings({**settings, **overrides})
        made.append(driver)
        return driver

    try:
        yield make
    finally:
        for driver in made:
            await driver.aclose()

"""A pytest plugin with the fixtures a driver's test suite needs around the core.

- `anyio_backend`: `"asyncio"`, per test (the library targets asyncio).
- `_fast_retries` (autouse): the engine's retries run for real (attempts are counted,
  three at most) but without waiting between them (`stamina.set_testing`), and normal
  retrying is restored after each test.

It is not loaded on its own (its autouse fixture changes how the engine retries):
name it in the conftest at the root of the test suite,

```python
pytest_plugins = ["artifacts_async.testing.plugin"]
```

or pass `-p artifacts_async.testing.plugin` to pytest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

__all__ = ["anyio_backend"]


@pytest.fixture
def anyio_backend() -> str:
    """The library targets asyncio."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    """The engine's retries run for real (attempts are counted) but without waiting."""
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)

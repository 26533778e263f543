"""Testing aids for driver authors: the driver conformance kit, test servers, faults,
and the load suites (damaged objects, cancellation at random points).

```python
from artifacts_async.testing import DriverConformance

class TestMyDriver(DriverConformance):
    @pytest.fixture
    async def driver(self):          # a fresh, empty driver instance
        ...
```

It needs pytest: `pip install 'artifacts-async[testing]'`.
"""

try:
    import pytest  # noqa: F401 - only to say what to install when it is missing
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "artifacts_async.testing needs pytest: pip install 'artifacts-async[testing]'"
    ) from exc

from ._conformance import DriverConformance
from ._faults import FaultProxy, Faults
from ._faulty import FaultyDriver
from ._loads import check_cancelled_loads, check_damaged_loads, check_faulty_loads
from ._servers import ServerProcess, ServerStartError, free_port

__all__ = [
    "DriverConformance",
    "FaultProxy",
    "Faults",
    "FaultyDriver",
    "ServerProcess",
    "ServerStartError",
    "check_cancelled_loads",
    "check_damaged_loads",
    "check_faulty_loads",
    "free_port",
]

"""Testing aids for driver authors: the driver conformance kit, test servers, faults.

```python
from artifacts_async.testing import DriverConformance

class TestMyDriver(DriverConformance):
    @pytest.fixture
    async def driver(self):          # a fresh, empty driver instance
        ...
```
"""

from ._conformance import DriverConformance
from ._faults import FaultProxy, Faults
from ._faulty import FaultyDriver
from ._servers import ServerProcess, ServerStartError, free_port

__all__ = [
    "DriverConformance",
    "FaultProxy",
    "Faults",
    "FaultyDriver",
    "ServerProcess",
    "ServerStartError",
    "free_port",
]

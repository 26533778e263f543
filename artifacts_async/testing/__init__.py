"""Testing aids for driver authors: the driver conformance kit.

```python
from artifacts_async.testing import DriverConformance

class TestMyDriver(DriverConformance):
    @pytest.fixture
    async def driver(self):          # a fresh, empty driver instance
        ...
```
"""

from ._conformance import DriverConformance
from ._servers import ServerProcess, ServerStartError, free_port

__all__ = ["DriverConformance", "ServerProcess", "ServerStartError", "free_port"]

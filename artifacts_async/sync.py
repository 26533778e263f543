"""The blocking API: `SyncArtifacts`, the `Artifacts` surface for synchronous code.

```python
from artifacts_async.sync import SyncArtifacts

with SyncArtifacts(config) as artifacts:
    result = artifacts.save_outputs(outputs, context=context)
```
"""

from ._sync import SyncArtifacts

__all__ = ["SyncArtifacts"]

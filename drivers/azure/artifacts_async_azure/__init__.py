"""artifacts_async_azure: the Azure Blob Storage driver of artifacts-async.

Registered as the driver `azure` in the `artifacts_async.drivers` entry points:

```toml
[repositories.blobs]
driver = "azure"
endpoint = "https://myaccount.blob.core.windows.net"
container = "artifacts"
credentials = { account_key_env = "AZURE_STORAGE_KEY" }
```

`AzureSettings.parse` documents every setting.
"""

from ._driver import AzureDriver
from ._settings import AzureSettings

__all__ = ["AzureDriver", "AzureSettings"]

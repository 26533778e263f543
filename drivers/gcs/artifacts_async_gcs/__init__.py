"""artifacts_async_gcs: the Google Cloud Storage driver of artifacts-async.

Registered as the driver `gcs` in the `artifacts_async.drivers` entry points:

```toml
[repositories.gcs]
driver = "gcs"
bucket = "artifacts"
credentials = { service_account_key_file = "/var/run/secrets/gcs/key.json" }
```

`GCSSettings.parse` documents every setting.
"""

from ._driver import GCSDriver
from ._settings import GCSSettings

__all__ = ["GCSDriver", "GCSSettings"]

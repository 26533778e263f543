"""artifacts_async_s3: the S3 driver of artifacts-async (Amazon S3 and S3-compatible stores).

Registered as the driver `s3` in the `artifacts_async.drivers` entry points:

```toml
[repositories.minio]
driver = "s3"
bucket = "artifacts"
endpoint = "http://127.0.0.1:9000"
credentials = { access_key_env = "MINIO_ACCESS_KEY", secret_key_env = "MINIO_SECRET_KEY" }
```

`S3Settings.parse` documents every setting.
"""

from ._driver import S3Driver
from ._settings import ChecksumMode, S3Settings

__all__ = ["ChecksumMode", "S3Driver", "S3Settings"]

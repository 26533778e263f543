"""Keeping secrets out of log lines.

botocore logs every prepared request at DEBUG level, headers included: the
`Authorization` header names the access key, `X-Amz-Security-Token` is a session token,
and STS answers (assume role) are logged with their keys. Whoever turns DEBUG on for
`botocore` would write credentials to their logs. `REDACTOR` (the core's
`SecretRedactor`), attached to the SDK's loggers, replaces every secret this driver
resolved with `***` before any handler sees the record.
"""

from __future__ import annotations

import re

from artifacts_async.abc import SecretRedactor

__all__ = ["REDACTOR"]

# Secrets the driver cannot know in advance: the keys in an STS answer (logged as the
# response body before the driver sees them) and any security-token header.
_PATTERNS = re.compile(
    r"(<(?:SecretAccessKey|SessionToken)>)[^<]*(</)"
    r"|(['\"](?:SecretAccessKey|SessionToken|X-Amz-Security-Token|x-amz-security-token)"
    r"['\"]:\s*b?['\"])[^'\"]*(['\"])"
)

#: The one process-wide filter: `REDACTOR.register(secret)` adds a value to hide.
REDACTOR = SecretRedactor(
    loggers=("botocore", "aiobotocore", "aiohttp", "urllib3", "artifacts_async_s3"),
    patterns=_PATTERNS,
)

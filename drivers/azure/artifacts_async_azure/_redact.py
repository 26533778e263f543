"""Keeping secrets out of log lines.

With `sdk_logging` on, azure-storage-blob logs every request at DEBUG level: its URL and
headers. The SDK masks the `Authorization` header, and tries to mask a SAS token's
signature in the URL, but only when the URL spells it exactly as the decoded query does
(a signature with `+`, `/` or `=` is percent-encoded in the URL and slips through).
Whoever turns DEBUG on would write credentials to their logs. `REDACTOR` (the core's
`SecretRedactor`), attached to the SDK's loggers, replaces every secret this driver
resolved (account key, SAS token, connection string, and each of their encodings) and
anything shaped like a signature, an account key or a bearer token with `***` before
any handler sees the record.
"""

from __future__ import annotations

import re

from artifacts_async.abc import SecretRedactor

__all__ = ["REDACTOR"]

# Secrets whose exact value the driver cannot know: signatures in URLs, keys in connection
# strings, bearer tokens.
_PATTERNS = re.compile(
    r"(?i)((?:[?&]|\b)sig=)[^&'\"\s]+"
    r"|((?:AccountKey|SharedAccessSignature)=)[^;'\"\s]+"
    r"|(Bearer\s+)[A-Za-z0-9\-_.~+/]+=*"
)

#: The one process-wide filter: `REDACTOR.register(secret)` adds a value (and its
#: URL-encoded forms) to hide.
REDACTOR = SecretRedactor(
    loggers=("azure", "aiohttp", "msal", "artifacts_async_azure"),
    patterns=_PATTERNS,
    url_encoded=True,
)

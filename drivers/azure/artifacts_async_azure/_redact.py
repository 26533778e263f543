"""Keeping secrets out of log lines.

With `sdk_logging` on, azure-storage-blob logs every request at DEBUG level: its URL and
headers. The SDK masks the `Authorization` header, and tries to mask a SAS token's
signature in the URL, but only when the URL spells it exactly as the decoded query does
(a signature with `+`, `/` or `=` is percent-encoded in the URL and slips through).
Whoever turns DEBUG on would write credentials to their logs. This filter, attached to
the SDK's loggers, replaces every secret this driver resolved (account key, SAS token,
connection string, and each of their encodings) and anything shaped like a signature,
an account key or a bearer token with `***` before any handler sees the record. It
costs nothing while DEBUG is off: loggers check the level first.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import ClassVar
from urllib.parse import quote, unquote

__all__ = ["SecretRedactor"]

_PREFIXES = ("azure", "aiohttp", "msal", "artifacts_async_azure")
_MIN_LENGTH = 4  # never redact trivially short strings (they would mangle every line)
# Secrets whose exact value the driver cannot know: signatures in URLs, keys in connection
# strings, bearer tokens.
_PATTERNS = re.compile(
    r"(?i)((?:[?&]|\b)sig=)[^&'\"\s]+"
    r"|((?:AccountKey|SharedAccessSignature)=)[^;'\"\s]+"
    r"|(Bearer\s+)[A-Za-z0-9\-_.~+/]+=*"
)


class SecretRedactor(logging.Filter):
    """One process-wide filter; `register(secret)` adds a value to hide."""

    _instance: ClassVar[SecretRedactor | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()

    @classmethod
    def register(cls, *secrets: str | None) -> None:
        """Hide `secrets` (and their URL-encoded forms) from the SDK's log records."""
        found = set()
        for secret in secrets:
            if secret and len(secret) >= _MIN_LENGTH:
                found |= {secret, quote(secret, safe=""), unquote(secret)}
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            instance = cls._instance
            instance._secrets |= {s for s in found if len(s) >= _MIN_LENGTH}
            instance._attach()

    def _attach(self) -> None:
        # Filters on a logger apply to records created on that very logger, so the
        # filter goes on each of the SDK's loggers (they exist once its modules are
        # imported, which they are by the time a client is created).
        names = [n for n in logging.Logger.manager.loggerDict if n.startswith(_PREFIXES)]
        for name in [*_PREFIXES, *names]:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging
            return True
        redacted = _PATTERNS.sub(_mask, message)
        # Longest first, so that a secret containing another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in redacted:
                redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def _mask(match: re.Match[str]) -> str:
    prefix = next(group for group in match.groups() if group is not None)
    return f"{prefix}***"

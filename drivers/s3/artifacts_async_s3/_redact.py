"""Keeping secrets out of log lines.

botocore logs every prepared request at DEBUG level, headers included: the
`Authorization` header names the access key, `X-Amz-Security-Token` is a session token,
and STS answers (assume role) are logged with their keys. Whoever turns DEBUG on for
`botocore` would write credentials to their logs. This filter, attached to the SDK's
loggers, replaces every secret this driver resolved with `***` before any handler sees
the record. It costs nothing while DEBUG is off: loggers check the level first.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import ClassVar

__all__ = ["SecretRedactor"]

_PREFIXES = ("botocore", "aiobotocore", "aiohttp", "urllib3", "artifacts_async_s3")
_MIN_LENGTH = 4  # never redact trivially short strings (they would mangle every line)
# Secrets the driver cannot know in advance: the keys in an STS answer (logged as the
# response body before the driver sees them) and any security-token header.
_PATTERNS = re.compile(
    r"(<(?:SecretAccessKey|SessionToken)>)[^<]*(</)"
    r"|(['\"](?:SecretAccessKey|SessionToken|X-Amz-Security-Token|x-amz-security-token)"
    r"['\"]:\s*b?['\"])[^'\"]*(['\"])"
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
        """Hide `secrets` from the SDK's log records from now on."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            instance = cls._instance
            instance._secrets |= {s for s in secrets if s and len(s) >= _MIN_LENGTH}
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
        for secret in self._secrets:
            if secret in redacted:
                redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def _mask(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return f"{match.group(1)}***{match.group(2)}"
    return f"{match.group(3)}***{match.group(4)}"

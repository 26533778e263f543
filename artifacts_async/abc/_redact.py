"""Keeping a driver's secrets out of its SDK's log lines (for driver authors).

An SDK that logs requests at DEBUG writes headers, URLs and token answers: whoever turns
DEBUG on would write credentials to their logs. A `SecretRedactor`, attached to the SDK's
loggers, replaces every registered secret, and whatever the driver's `patterns` match,
with `***` before any handler sees the record. It costs nothing while DEBUG is off:
loggers check the level first.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, unquote

__all__ = ["SecretRedactor"]

_MIN_LENGTH = 4  # never redact trivially short strings (they would mangle every line)


class SecretRedactor(logging.Filter):
    """A log filter for the loggers whose names start with one of `loggers`.

    A driver makes one per process (a module-level value) and calls `register(secret)`
    with each secret it resolves, and `register()` after creating an SDK client (to reach
    the SDK's loggers created meanwhile). `patterns` masks secrets the driver cannot know
    in advance: in each match, the first group that matched is kept before `***` and any
    further matched groups after it (`(<Token>)[^<]*(</)` gives `<Token>***</`).
    `url_encoded` also hides each secret's percent-encoded and decoded forms.
    """

    def __init__(
        self,
        *,
        loggers: tuple[str, ...],
        patterns: re.Pattern[str] | None = None,
        url_encoded: bool = False,
    ) -> None:
        super().__init__()
        self._prefixes = loggers
        self._patterns = patterns
        self._url_encoded = url_encoded
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def register(self, *secrets: str | None) -> None:
        """Hide `secrets` from the loggers' records from now on; attach to new loggers."""
        found: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= _MIN_LENGTH:
                found.add(secret)
                if self._url_encoded:
                    found |= {quote(secret, safe=""), unquote(secret)}
        with self._lock:
            known = set(self._secrets) | {s for s in found if len(s) >= _MIN_LENGTH}
            # Longest first, so that a secret containing another is masked whole.
            self._secrets = tuple(sorted(known, key=len, reverse=True))
            self._attach()

    def _attach(self) -> None:
        # Filters on a logger apply to records created on that very logger, so the
        # filter goes on each of the SDK's loggers (they exist once its modules are
        # imported, which they are by the time a client is created).
        names = [n for n in logging.Logger.manager.loggerDict if n.startswith(self._prefixes)]
        for name in [*self._prefixes, *names]:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in `record`'s message (always lets the record through)."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging
            return True
        redacted = message if self._patterns is None else self._patterns.sub(_mask, message)
        for secret in self._secrets:
            if secret in redacted:
                redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def _mask(match: re.Match[str]) -> str:
    kept = [group for group in match.groups() if group is not None]
    if not kept:
        return "***"
    return f"{kept[0]}***{''.join(kept[1:])}"

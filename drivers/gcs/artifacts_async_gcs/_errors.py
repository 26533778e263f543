"""Translating gcloud-aio and aiohttp errors at the driver's boundary.

Every GCS call runs inside `map_errors(...)`, like httpcore's `map_exceptions`: no
gcloud-aio or aiohttp exception reaches a caller, only `artifacts_async` ones, each
chained (`from`) to the original. Messages carry GCS's status and message, never a token
or a key (GCS's error bodies hold neither; requests are never echoed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from artifacts_async import (
    ArtifactError,
    ArtifactNotFoundError,
    BackendError,
    ConfigurationError,
    IntegrityError,
    PermissionDeniedError,
    TransientBackendError,
)

__all__ = ["from_status", "map_errors", "translate"]

_DETAIL_MAX = 300
# Request timeout, throttling, and server-side failures: worth another attempt.
_TRANSIENT = frozenset({408, 429})


def _google_message(body: str) -> str:
    """GCS's `error.message` from a JSON error body, else the body itself (shortened)."""
    try:
        data = json.loads(body)
        message = str(data["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = body
    message = " ".join(message.split())
    return message[:_DETAIL_MAX] + ("..." if len(message) > _DETAIL_MAX else "")


def from_status(status: int, body: str, what: str, *, bucket: str) -> ArtifactError:
    """The `artifacts_async` error for an HTTP `status` (and error `body`) about `what`."""
    message = _google_message(body)
    detail = f"{status}: {message}" if message else str(status)
    lowered = message.lower()
    if status == 404 and "bucket" in lowered and "not exist" in lowered:
        return ConfigurationError(
            f"bucket {bucket!r} does not exist ({detail}): create it, fix the repository's "
            "'bucket', or set create_bucket = true"
        )
    if status == 404:
        return ArtifactNotFoundError(f"{what} does not exist", backend_error=detail)
    if status in (401, 403):
        return PermissionDeniedError(
            f"{what}: access denied ({detail}): check the repository's credentials and the "
            "bucket's IAM roles",
            backend_error=detail,
        )
    if status == 412:
        return BackendError(f"{what}: a precondition failed ({detail})", backend_error=detail)
    if status == 400 and ("crc32c" in lowered or "md5" in lowered) and "match" in lowered:
        return IntegrityError(f"{what}: GCS rejected the data as damaged ({detail})")
    if status in _TRANSIENT or status >= 500:
        return TransientBackendError(f"{what}: GCS is unavailable ({detail})",
                                     backend_error=detail)
    return BackendError(f"{what}: GCS refused the request ({detail})", backend_error=detail)


def translate(exc: BaseException, what: str, *, bucket: str) -> ArtifactError | None:
    """The `artifacts_async` error for a transport or HTTP exception, or None if not ours."""
    if isinstance(exc, aiohttp.ClientResponseError):
        # gcloud-aio's sessions put "<reason>: <body>" in the message.
        body = exc.message.split(": ", 1)[1] if ": " in exc.message else exc.message
        return from_status(exc.status, body, what, bucket=bucket)
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError):
        return TransientBackendError(
            f"{what}: the connection to GCS failed ({type(exc).__name__}: {exc})",
            backend_error=type(exc).__name__,
        )
    if isinstance(exc, json.JSONDecodeError):
        # A truncated or garbled answer (a proxy, a reset mid-body): ask again.
        return TransientBackendError(f"{what}: GCS's answer was not valid JSON ({exc})",
                                     backend_error="invalid JSON")
    return None


@contextmanager
def map_errors(what: str, *, bucket: str) -> Iterator[None]:
    """Re-raise transport and HTTP errors from the block as `artifacts_async` errors."""
    try:
        yield
    except ArtifactError:
        raise
    except Exception as exc:
        mapped = translate(exc, what, bucket=bucket)
        if mapped is None:
            raise
        raise mapped from exc

"""Translating botocore, aiobotocore and aiohttp errors at the driver's boundary.

Every S3 call runs inside `map_errors(...)`, like httpcore's `map_exceptions`: no SDK
exception reaches a caller, only `artifacts_async` ones, each chained (`from`) to the
original for debugging. Messages carry S3's error code and message, never credentials.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ResponseStreamingError,
    SSLError,
)

from artifacts_async import (
    ArtifactError,
    ArtifactNotFoundError,
    BackendError,
    ConfigurationError,
    IntegrityError,
    PermissionDeniedError,
    TransientBackendError,
)
from artifacts_async.abc import translated_errors

__all__ = ["error_code", "from_code", "map_errors"]

_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchUpload", "NoSuchVersion"})
_DENIED = frozenset({
    "AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "AllAccessDisabled", "AccountProblem", "ExpiredToken", "InvalidToken",
    "InvalidSecurity", "TokenRefreshRequired",
})
_TRANSIENT = frozenset({
    "SlowDown", "RequestTimeout", "Throttling", "ThrottlingException", "ThrottledException",
    "RequestThrottled", "RequestLimitExceeded", "TooManyRequestsException",
    "InternalError", "ServiceUnavailable", "OperationAborted",
    "429", "500", "502", "503", "504",
})
# The bytes S3 received do not match the declared Content-MD5 or x-amz-checksum-*, or a
# multipart completion named a part S3 does not hold (with that ETag).
_INTEGRITY = frozenset({
    "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch",
    "InvalidPart",
})
# Transport failures: the request may not have reached S3, or its answer was lost.
_TRANSPORT: tuple[type[BaseException], ...] = (
    ConnectionError,  # botocore's: EndpointConnectionError, ConnectionClosedError, timeouts
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
)


def error_code(exc: ClientError) -> str:
    """S3's error code (`NoSuchKey`), or the HTTP status for bodiless answers (HEAD)."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    if not code:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(status or "Unknown")
    return code


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def from_code(code: str, message: str, what: str, *, bucket: str, status: int = 0) -> ArtifactError:
    """The `artifacts_async` error for S3 error `code` about `what` (an s3:// location)."""
    detail = f"{code}: {message}" if message else code
    if code == "NoSuchBucket":
        return ConfigurationError(
            f"bucket {bucket!r} does not exist ({detail}): create it, fix the repository's "
            "'bucket', or set create_bucket = true"
        )
    if code in _NOT_FOUND:
        return ArtifactNotFoundError(f"{what} does not exist", backend_error=detail)
    if code in _DENIED:
        return PermissionDeniedError(
            f"{what}: access denied ({detail}): check the repository's credentials and the "
            "bucket's policy",
            backend_error=detail,
        )
    if code in _INTEGRITY:
        return IntegrityError(f"{what}: S3 rejected the data as damaged ({detail})")
    if code in _TRANSIENT or status >= 500 or status == 429:
        return TransientBackendError(f"{what}: S3 is unavailable ({detail})", backend_error=detail)
    return BackendError(f"{what}: S3 refused the request ({detail})", backend_error=detail)


def translate(exc: BaseException, what: str, *, bucket: str) -> ArtifactError | None:
    """The `artifacts_async` error for an SDK or transport exception, or None if not ours."""
    if isinstance(exc, ClientError):
        message = str(exc.response.get("Error", {}).get("Message") or "")
        return from_code(error_code(exc), message, what, bucket=bucket, status=_status(exc))
    if isinstance(exc, SSLError):
        detail = f"SSLError: {exc}"
        return BackendError(
            f"{what}: TLS failed ({exc}): check the endpoint's certificate, or set "
            "insecure = true for a test server",
            backend_error=detail,
        )
    if isinstance(exc, _TRANSPORT):
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return TransientBackendError(f"{what}: {detail}", backend_error=detail)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ConfigurationError(
            f"{what}: no usable S3 credentials ({type(exc).__name__}): set the repository's "
            "credentials (access_key_env/secret_key_env, a profile) or configure the AWS SDK"
        )
    if isinstance(exc, ProfileNotFound):
        return ConfigurationError(f"{what}: {exc}: fix the repository's credentials profile")
    if isinstance(exc, NoRegionError):
        return ConfigurationError(f"{what}: no region: set the repository's 'region'")
    if isinstance(exc, BotoCoreError):
        detail = f"{type(exc).__name__}: {exc}"
        return BackendError(f"{what}: {detail}", backend_error=detail)
    return None


def map_errors(what: str, *, bucket: str) -> AbstractContextManager[None]:
    """Run a block of S3 calls, raising only `artifacts_async` errors."""
    return translated_errors(lambda exc: translate(exc, what, bucket=bucket))

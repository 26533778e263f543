"""Translating azure-core, azure-identity and aiohttp errors at the driver's boundary.

Every Azure call runs inside `map_errors(...)`, like httpcore's `map_exceptions`: no SDK
exception reaches a caller, only `artifacts_async` ones, each chained (`from`) to the
original for debugging. Messages carry the service's error code and the first line of
its message (never a URL, which could carry a SAS token, nor any credential).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import CredentialUnavailableError

from artifacts_async import (
    ArtifactError,
    ArtifactNotFoundError,
    BackendError,
    ConfigurationError,
    IntegrityError,
    PermissionDeniedError,
    TransientBackendError,
)

__all__ = ["error_code", "from_code", "map_errors"]

_NOT_FOUND = frozenset({"BlobNotFound", "ResourceNotFound"})
_DENIED = frozenset({
    "AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch",
    "AuthorizationSourceIPMismatch", "AuthorizationProtocolMismatch",
    "AuthorizationServiceMismatch", "AuthorizationResourceTypeMismatch",
    "InsufficientAccountPermissions", "AccountIsDisabled", "KeyBasedAuthenticationNotPermitted",
    "NoAuthenticationInformation", "InvalidAuthenticationInfo",
})
_TRANSIENT = frozenset({
    "ServerBusy", "InternalError", "OperationTimedOut", "ContainerBeingDeleted",
    "BlobBeingRehydrated", "IncrementalCopyOfEarlierVersionSnapshotNotAllowed",
})
# The bytes the service received do not match the MD5 sent with them, or a commit named
# blocks the service does not hold.
_INTEGRITY = frozenset({"Md5Mismatch", "Crc64Mismatch", "InvalidMd5", "InvalidBlockList"})
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Transport failures: the request may not have reached the service, or its answer was lost.
_TRANSPORT: tuple[type[BaseException], ...] = (
    ServiceRequestError,  # connecting, and connect timeouts
    ServiceResponseError,  # reading the answer, and read timeouts
    aiohttp.ClientError,
    asyncio.TimeoutError,
    ConnectionError,
)


def error_code(exc: HttpResponseError) -> str:
    """The service's error code (`BlobNotFound`), or the HTTP status when it gave none."""
    # azure-storage sets `error_code` (from x-ms-error-code) on the errors it raises.
    code = getattr(exc, "error_code", None)
    if code:
        return str(getattr(code, "value", code))
    return str(exc.status_code or "Unknown")


def _first_line(exc: AzureError) -> str:
    message = str(exc.message or getattr(exc, "reason", None) or "")
    return message.strip().splitlines()[0][:200] if message.strip() else ""


def from_code(code: str, message: str, what: str, *, container: str,
              status: int = 0) -> ArtifactError:
    """The `artifacts_async` error for Azure error `code` about `what` (an az:// location)."""
    detail = f"{code}: {message}" if message and message != code else code
    if code == "ContainerNotFound":
        return ConfigurationError(
            f"container {container!r} does not exist ({code}): create it, fix the "
            "repository's 'container', or set create_container = true"
        )
    if code in _NOT_FOUND or (status == 404 and code in ("404", "Unknown")):
        return ArtifactNotFoundError(f"{what} does not exist", backend_error=detail)
    if code in _DENIED or status in (401, 403):
        return PermissionDeniedError(
            f"{what}: access denied ({detail}): check the repository's credentials and the "
            "account's role assignments",
            backend_error=detail,
        )
    if code in _INTEGRITY:
        return IntegrityError(f"{what}: the service rejected the data as damaged ({detail})")
    if code in _TRANSIENT or status in _TRANSIENT_STATUS or (status >= 500 and status != 501):
        return TransientBackendError(
            f"{what}: Azure is unavailable ({detail})", backend_error=detail
        )
    return BackendError(f"{what}: Azure refused the request ({detail})", backend_error=detail)


def translate(exc: BaseException, what: str, *, container: str) -> ArtifactError | None:
    """The `artifacts_async` error for an SDK or transport exception, or None if not ours."""
    if isinstance(exc, CredentialUnavailableError):
        return ConfigurationError(
            f"{what}: no usable Azure credentials ({type(exc).__name__}): set the repository's "
            "credentials (account_key_env, sas_token_env, connection_string_env) or configure "
            "workload or managed identity"
        )
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return from_code(error_code(exc), _first_line(exc), what, container=container,
                         status=exc.status_code)
    if isinstance(exc, ClientAuthenticationError):
        # No HTTP status: a credential failed to get a token (azure-identity).
        detail = f"{type(exc).__name__}: {_first_line(exc)}"
        return PermissionDeniedError(
            f"{what}: could not authenticate ({detail}): check the identity's configuration",
            backend_error=detail,
        )
    if isinstance(exc, _TRANSPORT):
        text = _first_line(exc) if isinstance(exc, AzureError) else str(exc)
        detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        return TransientBackendError(f"{what}: {detail}", backend_error=detail)
    if isinstance(exc, AzureError):
        detail = f"{type(exc).__name__}: {_first_line(exc)}"
        return BackendError(f"{what}: {detail}", backend_error=detail)
    return None


@contextmanager
def map_errors(what: str, *, container: str) -> Iterator[None]:
    """Run a block of Azure calls, raising only `artifacts_async` errors."""
    try:
        yield
    except ArtifactError:
        raise
    except Exception as exc:
        mapped = translate(exc, what, container=container)
        if mapped is None:
            raise
        raise mapped from exc

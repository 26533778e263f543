"""Error mapping at the boundary: Azure error codes and transport failures to ours."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest
from artifacts_async_azure import AzureDriver
from artifacts_async_azure._errors import map_errors
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.identity import CredentialUnavailableError
from azure_support import md5_checks

import artifacts_async as aa

pytestmark = pytest.mark.anyio

MakeDriver = Callable[..., AzureDriver]


def _http_error(code: str, status: int, message: str = "msg\nRequestId:1") -> HttpResponseError:
    """An SDK error as azure-storage raises it (status and x-ms-error-code set)."""
    cls = ResourceNotFoundError if status == 404 else (
        ClientAuthenticationError if status == 403 else HttpResponseError
    )
    error = cls(message=message)
    error.status_code = status
    error.error_code = code  # type: ignore[attr-defined]  # set by azure-storage
    return error


def _mapped(exc: BaseException) -> BaseException:
    with pytest.raises(aa.ArtifactError) as info, map_errors("azure://c/key", container="c"):
        raise exc
    assert info.value.__cause__ is exc
    return info.value


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("BlobNotFound", 404, aa.ArtifactNotFoundError),
        ("", 404, aa.ArtifactNotFoundError),  # HEAD answers have no body
        ("ContainerNotFound", 404, aa.ConfigurationError),
        ("AuthenticationFailed", 403, aa.PermissionDeniedError),
        ("AuthorizationFailure", 403, aa.PermissionDeniedError),
        ("AuthorizationPermissionMismatch", 403, aa.PermissionDeniedError),
        ("", 403, aa.PermissionDeniedError),
        ("Md5Mismatch", 400, aa.IntegrityError),
        ("InvalidBlockList", 400, aa.IntegrityError),
        ("OperationTimedOut", 500, aa.TransientBackendError),
        ("ServerBusy", 503, aa.TransientBackendError),
        ("InternalError", 500, aa.TransientBackendError),
        ("", 408, aa.TransientBackendError),
        ("", 429, aa.TransientBackendError),
        ("", 502, aa.TransientBackendError),
        ("InvalidHeaderValue", 400, aa.BackendError),
        ("", 501, aa.BackendError),
    ],
)
def test_service_errors(code: str, status: int, expected: type[BaseException]) -> None:
    """Each Azure error code (or bare status) maps to its exception class."""
    assert type(_mapped(_http_error(code, status))) is expected


def test_messages_keep_the_code_and_first_line() -> None:
    """An unmapped error is a BackendError: 'Code: first line', no request ids or URLs."""
    error = _mapped(_http_error("InvalidHeaderValue", 400, "A header is bad.\nRequestId:42"))
    assert isinstance(error, aa.BackendError)
    assert error.backend_error == "InvalidHeaderValue: A header is bad."
    assert "RequestId" not in str(error)
    assert not error.retryable
    assert "azure://c/key" in str(error)


def test_missing_container_names_it() -> None:
    """ContainerNotFound is a configuration problem whose message names the container."""
    error = _mapped(_http_error("ContainerNotFound", 404))
    assert "'c'" in str(error)
    assert "create_container" in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        ServiceRequestError("Cannot connect to host"),
        ServiceResponseError("Connection reset by peer"),
        ServiceResponseTimeoutError("read timeout"),
        aiohttp.ClientPayloadError("truncated"),
        aiohttp.ServerDisconnectedError(),
        ConnectionResetError(104, "reset"),
        TimeoutError(),
    ],
)
def test_transport_errors_are_transient(exc: BaseException) -> None:
    """Connection, timeout and reset failures are retryable TransientBackendErrors."""
    error = _mapped(exc)
    assert isinstance(error, aa.TransientBackendError)
    assert error.retryable


def test_credential_errors() -> None:
    """No usable SDK credential is a ConfigurationError; a refused token, PermissionDeniedError."""
    unavailable = _mapped(CredentialUnavailableError("no managed identity endpoint"))
    assert isinstance(unavailable, aa.ConfigurationError)
    assert "credentials" in str(unavailable)
    refused = _mapped(ClientAuthenticationError("AADSTS700016: application not found"))
    assert isinstance(refused, aa.PermissionDeniedError)


def test_other_exceptions_pass_through() -> None:
    """Our own errors and non-SDK bugs are not rewrapped."""
    own = aa.IntegrityError("x")
    with pytest.raises(aa.IntegrityError) as info, map_errors("w", container="c"):
        raise own
    assert info.value is own
    with pytest.raises(KeyError), map_errors("w", container="c"):
        raise KeyError("bug")


async def test_unreachable_endpoint_is_transient(make_driver: MakeDriver) -> None:
    """A refused connection to a real (closed) port surfaces as TransientBackendError."""
    driver = make_driver(endpoint="http://127.0.0.1:9/devstoreaccount1", connect_timeout=2)
    with pytest.raises(aa.TransientBackendError) as info:
        await driver.stat("anything")
    assert not isinstance(info.value.__cause__, aa.ArtifactError)


async def test_missing_container_from_the_server(make_driver: MakeDriver) -> None:
    """Every kind of request to a container that does not exist names it."""
    driver = make_driver(container="no-such-container")
    with pytest.raises(aa.ConfigurationError, match="no-such-container"):
        await driver.put("k", b"x", checksums=md5_checks(b"x"), metadata={})
    with pytest.raises(aa.ConfigurationError, match="no-such-container"):
        await driver.stat("k")
    with pytest.raises(aa.ConfigurationError, match="no-such-container"):
        [i async for i in driver.list("")]
    (outcome,) = await driver.delete(["k"])
    assert isinstance(outcome.error, aa.BackendError)
    assert "no-such-container" in str(outcome.error)


async def test_wrong_account_key_is_permission_denied(
    make_driver: MakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Azurite checks signatures: a wrong key is refused, mapped to PermissionDeniedError."""
    wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
    monkeypatch.setenv("WRONG_AZURE_KEY", wrong)
    driver = make_driver(credentials={"account_key_env": "WRONG_AZURE_KEY"})
    with pytest.raises(aa.PermissionDeniedError, match=r"AuthorizationFailure|Authentication"):
        await driver.put("k", b"x", checksums=md5_checks(b"x"), metadata={})
    with pytest.raises(aa.PermissionDeniedError) as info:
        await driver.stat("k")
    assert wrong not in str(info.value)

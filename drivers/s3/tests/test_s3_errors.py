"""Error mapping at the boundary: S3 codes and transport failures to our exceptions."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from artifacts_async_s3._errors import map_errors
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

import artifacts_async as aa

pytestmark = pytest.mark.anyio


def _client_error(code: str, status: int, message: str = "msg") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message} if code else {},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "PutObject")


def _mapped(exc: BaseException) -> BaseException:
    with pytest.raises(aa.ArtifactError) as info, map_errors("s3://bkt/key", bucket="bkt"):
        raise exc
    assert info.value.__cause__ is exc
    return info.value


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, aa.ArtifactNotFoundError),
        ("", 404, aa.ArtifactNotFoundError),  # HEAD answers have no body, hence no code
        ("NoSuchUpload", 404, aa.ArtifactNotFoundError),
        ("AccessDenied", 403, aa.PermissionDeniedError),
        ("", 403, aa.PermissionDeniedError),
        ("InvalidAccessKeyId", 403, aa.PermissionDeniedError),
        ("SignatureDoesNotMatch", 403, aa.PermissionDeniedError),
        ("NoSuchBucket", 404, aa.ConfigurationError),
        ("SlowDown", 503, aa.TransientBackendError),
        ("", 503, aa.TransientBackendError),
        ("InternalError", 500, aa.TransientBackendError),
        ("", 502, aa.TransientBackendError),
        ("", 504, aa.TransientBackendError),
        ("RequestTimeout", 400, aa.TransientBackendError),
        ("Throttling", 400, aa.TransientBackendError),
        ("BadDigest", 400, aa.IntegrityError),
        ("InvalidDigest", 400, aa.IntegrityError),
        ("InvalidArgument", 400, aa.BackendError),
    ],
)
def test_client_errors(code: str, status: int, expected: type[BaseException]) -> None:
    """Each S3 error code maps to its exception class, the original chained as the cause."""
    error = _mapped(_client_error(code, status))
    assert type(error) is expected


def test_other_errors_keep_the_code_and_message() -> None:
    """An unmapped code is a BackendError whose backend_error is 'Code: message'."""
    error = _mapped(_client_error("InvalidArgument", 400, "bad header"))
    assert isinstance(error, aa.BackendError)
    assert error.backend_error == "InvalidArgument: bad header"
    assert not error.retryable
    assert "s3://bkt/key" in str(error)


def test_missing_bucket_names_it() -> None:
    """NoSuchBucket is a configuration problem, and the message names the bucket."""
    error = _mapped(_client_error("NoSuchBucket", 404, "The specified bucket does not exist"))
    assert "'bkt'" in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        aiohttp.ClientPayloadError("truncated"),
        aiohttp.ServerDisconnectedError(),
        TimeoutError(),
    ],
)
def test_transport_errors_are_transient(exc: BaseException) -> None:
    """Connection, timeout and aiohttp failures are retryable TransientBackendErrors."""
    error = _mapped(exc)
    assert isinstance(error, aa.TransientBackendError)
    assert error.retryable


def test_missing_credentials_are_a_configuration_error() -> None:
    """When the SDK finds no credentials the message says how to configure them."""
    error = _mapped(NoCredentialsError())
    assert isinstance(error, aa.ConfigurationError)
    assert "credentials" in str(error)


def test_other_exceptions_pass_through() -> None:
    """Our own errors and non-SDK bugs are not rewrapped."""
    own = aa.IntegrityError("x")
    with pytest.raises(aa.IntegrityError) as info, map_errors("w", bucket="b"):
        raise own
    assert info.value is own
    with pytest.raises(KeyError), map_errors("w", bucket="b"):
        raise KeyError("bug")


async def test_unreachable_endpoint_is_transient(make_driver: Any) -> None:
    """A refused connection to a real (closed) port surfaces as TransientBackendError."""
    driver = make_driver(endpoint="http://127.0.0.1:9", connect_timeout=2)
    with pytest.raises(aa.TransientBackendError) as info:
        await driver.stat("anything")
    assert not isinstance(info.value.__cause__, aa.ArtifactError)

"""Error mapping at the boundary: HTTP statuses and transport failures to our exceptions."""

from __future__ import annotations

import json
from collections.abc import Callable

import aiohttp
import pytest
from artifacts_async_gcs import GCSDriver
from artifacts_async_gcs._errors import map_errors
from gcs_support import Server
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import artifacts_async as aa
from artifacts_async.abc import PartChecksums

pytestmark = pytest.mark.anyio

MakeDriver = Callable[..., GCSDriver]


def _response_error(status: int, message: str = "msg") -> aiohttp.ClientResponseError:
    info = aiohttp.RequestInfo(URL("http://127.0.0.1/x"), "GET",
                               CIMultiDictProxy(CIMultiDict()), URL("http://127.0.0.1/x"))
    body = json.dumps({"error": {"code": status, "message": message}})
    return aiohttp.ClientResponseError(info, (), status=status, message=f"Reason: {body}")


def _mapped(exc: BaseException) -> BaseException:
    with pytest.raises(aa.ArtifactError) as info, map_errors("gs://bkt/key", bucket="bkt"):
        raise exc
    assert info.value.__cause__ is exc
    return info.value


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (404, "No such object: bkt/key", aa.ArtifactNotFoundError),
        (404, "The specified bucket does not exist.", aa.ConfigurationError),
        (401, "Invalid Credentials", aa.PermissionDeniedError),
        (403, "does not have storage.objects.get access", aa.PermissionDeniedError),
        (412, "conditionNotMet", aa.BackendError),
        (400, "Provided CRC32C \"AAAAAA==\" doesn't match calculated CRC32C", aa.IntegrityError),
        (400, "Invalid argument", aa.BackendError),
        (408, "Request Timeout", aa.TransientBackendError),
        (429, "rateLimitExceeded", aa.TransientBackendError),
        (500, "backendError", aa.TransientBackendError),
        (503, "Service Unavailable", aa.TransientBackendError),
    ],
)
def test_statuses(status: int, message: str, expected: type[BaseException]) -> None:
    """Each status maps to its exception class, the original chained as the cause."""
    error = _mapped(_response_error(status, message))
    assert type(error) is expected
    if isinstance(error, aa.BackendError):
        assert error.backend_error == f"{status}: {message}"


def test_missing_bucket_names_it() -> None:
    """GCS's 'bucket does not exist' is a configuration problem naming the bucket."""
    error = _mapped(_response_error(404, "The specified bucket does not exist."))
    assert "'bkt'" in str(error)
    assert "create_bucket" in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ClientConnectionError("refused"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("truncated"),
        TimeoutError(),
        ConnectionResetError(),
        json.JSONDecodeError("Expecting value", "<html>", 0),
    ],
)
def test_transport_errors_are_transient(exc: BaseException) -> None:
    """Connection, timeout, payload and truncated-answer failures are retryable."""
    error = _mapped(exc)
    assert isinstance(error, aa.TransientBackendError)
    assert error.retryable


def test_other_exceptions_pass_through() -> None:
    """Our own errors and non-HTTP bugs are not rewrapped."""
    own = aa.IntegrityError("x")
    with pytest.raises(aa.IntegrityError) as info, map_errors("w", bucket="b"):
        raise own
    assert info.value is own
    with pytest.raises(KeyError), map_errors("w", bucket="b"):
        raise KeyError("bug")


async def test_missing_bucket_on_a_real_server(make_driver: MakeDriver) -> None:
    """Every operation on a bucket that does not exist raises ConfigurationError naming it."""
    driver = make_driver(bucket="no-such-bucket-here")
    with pytest.raises(aa.ConfigurationError, match="no-such-bucket-here"):
        await driver.put("k", b"x", checksums=PartChecksums(), metadata={})
    with pytest.raises(aa.ConfigurationError, match="no-such-bucket-here"):
        [i async for i in driver.list("")]


async def test_create_bucket(make_driver: MakeDriver, bucket: str, server: Server) -> None:
    """create_bucket makes a missing bucket on first use and accepts an existing one."""
    driver = make_driver(bucket=f"{bucket}-created", create_bucket=True, project="test")
    await driver.put("k", b"x", checksums=PartChecksums(), metadata={})
    assert server.names(f"{bucket}-created") == ["k"]
    existing = make_driver(create_bucket=True)
    await existing.put("k", b"y", checksums=PartChecksums(), metadata={})
    assert server.names(bucket) == ["k"]


async def test_storage_class_is_sent(make_driver: MakeDriver, bucket: str,
                                     server: Server) -> None:
    """Small objects and parts are stored in the configured class (GCS gives a composite
    its sources' class; fake-gcs-server gives it STANDARD, so that is not checked here)."""
    driver = make_driver(storage_class="NEARLINE")
    await driver.put("small", b"x", checksums=PartChecksums(), metadata={})
    upload_id = await driver.start_upload("large", metadata={})
    await driver.upload_part("large", upload_id, 1, b"y" * 1000, offset=0,
                             checksums=PartChecksums())
    part_name = driver._layout.part("large", upload_id, 1)
    for name in ("small", part_name):
        assert server.resource(bucket, name)["storageClass"] == "NEARLINE"


async def test_delete_reports_existence(driver: GCSDriver) -> None:
    """A batch delete says which keys existed; duplicates get one outcome each."""
    await driver.put("d/here", b"x", checksums=PartChecksums(), metadata={})
    outcomes = await driver.delete(["d/here", "d/gone", "d/here"])
    assert [(o.key, o.existed, o.error) for o in outcomes] == [
        ("d/here", True, None), ("d/gone", False, None), ("d/here", True, None)]


async def test_unreachable_endpoint_is_transient(make_driver: MakeDriver) -> None:
    """A refused connection to a real (closed) port surfaces as TransientBackendError."""
    driver = make_driver(endpoint="http://127.0.0.1:9", connect_timeout=2)
    with pytest.raises(aa.TransientBackendError) as info:
        await driver.stat("anything")
    assert not isinstance(info.value.__cause__, aa.ArtifactError)


async def test_client_is_created_lazily_and_closed(make_driver: MakeDriver) -> None:
    """No session exists before the first request; aclose closes it (and is idempotent)."""
    driver = make_driver()
    assert driver._sdk.current is None
    await driver.put("k", b"x", checksums=PartChecksums(), metadata={})
    assert driver._sdk.current is not None
    await driver.aclose()
    assert driver._sdk.current is None
    await driver.aclose()

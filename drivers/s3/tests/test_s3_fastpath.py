"""The fast path of PutObject and UploadPart: botocore's signatures, S3's answers, fallbacks."""

from __future__ import annotations

import base64
import datetime
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import botocore.auth
import pytest
from aiohttp import web
from artifacts_async_s3 import S3Driver
from artifacts_async_s3._fastpath import FastPath
from artifacts_async_s3._sigv4 import Identity, SigV4Signer
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from s3_support import ACCESS_KEY, RCLONE_BUCKET, SECRET_KEY, checks

import artifacts_async as aa

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
MakeDriver = Callable[..., S3Driver]
# A fixed signing time: 2026-03-01 12:34:56 UTC.
WHEN = datetime.datetime(2026, 3, 1, 12, 34, 56, tzinfo=datetime.UTC)
TOKEN = "session-token/with+odd=chars"
KEYS = ["plain.bin", "a b/c d.txt", "ünï/cødé ✓.bin", "x+y=z&q?.txt", "percent%20sign",
        "semi;colon#", "tilde~/star*(paren)!", "dots/../and/./slashes//"]


async def _fast(driver: S3Driver) -> FastPath:
    await driver._s3()
    assert driver._fast is not None
    return driver._fast


def _botocore_headers(
    method: str, url: str, headers: dict[str, str], *, identity: Identity, region: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """What botocore's own `S3SigV4Auth` adds to the same request at the same time."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: WHEN.replace(tzinfo=None))
    request = AWSRequest(method=method, url=url, headers=headers)
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    credentials = ReadOnlyCredentials(identity.access_key, identity.secret_key, identity.token)
    botocore.auth.S3SigV4Auth(credentials, "s3", region).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


def _params(key: str, *, number: int | None = None) -> dict[str, Any]:
    data = key.encode()
    params: dict[str, Any] = {
        "Bucket": "ignored", "Key": f"pre/{key}", "Body": data,
        "ContentMD5": base64.b64encode(checks(data).md5 or b"").decode(),
        "ChecksumAlgorithm": "CRC32C", "ChecksumCRC32C": "AAAAAQ==",
    }
    if number is None:
        params.update(Metadata={"artifact": "name  with   spaces", "x": "=?UTF-8?B?w6k=?="},
                      ServerSideEncryption="aws:kms", SSEKMSKeyId="key/1",
                      StorageClass="STANDARD_IA")
    else:
        params.update(PartNumber=number, UploadId="upload+id/with=chars~")
    return params


@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.parametrize("where", [
    ("http://127.0.0.1:9000", True, "us-east-1"),
    ("https://s3.example.test:8443", False, "eu-central-1"),
    ("https://objects.example.test", True, "us-east-1"),
    (None, False, "eu-west-3"),  # AWS: botocore's endpoint rules choose the host
])
async def test_signatures_match_botocore(
    make_driver: MakeDriver, monkeypatch: pytest.MonkeyPatch,
    where: tuple[str | None, bool, str], token: str | None,
) -> None:
    """For the same request at the same time, the fast path's URL is botocore's kind and
    its Authorization (and every other signed header) is what botocore's S3SigV4Auth
    computes: odd keys, metadata, SSE, checksums, query strings, session tokens."""
    endpoint, path_style, region = where
    driver = make_driver(endpoint=endpoint, path_style=path_style, region=region)
    fast = await _fast(driver)
    client: Any = driver._sdk.current
    identity = Identity(ACCESS_KEY, SECRET_KEY, token)
    for key in KEYS:
        for number in (None, 7):
            operation = "PutObject" if number is None else "UploadPart"
            method, url, headers, _ = fast.prepare(
                operation, _params(key, number=number), identity, now=WHEN.timestamp()
            )
            assert method == "PUT"
            # The URL is botocore's for the same key (encoding, host, addressing style).
            presigned = await client.generate_presigned_url(
                "put_object", Params={"Bucket": driver.settings.bucket, "Key": f"pre/{key}"})
            assert url.split("?")[0] == presigned.split("?")[0]
            if endpoint is None:
                assert url.startswith(f"https://{driver.settings.bucket}.s3.{region}.amazonaws.com/")
            unsigned = {k: v for k, v in headers.items() if k not in (
                "authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
                "host")}
            expected = _botocore_headers(method, url, unsigned, identity=identity,
                                         region=region, monkeypatch=monkeypatch)
            assert headers["host"] == expected.get("host", headers["host"])
            assert {k: v for k, v in headers.items() if k != "host"} == expected


def test_the_signing_key_is_derived_once_a_day() -> None:
    """Requests of one day reuse the signing key; a new day or a new secret derives another."""
    signer = SigV4Signer(region="us-east-1", service="s3")
    first = signer.signing_key("secret", "20260301")
    assert signer.signing_key("secret", "20260301") is first
    assert signer.signing_key("secret", "20260302") != first
    assert signer.signing_key("other", "20260302") != signer.signing_key("secret", "20260302")


async def test_puts_and_parts_bypass_botocore(make_driver: MakeDriver) -> None:
    """By default PutObject and UploadPart never reach aiobotocore; every other call does."""
    driver = make_driver()
    client: Any = await driver._s3()
    seen: list[str] = []
    client.meta.events.register("before-send.s3", lambda **kw: seen.append(kw["event_name"]))
    info = await driver.put("k", b"data", checksums=checks(b"data"), metadata={"a": "b"})
    assert info.etag == hashlib.md5(b"data").hexdigest()
    upload_id = await driver.start_upload("m", metadata={})
    part = await driver.upload_part("m", upload_id, 1, b"part", offset=0,
                                    checksums=checks(b"part"))
    await driver.complete_upload("m", upload_id, [part])
    assert "before-send.s3.CompleteMultipartUpload" in seen
    assert not [e for e in seen if e.endswith(("PutObject", "UploadPart"))], seen
    assert (await driver.stat("k")).metadata == {"a": "b"}


@pytest.mark.parametrize(("setting", "environment"), [
    ({"fast_path": False}, {}),
    ({}, {"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}),
    ({"credentials": aa.Credentials(use_sdk_default=True)}, {}),  # none to be found
])
async def test_fallbacks_are_decided_at_creation(
    make_driver: MakeDriver, monkeypatch: pytest.MonkeyPatch, setting: dict[str, Any],
    environment: dict[str, str],
) -> None:
    """Turned off, behind a proxy, or without credentials, every request goes to botocore."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    driver = make_driver(**setting)
    assert await driver._s3() is not None
    assert driver._fast is None


@pytest.mark.parametrize("fast_path", [True, False])
async def test_errors_are_translated_like_botocores(
    make_driver: MakeDriver, bucket: str, fast_path: bool
) -> None:
    """S3's error answers on the fast path raise what the botocore path raises."""
    missing = make_driver(bucket=f"{bucket}-missing", fast_path=fast_path)
    with pytest.raises(aa.ConfigurationError, match="does not exist") as info:
        await missing.put("k", b"x", checksums=checks(b"x"), metadata={})
    assert f"'{bucket}-missing'" in str(info.value)
    driver = make_driver(fast_path=fast_path)
    # moto answers an UploadPart of an unknown upload with a bare 500.
    with pytest.raises(aa.TransientBackendError, match=r"\(500: Internal Server Error\)"):
        await driver.upload_part("k", "no-such-upload", 1, b"x", offset=0,
                                 checksums=checks(b"x"))
    assert (driver._fast is not None) is fast_path


# ---------------------------------------------------------------- rclone checks signatures

def _rclone_driver(make_driver: MakeDriver, endpoint: str, secret: str, **extra: Any) -> S3Driver:
    return make_driver(bucket=RCLONE_BUCKET, endpoint=endpoint, credentials={
        "access_key_env": "RCLONE_TEST_KEY", "secret_key_env": "RCLONE_TEST_SECRET"}, **extra)


async def test_a_server_that_checks_signatures_accepts_them(
    make_driver: MakeDriver, rclone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rclone accepts the fast path's signed puts and parts of odd keys, with metadata,
    and refuses them (PermissionDeniedError, as on botocore's path) with a wrong secret."""
    monkeypatch.setenv("RCLONE_TEST_KEY", ACCESS_KEY)
    monkeypatch.setenv("RCLONE_TEST_SECRET", SECRET_KEY)
    driver = _rclone_driver(make_driver, rclone, SECRET_KEY)
    await _fast(driver)
    for key in KEYS[:-1]:  # rclone serves a file tree: no `..` in its keys
        data = key.encode() * 3
        info = await driver.put(key, data, checksums=checks(data), metadata={"k": "v é"})
        assert info.etag == hashlib.md5(data).hexdigest()
        assert b"".join([c async for c in driver.read(key)]) == data
    upload_id = await driver.start_upload("multi part ✓", metadata={})
    first = b"a" * (5 * MiB)
    parts = [await driver.upload_part("multi part ✓", upload_id, 1, first, offset=0,
                                      checksums=checks(first)),
             await driver.upload_part("multi part ✓", upload_id, 2, b"b", offset=len(first),
                                      checksums=checks(b"b"))]
    info = await driver.complete_upload("multi part ✓", upload_id, parts)
    assert info.size == len(first) + 1
    monkeypatch.setenv("RCLONE_TEST_SECRET", "not-the-secret")
    for fast_path in (True, False):
        wrong = _rclone_driver(make_driver, rclone, "x", fast_path=fast_path)
        with pytest.raises(aa.PermissionDeniedError, match="SignatureDoesNotMatch"):
            await wrong.put("refused", b"x", checksums=checks(b"x"), metadata={})
        assert (wrong._fast is not None) is fast_path


# ------------------------------------------------------- a bucket in another region

_REDIRECT = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code>'
             b"<Message>The bucket you are attempting to access must be addressed using the "
             b"specified endpoint.</Message><BucketRegion>eu-west-1</BucketRegion></Error>")


@pytest.fixture
async def redirecting(moto_endpoint: str) -> AsyncIterator[str]:
    """An HTTP front of moto answering every fast-path request (told apart by its user
    agent) with S3's redirect to another region, as AWS does when `region` is wrong;
    botocore's requests pass through to moto."""
    async with aiohttp.ClientSession(auto_decompress=False) as upstream:

        async def handle(request: web.Request) -> web.Response:
            if request.headers.get("User-Agent", "").startswith("artifacts-async-s3/"):
                return web.Response(status=301, body=_REDIRECT, headers={
                    "x-amz-bucket-region": "eu-west-1", "Content-Type": "application/xml"})
            async with upstream.request(
                request.method, f"{moto_endpoint}{request.path_qs}", data=await request.read(),
                headers={k: v for k, v in request.headers.items()
                         if k.lower() not in ("host", "expect")},
            ) as answer:
                headers = {k: v for k, v in answer.headers.items()
                           if k.lower() not in ("content-length", "transfer-encoding",
                                                "connection")}
                return web.Response(status=answer.status, body=await answer.read(),
                                    headers=headers)

        app = web.Application()  # which answers botocore's `Expect: 100-continue`
        app.router.add_route("*", "/{key:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


async def test_a_redirect_to_another_region_falls_back_to_botocore(
    make_driver: MakeDriver, redirecting: str, boto: Any, bucket: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """S3 redirecting a fast-path put (wrong `region`) sends it again through botocore,
    which follows redirects, and turns the fast path off for the driver."""
    driver = make_driver(endpoint=redirecting)
    await _fast(driver)
    info = await driver.put("k", b"data", checksums=checks(b"data"), metadata={})
    assert info.etag == hashlib.md5(b"data").hexdigest()
    assert boto.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"
    assert driver._fast is None
    assert "redirected" in caplog.text
    upload_id = await driver.start_upload("m", metadata={})
    part = await driver.upload_part("m", upload_id, 1, b"p", offset=0, checksums=checks(b"p"))
    assert [p.etag for p in await driver.list_parts("m", upload_id)] == [part.etag]

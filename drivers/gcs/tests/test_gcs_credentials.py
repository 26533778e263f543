"""Credentials by reference: a service account key signs a real token request (to a local
token service), the token is sent, and no secret shows in a repr, an error or a log."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from artifacts_async_gcs import GCSDriver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import artifacts_async as aa
from artifacts_async.abc import PartChecksums

pytestmark = pytest.mark.anyio

MakeDriver = Callable[..., GCSDriver]
TOKEN = "ya29.test-access-token-0123456789abcdef"


class TokenService:
    """A local OAuth token endpoint: answers a JWT-bearer grant with `TOKEN` (or 401)."""

    def __init__(self) -> None:
        self.grants: list[str] = []
        self.refuse = False
        self.url = ""

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.grants.append(str(form.get("grant_type")))
        if self.refuse:
            return web.json_response({"error": "invalid_grant"}, status=401)
        return web.json_response({"access_token": TOKEN, "expires_in": 3600,
                                  "token_type": "Bearer"})


@pytest.fixture
async def token_service() -> AsyncIterator[TokenService]:
    """The token service, on a free loopback port."""
    service = TokenService()
    app = web.Application()
    app.router.add_post("/token", service.token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    service.url = f"http://127.0.0.1:{port}/token"
    try:
        yield service
    finally:
        await runner.cleanup()


@pytest.fixture(scope="session")
def private_key() -> str:
    """A new RSA private key, PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def key_file(tmp_path: Path, token_service: TokenService, private_key: str) -> Path:
    """A service account key file whose token_uri is the local token service."""
    path = tmp_path / "key.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "test", "private_key_id": "k1",
        "private_key": private_key, "client_email": "artifacts@test.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": token_service.url,
    }))
    return path


def _secret_lines(private_key: str) -> list[str]:
    return [line for line in private_key.splitlines() if "PRIVATE KEY" not in line][:3]


async def test_service_account_key_file(
    make_driver: MakeDriver, key_file: Path, token_service: TokenService, private_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With DEBUG on everywhere, every kind of request works with a token from the key, and
    no repr, error or log line shows the token or the key."""
    caplog.set_level(logging.DEBUG)
    driver = make_driver(anonymous=False,
                         credentials={"service_account_key_file": str(key_file)})
    await driver.put("small", b"small", checksums=PartChecksums(), metadata={"a": "b"})
    upload_id = await driver.start_upload("large", metadata={})
    part = await driver.upload_part("large", upload_id, 1, b"p" * 1000, offset=0,
                                    checksums=PartChecksums())
    await driver.complete_upload("large", upload_id, [part])
    assert b"".join([c async for c in driver.read("small", offset=1)]) == b"mall"
    assert [i.key async for i in driver.list("")] == ["large", "small"]
    with pytest.raises(aa.ArtifactNotFoundError) as missing:
        await driver.stat("absent")
    await driver.delete(["small", "large"])
    assert token_service.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert driver._sdk.current is not None
    assert await driver._sdk.current.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert "creating the GCS client" in caplog.text
    for secret in (TOKEN, *_secret_lines(private_key)):
        assert secret not in caplog.text
        assert secret not in repr(driver)
        assert secret not in repr(driver.settings)
        assert secret not in str(missing.value)


@pytest.mark.parametrize("holds", ["path", "json"])
async def test_key_from_a_variable(
    make_driver: MakeDriver, key_file: Path, monkeypatch: pytest.MonkeyPatch, holds: str,
    token_service: TokenService,
) -> None:
    """service_account_key_env names a variable holding the key's path or the key itself."""
    value = str(key_file) if holds == "path" else key_file.read_text()  # noqa: ASYNC240 - tiny
    monkeypatch.setenv("TEST_GCS_KEY", value)
    driver = make_driver(anonymous=False,
                         credentials={"service_account_key_env": "TEST_GCS_KEY"})
    await driver.put("k", b"x", checksums=PartChecksums(), metadata={})
    assert len(token_service.grants) == 1


async def test_refused_key_is_permission_denied(
    make_driver: MakeDriver, key_file: Path, token_service: TokenService, private_key: str,
) -> None:
    """A key the token service refuses gives PermissionDeniedError, without the key."""
    token_service.refuse = True
    driver = make_driver(anonymous=False,
                         credentials={"service_account_key_file": str(key_file)})
    with pytest.raises(aa.PermissionDeniedError, match="no access token") as info:
        await driver.stat("k")
    for secret in _secret_lines(private_key):
        assert secret not in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json at all {", "not a Google credentials"),
     ('{"type": "service_account", "client_email": "x"}', "lacks client_email or private_key"),
     ('["a list"]', "not a Google credentials")],
)
async def test_malformed_key(make_driver: MakeDriver, tmp_path: Path, content: str,
                             message: str) -> None:
    """A malformed key is a ConfigurationError naming its reference, not its content."""
    path = tmp_path / "bad.json"
    path.write_text(content)
    driver = make_driver(anonymous=False, credentials={"service_account_key_file": str(path)})
    with pytest.raises(aa.ConfigurationError, match=message) as info:
        await driver.stat("k")
    assert str(path) in str(info.value)
    assert "client_email\": \"x" not in str(info.value)


async def test_missing_key_reference(make_driver: MakeDriver, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A key file that does not exist, a path in a variable that does not, or an unset
    variable, is a ConfigurationError naming it."""
    driver = make_driver(anonymous=False, credentials={
        "service_account_key_file": str(tmp_path / "absent.json")})
    with pytest.raises(aa.ConfigurationError, match=r"absent\.json"):
        await driver.stat("k")
    monkeypatch.setenv("TEST_GCS_KEY", str(tmp_path / "elsewhere.json"))
    by_path = make_driver(anonymous=False,
                          credentials={"service_account_key_env": "TEST_GCS_KEY"})
    with pytest.raises(aa.ConfigurationError, match="TEST_GCS_KEY"):
        await by_path.stat("k")
    unset = make_driver(anonymous=False, credentials={"service_account_key_env": "UNSET_KEY"})
    with pytest.raises(aa.ConfigurationError, match="UNSET_KEY"):
        await unset.stat("k")


async def test_settings_never_hold_the_key(key_file: Path) -> None:
    """Parsing keeps only the reference; the key is read when the session is created."""
    settings: dict[str, Any] = {"bucket": "b",
                                "credentials": {"service_account_key_file": str(key_file)}}
    driver = GCSDriver.from_settings(settings)
    assert "PRIVATE" not in repr(driver.settings.credentials)
    assert driver._sdk.current is None

"""The fast path: PutObject and UploadPart signed here and sent through aiohttp directly.

aiobotocore spends about 1.2 ms of CPU on every request before and after the network
(endpoint rules, user agent, hooks, signing: see `docs/benchmarks.md`), four times what a
whole small upload costs obstore. These two operations carry every byte the driver
uploads, so they take a shorter road: the parameters the driver built for botocore are
placed by botocore's model (`_wire`), signed with SigV4 (`_sigv4`, the signing key kept
for the day) and sent on the driver's own aiohttp session. Everything else stays on
aiobotocore.

What the road is built from is botocore's, resolved once when the client is created:
the credentials (the same object the client signs with, refreshed as botocore refreshes
it), and the bucket's URL, region and signing name, read from a presigned URL so that
botocore's endpoint rules (addressing style, FIPS, dual-stack, accelerate, ...) decided
them. `open_fast_path` returns None, and every request stays on aiobotocore, when the
fast path cannot do what botocore would (see `_unsupported`).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

import aiohttp
import anyio.to_thread
import yarl
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import get_cert_path
from botocore.utils import get_environ_proxies

import artifacts_async

from ._redact import REDACTOR
from ._settings import S3Settings
from ._sigv4 import Identity, SigV4Signer
from ._wire import Operation, error_of

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

__all__ = ["FastPath", "WrongRegionError", "open_fast_path"]

logger = logging.getLogger("artifacts_async_s3")

OPERATIONS = ("PutObject", "UploadPart")
_PROBE = "artifacts-async-probe"
# Answers meaning the bucket lives in another region than the one signed for; botocore
# follows them (S3RegionRedirector), so the driver hands such a request back to it.
_REDIRECTS = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed",
                        "TemporaryRedirect", "IllegalLocationConstraintException"})


class Credentials(Protocol):
    """botocore's credentials, static or refreshable (aiobotocore's async form)."""

    async def get_frozen_credentials(self) -> Any: ...


class WrongRegionError(ClientError):
    """S3 redirected a fast-path request: the bucket is in another region."""


class FastPath:
    """Sends PutObject and UploadPart for one bucket; `send` returns botocore's fields."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        origin: str,
        host: str,
        base_path: str,
        signer: SigV4Signer,
        credentials: Credentials,
        operations: Mapping[str, Operation],
    ) -> None:
        self._session = session
        self._origin = origin
        self._host = host
        self._base_path = base_path
        self._signer = signer
        self._credentials = credentials
        self._operations = operations
        self._known: tuple[str, str | None] | None = None

    async def _identity(self) -> Identity:
        frozen = await self._credentials.get_frozen_credentials()
        if (frozen.access_key, frozen.token) != self._known:
            # Credentials refreshed since (or found by the SDK): hidden from logs too.
            REDACTOR.register(frozen.access_key, frozen.secret_key, frozen.token)
            self._known = (frozen.access_key, frozen.token)
        return Identity(frozen.access_key, frozen.secret_key, frozen.token)

    def prepare(
        self, operation: str, params: Mapping[str, Any], identity: Identity,
        *, now: float | None = None,
    ) -> tuple[str, str, dict[str, str], Any]:
        """The method, URL, signed headers and body of a request (`now`: tests fix it)."""
        op = self._operations[operation]
        query, headers, body = op.request(params)
        path = op.path(self._base_path, params)
        headers["host"] = self._host
        headers.update(self._signer.sign(
            method=op.method, path=path, query=query, headers=headers, identity=identity,
            now=now,
        ))
        url = f"{self._origin}{path}?{query}" if query else f"{self._origin}{path}"
        return op.method, url, headers, body

    async def send(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send one request; S3's error answers raise `ClientError` as botocore's do."""
        method, url, headers, body = self.prepare(operation, params, await self._identity())
        async with self._session.request(
            method, yarl.URL(url, encoded=True), data=body, headers=headers,
            allow_redirects=False,
        ) as response:
            if response.status >= 300:
                error = error_of(operation, response.status, await response.read())
                code = error.response.get("Error", {}).get("Code", "")
                if response.status in (301, 307) or code in _REDIRECTS:
                    raise WrongRegionError(error.response, operation)
                raise error
            await response.release()
            return self._operations[operation].response(response.status, response.headers.items())


def _unsupported(client: S3Client, settings: S3Settings, url: str) -> str | None:
    """Why the fast path cannot send what botocore would, or None."""
    # Settings of the client's Config, which the stubs do not all declare.
    config: Any = client.meta.config
    if config.proxies or get_environ_proxies(url):
        return "an HTTP proxy is configured"
    if config.client_cert:
        return "a TLS client certificate is configured"
    return None


async def _ssl_context(settings: S3Settings, ca_bundle: str | None) -> ssl.SSLContext | bool:
    """TLS as aiobotocore sets it up: the configured CA bundle, or certifi's, or none."""
    if settings.insecure:
        return False

    def build() -> ssl.SSLContext:
        return ssl.create_default_context(cafile=ca_bundle or get_cert_path(True))

    return await anyio.to_thread.run_sync(build)


async def open_fast_path(
    client: S3Client,
    credentials: Credentials | None,
    settings: S3Settings,
    stack: contextlib.AsyncExitStack,
    *,
    ca_bundle: str | None,
) -> FastPath | None:
    """The fast path for `client`'s bucket, closed with `stack`; None to use botocore only."""
    if not settings.fast_path:
        return _fallback("fast_path = false")
    if credentials is None:
        return _fallback("no credentials were found (botocore reports it)")
    try:
        presigned = await client.generate_presigned_url(
            "put_object", Params={"Bucket": settings.bucket, "Key": _PROBE}, ExpiresIn=60
        )
    except BotoCoreError as exc:
        return _fallback(f"botocore cannot presign a PutObject ({type(exc).__name__})")
    url = urlsplit(presigned)
    query = parse_qs(url.query)
    scope = query.get("X-Amz-Credential", [""])[0].split("/")
    if query.get("X-Amz-Algorithm") != ["AWS4-HMAC-SHA256"] or len(scope) != 5:
        return _fallback("the bucket is not signed with SigV4")
    _, _, region, service, _ = scope
    if service != "s3":
        return _fallback(f"the bucket is signed for {service!r}")
    if not url.path.endswith(f"/{_PROBE}") or url.scheme not in ("http", "https"):
        return _fallback("botocore's URL for the bucket is not host and path")
    if (reason := _unsupported(client, settings, presigned)) is not None:
        return _fallback(reason)
    host = url.netloc.rpartition("@")[2]
    default_port = ":443" if url.scheme == "https" else ":80"
    host = host.removesuffix(default_port)
    model = client.meta.service_model
    operations = {name: Operation.from_model(model.operation_model(name)) for name in OPERATIONS}
    ssl_option = await _ssl_context(settings, ca_bundle) if url.scheme == "https" else False
    session = await stack.enter_async_context(aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.max_pool_connections, ssl=ssl_option),
        timeout=aiohttp.ClientTimeout(
            sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        ),
        # Like aiobotocore's session: no Content-Type of aiohttp's choosing, no
        # decompression, the library's user agent.
        skip_auto_headers=("Content-Type",),
        auto_decompress=False,
        headers={"User-Agent": f"artifacts-async-s3/{artifacts_async.__version__} "
                               f"aiohttp/{aiohttp.__version__}",
                 "Accept-Encoding": "identity"},
    ))
    logger.debug("S3 fast path on for PutObject and UploadPart (%s, %s)", host, region)
    return FastPath(
        session=session, origin=f"{url.scheme}://{host}",
        base_path=url.path.removesuffix(_PROBE), host=host,
        signer=SigV4Signer(region=region, service=service), credentials=credentials,
        operations=operations,
    )


def _fallback(reason: str) -> FastPath | None:
    logger.debug("S3 fast path off, every request goes through aiobotocore: %s", reason)
    return None

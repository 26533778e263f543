"""One aiohttp session, one token, one gcloud-aio `Storage`: everything the driver sends.

gcloud-aio-storage's `Storage` serves the calls it has (object metadata, streamed
downloads, listings, deletes, bucket metadata). The JSON API calls it lacks or cannot make
efficiently (uploads with a declared CRC32C sent from the engine's buffer, compose with the
destination's metadata and key, batch deletes, bucket creation) go through `Client.call`:
the same aiohttp session, the same token, the same error handling. There is no second
HTTP stack.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import anyio
from gcloud.aio.auth import Token
from gcloud.aio.storage import Storage

import artifacts_async
from artifacts_async import ConfigurationError, PermissionDeniedError, TransientBackendError

from ._settings import GCSSettings

__all__ = ["Client", "ensure_bucket", "open_client"]

logger = logging.getLogger("artifacts_async_gcs")

SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"]
_USER_AGENT = (
    f"artifacts-async-gcs/{artifacts_async.__version__} "
    f"gcloud-aio-storage/{version('gcloud-aio-storage')}"
)
# A token is refreshed when less than this part of its lifetime is left.
_REFRESH_MARGIN = 0.1


class _Token(Token):
    """gcloud-aio-auth's token, fetched without its own background task and retries.

    `Token.get` retries a failed refresh five times with up to a minute between tries, in
    a task of its own; here a failure surfaces at once (as `PermissionDeniedError` or
    `TransientBackendError`) and the engine's retry loop, bounded by its deadlines, decides.
    """

    def __init__(self, service_file: io.StringIO | None, session: aiohttp.ClientSession,
                 timeout: float) -> None:
        super().__init__(
            service_file=service_file, scopes=SCOPES,
            session=session,  # type: ignore[arg-type]  # typed for gcloud-rest's requests.Session too
        )
        self._lock = anyio.Lock()
        self._value: str | None = None
        self._refresh_at = 0.0
        self._fetch_timeout = timeout

    async def get(self) -> str | None:
        if self._value is not None and time.monotonic() < self._refresh_at:
            return self._value
        async with self._lock:
            if self._value is None or time.monotonic() >= self._refresh_at:
                try:
                    answer = await self.refresh(timeout=int(max(1, self._fetch_timeout)))
                except aiohttp.ClientResponseError as exc:
                    if 400 <= exc.status < 500:
                        raise PermissionDeniedError(
                            f"GCS: no access token for these credentials ({exc.status}): check "
                            "the service account key or the workload identity binding",
                            backend_error=str(exc.status),
                        ) from exc
                    raise TransientBackendError(
                        f"GCS: the token service failed ({exc.status})",
                        backend_error=str(exc.status),
                    ) from exc
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise TransientBackendError(
                        f"GCS: the token service is unreachable ({type(exc).__name__})",
                        backend_error=type(exc).__name__,
                    ) from exc
                except (KeyError, ValueError) as exc:
                    raise PermissionDeniedError(
                        "GCS: the token service's answer had no access token",
                        backend_error=type(exc).__name__,
                    ) from exc
                self._value = answer.value
                lifetime = max(1, answer.expires_in)
                self._refresh_at = time.monotonic() + lifetime * (1 - _REFRESH_MARGIN)
            return self._value


def _key_json(settings: GCSSettings) -> io.StringIO | None:
    """The configured key as a file-like JSON document, validated; None for ADC."""
    ref = settings.credentials.refs.get("service_account_key")
    if ref is None:
        return None
    value = ref.resolve()
    if ref.kind == "env" and not value.lstrip().startswith("{"):
        # The variable holds a path (GOOGLE_APPLICATION_CREDENTIALS style); a file or a
        # mounted Kubernetes secret holds the key itself.
        try:
            value = Path(value).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"gcs driver: cannot read the service account key named by {ref!r} "
                f"({exc.strerror}): mount it there or fix the reference"
            ) from None
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if not isinstance(data, Mapping) or "type" not in data:
        raise ConfigurationError(
            f"gcs driver: the key named by {ref!r} is not a Google credentials JSON document"
        )
    if data["type"] == "service_account" and not (
        data.get("client_email") and data.get("private_key")
    ):
        raise ConfigurationError(
            f"gcs driver: the service account key named by {ref!r} lacks client_email or "
            "private_key"
        )
    return io.StringIO(value)


class Client:
    """The session, token and `Storage` of one driver; closed with `close()`."""

    def __init__(self, settings: GCSSettings) -> None:
        self.settings = settings
        self.api_root = settings.api_root
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        key = None if settings.unauthenticated else _key_json(settings)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.max_connections),
            timeout=self.timeout,
            headers={"User-Agent": _USER_AGENT},
        )
        self.token = None if settings.unauthenticated else _Token(
            key, self.session, settings.connect_timeout + settings.read_timeout
        )
        self.storage = Storage(
            session=self.session,  # type: ignore[arg-type]  # typed for gcloud-rest's requests.Session too
            token=self.token, api_root=self.api_root,
            api_is_dev=settings.unauthenticated,
        )

    async def headers(self) -> dict[str, str]:
        """The Authorization header (none when unauthenticated)."""
        if self.token is None:
            return {}
        return {"Authorization": f"Bearer {await self.token.get()}"}

    def url(self, path: str) -> str:
        """`path` (`/storage/v1/...`, `/upload/...`, `/batch/...`) under the API root."""
        return f"{self.api_root}{path}"

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        json_body: Any = None,
    ) -> aiohttp.ClientResponse:
        """Send a JSON API request; raise `aiohttp.ClientResponseError` on an error status.

        The caller reads (and so releases) the response.
        """
        sent = {**(headers or {}), **await self.headers()}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json; charset=UTF-8"
        return await self.storage.session.request(
            method, self.url(path), headers=sent, params=dict(params or {}), data=data,
            timeout=self.timeout,
        )

    async def call_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """`call`, then the answer's JSON object (`{}` for an empty body)."""
        response = await self.call(method, path, **kwargs)
        text = await response.text()
        if not text.strip():
            return {}
        answer: dict[str, Any] = json.loads(text)
        return answer

    async def close(self) -> None:
        """Close the session (and with it every connection)."""
        await self.session.close()


async def open_client(settings: GCSSettings) -> Client:
    """Create the client (inside the running loop), and create the bucket if asked."""
    logger.debug(
        "creating the GCS client: bucket %s, API %s, %s", settings.bucket, settings.api_root,
        "unauthenticated" if settings.unauthenticated else "with a token",
    )
    return Client(settings)


async def ensure_bucket(client: Client) -> None:
    """Fail early, naming the bucket, when it does not exist (or create it)."""
    settings = client.settings
    try:
        await client.storage.get_bucket_metadata(
            settings.bucket, timeout=client.timeout,  # type: ignore[arg-type]  # a ClientTimeout is passed through
        )
        return
    except aiohttp.ClientResponseError as exc:
        if exc.status in (401, 403) and not settings.create_bucket:
            return  # object-only roles may not read the bucket: find out on first use
        if exc.status != 404:
            raise
    if not settings.create_bucket:
        raise ConfigurationError(
            f"bucket {settings.bucket!r} does not exist: create it, fix the repository's "
            "'bucket', or set create_bucket = true"
        )
    resource: dict[str, Any] = {"name": settings.bucket}
    if settings.storage_class is not None:
        resource["storageClass"] = settings.storage_class
    project = settings.project or (await client.token.get_project() if client.token else None)
    try:
        await client.call_json("POST", "/storage/v1/b", params={"project": project or "_"},
                               json_body=resource)
    except aiohttp.ClientResponseError as exc:
        if exc.status != 409:  # created meanwhile (by another process of ours): fine
            raise

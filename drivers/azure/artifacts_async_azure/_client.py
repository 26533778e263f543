"""Creating the azure-storage-blob aio client: endpoint, credentials, transport, timeouts."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import aiohttp
import attrs
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import ResourceExistsError
from azure.core.pipeline.transport import AioHttpTransport
from azure.identity.aio import DefaultAzureCredential
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

import artifacts_async

from ._redact import REDACTOR
from ._settings import AzureSettings

__all__ = ["Containers", "RANGE_GET", "ensure_container", "open_container"]

logger = logging.getLogger("artifacts_async_azure")

MiB = 1024 * 1024
# Reads stream in ranged GETs of this size: memory per read stays at one chunk.
DOWNLOAD_CHUNK = 4 * MiB
# A read of at most this many bytes (a range of a parallel download, whose bytes the
# engine holds until written anyway) is one GET: each GET costs a request's work on both
# sides, and a range split in 4 MiB GETs cost Azurite twice the work of one GET.
RANGE_GET = 16 * MiB
_VERSION = artifacts_async.__version__


def _connection_secrets(connection_string: str) -> list[str]:
    """The secret parts of a connection string (to hide them from logs)."""
    found = [connection_string]
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() in ("accountkey", "sharedaccesssignature"):
            found.append(value.strip())
    return found


def _credential(settings: AzureSettings) -> Any:
    """The SDK credential for the settings (references are resolved here, not before).

    Raises `ConfigurationError` naming a reference that cannot be read.
    """
    kind = settings.credential_kind
    if kind == "sdk":
        # Workload identity, managed identity, environment, Azure CLI, ... in the SDK's
        # order. Interactive (browser) logins stay excluded, as in the SDK's default.
        return DefaultAzureCredential()
    secret = settings.credentials.get(kind)
    assert secret is not None  # the kind is one of the configured roles
    if kind == "account_key":
        REDACTOR.register(secret)
        assert settings.account_name is not None  # checked when parsed
        return AzureNamedKeyCredential(settings.account_name, secret)
    if kind == "sas_token":
        token = secret.removeprefix("?")
        REDACTOR.register(token, *(
            p.partition("=")[2] for p in token.split("&") if p.startswith("sig=")
        ))
        return AzureSasCredential(token)
    REDACTOR.register(*_connection_secrets(secret))
    return secret


@attrs.frozen
class Containers:
    """Two clients of one container over one session: `streamed` reads in GETs of
    `DOWNLOAD_CHUNK` (and does everything else), `ranged` makes a read of up to
    `RANGE_GET` bytes one GET (the SDK takes its GET sizes from the client's settings)."""

    streamed: ContainerClient
    ranged: ContainerClient


async def open_container(
    settings: AzureSettings, stack: contextlib.AsyncExitStack
) -> Containers:
    """Create the container clients (and their credential), closed when `stack` closes."""
    REDACTOR.register()  # the filter is in place before the first request is logged
    credential = _credential(settings)
    if isinstance(credential, DefaultAzureCredential):
        # Closed after the client (the stack unwinds in reverse): its sessions too.
        stack.push_async_callback(credential.close)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.max_connections),
        # As the SDK's own session: proxies from the environment, no cookies, and bodies
        # exactly as stored (a blob with Content-Encoding: gzip is not inflated).
        trust_env=True,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
    )
    stack.push_async_callback(session.close)
    logger.debug(
        "creating the Azure Blob client: container %s, endpoint %s, credentials %s",
        settings.container, settings.endpoint or "from the connection string",
        settings.credential_kind,
    )

    def container(get_size: int) -> ContainerClient:
        transport = AioHttpTransport(
            session=session, session_owner=False,
            connection_timeout=settings.connect_timeout, read_timeout=settings.read_timeout,
            # How much a streamed answer is read at a time. The SDK sets 256 KiB on the
            # transport it makes; one passed in keeps azure-core's 4 KiB, which costs a
            # Python iteration per 4 KiB of every download (twice the CPU of the transfer).
            connection_data_block_size=DOWNLOAD_CHUNK,
        )
        options: dict[str, Any] = {
            "transport": transport,
            # Retries live in the core (per request, with backoff, for every driver); the
            # SDK sends each request once, so attempts do not multiply.
            "retry_total": 0,
            "user_agent": f"artifacts-async-azure/{_VERSION}",
            "logging_enable": settings.sdk_logging,
            "max_single_get_size": get_size,
            "max_chunk_get_size": get_size,
        }
        if isinstance(credential, str):
            service = BlobServiceClient.from_connection_string(credential, **options)
        else:
            assert settings.endpoint is not None  # checked when parsed
            service = BlobServiceClient(settings.endpoint, credential=credential, **options)
        stack.push_async_callback(service.close)
        return service.get_container_client(settings.container)

    containers = Containers(streamed=container(DOWNLOAD_CHUNK), ranged=container(RANGE_GET))
    REDACTOR.register()  # and on the SDK's loggers created while making the clients
    return containers


async def ensure_container(container: ContainerClient) -> None:
    """Create the container unless it exists (`create_container = true`)."""
    # Created meanwhile by another process (or long ago): fine.
    with contextlib.suppress(ResourceExistsError):
        await container.create_container()

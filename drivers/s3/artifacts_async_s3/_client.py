"""Creating the aiobotocore S3 client: endpoint, TLS, timeouts, checksums, credentials."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioCredentials, AioDeferredRefreshableCredentials
from aiobotocore.session import AioSession
from botocore.credentials import CredentialProvider
from botocore.exceptions import ClientError

import artifacts_async

from ._errors import error_code
from ._fastpath import Credentials as FastPathCredentials
from ._fastpath import FastPath, open_fast_path
from ._redact import REDACTOR
from ._settings import S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

__all__ = ["ensure_bucket", "open_client"]

logger = logging.getLogger("artifacts_async_s3")

_VERSION = artifacts_async.__version__


def _config(settings: S3Settings) -> AioConfig:
    return AioConfig(
        region_name=settings.region,
        signature_version="s3v4",
        s3={
            "addressing_style": "path" if settings.path_style else "virtual",
            # Over plain http botocore would hash every body with SHA-256 to sign it, a
            # third pass over each part, on the event loop. Bodies carry Content-MD5 and
            # CRC32C headers, which are signed and which S3 verifies, so the body stays
            # protected without it ("UNSIGNED-PAYLOAD", as botocore does over https).
            "payload_signing_enabled": False,
        },
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=settings.max_pool_connections,
        # Retries live in the core (per request, with backoff, for every driver); the SDK
        # sends each request once, so attempts do not multiply.
        retries={"total_max_attempts": 1, "mode": "standard"},
        # botocore >= 1.36 adds a CRC32 of its own to every upload ("when_supported").
        # The engine already computed each part's MD5 and CRC32C (once, off the event
        # loop); "when_required" makes botocore send exactly those and hash nothing again.
        request_checksum_calculation="when_required",
        # The core verifies the CRC32C of whatever it reads whole; the SDK need not.
        response_checksum_validation="when_required",
        user_agent_extra=f"artifacts-async-s3/{_VERSION}",
    )


class _AssumeRoleProvider(CredentialProvider):
    """Credentials of `role_arn`, from STS with the base credentials, refreshed on expiry."""

    METHOD = "artifacts-async-assume-role"
    CANONICAL_NAME = "custom-artifacts-async-assume-role"

    def __init__(self, settings: S3Settings, base: dict[str, Any]) -> None:
        super().__init__()
        self._settings = settings
        self._base = base

    async def _refresh(self) -> dict[str, Any]:
        settings = self._settings
        session = AioSession(profile=settings.credentials.profile)
        async with session.create_client(
            "sts", config=_config(settings), endpoint_url=settings.endpoint_url,
            **self._base,
        ) as sts:
            response = await sts.assume_role(
                RoleArn=settings.role_arn, RoleSessionName="artifacts-async"
            )
        creds = response["Credentials"]
        REDACTOR.register(
            creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
        )
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    async def load(self) -> AioDeferredRefreshableCredentials:
        return AioDeferredRefreshableCredentials(refresh_using=self._refresh, method=self.METHOD)


def _explicit_keys(settings: S3Settings) -> dict[str, Any]:
    """Resolve the credential references (raises `ConfigurationError` naming a missing one)."""
    creds = settings.credentials
    if "access_key" not in creds.refs:
        return {}
    access_key, secret_key = creds.get("access_key"), creds.get("secret_key")
    token = creds.get("session_token")
    REDACTOR.register(access_key, secret_key, token)
    keys = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
    if token is not None:
        keys["aws_session_token"] = token
    return keys


async def open_client(
    settings: S3Settings, stack: contextlib.AsyncExitStack
) -> tuple[S3Client, FastPath | None]:
    """Create the S3 client and, unless it cannot be used, the fast path; closed with `stack`.

    Credentials: the resolved `access_key`/`secret_key`(/`session_token`) references, or
    the profile, or the SDK's own chain (environment, config files, instance roles, ...);
    with `role_arn`, those are used to assume the role and the role's credentials sign
    the requests. The fast path signs with the very credentials the client has.
    """
    REDACTOR.register()  # the filter is in place before the first request is logged
    keys = _explicit_keys(settings)
    session = AioSession(profile=settings.credentials.profile)
    if settings.role_arn is not None:
        resolver = session.get_component("credential_provider")
        resolver.insert_before(resolver.providers[0].METHOD, _AssumeRoleProvider(settings, keys))
        keys = {}
    verify = False if settings.insecure else None
    logger.debug(
        "creating the S3 client: bucket %s, endpoint %s, region %s",
        settings.bucket, settings.endpoint_url or "AWS", settings.region or "from the SDK",
    )
    client: S3Client = await stack.enter_async_context(
        session.create_client(
            "s3",
            endpoint_url=settings.endpoint_url,
            use_ssl=not settings.insecure,
            verify=verify,
            config=_config(settings),
            **keys,
        )
    )
    found: FastPathCredentials | None
    if keys:
        # What aiobotocore built for the client from the same keys.
        found = AioCredentials(
            keys["aws_access_key_id"], keys["aws_secret_access_key"],
            keys.get("aws_session_token"),
        )
    else:
        # The session's credentials, the very object the client signs with (the session
        # resolves them once). Those the SDK found itself (environment, profile, role)
        # are hidden from its log lines too.
        found = await session.get_credentials()
        if found is not None:
            frozen = await found.get_frozen_credentials()
            REDACTOR.register(frozen.access_key, frozen.secret_key, frozen.token)
    REDACTOR.register()  # and on the SDK's loggers created while making the client
    fast = await open_fast_path(
        client, found, settings, stack, ca_bundle=session.get_config_variable("ca_bundle")
    )
    return client, fast


async def ensure_bucket(client: S3Client, settings: S3Settings) -> None:
    """Create the bucket unless it exists (`create_bucket = true`)."""
    bucket, region = settings.bucket, settings.region
    try:
        await client.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    try:
        if region and region != "us-east-1":
            await client.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]  # any region name
            )
        else:
            await client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        # Created meanwhile by another process of ours: fine.
        if error_code(exc) != "BucketAlreadyOwnedByYou":
            raise

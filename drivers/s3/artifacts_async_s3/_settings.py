"""The S3 driver's settings: parsed once, validated, never holding a secret."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Literal, cast, final
from urllib.parse import urlsplit

import attrs

from artifacts_async import ConfigurationError, Credentials
from artifacts_async.abc import SettingsReader

__all__ = ["ChecksumMode", "S3Settings"]

# Roles of `Credentials.refs` this driver understands.
_ROLES = frozenset({"access_key", "secret_key", "session_token"})
_SSE = ("AES256", "aws:kms")


class ChecksumMode(enum.Enum):
    """Which checksums are sent with each part, and what S3 is asked to keep.

    - `crc32c`: Content-MD5 and CRC32C on every request; multipart uploads declare a
      full-object CRC32C, so S3 reports the CRC32C of the whole object.
    - `crc32c-composite`: the same, but multipart objects get S3's composite checksum
      (a checksum of the parts' checksums), for stores that lack full-object checksums.
    - `md5`: Content-MD5 only, for S3-compatible stores without the flexible-checksum
      headers (`x-amz-checksum-*`).
    """

    CRC32C = "crc32c"
    CRC32C_COMPOSITE = "crc32c-composite"
    MD5 = "md5"


def _prefix(value: str) -> str:
    stripped = value.strip("/")
    return f"{stripped}/" if stripped else ""


@final
@attrs.frozen(kw_only=True)
class S3Settings:
    """Everything the S3 driver is configured with (see `parse` for the setting names).

    `credentials` holds references to secrets, never their values, and is left out of
    the repr anyway.
    """

    bucket: str
    endpoint: str | None = None
    region: str | None = None
    insecure: bool = False
    path_style: bool = False
    prefix: str = attrs.field(default="", converter=_prefix)
    create_bucket: bool = False
    sse: Literal["AES256", "aws:kms"] | None = None
    sse_kms_key_id: str | None = None
    storage_class: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_pool_connections: int = 32
    checksum: ChecksumMode = ChecksumMode.CRC32C
    content_md5: bool = False
    verify_etag: bool = True
    head_after_complete: bool = True
    role_arn: str | None = None
    fast_path: bool = True
    credentials: Credentials = attrs.field(factory=Credentials, repr=False)

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint with its scheme (`http` when `insecure` and none was given)."""
        if self.endpoint is None or "://" in self.endpoint:
            return self.endpoint
        return f"{'http' if self.insecure else 'https'}://{self.endpoint}"

    @classmethod
    def parse(cls, settings: Mapping[str, Any]) -> S3Settings:
        """Read a repository's settings.

        - `bucket` (required): the bucket name.
        - `endpoint`: the URL of an S3-compatible service (`http://127.0.0.1:9000`); a
          bare host gets `https://`, or `http://` when `insecure`.
        - `region`: the bucket's region (`us-east-1` when an endpoint is set and no region).
        - `insecure`: plain HTTP for a bare endpoint host, and no TLS certificate check.
        - `path_style`: `https://host/bucket/key` addressing; the default is virtual-hosted
          (`https://bucket.host/key`) on AWS and path style when `endpoint` is set.
        - `prefix`: a folder every key is stored under (`team-a` → `team-a/<key>`).
        - `create_bucket`: create the bucket on first use if it does not exist.
        - `sse`: server-side encryption, `AES256` or `aws:kms`; `sse_kms_key_id` names the
          KMS key (with `aws:kms` only).
        - `storage_class`: `STANDARD_IA`, `INTELLIGENT_TIERING`, ...
        - `connect_timeout`, `read_timeout` (seconds), `max_pool_connections`.
        - `checksum`: `crc32c` (default), `crc32c-composite` or `md5` (see `ChecksumMode`).
        - `content_md5`: also send each request's Content-MD5, which lets the engine check
          S3's MD5-based ETag. Default: false with `checksum = "crc32c"` (every part is
          verified by S3 through its CRC32C, and the whole object by the engine through the
          full-object CRC32C, so an MD5 pass, about half of the client's CPU, adds
          nothing); true, and required, with `checksum = "md5"`.
        - `verify_etag`: whether S3's ETag may be checked as the MD5 of what was sent
          (default true; always off with `aws:kms`, whose ETags are not MD5 digests).
        - `head_after_complete`: when CompleteMultipartUpload's answer carries neither a
          full-object CRC32C nor an ETag the engine can check (with `content_md5`), ask
          HeadObject for the assembled object's size and checksums (default true).
          False is a weakening, for servers that answer with neither and hash the whole
          object on HEAD (`rclone serve s3`): the object is then taken to be the parts
          the server acknowledged, and the end-to-end check of the assembled object is
          skipped.
        - `role_arn`: an IAM role to assume (through STS at `endpoint`, or AWS's STS).
        - `fast_path`: send PutObject and UploadPart through the driver's own SigV4
          request path instead of aiobotocore's (default true); the driver falls back to
          aiobotocore by itself where the fast path cannot do what it would (see the
          driver's README).
        - `credentials`: a `Credentials` (or its mapping form) with the roles
          `access_key`, `secret_key`, `session_token`; a profile; or the SDK's chain.

        Raises `ConfigurationError` naming the setting that is missing or invalid.
        """
        read = SettingsReader(settings, driver="s3")
        read.check_known([f.name for f in attrs.fields(cls)])
        bucket = settings.get("bucket")
        if not isinstance(bucket, str) or not bucket.strip():
            raise ConfigurationError("s3 driver: set 'bucket' to the bucket's name")
        if "/" in bucket or bucket != bucket.strip():
            raise ConfigurationError(
                f"s3 driver: 'bucket' must be a bare bucket name, got {bucket!r} "
                "(put a key prefix in 'prefix')"
            )
        endpoint = read.string("endpoint")
        if endpoint is not None:
            _check_endpoint(endpoint)
        sse = read.string("sse")
        if sse is not None and sse not in _SSE:
            raise ConfigurationError(f"s3 driver: 'sse' must be AES256 or aws:kms, got {sse!r}")
        kms_key = read.string("sse_kms_key_id")
        if kms_key is not None and sse != "aws:kms":
            raise ConfigurationError("s3 driver: 'sse_kms_key_id' needs sse = \"aws:kms\"")
        checksum = settings.get("checksum", ChecksumMode.CRC32C.value)
        try:
            checksum_mode = ChecksumMode(checksum)
        except ValueError:
            choices = ", ".join(m.value for m in ChecksumMode)
            raise ConfigurationError(
                f"s3 driver: 'checksum' must be one of {choices}, got {checksum!r}"
            ) from None
        content_md5 = read.flag("content_md5", default=checksum_mode is ChecksumMode.MD5)
        if not content_md5 and checksum_mode is ChecksumMode.MD5:
            raise ConfigurationError(
                "s3 driver: 'content_md5' = false with checksum = \"md5\" leaves nothing to "
                "verify the bytes: use checksum = \"crc32c\" or keep content_md5"
            )
        return cls(
            bucket=bucket,
            endpoint=endpoint,
            region=read.string("region") or ("us-east-1" if endpoint else None),
            insecure=read.flag("insecure", default=False),
            path_style=read.flag("path_style", default=endpoint is not None),
            prefix=read.string("prefix") or "",
            create_bucket=read.flag("create_bucket", default=False),
            sse=cast('Literal["AES256", "aws:kms"] | None', sse),
            sse_kms_key_id=kms_key,
            storage_class=read.string("storage_class"),
            connect_timeout=read.seconds("connect_timeout", 10.0),
            read_timeout=read.seconds("read_timeout", 60.0),
            max_pool_connections=read.count("max_pool_connections", 32),
            checksum=checksum_mode,
            content_md5=content_md5,
            verify_etag=read.flag("verify_etag", default=True),
            head_after_complete=read.flag("head_after_complete", default=True),
            role_arn=read.string("role_arn"),
            fast_path=read.flag("fast_path", default=True),
            credentials=_credentials(read),
        )


def _check_endpoint(endpoint: str) -> None:
    url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/"):
        raise ConfigurationError(
            f"s3 driver: 'endpoint' must be an http(s) URL without a path, like "
            f"http://127.0.0.1:9000, got {endpoint!r}"
        )
    try:
        url.port  # noqa: B018 - parsing the port validates it
    except ValueError:
        raise ConfigurationError(
            f"s3 driver: 'endpoint' has an invalid port: {endpoint!r}"
        ) from None


def _credentials(read: SettingsReader) -> Credentials:
    credentials = read.credentials()
    unknown = set(credentials.refs) - _ROLES
    if unknown:
        raise ConfigurationError(
            f"s3 driver: credentials {', '.join(sorted(unknown))} are not used by S3 "
            f"(use {', '.join(sorted(_ROLES))})"
        )
    if ("access_key" in credentials.refs) != ("secret_key" in credentials.refs):
        raise ConfigurationError(
            "s3 driver: credentials need both access_key and secret_key, or neither"
        )
    if "session_token" in credentials.refs and "access_key" not in credentials.refs:
        raise ConfigurationError(
            "s3 driver: credentials session_token needs access_key and secret_key too"
        )
    return credentials

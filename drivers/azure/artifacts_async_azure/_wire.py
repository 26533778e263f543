"""What the driver writes on the wire: upload ids, block ids, metadata in ASCII headers.

An upload has no object on the service until its block list is committed, so everything
the driver needs later is derived from the upload id:

- `token`: 8 hex digits of the start time (Unix seconds) and 12 random hex digits. Every
  block of the upload is named from it (`aa-<token>-<00001>`), so the uncommitted blocks
  of one upload are told apart from another's under the same key, and the start time of
  an upload can be read back from its blocks (for the orphan sweep).
- the metadata given to `start_upload`, when there is any, base64url-encoded after a dot:
  the commit, possibly by a later process resuming the upload, sets it on the blob.

Block ids are the same length for every block of a blob, as the service requires; the
SDK base64-encodes them. The block `aa-<token>-abort` marks an aborted upload (see
`AzureDriver.abort_upload`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from artifacts_async import ConfigurationError
from artifacts_async.abc import from_header_value, header_value

__all__ = [
    "ABORTED",
    "CRC_KEY",
    "BlockName",
    "block_id",
    "metadata_from_azure",
    "metadata_to_azure",
    "new_token",
    "new_upload_id",
    "parse_block_id",
    "split_upload_id",
    "started_at",
]

ABORTED = "abort"
# The whole object's CRC32C (hex), set at commit and read back by `stat`: reserved.
CRC_KEY = "artifacts_async_crc32c"
_TOKEN = re.compile(r"[0-9a-f]{20}")
_BLOCK = re.compile(r"aa-([0-9a-f]{20})-(\d{5}|abort)")
MAX_BLOCKS = 50_000


def new_token() -> str:
    """A fresh upload token: the time (Unix seconds, 8 hex digits), then 12 random ones."""
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{secrets.token_hex(6)}"


def new_upload_id(metadata: Mapping[str, str]) -> str:
    """A fresh upload id carrying `metadata` (validated here, before any byte moves)."""
    encoded = metadata_to_azure(metadata)
    token = new_token()
    if not encoded:
        return token
    blob = json.dumps(encoded, separators=(",", ":"), sort_keys=True).encode()
    return f"{token}.{base64.urlsafe_b64encode(blob).decode('ascii')}"


def split_upload_id(upload_id: str) -> tuple[str, dict[str, str]] | None:
    """The token and the (wire-encoded) metadata of an upload id; None if not one of ours."""
    token, _, rest = upload_id.partition(".")
    if not _TOKEN.fullmatch(token):
        return None
    if not rest:
        return token, {}
    try:
        decoded = json.loads(base64.urlsafe_b64decode(rest.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    if not isinstance(decoded, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in decoded.items()
    ):
        return None
    return token, decoded


def started_at(token: str) -> datetime:
    """When the upload named by `token` was started (to the second)."""
    return datetime.fromtimestamp(int(token[:8], 16), UTC)


def block_id(token: str, number: int | str) -> str:
    """The (unencoded) id of block `number` of the upload `token`, or its abort marker."""
    suffix = number if isinstance(number, str) else f"{number:05d}"
    return f"aa-{token}-{suffix}"


class BlockName:
    """A parsed block id: its upload token and part number (0 for the abort marker)."""

    __slots__ = ("aborted", "number", "token")

    def __init__(self, token: str, number: int, *, aborted: bool) -> None:
        self.token = token
        self.number = number
        self.aborted = aborted


def parse_block_id(raw: str) -> BlockName | None:
    """The upload and part a block id names; None for blocks that are not ours."""
    match = _BLOCK.fullmatch(raw)
    if match is None:
        return None
    token, suffix = match.groups()
    if suffix == ABORTED:
        return BlockName(token, 0, aborted=True)
    return BlockName(token, int(suffix), aborted=False)


# Metadata travels in `x-ms-meta-<name>` headers: names must be C# identifiers and values
# ASCII: values a header cannot carry unchanged are RFC 2047-encoded (`abc.header_value`).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def metadata_to_azure(metadata: Mapping[str, str]) -> dict[str, str]:
    """User metadata as Azure takes it (raises `ConfigurationError` for a bad name)."""
    encoded = {}
    for name, value in metadata.items():
        if name.lower() == CRC_KEY:
            raise ConfigurationError(
                f"azure driver: metadata name {name!r} is reserved for the object's CRC32C"
            )
        if not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"azure driver: metadata name {name!r} must be a C# identifier "
                "(letters, digits, underscores; not starting with a digit)"
            )
        encoded[name] = header_value(value)
    return encoded


def metadata_from_azure(metadata: Mapping[str, str]) -> dict[str, str]:
    """The inverse of `metadata_to_azure`."""
    return {name: from_header_value(value) for name, value in metadata.items()}

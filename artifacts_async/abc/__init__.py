"""Interfaces that drivers and embedders implement, and what a driver author needs.

A driver implements `Driver` with the value types below; `crc32c`, `crc32c_combine`,
`part_checksums`, `verify_part`, `resolve_range`, `limits_from_settings` and
`received_pieces` are the helpers the core's own drivers use; `header_value` and
`from_header_value` carry user metadata in HTTP headers (RFC 2047 where needed); `SettingsReader`,
`translated_errors` and `SecretRedactor` read settings, translate SDK errors and keep
secrets out of SDK logs the same way in every cloud driver; `LazyClient` creates a
driver's SDK client on first use and closes it with the driver, and `BufferPayload`
sends the engine's buffer as an aiohttp request body without a copy (it needs aiohttp,
which the core does not depend on: it is imported the first time the name is used).
`docs/drivers.md` walks through writing one.
"""

import typing

from ._driver import (
    ChecksumKind,
    DeleteOutcome,
    Driver,
    DriverLimits,
    ObjectInfo,
    PartChecksums,
    PendingUpload,
    UploadedPart,
)
from ._errors import translated_errors
from ._helpers import (
    crc32c,
    crc32c_combine,
    http_range,
    limits_from_settings,
    part_checksums,
    resolve_range,
    verify_part,
)
from ._lazy import LazyClient
from ._metadata import from_header_value, header_value
from ._pieces import ReceivedStream, received_pieces
from ._redact import SecretRedactor
from ._settings import SettingsReader

if typing.TYPE_CHECKING:
    from ._payload import BufferPayload

__all__ = [
    "BufferPayload",
    "ChecksumKind",
    "DeleteOutcome",
    "Driver",
    "DriverLimits",
    "LazyClient",
    "ObjectInfo",
    "PartChecksums",
    "PendingUpload",
    "ReceivedStream",
    "SecretRedactor",
    "SettingsReader",
    "UploadedPart",
    "crc32c",
    "crc32c_combine",
    "from_header_value",
    "header_value",
    "http_range",
    "limits_from_settings",
    "part_checksums",
    "received_pieces",
    "resolve_range",
    "translated_errors",
    "verify_part",
]


def __getattr__(name: str) -> object:
    # `BufferPayload` is an aiohttp payload: aiohttp is imported only when it is used.
    if name == "BufferPayload":
        from ._payload import BufferPayload  # noqa: PLC0415

        return BufferPayload
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

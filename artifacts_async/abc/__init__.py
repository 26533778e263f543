"""Interfaces that drivers and embedders implement, and what a driver author needs.

A driver implements `Driver` with the value types below; `crc32c`, `crc32c_combine`,
`part_checksums`, `verify_part`, `resolve_range`, `limits_from_settings` and
`received_pieces` are the helpers the core's own drivers use; `SettingsReader`,
`translated_errors` and `SecretRedactor` read settings, translate SDK errors and keep
secrets out of SDK logs the same way in every cloud driver. `docs/drivers.md` walks
through writing one.
"""

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
from ._pieces import ReceivedStream, received_pieces
from ._redact import SecretRedactor
from ._settings import SettingsReader

__all__ = [
    "ChecksumKind",
    "DeleteOutcome",
    "Driver",
    "DriverLimits",
    "ObjectInfo",
    "PartChecksums",
    "PendingUpload",
    "ReceivedStream",
    "SecretRedactor",
    "SettingsReader",
    "UploadedPart",
    "crc32c",
    "crc32c_combine",
    "http_range",
    "limits_from_settings",
    "part_checksums",
    "received_pieces",
    "resolve_range",
    "translated_errors",
    "verify_part",
]

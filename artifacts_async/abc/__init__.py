"""Interfaces that drivers and embedders implement, and what a driver author needs.

A driver implements `Driver` with the value types below; `crc32c`, `crc32c_combine`,
`part_checksums`, `verify_part`, `resolve_range` and `limits_from_settings` are the
helpers the core's own drivers use. `docs/drivers.md` walks through writing one.
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
from ._helpers import (
    crc32c,
    crc32c_combine,
    limits_from_settings,
    part_checksums,
    resolve_range,
    verify_part,
)

__all__ = [
    "ChecksumKind",
    "DeleteOutcome",
    "Driver",
    "DriverLimits",
    "ObjectInfo",
    "PartChecksums",
    "PendingUpload",
    "UploadedPart",
    "crc32c",
    "crc32c_combine",
    "limits_from_settings",
    "part_checksums",
    "resolve_range",
    "verify_part",
]

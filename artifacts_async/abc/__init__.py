"""Interfaces that drivers and embedders implement."""

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

__all__ = [
    "ChecksumKind",
    "DeleteOutcome",
    "Driver",
    "DriverLimits",
    "ObjectInfo",
    "PartChecksums",
    "PendingUpload",
    "UploadedPart",
]

"""The one exception hierarchy of artifacts_async.

```
ArtifactError
├── ConfigurationError          a repository, driver setting or option is wrong
│   └── DriverNotInstalledError a driver's distribution is missing (ImportError too)
├── KeyTemplateError            a key template is malformed or renders an unsafe key
├── MissingInputError           a required output path or input object does not exist
├── UnsafeArchiveError          an archive member would escape its destination
├── IntegrityError              a checksum or size did not match what was sent
├── TransferError               one artifact's upload or download failed (wraps the cause)
│   └── SourceChangedError      an output's file changed while it was being uploaded
└── BackendError                the storage backend refused or failed an operation
    ├── ArtifactNotFoundError   the object or upload does not exist (FileNotFoundError too)
    ├── PermissionDeniedError   the credentials may not do this (PermissionError too)
    └── TransientBackendError   throttling, timeouts, 5xx: safe to retry
```

Drivers translate their SDK's errors into these at their boundary; no SDK exception
ever reaches a caller. Messages never contain credentials.
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "ArtifactNotFoundError",
    "BackendError",
    "ConfigurationError",
    "DriverNotInstalledError",
    "IntegrityError",
    "KeyTemplateError",
    "MissingInputError",
    "PermissionDeniedError",
    "SourceChangedError",
    "TransferError",
    "TransientBackendError",
    "UnsafeArchiveError",
]


class ArtifactError(Exception):
    """Base class of every error this library raises."""


class ConfigurationError(ArtifactError, ValueError):
    """A repository, a driver setting or an option is missing or invalid."""


class DriverNotInstalledError(ConfigurationError, ImportError):
    """The distribution that provides a driver is not installed."""


class KeyTemplateError(ArtifactError, ValueError):
    """A key template is malformed, names an unknown variable, or renders an unsafe key."""


class MissingInputError(ArtifactError, FileNotFoundError):
    """A required output path is missing on disk, or a required input is missing in storage."""


class UnsafeArchiveError(ArtifactError):
    """An archive member would be written outside its destination, or is a device or link."""


class IntegrityError(ArtifactError):
    """What the backend stored does not match what was sent (size or checksum)."""


class TransferError(ArtifactError):
    """One artifact's transfer failed; `__cause__` holds the underlying error."""


class SourceChangedError(TransferError):
    """An output's file (or a file of its directory) changed while it was being uploaded.

    Nothing is left under the key: the upload is aborted before it completes.
    """


class BackendError(ArtifactError):
    """The storage backend refused or failed an operation.

    `backend_error` holds a short description of the backend's own error (its code and
    message), never credentials. `retryable` tells whether the operation may succeed if
    repeated.
    """

    retryable: bool = False

    def __init__(self, message: str, *, backend_error: str | None = None) -> None:
        super().__init__(message)
        self.backend_error = backend_error


class ArtifactNotFoundError(BackendError, FileNotFoundError):
    """The object, bucket entry or multipart upload does not exist."""


class PermissionDeniedError(BackendError, PermissionError):
    """The configured credentials are not allowed to perform the operation."""


class TransientBackendError(BackendError):
    """A failure that may succeed on retry: throttling, timeouts, resets, 5xx."""

    retryable = True

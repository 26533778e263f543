"""artifacts_async: move a workflow step's artifacts to and from object storage.

Keys first, report early, upload concurrently in verified parts, resume after a crash,
stream downloads, collect garbage safely.
"""

from ._artifacts import Artifacts, LoadResult, SaveResult
from ._budget import TransferBudget
from ._config import Repository, RepositoryConfig
from ._credentials import Credentials, SecretRef
from ._events import CompleteDetails, ProgressEvent, ReportDetails
from ._exceptions import (
    ArtifactError,
    ArtifactNotFoundError,
    BackendError,
    ConfigurationError,
    DriverNotInstalledError,
    IntegrityError,
    KeyTemplateError,
    MissingInputError,
    PermissionDeniedError,
    SourceChangedError,
    TransferError,
    TransientBackendError,
    UnsafeArchiveError,
)
from ._gc import GCEvent, GCOutcome, GCReport, GCStatus, sweep_orphans
from ._ledger import Ledger
from ._options import TransferOptions
from ._planning import plan_inputs, plan_outputs
from ._records import ArtifactRecord, ArtifactStatus, Location
from ._registry import available_drivers, load_driver
from ._specs import Archive, ArchiveKind, Context, GCStrategy, InputArtifact, OutputArtifact
from ._sync import SyncArtifacts
from ._templates import render_key

__version__ = "0.2.0.dev0"  # the one source of the version (pyproject reads it)

__all__ = [
    "Archive",
    "ArchiveKind",
    "ArtifactError",
    "ArtifactNotFoundError",
    "ArtifactRecord",
    "ArtifactStatus",
    "Artifacts",
    "BackendError",
    "CompleteDetails",
    "ConfigurationError",
    "Context",
    "Credentials",
    "DriverNotInstalledError",
    "GCEvent",
    "GCOutcome",
    "GCReport",
    "GCStatus",
    "GCStrategy",
    "InputArtifact",
    "IntegrityError",
    "KeyTemplateError",
    "Ledger",
    "LoadResult",
    "Location",
    "MissingInputError",
    "OutputArtifact",
    "PermissionDeniedError",
    "ProgressEvent",
    "ReportDetails",
    "Repository",
    "RepositoryConfig",
    "SaveResult",
    "SecretRef",
    "SourceChangedError",
    "SyncArtifacts",
    "TransferBudget",
    "TransferError",
    "TransferOptions",
    "TransientBackendError",
    "UnsafeArchiveError",
    "available_drivers",
    "load_driver",
    "plan_inputs",
    "plan_outputs",
    "render_key",
    "sweep_orphans",
]

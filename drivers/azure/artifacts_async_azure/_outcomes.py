"""Reading the per-key answers of a batch delete."""

from __future__ import annotations

from artifacts_async import BackendError
from artifacts_async.abc import DeleteOutcome

from ._errors import from_code

__all__ = ["delete_outcome"]


def delete_outcome(
    key: str, status: int, code: str | None, reason: str | None, *, what: str, container: str
) -> DeleteOutcome:
    """The outcome of one sub-request of a batch delete.

    202: deleted, so it existed; 404 `BlobNotFound`: already absent; anything else is
    this key's error, as a `BackendError` (a missing container too, named in the message).
    """
    if 200 <= status < 300:
        return DeleteOutcome(key=key, existed=True)
    if status == 404 and code in (None, "BlobNotFound"):
        return DeleteOutcome(key=key, existed=False)
    mapped = from_code(code or str(status), reason or "", what, container=container,
                       status=status)
    if not isinstance(mapped, BackendError):
        mapped = BackendError(str(mapped), backend_error=f"{code or status}: {reason or ''}")
    return DeleteOutcome(key=key, error=mapped)

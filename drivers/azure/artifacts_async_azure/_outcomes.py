"""Reading the per-key answers of a batch delete."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
from azure.core.pipeline.transport import AsyncHttpResponse

from artifacts_async import BackendError
from artifacts_async.abc import DeleteOutcome

from ._errors import from_code

__all__ = ["delete_outcome", "delete_outcomes"]


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


def delete_outcomes(
    keys: Sequence[str], sent: Sequence[str], answers: Sequence[AsyncHttpResponse], *,
    describe: Callable[[str], str], container: str,
) -> list[DeleteOutcome]:
    """One outcome per key of `keys`, from the answers to deleting `sent` (the distinct
    keys, in the order sent: the answers come in that order); a key the answer lacks
    gets an error."""
    outcomes = {
        key: delete_outcome(key, answer.status_code, answer.headers.get("x-ms-error-code"),
                            answer.reason, what=describe(key), container=container)
        for key, answer in zip(sent, answers, strict=False)
    }
    missing = DeleteOutcome(key="", error=BackendError(
        "the batch answer has no entry for this key", backend_error="missing answer"
    ))
    return [outcomes.get(k) or attrs.evolve(missing, key=k) for k in keys]

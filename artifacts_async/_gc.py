"""Artifact garbage collection that never trips over retried steps.

Only records that are `stored` and due are deleted. A record that was never stored — a
planned output of an attempt that failed before uploading, a failed upload, a skipped
optional output — is reported as skipped ("never stored"): it causes no driver lookup, no
delete request and no error. One artifact's failure never stops the others.

The one exception is a directory stored with archive none (`record.directory`): its
objects are found by listing its key, and a due record of a failed or killed attempt has
what that attempt left (files, no manifest) deleted; with a manifest there, another
attempt stored the key and nothing is deleted.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import final

import anyio
import attrs
import stamina

from ._dirgc import delete_directory
from ._exceptions import (
    ArtifactError,
    ArtifactNotFoundError,
    ConfigurationError,
    TransientBackendError,
)
from ._records import ArtifactRecord, ArtifactStatus, Location
from ._specs import GCStrategy
from .abc import DeleteOutcome, Driver, PendingUpload

__all__ = ["GCEvent", "GCOutcome", "GCReport", "GCStatus", "collect_garbage", "sweep_orphans"]

DriverFor = Callable[[str], Awaitable[Driver]]


class GCEvent(enum.Enum):
    """What happened to the workflow."""

    WORKFLOW_COMPLETED = "workflow_completed"
    WORKFLOW_DELETED = "workflow_deleted"


class GCStatus(enum.Enum):
    """What GC did with one artifact."""

    DELETED = "deleted"
    ALREADY_ABSENT = "already_absent"
    WOULD_DELETE = "would_delete"
    SKIPPED = "skipped"
    FAILED = "failed"


@final
@attrs.frozen(kw_only=True)
class GCOutcome:
    """One artifact's GC result.

    `problem` tells a failure's kind: "configuration" (the repository or driver is not
    usable) or "runtime" (the backend refused or failed).
    """

    name: str
    location: Location
    status: GCStatus
    reason: str | None = None
    problem: str | None = None
    attempt: int = 0
    node_id: str = ""
    workflow_uid: str = ""


@final
@attrs.frozen(kw_only=True)
class GCReport:
    """Every artifact's outcome, in the order given, and the delete requests sent."""

    outcomes: Sequence[GCOutcome]
    requests: int = 0

    def _count(self, status: GCStatus) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    @property
    def deleted(self) -> int:
        """Artifacts deleted now."""
        return self._count(GCStatus.DELETED)

    @property
    def already_absent(self) -> int:
        """Artifacts whose object was already gone (counts as collected)."""
        return self._count(GCStatus.ALREADY_ABSENT)

    @property
    def would_delete(self) -> int:
        """Artifacts a dry run would delete."""
        return self._count(GCStatus.WOULD_DELETE)

    @property
    def skipped(self) -> int:
        """Artifacts not due, never stored, or marked never."""
        return self._count(GCStatus.SKIPPED)

    @property
    def failed(self) -> int:
        """Artifacts that could not be deleted."""
        return self._count(GCStatus.FAILED)

    @property
    def ok(self) -> bool:
        """True when no artifact failed."""
        return self.failed == 0


def _due(strategy: GCStrategy, event: GCEvent) -> bool:
    if strategy is GCStrategy.ON_WORKFLOW_COMPLETION:
        return True  # due on completion; on deletion, collect what is still present
    if strategy is GCStrategy.ON_WORKFLOW_DELETION:
        return event is GCEvent.WORKFLOW_DELETED
    return False


def _skip_reason(record: ArtifactRecord, event: GCEvent) -> str | None:
    """Why `record` is not deleted on `event`, or None when it is due."""
    if record.gc is GCStrategy.NEVER:
        return "gc strategy never"
    # Invariant: only a record whose bytes the backend confirmed is ever deleted.
    if record.status is not ArtifactStatus.STORED:
        return "never stored"
    if not _due(record.gc, event):
        return f"not due on {event.value}"
    return None


def _outcome(record: ArtifactRecord, status: GCStatus, reason: str | None = None,
             problem: str | None = None) -> GCOutcome:
    return GCOutcome(name=record.name, location=record.location, status=status, reason=reason,
                     problem=problem, attempt=record.attempt, node_id=record.node_id,
                     workflow_uid=record.workflow_uid)


def _problem(error: BaseException) -> str:
    return "configuration" if isinstance(error, ConfigurationError) else "runtime"


#: A directory stored with archive none is collected by listing its key (`_dirgc`) in
#: these states: stored, or never stored but maybe partly uploaded (a failed or killed
#: attempt leaves files without a manifest, which are deleted; planned covers a killed
#: process whose record was kept from `on_report`).
_DIRECTORY_STATES = (ArtifactStatus.STORED, ArtifactStatus.FAILED, ArtifactStatus.PLANNED)
_LEFTOVERS = "never stored; the files an unfinished attempt left were deleted"

#: The reason of a `deleted` outcome whose object may already have been gone.
UNKNOWN_PRESENCE = "deleted; the backend cannot tell whether it still existed"


def _deleted(result: DeleteOutcome | None,
             present: bool | None) -> tuple[GCStatus, str | None, str | None]:
    """Status, reason and problem of a key the driver was asked to delete.

    `present` is what `stat` said before the delete, when the driver's delete cannot tell.
    """
    if result is None:
        return GCStatus.FAILED, "the backend did not report this key", "runtime"
    if result.error is not None:
        return GCStatus.FAILED, str(result.error), _problem(result.error)
    existed = result.existed if result.existed is not None else present
    if existed is False:
        return GCStatus.ALREADY_ABSENT, "already absent", None
    if existed is None:
        return GCStatus.DELETED, UNKNOWN_PRESENCE, None
    return GCStatus.DELETED, None, None


async def _presence(driver: Driver, keys: Sequence[str], *, attempts: int,
                    limiter: anyio.CapacityLimiter) -> dict[str, bool | None]:
    """Whether each key exists now (None: the backend would not say), by `stat`.

    For drivers whose batch delete cannot tell a deleted key from an absent one
    (`limits.delete_reports_absence` is False, as on S3): checked just before the delete,
    so that the report says `already_absent` where it is true.
    """
    found: dict[str, bool | None] = {}

    async def look(key: str) -> None:
        async with limiter:
            try:
                async for attempt in stamina.retry_context(
                    on=TransientBackendError, attempts=attempts
                ):
                    with attempt:
                        await driver.stat(key)
                found[key] = True
            except ArtifactNotFoundError:
                found[key] = False
            except ArtifactError:
                found[key] = None  # no permission to look, say: the delete still runs

    async with anyio.create_task_group() as tg:
        for key in keys:
            tg.start_soon(look, key)
    return found


async def _collect_directory(
    record: ArtifactRecord, *, driver_for: DriverFor, limiter: anyio.CapacityLimiter,
    dry_run: bool, retry_attempts: int,
) -> tuple[GCOutcome, int]:
    """The outcome of collecting one directory artifact, and the delete requests sent."""
    stored = record.status is ArtifactStatus.STORED
    if stored and dry_run:
        return _outcome(record, GCStatus.WOULD_DELETE), 0
    try:
        driver = await driver_for(record.location.repository)
    except ArtifactError as exc:
        return _outcome(record, GCStatus.FAILED, str(exc), "configuration"), 0
    async with limiter:
        result = await delete_directory(driver, record.location.key, attempts=retry_attempts,
                                        unfinished=not stored, dry_run=dry_run)
    if result.error is not None:
        outcome = _outcome(record, GCStatus.FAILED, str(result.error), _problem(result.error))
    elif not stored:
        if result.kept:
            outcome = _outcome(record, GCStatus.SKIPPED,
                               "never stored (another attempt stored this key)")
        elif not result.found:
            outcome = _outcome(record, GCStatus.SKIPPED, "never stored")
        else:
            outcome = _outcome(record, GCStatus.WOULD_DELETE if dry_run else GCStatus.DELETED,
                               _LEFTOVERS)
    elif not result.found:
        outcome = _outcome(record, GCStatus.ALREADY_ABSENT, "already absent")
    else:
        outcome = _outcome(record, GCStatus.DELETED)
    return outcome, result.requests


async def collect_garbage(
    records: Sequence[ArtifactRecord],
    *,
    event: GCEvent,
    driver_for: DriverFor,
    dry_run: bool = False,
    max_concurrency: int = 8,
    retry_attempts: int = 6,
) -> GCReport:
    """Delete the stored artifacts of `records` that are due on `event`.

    The engine of `Artifacts.collect_garbage`, which callers use (it builds `driver_for`
    from the repository configuration); not part of the public surface.

    Deletes are grouped by repository and sent in the driver's batch size, repositories
    and batches in parallel under `max_concurrency`. Transient failures are retried.
    Nothing is raised for one artifact's failure: read the report.
    """
    results: dict[int, GCOutcome] = {}
    due: dict[str, dict[str, list[int]]] = {}  # repository -> key -> record indexes
    directories: list[int] = []
    for index, record in enumerate(records):
        if record.directory and record.gc is not GCStrategy.NEVER and \
                _due(record.gc, event) and record.status in _DIRECTORY_STATES:
            directories.append(index)
            continue
        reason = _skip_reason(record, event)
        if reason is not None:
            results[index] = _outcome(record, GCStatus.SKIPPED, reason)
        elif dry_run:
            results[index] = _outcome(record, GCStatus.WOULD_DELETE)
        else:
            repo = due.setdefault(record.location.repository, {})
            repo.setdefault(record.location.key, []).append(index)
    requests = 0
    limiter = anyio.CapacityLimiter(max_concurrency)
    # Lookups are small requests: more of them in flight than batches of deletes.
    lookups = anyio.CapacityLimiter(4 * max_concurrency)

    def settle(indexes: list[int], status: GCStatus, reason: str | None = None,
               problem: str | None = None) -> None:
        for index in indexes:
            results[index] = _outcome(records[index], status, reason, problem)

    async def delete_batch(driver: Driver, keys: dict[str, list[int]]) -> None:
        nonlocal requests
        async with limiter:
            present: dict[str, bool | None] = {}
            if not driver.limits.delete_reports_absence:
                present = await _presence(driver, list(keys), attempts=retry_attempts,
                                          limiter=lookups)
            try:
                async for attempt in stamina.retry_context(
                    on=TransientBackendError, attempts=retry_attempts
                ):
                    with attempt:
                        requests += 1
                        outcomes: Sequence[DeleteOutcome] = await driver.delete(list(keys))
            except ArtifactError as exc:
                for indexes in keys.values():
                    settle(indexes, GCStatus.FAILED, str(exc), _problem(exc))
                return
        by_key = {o.key: o for o in outcomes}
        for key, indexes in keys.items():
            settle(indexes, *_deleted(by_key.get(key), present.get(key)))

    async def collect_repository(repository: str, keys: dict[str, list[int]]) -> None:
        try:
            driver = await driver_for(repository)
        except ArtifactError as exc:
            # Only this repository's artifacts fail; the message says what to configure.
            for indexes in keys.values():
                settle(indexes, GCStatus.FAILED, str(exc), "configuration")
            return
        batch = max(1, driver.limits.delete_batch_size)
        items = list(keys.items())
        async with anyio.create_task_group() as tg:
            for start in range(0, len(items), batch):
                tg.start_soon(delete_batch, driver, dict(items[start : start + batch]))

    async def collect_directory(index: int) -> None:
        nonlocal requests
        results[index], sent = await _collect_directory(
            records[index], driver_for=driver_for, limiter=limiter, dry_run=dry_run,
            retry_attempts=retry_attempts)
        requests += sent

    async with anyio.create_task_group() as tg:
        for repository, keys in due.items():
            tg.start_soon(collect_repository, repository, keys)
        for index in directories:
            tg.start_soon(collect_directory, index)
    return GCReport(outcomes=[results[i] for i in range(len(records))], requests=requests)


async def sweep_orphans(
    driver: Driver,
    *,
    prefix: str = "",
    older_than: timedelta,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[PendingUpload]:
    """Abort uploads under `prefix` started before `now - older_than`; return them.

    For a caller that holds a driver but no `Artifacts` (a driver's own tests, a
    maintenance job built on one driver); with an `Artifacts`, use
    `Artifacts.sweep_orphans(repository, ...)`.

    This is what S3's `AbortIncompleteMultipartUpload` lifecycle rule does, on demand, for
    every driver: incomplete multipart uploads, uncommitted blocks, temporary part files.
    Uploads whose start time is unknown are left alone. A negative `older_than` (which
    would abort uploads still running) raises `ConfigurationError`.
    """
    if older_than < timedelta(0):
        raise ConfigurationError(
            f"sweep_orphans: older_than must not be negative, got {older_than}"
        )
    cutoff = (now or datetime.now(UTC)) - older_than
    stale = [u for u in await driver.list_uploads(prefix)
             if u.started is not None and u.started < cutoff]
    if not dry_run:
        for upload in stale:
            await driver.abort_upload(upload.key, upload.upload_id)
    return stale

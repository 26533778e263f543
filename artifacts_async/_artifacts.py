"""The entry point: `Artifacts` saves outputs, loads inputs and streams objects."""

from __future__ import annotations

import functools
import operator
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from datetime import timedelta
from types import TracebackType
from typing import final

import anyio

from ._budget import TransferBudget
from ._collector import collector_paused
from ._config import RepositoryConfig
from ._dirsave import plan_marked, save_directory
from ._events import (
    CompleteCallback,
    CompleteDetails,
    ProgressCallback,
    ProgressEvent,
    ReportCallback,
    ReportDetails,
    begin_call,
    call,
)
from ._exceptions import (
    ArtifactError,
    ConfigurationError,
    MissingInputError,
    TransferError,
)
from ._gc import GCEvent, GCReport, collect_garbage, sweep_orphans
from ._journal import Journal, default_state_dir
from ._ledger import Ledger
from ._loads import load_all, progressed_stream
from ._observe import SaveObserver, check_progress_callback
from ._options import TransferOptions
from ._outcomes import as_artifact_error, in_spec_order
from ._planning import plan_inputs, plan_outputs
from ._records import ArtifactRecord, ArtifactStatus
from ._registry import create_driver
from ._results import LoadResult, SaveResult, describe_error
from ._sources import Source, StreamSource
from ._specs import Archive, Context, GCStrategy, InputArtifact, OutputArtifact
from ._telemetry import count_gc, trace_driver, traced
from ._transfer import UploadEngine
from ._trusted import with_location_fields, with_record_fields
from .abc import Driver, PendingUpload

__all__ = ["Artifacts", "LoadResult", "SaveResult"]

#: Saves of up to this many artifacts are planned on the event loop (under ~10 ms).
_PLAN_INLINE = 64
_REPOSITORY = operator.attrgetter("repository")


@final
class Artifacts:
    """Saves and loads a step's artifacts through the repositories of `config`.

    Use as an async context manager; drivers are created on first use and closed on
    exit. `drivers` maps a repository name to a ready driver instance, overriding the
    registry (for wrapping or testing drivers). `budget`, when given, is shared by every
    save and load of this object (and of any other given the same budget) instead of one
    budget per call; it must hold at least `options.max_buffer_bytes`
    (`ConfigurationError`).
    """

    def __init__(
        self,
        config: RepositoryConfig,
        *,
        options: TransferOptions | None = None,
        drivers: Mapping[str, Driver] | None = None,
        budget: TransferBudget | None = None,
    ) -> None:
        self.config = config
        self.options = options or TransferOptions()
        if budget is not None and budget.max_bytes < self.options.max_buffer_bytes:
            raise ConfigurationError(
                f"the shared budget holds {budget.max_bytes} bytes, less than "
                f"max_buffer_bytes ({self.options.max_buffer_bytes}): lower max_buffer_bytes"
            )
        self._budget = budget
        self._drivers: dict[str, Driver] = dict(drivers or {})
        self._owned: list[Driver] = []
        self._journal: Journal | None = None
        self._lock = anyio.Lock()

    async def __aenter__(self) -> Artifacts:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the drivers this object created and the resume journal."""
        with anyio.CancelScope(shield=True):
            for driver in self._owned:
                await driver.aclose()
        # Closed drivers are forgotten, so a later use creates fresh ones.
        self._drivers = {k: v for k, v in self._drivers.items() if v not in self._owned}
        self._owned.clear()
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    async def driver(self, repository: str) -> Driver:
        """The driver of `repository` (created on first use)."""
        found = self._drivers.get(repository)
        if found is not None:
            return found  # every artifact of a save asks: no lock once it exists
        async with self._lock:
            if repository not in self._drivers:
                repo = self.config.get(repository)
                settings = repo.driver_settings()
                driver = await anyio.to_thread.run_sync(create_driver, repo.driver, settings)
                driver = trace_driver(driver, repo.driver)
                self._drivers[repository] = driver
                self._owned.append(driver)
            return self._drivers[repository]

    def _journal_for(self) -> Journal | None:
        if not self.options.resume:
            return None
        if self._journal is None:
            state = self.options.state_dir or default_state_dir()
            self._journal = Journal(state / "uploads.sqlite3")
        return self._journal

    async def _describers(
        self, repositories: Iterable[str | None]
    ) -> dict[str, Callable[[str], str]]:
        """The `describe` of each named (None: the default) repository's driver, by name;
        the drivers are created.

        A repository that is not configured is left out (planning raises its error), as
        is one whose driver cannot be created: its artifacts keep the planned URL and fail
        with that error when they are transferred, and never land anywhere.
        """
        found: dict[str, Callable[[str], str]] = {}
        for name in dict.fromkeys(repositories):
            try:
                repository = self.config.get(name)
                found[repository.name] = (await self.driver(repository.name)).describe
            except ArtifactError:
                continue
        return found

    async def _plan(
        self, outputs: Sequence[OutputArtifact], context: Context
    ) -> list[ArtifactRecord]:
        """Plan the records, each with its driver's own URL (the drivers are created first)
        and those of directories stored with archive none marked so (`plan_marked`).

        Many artifacts are planned in one worker thread (pure CPU and one listing per
        shared parent, a few µs each), so that the event loop keeps running meanwhile.
        """
        describe = await self._describers(map(_REPOSITORY, outputs))  # in order, at C speed
        plan = functools.partial(plan_marked, outputs, context=context, config=self.config,
                                 describe=describe)
        if len(outputs) <= _PLAN_INLINE:
            return plan()
        return await anyio.to_thread.run_sync(plan)

    @traced("save")
    async def save_outputs(
        self,
        outputs: Sequence[OutputArtifact],
        *,
        context: Context,
        on_report: ReportCallback | None = None,
        on_complete: CompleteCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> SaveResult:
        """Plan every output, report them, upload them concurrently, and report again.

        1. Plans all records; a planning error (`KeyTemplateError`, `ConfigurationError`)
           is raised before anything is uploaded.
        2. Creates the drivers and calls `on_report` once with every planned record,
           before any byte moves; each record's URL is its driver's own (`describe`), the
           one the final record carries.
        3. Uploads all artifacts concurrently under one budget; one failure does not stop
           the others. A missing path fails a required artifact and skips an optional one.
           Any failure of one artifact is an `ArtifactError` of that artifact alone (a
           foreign exception becomes a `TransferError` whose `__cause__` is it).
        4. Calls `on_complete` once with the final records and returns them, errors in
           the order of the specs.
        """
        observer = SaveObserver(on_progress)  # logs and traces; refuses an async on_progress
        on_progress = observer
        # Each record carries its driver's URL from planning (`_plan`); directories stored
        # with archive none are marked as such before the report. The collector's passes
        # that planning brings on wait until the report is delivered (`collector_paused`;
        # an async `on_report` is awaited with the collector running).
        with collector_paused():
            planned = await self._plan(outputs, context)
            reporting = begin_call(on_report, ReportDetails(records=planned))
        if reporting is not None:
            await reporting
        # After the report: a line per planned artifact (at INFO) is not what it waits for.
        on_complete = observer.begin(planned, on_complete)
        engine = self._engine(on_progress)
        final: list[ArtifactRecord] = list(planned)
        errors: dict[str, ArtifactError] = {}

        def failed(name: str, record: ArtifactRecord, exc: BaseException) -> None:
            # The one place `upload.failed` is emitted, whatever stage failed.
            if on_progress is not None:
                on_progress(ProgressEvent(name="upload.failed", artifact=name,
                                          key=record.location.key, error=describe_error(exc)))

        async def save_one(index: int, spec: OutputArtifact) -> None:
            record = planned[index]
            try:
                if record.directory:
                    driver = await self.driver(record.location.repository)
                    final[index] = await save_directory(engine, driver, spec, record)
                else:
                    final[index] = await self._save(engine, spec, record, None)
            except MissingInputError as exc:
                if spec.optional:
                    final[index] = with_record_fields(
                        record, status=ArtifactStatus.SKIPPED, error=str(exc))
                    return
                errors[spec.name] = exc
                final[index] = with_record_fields(record, status=ArtifactStatus.FAILED,
                                                  error=describe_error(exc))
                failed(spec.name, record, exc)
            except Exception as exc:  # one artifact's failure, whatever its kind
                error = as_artifact_error(exc, f"artifact {spec.name!r}")
                errors[spec.name] = error
                final[index] = with_record_fields(record, status=ArtifactStatus.FAILED,
                                                  error=describe_error(error))
                failed(spec.name, record, error)

        # `max_artifacts_in_flight` workers take the artifacts in the order of the specs
        # from one shared iterator (taken between awaits, so each exactly once): that many
        # tasks exist however many artifacts the save has, and none is created per file.
        pending = iter(enumerate(outputs))

        async def worker() -> None:
            for index, spec in pending:
                await save_one(index, spec)

        async with anyio.create_task_group() as tg:
            for _ in range(min(self.options.max_artifacts_in_flight, len(outputs))):
                tg.start_soon(worker)
        await call(on_complete, CompleteDetails(records=final))
        return SaveResult(
            records=final,
            errors=in_spec_order(errors, [spec.name for spec in outputs]),
            peak_parts_in_flight=engine.budget.peak_parts,
            peak_buffered_bytes=engine.budget.peak_bytes,
        )

    async def _located(self, records: list[ArtifactRecord]) -> list[ArtifactRecord]:
        """`records` with each URL from its driver's own `describe` (drivers are created).

        A repository whose driver cannot be created keeps the planned URL: its artifacts
        fail with that error when they are transferred, and never land anywhere.
        """
        drivers: dict[str, Driver | None] = {}
        for repository in dict.fromkeys(r.location.repository for r in records):
            try:
                drivers[repository] = await self.driver(repository)
            except ArtifactError:
                drivers[repository] = None

        def locate() -> list[ArtifactRecord]:
            located = []
            for record in records:
                driver = drivers[record.location.repository]
                if driver is None:
                    located.append(record)
                    continue
                url = driver.describe(record.location.key)
                if not isinstance(url, str):
                    raise ConfigurationError(
                        f"the driver of repository {record.location.repository!r} "
                        f"described a key as {type(url).__name__}, not a str"
                    )
                located.append(with_record_fields(
                    record, location=with_location_fields(record.location, url=url)))
            return located

        # Like planning, pure CPU that grows with the artifacts: many go to a worker thread.
        if len(records) <= _PLAN_INLINE:
            return locate()
        return await anyio.to_thread.run_sync(locate)

    def _engine(self, on_progress: ProgressCallback | None) -> UploadEngine:
        return UploadEngine(
            self.options,
            budget=self._budget or TransferBudget.from_options(self.options),
            journal=self._journal_for(),
            on_progress=on_progress,
        )

    @traced("save")
    async def save_stream(
        self,
        name: str,
        chunks: AsyncIterable[bytes],
        *,
        context: Context,
        key: str | None = None,
        repository: str | None = None,
        gc: GCStrategy | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ArtifactRecord:
        """Upload the bytes `chunks` yields, as they come, as one artifact stored as is.

        For bytes that are not in a file (a network stream): planned like an
        `OutputArtifact` with archive `none` (`key` is a key template, by default the
        repository's key format plus `/<name>`), then uploaded in parts filled straight
        from `chunks` under the same budget, with no local copy. A multipart upload is
        journaled like a file's: a retried stream to the same key skips the parts the
        backend already holds whose size and CRC32C match. Returns the stored record;
        raises planning errors as `save_outputs` does and the upload's `ArtifactError`.
        """
        spec = OutputArtifact(name=name, path=name, key=key, repository=repository,
                              archive=Archive.none(), gc=gc)
        observer = SaveObserver(on_progress)  # logs and traces; refuses an async on_progress
        on_progress = observer
        describe = await self._describers([repository])
        (record,) = plan_outputs([spec], context=context, config=self.config, describe=describe)
        observer.begin([record], None)

        @asynccontextmanager
        async def source() -> AsyncIterator[Source]:
            yield StreamSource(aiter(chunks), "stream")

        try:
            return await self._save(self._engine(on_progress), spec, record, source())
        except (ArtifactError, OSError) as exc:
            if on_progress is not None:
                on_progress(ProgressEvent(name="upload.failed", artifact=name,
                                          key=record.location.key, error=describe_error(exc)))
            if isinstance(exc, ArtifactError):
                raise
            raise TransferError(f"artifact {name!r}: {exc}") from exc

    async def _save(
        self,
        engine: UploadEngine,
        spec: OutputArtifact,
        record: ArtifactRecord,
        opened: AbstractAsyncContextManager[Source] | None,
    ) -> ArtifactRecord:
        """Upload `opened` (None: the spec's path) and return the stored record."""
        driver = await self.driver(record.location.repository)
        metadata = {"artifact": spec.name, "archive": record.archive.kind.value}
        if spec.mode is not None:
            metadata["mode"] = f"{spec.mode:o}"
        if opened is None:
            stored = await engine.upload_path(driver, record.location.key, spec.path,
                                              record.archive, artifact=spec.name,
                                              metadata=metadata)
        else:
            async with opened as source:
                stored = await engine.upload(driver, record.location.key, source,
                                             artifact=spec.name, metadata=metadata)
        # The URL is the one reported early (`_located`): the driver's own.
        return with_record_fields(
            record,
            status=ArtifactStatus.STORED,
            size=stored.size,
            checksum=f"crc32c:{stored.crc32c}",
        )

    @traced("load")
    async def load_inputs(
        self,
        inputs: Sequence[InputArtifact],
        *,
        context: Context,
        raise_on_error: bool = True,
        on_progress: ProgressCallback | None = None,
    ) -> LoadResult:
        """Download and unpack every input into its path, concurrently.

        Archives are extracted as streams, safely (`UnsafeArchiveError`); files are
        written beside their path and renamed into place. A missing object fails a
        required input (`MissingInputError`) and skips an optional one. Every failure of
        one input is an error of this library on that input alone (the original error
        as its `__cause__`); the other inputs carry on. With `raise_on_error`, once all
        inputs have ended, the error of the first failed input in the order of `inputs`
        is raised; otherwise `LoadResult.errors` holds them in that order.

        `on_progress` (a plain function, as for saves) receives `download.started`,
        `download.progress` (about every MiB), and `download.complete` or
        `download.failed` for each input (none for an optional input that is absent).
        """
        check_progress_callback(on_progress)
        records = await self._located(plan_inputs(inputs, context=context, config=self.config))
        skipped, errors = await load_all(
            inputs, records, driver_for=self.driver, options=self.options,
            budget=self._budget or TransferBudget.from_options(self.options),
            on_progress=on_progress,
        )
        if raise_on_error:
            for error in errors.values():
                raise error
        return LoadResult(records=records, skipped=skipped, errors=errors)

    async def open_stream(
        self,
        record: ArtifactRecord,
        *,
        offset: int = 0,
        length: int | None = None,
        verify: bool = True,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[bytes]:
        """Stream a stored object's bytes (as stored: archives are not unpacked).

        Reading it whole checks the record's checksum at the end (`IntegrityError`).
        `on_progress` receives the `download.*` events, as for `load_inputs`.
        Prefer `stream()`: it closes the download at a known point when you stop early.
        """
        driver = await self.driver(record.location.repository)
        async for chunk in progressed_stream(driver, record, offset=offset, length=length,
                                             verify=verify, options=self.options,
                                             on_progress=on_progress):
            yield chunk

    @asynccontextmanager
    async def stream(
        self,
        record: ArtifactRecord,
        *,
        offset: int = 0,
        length: int | None = None,
        verify: bool = True,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Stream a stored object's bytes; leaving the block closes the download.

        ```python
        async with artifacts.stream(record) as chunks:
            async for chunk in chunks:
                ...
        ```

        The bytes are as stored (archives are not unpacked). Reading it whole checks the
        record's checksum after the last chunk (`IntegrityError`). Stopping early is safe:
        the backend read is closed when the block exits, not when garbage is collected.
        `on_progress` receives the `download.*` events, as for `load_inputs`.
        """
        driver = await self.driver(record.location.repository)
        chunks = progressed_stream(driver, record, offset=offset, length=length,
                                   verify=verify, options=self.options, on_progress=on_progress)
        async with aclosing(chunks):
            yield chunks

    @traced("collect_garbage", on_result=count_gc)
    async def collect_garbage(
        self,
        records: Sequence[ArtifactRecord],
        *,
        event: GCEvent,
        dry_run: bool = False,
    ) -> GCReport:
        """Delete the stored artifacts of `records` that are due on `event`.

        Records never stored (a failed retry attempt, say) are skipped, never errors; one
        artifact's failure is reported for it alone.
        """
        return await collect_garbage(
            records, event=event, driver_for=self.driver, dry_run=dry_run,
            retry_attempts=self.options.retry_attempts,
        )

    async def collect_workflow(
        self, ledger: Ledger, *, workflow_uid: str, event: GCEvent, dry_run: bool = False
    ) -> GCReport:
        """Collect a workflow's garbage from the records a `Ledger` keeps, by its uid."""
        records = await ledger.records(workflow_uid=workflow_uid)
        report = await self.collect_garbage(records, event=event, dry_run=dry_run)
        if not dry_run:
            await ledger.mark_collected(report)
        return report

    async def sweep_orphans(
        self, repository: str, *, prefix: str = "", older_than: timedelta,
        dry_run: bool = False,
    ) -> list[PendingUpload]:
        """Abort what interrupted uploads left in `repository` longer ago than `older_than`."""
        return await sweep_orphans(await self.driver(repository), prefix=prefix,
                                   older_than=older_than, dry_run=dry_run)

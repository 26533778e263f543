"""`SyncArtifacts`: the `Artifacts` surface as blocking calls, for synchronous code.

One engine: every method hands the async core's coroutine to an event loop that this
object owns, running in its own thread (anyio's blocking portal), and waits for the
result. So the sync API works the same from a plain script, from a worker thread and from
code that already runs inside an event loop (Jupyter, an async framework calling sync user
code): the caller's thread only waits, it never has to run a loop itself.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from types import TracebackType
from typing import final

import anyio
from anyio.from_thread import BlockingPortal

from ._artifacts import Artifacts, LoadResult, SaveResult
from ._config import RepositoryConfig
from ._events import CompleteCallback, ProgressCallback, ReportCallback
from ._gc import GCEvent, GCReport
from ._ledger import Ledger
from ._options import TransferOptions
from ._records import ArtifactRecord
from ._specs import Context, InputArtifact, OutputArtifact
from .abc import Driver, PendingUpload

__all__ = ["SyncArtifacts"]

_END = object()


def _start_loop(backend: str) -> tuple[threading.Thread, BlockingPortal | None]:
    """An event loop with a blocking portal, in a daemon thread.

    A daemon thread (not anyio's `start_blocking_portal`, whose worker is joined at exit)
    so that a script that forgets `close()` still exits instead of hanging.
    """
    ready: queue.Queue[BlockingPortal | BaseException] = queue.Queue()

    async def serve() -> None:
        async with BlockingPortal() as portal:
            ready.put(portal)
            await portal.sleep_until_stopped()

    def run() -> None:
        try:
            anyio.run(serve, backend=backend)
        except BaseException as exc:  # pragma: no cover - a backend that cannot start
            ready.put(exc)

    thread = threading.Thread(target=run, name="artifacts-async-sync", daemon=True)
    thread.start()
    portal = ready.get()
    if isinstance(portal, BaseException):  # pragma: no cover
        raise portal
    return thread, portal


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes | object:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return _END


@final
class SyncArtifacts:
    """Blocking twin of `Artifacts`, with the same methods and arguments.

    ```python
    with SyncArtifacts(config) as artifacts:
        result = artifacts.save_outputs(outputs, context=context, on_report=report)
    ```

    The async core runs on an event loop owned by this object, in a (daemon) thread of its
    own, started here and stopped by `close()` (or leaving the `with` block). Callbacks keep
    their meaning (`on_report` fires once, before any byte moves) and may be sync or
    async; they run on that loop's thread, so a callback must not call back into this
    object. Methods may be called from any thread, including one running an event loop
    (that loop is blocked while the call waits, as with any blocking call).
    """

    def __init__(
        self,
        config: RepositoryConfig,
        *,
        options: TransferOptions | None = None,
        drivers: Mapping[str, Driver] | None = None,
        backend: str = "asyncio",
    ) -> None:
        self.config = config
        self._thread, self._portal = _start_loop(backend)
        self._artifacts = Artifacts(config, options=options, drivers=drivers)

    @property
    def options(self) -> TransferOptions:
        """The transfer options of the async core."""
        return self._artifacts.options

    def __enter__(self) -> SyncArtifacts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the drivers and the journal, then stop the event loop thread."""
        portal, self._portal = self._portal, None
        if portal is None:
            return
        try:
            portal.call(self._artifacts.aclose)
        finally:
            portal.call(portal.stop)
            self._thread.join()

    def _running(self) -> BlockingPortal:
        if self._portal is None:
            raise RuntimeError("this SyncArtifacts is closed")
        return self._portal

    def save_outputs(
        self,
        outputs: Sequence[OutputArtifact],
        *,
        context: Context,
        on_report: ReportCallback | None = None,
        on_complete: CompleteCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> SaveResult:
        """Plan, report, upload and report again; see `Artifacts.save_outputs`."""
        return self._running().call(functools.partial(
            self._artifacts.save_outputs, outputs, context=context, on_report=on_report,
            on_complete=on_complete, on_progress=on_progress,
        ))

    def load_inputs(
        self,
        inputs: Sequence[InputArtifact],
        *,
        context: Context,
        raise_on_error: bool = True,
        on_progress: ProgressCallback | None = None,
    ) -> LoadResult:
        """Download and unpack every input; see `Artifacts.load_inputs`.

        `on_progress` is called on this object's event-loop thread, as for saves.
        """
        return self._running().call(functools.partial(
            self._artifacts.load_inputs, inputs, context=context,
            raise_on_error=raise_on_error, on_progress=on_progress,
        ))

    @contextmanager
    def stream(
        self,
        record: ArtifactRecord,
        *,
        offset: int = 0,
        length: int | None = None,
        verify: bool = True,
        on_progress: ProgressCallback | None = None,
    ) -> Iterator[Iterator[bytes]]:
        """Stream a stored object's bytes; leaving the block closes the download.

        ```python
        with artifacts.stream(record) as chunks:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
        ```

        See `Artifacts.stream` (checksum checked after the last chunk when read whole).
        """
        portal = self._running()
        stream = self._artifacts.stream(record, offset=offset, length=length, verify=verify,
                                        on_progress=on_progress)
        with portal.wrap_async_context_manager(stream) as chunks:
            yield self._chunks(portal, chunks)

    @staticmethod
    def _chunks(portal: BlockingPortal, chunks: AsyncIterator[bytes]) -> Iterator[bytes]:
        while True:
            chunk = portal.call(_next_chunk, chunks)
            if chunk is _END:
                return
            assert isinstance(chunk, bytes)
            yield chunk

    def collect_garbage(
        self, records: Sequence[ArtifactRecord], *, event: GCEvent, dry_run: bool = False
    ) -> GCReport:
        """Delete the stored, due artifacts of `records`; see `Artifacts.collect_garbage`."""
        return self._running().call(functools.partial(
            self._artifacts.collect_garbage, records, event=event, dry_run=dry_run
        ))

    def collect_workflow(
        self, ledger: Ledger, *, workflow_uid: str, event: GCEvent, dry_run: bool = False
    ) -> GCReport:
        """Collect a workflow's garbage from a `Ledger`; see `Artifacts.collect_workflow`."""
        return self._running().call(functools.partial(
            self._artifacts.collect_workflow, ledger, workflow_uid=workflow_uid, event=event,
            dry_run=dry_run,
        ))

    def sweep_orphans(
        self, repository: str, *, prefix: str = "", older_than: timedelta,
        dry_run: bool = False,
    ) -> list[PendingUpload]:
        """Abort stale interrupted uploads; see `Artifacts.sweep_orphans`."""
        return self._running().call(functools.partial(
            self._artifacts.sweep_orphans, repository, prefix=prefix, older_than=older_than,
            dry_run=dry_run,
        ))

    def record(self, ledger: Ledger, records: Sequence[ArtifactRecord]) -> None:
        """Write `records` to `ledger` (its methods are async) on this object's loop."""
        self._running().call(ledger.record, records)

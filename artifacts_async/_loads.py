"""Loads: every input downloaded concurrently, and streams, with their progress events."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing

import anyio

from ._budget import TransferBudget
from ._download import download
from ._events import ProgressCallback
from ._exceptions import ArtifactError, ArtifactNotFoundError, MissingInputError
from ._load_events import load_progress
from ._observe import check_progress_callback
from ._options import TransferOptions
from ._outcomes import as_artifact_error, in_spec_order
from ._reads import verified_stream
from ._records import ArtifactRecord, ArtifactStatus
from ._specs import InputArtifact
from .abc import Driver

__all__ = ["load_all", "progressed_stream"]


async def load_all(
    inputs: Sequence[InputArtifact],
    records: Sequence[ArtifactRecord],
    *,
    driver_for: Callable[[str], Awaitable[Driver]],
    options: TransferOptions,
    budget: TransferBudget,
    on_progress: ProgressCallback | None,
) -> tuple[list[str], dict[str, ArtifactError]]:
    """Download every input to its path under `budget`, at most
    `options.max_artifacts_in_flight` at once; return the optional inputs skipped (sorted)
    and each failed input's error, in the order of `inputs`."""
    skipped: list[str] = []
    errors: dict[str, ArtifactError] = {}

    async def load_one(spec: InputArtifact, record: ArtifactRecord) -> None:
        progress = load_progress(on_progress, spec.name, record.location.key)
        try:
            if record.status is not ArtifactStatus.STORED:
                raise MissingInputError(
                    f"input {spec.name!r}: its record is {record.status.value}, not stored"
                )
            driver = await driver_for(record.location.repository)
            await download(driver, record, spec.path, mode=spec.mode or record.mode,
                           verify=spec.verify, options=options, budget=budget,
                           progress=progress)
        except Exception as exc:  # one input's failure, whatever its kind
            error = as_artifact_error(exc, f"input {spec.name!r}")
            if isinstance(error, ArtifactNotFoundError):
                missing = MissingInputError(f"input {spec.name!r}: {error}")
                missing.__cause__ = error
                error = missing
            if isinstance(error, MissingInputError) and spec.optional:
                skipped.append(spec.name)
                return
            errors[spec.name] = error
            if progress is not None:
                progress.failed(error)

    # As for saves: that many workers take the inputs in order from one shared iterator,
    # rather than one task per input waiting on a limiter.
    pending = zip(inputs, records, strict=True)

    async def worker() -> None:
        for spec, record in pending:
            await load_one(spec, record)

    async with anyio.create_task_group() as tg:
        for _ in range(min(options.max_artifacts_in_flight, len(inputs))):
            tg.start_soon(worker)
    return sorted(skipped), in_spec_order(errors, [spec.name for spec in inputs])


async def progressed_stream(
    driver: Driver,
    record: ArtifactRecord,
    *,
    offset: int,
    length: int | None,
    verify: bool,
    options: TransferOptions,
    on_progress: ProgressCallback | None,
) -> AsyncGenerator[bytes, None]:
    """`verified_stream` with the `download.*` events of `on_progress`: started (the
    size when known), the bytes, and complete after the last chunk's checks, or failed;
    nothing more for a stream closed early."""
    check_progress_callback(on_progress)
    progress = load_progress(on_progress, record.name, record.location.key)
    chunks = verified_stream(driver, record, offset=offset, length=length, verify=verify,
                             options=options, progress=progress)
    if progress is None:
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk
        return
    whole = record.size - offset if record.size is not None and length is None else None
    progress.started(length if length is not None else whole)
    try:
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk
    except Exception as exc:
        progress.failed(exc)
        raise
    progress.complete()

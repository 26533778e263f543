"""`save`, `load` and `cat`: moving bytes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from .._artifacts import Artifacts
from .._events import CompleteDetails, ReportDetails
from .._options import TransferOptions
from .._planning import plan_inputs
from .._records import ArtifactRecord, ArtifactStatus
from .._specs import Context, InputArtifact
from ._inputs import (
    input_specs,
    load_context,
    name_value,
    output_specs,
    read_records,
    write_json_atomically,
)
from ._main import ExitCode, State, cli, freeze_collector, pass_state
from ._progress import display_for, human

F = TypeVar("F", bound=Callable[..., Any])


def context_options(fn: F) -> F:
    """The context flags shared by `save`, `load`, `cat` and `render-key`."""
    options = [
        click.option("--context", "context_file", metavar="FILE",
                     help="YAML/JSON file with the context fields (flags override it)."),
        click.option("--workflow-name", help="{{workflow.name}}"),
        click.option("--workflow-uid", help="{{workflow.uid}}"),
        click.option("--namespace", help="{{workflow.namespace}}"),
        click.option("--pod-name", help="{{pod.name}}"),
        click.option("--node-id", help="{{node.id}}"),
        click.option("--retry-attempt", type=int, help="{{retry.attempt}}"),
        click.option("--gc", "artifact_gc", metavar="STRATEGY",
                     help="Workflow GC strategy: on_workflow_completion, "
                          "on_workflow_deletion or never."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def context_of(kwargs: dict[str, Any]) -> Context:
    """Build the context from the flags of `context_options` (removed from `kwargs`)."""
    file = kwargs.pop("context_file")
    fields = {k: kwargs.pop(k) for k in ("workflow_name", "workflow_uid", "namespace",
                                         "pod_name", "node_id", "retry_attempt",
                                         "artifact_gc")}
    return load_context(file, fields)


def records_json(records: list[ArtifactRecord], phase: str) -> dict[str, Any]:
    """The JSON shape of `--json`, `--report-file` and `--records` files."""
    return {"phase": phase, "records": [r.to_dict() for r in records]}


def records_table(records: list[ArtifactRecord]) -> Callable[[Console], None]:
    def show(console: Console) -> None:
        table = Table("artifact", "status", "size", "location", box=None)
        for r in records:
            status = r.status.value if r.error is None else f"{r.status.value}: {r.error}"
            table.add_row(r.name, status, human(r.size) if r.size is not None else "",
                          r.location.url or r.location.key)
        console.print(table)
    return show


def _options(part_size: int | None, state_dir: str | None) -> TransferOptions:
    fields: dict[str, Any] = {}
    if part_size:
        fields["part_size"] = part_size * 1024 * 1024
    if state_dir:
        fields["state_dir"] = Path(state_dir)
    return TransferOptions(**fields)


@cli.command()
@click.argument("artifacts", nargs=-1, metavar="NAME=PATH...")
@click.option("--specs", "specs_file", metavar="FILE",
              help="YAML/JSON list of outputs (name, path, key, repository, archive, gc, "
                   "optional, mode).")
@click.option("--key", "keys", multiple=True, metavar="NAME=TEMPLATE",
              help="Key template of one artifact (repeatable).")
@click.option("--repository", help="Repository for the NAME=PATH artifacts.")
@click.option("--archive", help="none, tar, tar:LEVEL or zip for the NAME=PATH artifacts.")
@click.option("--optional", is_flag=True, help="A missing path skips the artifact.")
@click.option("--report-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Executor mode: write every planned record here (JSON, atomically) "
                   "before any byte is uploaded, then the final records.")
@click.option("--part-size", type=int, metavar="MIB", help="Part size in MiB.")
@click.option("--state-dir", metavar="DIR", help="Resume journal directory.")
@context_options
@pass_state
def save(state: State, /, *, artifacts: tuple[str, ...], specs_file: str | None,
         keys: tuple[str, ...], repository: str | None, archive: str | None, optional: bool,
         report_file: Path | None, part_size: int | None, state_dir: str | None,
         **kwargs: Any) -> None:
    """Save outputs: plan every key, report early, upload concurrently.

    Exits 1 when some artifacts failed (the others are still stored).
    """

    async def work() -> int:
        config = state.config()
        context = context_of(kwargs)
        outputs = output_specs(artifacts, specs_file, keys=dict(name_value(keys, "template")),
                               repository=repository, archive=archive, optional=optional)
        if not outputs:
            raise click.UsageError("nothing to save: give NAME=PATH arguments or --specs")

        def on_report(details: ReportDetails) -> None:
            freeze_collector()  # the drivers exist now, and the records live to the end
            if report_file is not None:
                write_json_atomically(report_file, records_json(list(details.records),
                                                                "planned"))
            state.say(f"planned {len(details.records)} artifacts")

        def on_complete(details: CompleteDetails) -> None:
            if report_file is not None:
                write_json_atomically(report_file, records_json(list(details.records),
                                                                "complete"))

        with display_for(json_mode=state.json, quiet=state.quiet) as display:
            async with Artifacts(config, options=_options(part_size, state_dir)) as client:
                result = await client.save_outputs(outputs, context=context,
                                                   on_report=on_report,
                                                   on_complete=on_complete,
                                                   on_progress=display)
        records = list(result.records)
        state.emit(records_json(records, "complete"), records_table(records))
        return int(ExitCode.OK if result.ok else ExitCode.FAILED)

    state.run(work)


@cli.command()
@click.argument("artifacts", nargs=-1, metavar="NAME=PATH...")
@click.option("--records", metavar="FILE",
              help="Records to read from (the output of `save --json` or a report file).")
@click.option("--specs", "specs_file", metavar="FILE",
              help="YAML/JSON list of inputs (name, path, key or record, repository, ...).")
@click.option("--key", "keys", multiple=True, metavar="NAME=KEY",
              help="Read NAME from this key (repeatable).")
@click.option("--repository", help="Repository of the --key inputs.")
@click.option("--optional", is_flag=True, help="A missing object skips the input.")
@context_options
@pass_state
def load(state: State, /, *, artifacts: tuple[str, ...], records: str | None,
         specs_file: str | None, keys: tuple[str, ...], repository: str | None,
         optional: bool, **kwargs: Any) -> None:
    """Load inputs into their paths (archives are extracted safely).

    Exits 1 when some inputs failed.
    """

    async def work() -> int:
        config = state.config()
        context = context_of(kwargs)
        inputs = input_specs(artifacts, specs_file, records=records,
                             keys=dict(name_value(keys, "key")), repository=repository,
                             optional=optional)
        if not inputs:
            raise click.UsageError("nothing to load: give NAME=PATH arguments or --specs")
        with display_for(json_mode=state.json, quiet=state.quiet) as display:
            async with Artifacts(config) as client:
                result = await client.load_inputs(inputs, context=context,
                                                  raise_on_error=False, on_progress=display)
        rows = []
        for spec, record in zip(inputs, result.records, strict=True):
            error = result.errors.get(spec.name)
            status = ("failed" if error else "skipped" if spec.name in result.skipped
                      else "loaded")
            rows.append({"name": spec.name, "path": str(spec.path), "status": status,
                         "error": str(error) if error else None,
                         "record": record.to_dict()})

        def show(console: Console) -> None:
            for row in rows:
                extra = f": {row['error']}" if row["error"] else ""
                console.print(f"{row['name']}: {row['status']} -> {row['path']}{extra}")

        state.emit({"inputs": rows}, show)
        return int(ExitCode.FAILED if result.errors else ExitCode.OK)

    state.run(work)


@cli.command()
@click.argument("name", required=False)
@click.option("--records", metavar="FILE", help="Records file holding NAME.")
@click.option("--key", help="Read this key instead of a record.")
@click.option("--repository", help="Repository of --key (default: the config's default).")
@click.option("--no-verify", is_flag=True, help="Do not check the recorded checksum.")
@context_options
@pass_state
def cat(state: State, /, *, name: str | None, records: str | None, key: str | None,
        repository: str | None, no_verify: bool, **kwargs: Any) -> None:
    """Stream a stored object to stdout, as stored (archives are not unpacked)."""

    async def work() -> int:
        config = state.config()
        context = context_of(kwargs)
        if key is not None:
            record = plan_inputs([InputArtifact(name=name or "object", path=".", key=key,
                                                repository=repository)],
                                 context=context, config=config)[0]
        elif records is not None and name is not None:
            by_name = {r.name: r for r in read_records(records)}
            if name not in by_name:
                raise click.UsageError(f"{records} has no artifact {name!r}")
            record = by_name[name]
            if record.status is not ArtifactStatus.STORED:
                raise click.UsageError(f"artifact {name!r} is {record.status.value}, "
                                       "not stored")
        else:
            raise click.UsageError("give NAME with --records FILE, or --key KEY")
        out = sys.stdout.buffer
        # Progress goes to stderr, never into the bytes on stdout.
        with display_for(json_mode=state.json, quiet=state.quiet) as display:
            async with Artifacts(config) as client, \
                    client.stream(record, verify=not no_verify, on_progress=display) as chunks:
                async for chunk in chunks:
                    out.write(chunk)
        out.flush()
        return int(ExitCode.OK)

    state.run(work)

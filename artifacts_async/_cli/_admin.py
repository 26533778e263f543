"""`ls`, `stat`, `gc`, `sweep`, `render-key` and `config check`: looking and tidying."""

from __future__ import annotations

import sys
import uuid
from contextlib import closing
from typing import Any

import anyio
import click
from rich.console import Console
from rich.table import Table

from .._artifacts import Artifacts
from .._checksums import part_checksums
from .._config import RepositoryConfig
from .._exceptions import ArtifactError
from .._gc import GCEvent, GCReport
from .._ledger import Ledger
from .._planning import plan_outputs
from .._registry import available_drivers
from .._specs import OutputArtifact
from .._templates import render_key
from ._inputs import parse_duration, read_records
from ._main import ExitCode, State, cli, pass_state
from ._progress import human
from ._transfers import context_of, context_options

_EVENTS = {"completed": GCEvent.WORKFLOW_COMPLETED, "deleted": GCEvent.WORKFLOW_DELETED}


@cli.command(name="ls")
@click.argument("prefix", default="")
@click.option("--repository", help="Repository to list (default: the config's default).")
@click.option("--ledger", type=click.Path(dir_okay=False), help="List a workflow's records "
              "from this ledger instead of listing objects.")
@click.option("--workflow-uid", help="The workflow whose records --ledger lists.")
@pass_state
def ls_command(state: State, /, *, prefix: str, repository: str | None, ledger: str | None,
               workflow_uid: str | None) -> None:
    """List the objects under PREFIX, or a workflow's records in a ledger."""

    async def work() -> int:
        if ledger is not None:
            if not workflow_uid:
                raise click.UsageError("--ledger needs --workflow-uid")
            with closing(Ledger(ledger)) as db:
                records = await db.records(workflow_uid=workflow_uid, include_collected=True)
                collected = await db.collected(workflow_uid=workflow_uid)
            rows: list[dict[str, Any]] = [
                {**r.to_dict(), "collected": collected.get(f"{r.name}/{r.attempt}")}
                for r in records
            ]

            def show_records(console: Console) -> None:
                table = Table("artifact", "attempt", "status", "size", "collected", "key",
                              box=None)
                for r, row in zip(records, rows, strict=True):
                    table.add_row(r.name, str(r.attempt), r.status.value,
                                  human(r.size) if r.size is not None else "",
                                  row["collected"] or "", r.location.key)
                console.print(table)

            state.emit({"records": rows}, show_records)
            return int(ExitCode.OK)
        config = state.config()
        async with Artifacts(config) as client:
            driver = await client.driver(config.get(repository).name)
            objects = [info async for info in driver.list(prefix)]
        data = [{"key": o.key, "size": o.size,
                 "modified": o.modified.isoformat() if o.modified else None} for o in objects]

        def show(console: Console) -> None:
            for o in objects:
                when = o.modified.isoformat(timespec="seconds") if o.modified else ""
                console.print(f"{o.size:>12}  {when:25}  {o.key}")

        state.emit({"objects": data}, show)
        return int(ExitCode.OK)

    state.run(work)


@cli.command(name="stat")
@click.argument("key")
@click.option("--repository", help="Repository (default: the config's default).")
@pass_state
def stat_command(state: State, /, *, key: str, repository: str | None) -> None:
    """Show what the backend reports about one object (exit 3 when it does not exist)."""

    async def work() -> int:
        config = state.config()
        async with Artifacts(config) as client:
            info = await (await client.driver(config.get(repository).name)).stat(key)
        data = {"key": info.key, "size": info.size, "etag": info.etag,
                "checksums": dict(info.checksums),
                "modified": info.modified.isoformat() if info.modified else None,
                "metadata": dict(info.metadata)}

        def show(console: Console) -> None:
            for field, value in data.items():
                console.print(f"{field:10} {value}")

        state.emit(data, show)
        return int(ExitCode.OK)

    state.run(work)


def _gc_output(state: State, report: GCReport) -> int:
    rows = [{"name": o.name, "key": o.location.key, "status": o.status.value,
             "reason": o.reason, "attempt": o.attempt} for o in report.outcomes]

    def show(console: Console) -> None:
        for row in rows:
            reason = f" ({row['reason']})" if row["reason"] else ""
            console.print(f"{row['name']}/{row['attempt']}: {row['status']}{reason}")
        console.print(f"deleted {report.deleted}, already absent {report.already_absent}, "
                      f"would delete {report.would_delete}, skipped {report.skipped}, "
                      f"failed {report.failed}")

    state.emit({"outcomes": rows, "requests": report.requests}, show)
    return int(ExitCode.OK if report.ok else ExitCode.FAILED)


@cli.command()
@click.option("--records", metavar="FILE", help="Records file (from `save --json`).")
@click.option("--ledger", type=click.Path(dir_okay=False), help="Ledger file.")
@click.option("--workflow-uid", help="The workflow to collect from --ledger.")
@click.option("--event", type=click.Choice(sorted(_EVENTS)), default="completed",
              show_default=True, help="What happened to the workflow.")
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@pass_state
def gc(state: State, /, *, records: str | None, ledger: str | None, workflow_uid: str | None,
       event: str, dry_run: bool) -> None:
    """Delete the stored artifacts that are due (never the never-stored ones).

    Exits 1 when some deletes failed.
    """

    async def work() -> int:
        config = state.config()
        async with Artifacts(config) as client:
            if ledger is not None:
                if not workflow_uid:
                    raise click.UsageError("--ledger needs --workflow-uid")
                with closing(Ledger(ledger)) as db:
                    report = await client.collect_workflow(db, workflow_uid=workflow_uid,
                                                           event=_EVENTS[event],
                                                           dry_run=dry_run)
            elif records is not None:
                report = await client.collect_garbage(read_records(records),
                                                      event=_EVENTS[event], dry_run=dry_run)
            else:
                raise click.UsageError("give --records FILE or --ledger FILE --workflow-uid")
        return _gc_output(state, report)

    state.run(work)


@cli.command()
@click.option("--repository", help="Repository (default: the config's default).")
@click.option("--prefix", default="", help="Only uploads under this prefix.")
@click.option("--older-than", default="24h", show_default=True,
              help="Age of the uploads to abort: 90s, 30m, 24h, 7d.")
@click.option("--dry-run", is_flag=True, help="Only list them.")
@pass_state
def sweep(state: State, /, *, repository: str | None, prefix: str, older_than: str,
          dry_run: bool) -> None:
    """Abort interrupted uploads left behind longer ago than --older-than."""

    async def work() -> int:
        config = state.config()
        age = parse_duration(older_than)
        async with Artifacts(config) as client:
            stale = await client.sweep_orphans(config.get(repository).name, prefix=prefix,
                                               older_than=age, dry_run=dry_run)
        rows = [{"key": u.key, "upload_id": u.upload_id,
                 "started": u.started.isoformat() if u.started else None} for u in stale]

        def show(console: Console) -> None:
            verb = "would abort" if dry_run else "aborted"
            for row in rows:
                console.print(f"{verb} {row['key']} (started {row['started']})")
            console.print(f"{verb} {len(rows)} uploads")

        state.emit({"uploads": rows, "dry_run": dry_run}, show)
        return int(ExitCode.OK)

    state.run(work)


@cli.command(name="render-key")
@click.argument("names", nargs=-1, metavar="NAME[=TEMPLATE]...")
@click.option("--template", help="Render this one template instead.")
@click.option("--repository", help="Repository of the artifacts.")
@context_options
@pass_state
def render_key_command(state: State, /, *, names: tuple[str, ...], template: str | None,
                       repository: str | None, **kwargs: Any) -> None:
    """Show the keys a context gives: for artifact names (with the repository's key
    format and archive suffix) or for one --template. Nothing is uploaded."""

    async def work() -> int:
        context = context_of(kwargs)
        if template is not None:
            key = render_key(template, context)
            state.emit({"key": key}, lambda console: console.print(key))
            return int(ExitCode.OK)
        if not names:
            raise click.UsageError("give artifact NAMEs or --template")
        config = state.config()
        pairs = [tuple(n.split("=", 1)) if "=" in n else (n, None) for n in names]
        outputs = [OutputArtifact(name=name, path=".", key=key, repository=repository)
                   for name, key in pairs]
        records = plan_outputs(outputs, context=context, config=config)
        rows = [{"name": r.name, "repository": r.location.repository, "key": r.location.key,
                 "url": r.location.url} for r in records]

        def show(console: Console) -> None:
            for row in rows:
                console.print(f"{row['name']}: {row['url'] or row['key']}")

        state.emit({"keys": rows}, show)
        return int(ExitCode.OK)

    state.run(work)


@cli.group()
def config() -> None:
    """Inspect the repository config."""


async def _probe(client: Artifacts, name: str) -> str | None:
    """Write, read back and delete a small object; None when all worked, else why not."""
    key = f".artifacts-async-check/{uuid.uuid4().hex}"
    data = b"artifacts-async config check\n"
    try:
        driver = await client.driver(name)
        checks, _ = part_checksums(data, driver.limits.checksums)
        await driver.put(key, data, checksums=checks, metadata={})
        got = b"".join([c async for c in driver.read(key)])
        await driver.delete([key])
    except ArtifactError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if got == data else "the object read back differs from what was written"


def _describe(config: RepositoryConfig) -> list[dict[str, Any]]:
    installed = set(available_drivers())
    rows = []
    for name, repo in sorted(config.repositories.items()):
        refs = {role: repr(ref) for role, ref in repo.credentials.refs.items()}
        rows.append({
            "name": name, "default": name == config.default, "driver": repo.driver,
            "driver_installed": repo.driver in installed,
            # Settings never hold secrets (credentials are references, shown by kind/name).
            "settings": {k: v for k, v in repo.settings.items() if k != "credentials"},
            "key_format": repo.key_format,
            "archive": repo.archive.kind.value,
            "gc": repo.gc.value if repo.gc else None,
            "credentials": refs or ("sdk default chain" if repo.credentials.use_sdk_default
                                    else "none"),
        })
    return rows


@config.command(name="check")
@click.option("--connect", is_flag=True,
              help="Also write, read back and delete a small object in each repository.")
@pass_state
def config_check(state: State, /, *, connect: bool) -> None:
    """Parse the config and say what each repository resolves to (no secrets).

    Exits 1 when a driver is not installed, an Argo ConfigMap entry cannot be used, or
    (with --connect) a backend is not usable.
    """

    async def work() -> int:
        cfg = state.config()
        rows = _describe(cfg)
        if connect:
            async with Artifacts(cfg) as client:
                results: dict[str, str | None] = {}

                async def one(name: str) -> None:
                    results[name] = await _probe(client, name)

                async with anyio.create_task_group() as tg:
                    for row in rows:
                        tg.start_soon(one, row["name"])
            for row in rows:
                problem = results[row["name"]]
                row["reachable"] = problem is None
                row["problem"] = problem

        def show(console: Console) -> None:
            for row in rows:
                mark = " (default)" if row["default"] else ""
                installed = "" if row["driver_installed"] else "  [red]not installed"
                console.print(f"[bold]{row['name']}[/bold]{mark}: driver {row['driver']}"
                              f"{installed}")
                for field in ("settings", "key_format", "archive", "gc", "credentials"):
                    console.print(f"  {field:12} {row[field]}")
                if "reachable" in row:
                    verdict = ("[green]reachable and writable" if row["reachable"]
                               else f"[red]not usable: {row['problem']}")
                    console.print(f"  {'connect':12} {verdict}")

        unusable = dict(cfg.unusable)

        def show_all(console: Console) -> None:
            show(console)
            for name, reason in sorted(unusable.items()):
                console.print(f"[bold]{name}[/bold]: [red]unusable[/red]: {reason}")

        state.emit({"repositories": rows, "default": cfg.default, "unusable": unusable},
                   show_all)
        bad = bool(unusable) or any(not r["driver_installed"] or r.get("reachable") is False
                                    for r in rows)
        return int(ExitCode.FAILED if bad else ExitCode.OK)

    state.run(work)



@cli.command(name="argo-plugin", add_help_option=False,
             context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def argo_plugin(args: tuple[str, ...]) -> None:
    """Serve the Argo Workflows artifact plugin (same as `artifacts-async-argo-plugin`;
    `artifacts-async argo-plugin --help` lists its options)."""
    try:
        from ..argo import main  # noqa: PLC0415 - grpcio is the optional `argo` extra
    except ImportError as exc:  # pragma: no cover - the tests install the extra
        print(f"artifacts-async: error: the Argo plugin needs its extra ({exc}): "
              "pip install 'artifacts-async[argo]'", file=sys.stderr)
        raise SystemExit(int(ExitCode.USAGE)) from None
    raise SystemExit(main(list(args), prog="artifacts-async argo-plugin"))

"""Garbage collection after a retried step, through the ledger, by workflow uid.

    python examples/gc_after_workflow.py [--s3] [WORKDIR]

A step runs twice. Attempt 0 crashes before writing its model: its `model` output fails
(never stored) while its `logs` are stored. Attempt 1 succeeds. Every record, planned and
final, goes into a `Ledger` (SQLite) from the callbacks. Later, from any process that only
knows the workflow's uid, `collect_workflow` deletes what was stored and is due, and skips
what was never stored, without errors. A dry run shows the plan first.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import anyio
from example_repos import repository_config, use_s3

import artifacts_async as aa

WORKFLOW_UID = "9a41c7e0"


async def run_attempt(artifacts: aa.Artifacts, ledger: aa.Ledger, work: Path,
                      attempt: int) -> aa.SaveResult:
    """One attempt of the step; attempt 0 dies before it writes the model."""
    out = work / f"attempt-{attempt}"
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "logs" / "run.log").write_text(f"attempt {attempt}\n")
    if attempt > 0:
        (out / "model.bin").write_bytes(b"weights" * 10_000)
    context = aa.Context(workflow_name="train", workflow_uid=WORKFLOW_UID,
                         pod_name=f"train-{attempt}", node_id="train-node",
                         retry_attempt=attempt,
                         artifact_gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION)

    async def remember(details: aa.ReportDetails | aa.CompleteDetails) -> None:
        await ledger.record(details.records)

    return await artifacts.save_outputs(
        [aa.OutputArtifact(name="model", path=out / "model.bin", archive=aa.Archive.none()),
         aa.OutputArtifact(name="logs", path=out / "logs"),
         aa.OutputArtifact(name="audit", path=out / "logs" / "run.log",
                           archive=aa.Archive.none(), gc=aa.GCStrategy.NEVER)],
        context=context, on_report=remember, on_complete=remember)


async def main(work: Path, *, s3: bool) -> None:
    config = repository_config(
        work, s3=s3, key_format="{{workflow.name}}/{{workflow.uid}}/{{retry.attempt}}")
    options = aa.TransferOptions(state_dir=work / "state")
    async with aa.Ledger(work / "ledger.sqlite3") as ledger:
        async with aa.Artifacts(config, options=options) as artifacts:
            for attempt in (0, 1):
                result = await run_attempt(artifacts, ledger, work, attempt)
                print(f"attempt {attempt}:",
                      ", ".join(f"{r.name}={r.status.value}" for r in result.records))

        # Later, in another process that knows only the workflow's uid:
        async with aa.Artifacts(config) as artifacts:
            plan = await artifacts.collect_workflow(
                ledger, workflow_uid=WORKFLOW_UID, event=aa.GCEvent.WORKFLOW_COMPLETED,
                dry_run=True)
            print(f"dry run: would delete {plan.would_delete}, skip {plan.skipped}")
            report = await artifacts.collect_workflow(
                ledger, workflow_uid=WORKFLOW_UID, event=aa.GCEvent.WORKFLOW_COMPLETED)
        for outcome in report.outcomes:
            reason = f" ({outcome.reason})" if outcome.reason else ""
            print(f"  attempt {outcome.attempt} {outcome.name}: {outcome.status.value}{reason}")
        print(f"deleted {report.deleted}, skipped {report.skipped}, failed {report.failed}")
        again = await ledger.records(workflow_uid=WORKFLOW_UID)
        print(f"records not yet collected: {len(again)} (the never-stored and the kept)")
    if not report.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    s3 = use_s3()
    if len(sys.argv) > 1:
        anyio.run(lambda: main(Path(sys.argv[1]), s3=s3))
    else:
        with tempfile.TemporaryDirectory(prefix="artifacts-async-gc-") as tmp:
            anyio.run(lambda: main(Path(tmp), s3=s3))

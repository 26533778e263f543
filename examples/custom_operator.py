"""A custom operator written against the blocking API (`SyncArtifacts`).

    python examples/custom_operator.py [--s3] [WORKDIR]

Airflow, Prefect and Dagster tasks are mostly synchronous `execute(context)` methods; some
run inside an event loop already. This operator has that shape without depending on any of
them: it loads its inputs, does its work, saves its outputs, and returns the records (plain
JSON-ready dicts, fit for XCom or a task result). The script runs it twice: from a plain
call, and from inside a running event loop (as an async framework calling sync user code
would), which works because `SyncArtifacts` runs the async core on a loop of its own.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from example_repos import repository_config, use_s3

import artifacts_async as aa
from artifacts_async.sync import SyncArtifacts


class TrainModelOperator:
    """Reads a dataset artifact, 'trains' a model, stores the model and its metrics."""

    def __init__(self, *, config: aa.RepositoryConfig, dataset_key: str, workdir: Path) -> None:
        self.config = config
        self.dataset_key = dataset_key
        self.workdir = workdir

    def execute(self, context: Mapping[str, Any]) -> Sequence[dict[str, Any]]:
        """Run the task; `context` holds the engine's run identifiers."""
        ctx = aa.Context(workflow_name=context["dag_id"], workflow_uid=context["run_id"],
                         pod_name=context["task_id"],
                         retry_attempt=context.get("try_number", 1) - 1)
        work = self.workdir / context["run_id"]
        with SyncArtifacts(self.config,
                           options=aa.TransferOptions(state_dir=work / "state")) as artifacts:
            artifacts.load_inputs(
                [aa.InputArtifact(name="dataset", path=work / "in" / "data.txt",
                                  key=self.dataset_key)],
                context=ctx)
            lines = (work / "in" / "data.txt").read_text().splitlines()
            (work / "out" / "metrics").mkdir(parents=True, exist_ok=True)
            (work / "out" / "model.bin").write_bytes(bytes(len(line) % 256 for line in lines))
            (work / "out" / "metrics" / "loss.txt").write_text(f"{1 / len(lines):.6f}\n")
            result = artifacts.save_outputs(
                [aa.OutputArtifact(name="model", path=work / "out" / "model.bin",
                                   archive=aa.Archive.none()),
                 aa.OutputArtifact(name="metrics", path=work / "out" / "metrics")],
                context=ctx,
                on_report=lambda d: print(f"[{context['run_id']}] outputs planned:",
                                          ", ".join(r.location.key for r in d.records)),
            )
            result.raise_for_errors()
        return [record.to_dict() for record in result.records]


def seed_dataset(config: aa.RepositoryConfig, work: Path) -> str:
    """Store the dataset the operator reads (what an upstream task would have done)."""
    data = work / "upstream" / "data.txt"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(f"sample {i}\n" for i in range(500)))
    with SyncArtifacts(config) as artifacts:
        result = artifacts.save_outputs(
            [aa.OutputArtifact(name="data", path=data, key="datasets/data.txt",
                               archive=aa.Archive.none())],
            context=aa.Context(workflow_name="upstream"))
        result.raise_for_errors()
    return "datasets/data.txt"


def main(work: Path, *, s3: bool) -> None:
    config = repository_config(work, s3=s3,
                               key_format="{{workflow.name}}/{{workflow.uid}}/{{pod.name}}")
    operator = TrainModelOperator(config=config, dataset_key=seed_dataset(config, work),
                                  workdir=work)
    records = operator.execute({"dag_id": "train", "run_id": "run-1", "task_id": "fit"})
    print("plain call:", [(r["name"], r["status"]) for r in records])

    async def framework() -> Sequence[dict[str, Any]]:
        # An async framework calling the sync task from inside its running loop.
        return operator.execute({"dag_id": "train", "run_id": "run-2", "task_id": "fit",
                                 "try_number": 2})

    records = asyncio.run(framework())
    print("inside a running loop:", [(r["name"], r["status"]) for r in records])


if __name__ == "__main__":
    s3 = use_s3()
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]), s3=s3)
    else:
        with tempfile.TemporaryDirectory(prefix="artifacts-async-operator-") as tmp:
            main(Path(tmp), s3=s3)

"""An executor around a user's command: load inputs, run it, save outputs, report early.

    python examples/executor_step.py [--s3] [WORKDIR]

This is what a workflow engine's executor does for one step:

1. load the step's inputs (here a dataset an upstream step stored) into the work dir;
2. run the user's command (here a small Python script) and keep its exit code;
3. save the outputs: the early report is written to `status/outputs.json` (atomically)
   before any byte is uploaded, so a controller watching that file knows every output's
   location at once; the file is rewritten with the final records when uploads end;
4. exit with the command's code, or 1 if an output failed to upload.

The local driver is used by default; `--s3` uses the bucket in `$EXAMPLES_S3_BUCKET`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import anyio
from example_repos import repository_config, use_s3

import artifacts_async as aa

USER_COMMAND = """
import pathlib
rows = pathlib.Path("in/raw.csv").read_text().splitlines()
out = pathlib.Path("out")
(out / "reports").mkdir(parents=True, exist_ok=True)
(out / "summary.txt").write_text(f"{len(rows) - 1} rows\\n")
(out / "reports" / "columns.txt").write_text(rows[0] + "\\n")
print("user command: processed", len(rows) - 1, "rows")
"""


def write_atomically(path: Path, data: object) -> None:
    """Readers of `path` see the old content or the new one, never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


async def seed_upstream(artifacts: aa.Artifacts, work: Path, context: aa.Context) -> None:
    """Play the upstream step: store the dataset this step reads."""
    raw = work / "upstream" / "raw.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text("id,value\n" + "".join(f"{i},{i * i}\n" for i in range(1000)))
    result = await artifacts.save_outputs(
        [aa.OutputArtifact(name="dataset", path=raw, key="datasets/raw.csv",
                           archive=aa.Archive.none())],
        context=context)
    result.raise_for_errors()


async def main(work: Path, *, s3: bool) -> int:
    config = repository_config(work, s3=s3, key_format="{{workflow.name}}/{{pod.name}}")
    context = aa.Context(workflow_name="etl", workflow_uid="0f3c9a", pod_name="etl-step-1",
                         namespace="data")
    status = work / "status" / "outputs.json"

    def report(details: aa.ReportDetails) -> None:
        write_atomically(status, {"phase": "planned",
                                  "records": [r.to_dict() for r in details.records]})
        print("early report written:", status)
        for record in details.records:
            print(f"  {record.name} -> {record.location.url}")

    def complete(details: aa.CompleteDetails) -> None:
        write_atomically(status, {"phase": "complete",
                                  "records": [r.to_dict() for r in details.records]})

    options = aa.TransferOptions(state_dir=work / "state")
    async with aa.Artifacts(config, options=options) as artifacts:
        await seed_upstream(artifacts, work, context)
        step = work / "step"
        step.mkdir(parents=True, exist_ok=True)
        # 1. Inputs.
        await artifacts.load_inputs(
            [aa.InputArtifact(name="dataset", path=step / "in" / "raw.csv",
                              key="datasets/raw.csv")],
            context=context)
        # 2. The user's command, in the step's directory.
        process = await anyio.run_process([sys.executable, "-c", USER_COMMAND], cwd=step,
                                          check=False, stdout=None, stderr=None)
        print("user command exited with", process.returncode)
        # 3. Outputs (optional if the command failed: save what it left).
        failed_command = process.returncode != 0
        result = await artifacts.save_outputs(
            [aa.OutputArtifact(name="summary", path=step / "out" / "summary.txt",
                               archive=aa.Archive.none(), optional=failed_command),
             aa.OutputArtifact(name="reports", path=step / "out" / "reports",
                               optional=failed_command)],
            context=context, on_report=report, on_complete=complete)
    for record in result.records:
        print(f"  {record.name}: {record.status.value} {record.size} bytes")
    # 4. The step's exit code.
    if process.returncode != 0:
        return process.returncode
    return 0 if result.ok else 1


if __name__ == "__main__":
    s3 = use_s3()
    if len(sys.argv) > 1:
        code = anyio.run(lambda: main(Path(sys.argv[1]), s3=s3))
    else:
        with tempfile.TemporaryDirectory(prefix="artifacts-async-executor-") as tmp:
            code = anyio.run(lambda: main(Path(tmp), s3=s3))
    sys.exit(code)

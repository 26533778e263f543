"""Quickstart: save a file and a directory with the local driver, then load them back.

Run it with `bash scripts/quickstart.sh` (or `python examples/quickstart.py [workdir]`).
It prints the early report (keys known before any byte moves), the final records,
loads both artifacts back into a new place, and verifies every byte.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import anyio

import artifacts_async as aa


def digest_tree(path: Path) -> dict[str, str]:
    """sha256 of every file under `path` (or of `path` itself), by relative name."""
    if path.is_file():
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def make_outputs(work: Path) -> tuple[Path, Path]:
    """A 24 MiB 'model' file and a 'logs' directory, as a step would leave them."""
    model = work / "out" / "model.bin"
    logs = work / "out" / "logs"
    (logs / "epochs").mkdir(parents=True, exist_ok=True)
    with model.open("wb") as f:
        for _ in range(24):
            f.write(os.urandom(1024 * 1024))
    (logs / "train.log").write_text("epoch 1 loss 0.9\nepoch 2 loss 0.4\n")
    for i in range(3):
        (logs / "epochs" / f"{i}.json").write_text(f'{{"epoch": {i}}}\n')
    return model, logs


async def main(work: Path) -> None:
    model, logs = make_outputs(work)
    config = aa.RepositoryConfig.from_dict({
        "default": "local",
        "repositories": {"local": {"driver": "local", "root": str(work / "artifact-store"),
                                   "key_format": "{{workflow.name}}/{{workflow.uid}}"}},
    })
    context = aa.Context(workflow_name="train", workflow_uid="6b1f0c2e", namespace="ml",
                         pod_name="train-2871", labels={"team": "vision"},
                         artifact_gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION)

    def tell_the_controller(details: aa.ReportDetails) -> None:
        print("early report (before any upload):")
        for record in details.records:
            print(f"  {record.name:6} -> {record.location.url}  [{record.status.value}]")

    def outputs_done(details: aa.CompleteDetails) -> None:
        print("all uploads ended:")
        for record in details.records:
            print(f"  {record.name:6} {record.status.value:7} {record.size:>10} bytes "
                  f"{record.checksum}")

    options = aa.TransferOptions(state_dir=work / "state", part_size=8 * 1024 * 1024)
    async with aa.Artifacts(config, options=options) as artifacts:
        result = await artifacts.save_outputs(
            [
                aa.OutputArtifact(name="model", path=model, archive=aa.Archive.none()),
                aa.OutputArtifact(name="logs", path=logs,
                                  archive=aa.Archive.tar(compression_level=6)),
            ],
            context=context,
            on_report=tell_the_controller,
            on_complete=outputs_done,
        )
        result.raise_for_errors()
        by_name = {r.name: r for r in result.records}
        await artifacts.load_inputs(
            [
                aa.InputArtifact(name="model", path=work / "in" / "model.bin",
                                 record=by_name["model"]),
                aa.InputArtifact(name="logs", path=work / "in" / "logs", record=by_name["logs"]),
            ],
            context=context,
        )
    assert digest_tree(work / "in" / "model.bin") == digest_tree(model), "model differs"
    assert digest_tree(work / "in" / "logs") == digest_tree(logs), "logs differ"
    print("loaded back and verified: every byte matches")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        anyio.run(main, Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory(prefix="artifacts-async-quickstart-") as tmp:
            anyio.run(main, Path(tmp))

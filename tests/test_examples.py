"""Every script in examples/ runs as is (in a subprocess, local driver), so none can rot."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args],
                            capture_output=True, timeout=100, check=False)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return result


def test_every_example_is_run_by_this_module() -> None:
    """A new example must be added to the tests below."""
    scripts = {p.name for p in EXAMPLES.glob("*.py")} - {"example_repos.py"}
    assert scripts == {"quickstart.py", "executor_step.py", "custom_operator.py",
                       "stream_download.py", "gc_after_workflow.py"}


def test_quickstart(tmp_path: Path) -> None:
    """quickstart.py saves, reports early, loads back and verifies."""
    out = run_example("quickstart.py", str(tmp_path)).stdout.decode()
    assert out.index("early report") < out.index("all uploads ended")
    assert "every byte matches" in out


def test_executor_step(tmp_path: Path) -> None:
    """executor_step.py loads, runs the command, writes the report file, exits 0."""
    out = run_example("executor_step.py", str(tmp_path)).stdout.decode()
    assert "user command: processed 1000 rows" in out
    assert out.index("early report written") < out.index("summary: stored")
    status = json.loads((tmp_path / "status" / "outputs.json").read_text())
    assert status["phase"] == "complete"
    assert [r["status"] for r in status["records"]] == ["stored", "stored"]
    assert (tmp_path / "artifact-store" / "etl" / "etl-step-1" / "summary.txt").read_text() \
        == "1000 rows\n"


def test_custom_operator(tmp_path: Path) -> None:
    """custom_operator.py runs its sync operator plainly and inside a running loop."""
    out = run_example("custom_operator.py", str(tmp_path)).stdout.decode()
    assert "plain call: [('model', 'stored'), ('metrics', 'stored')]" in out
    assert "inside a running loop: [('model', 'stored'), ('metrics', 'stored')]" in out
    assert (tmp_path / "artifact-store" / "train" / "run-2" / "fit" / "model.bin").exists()


def test_stream_download(tmp_path: Path) -> None:
    """stream_download.py serves both artifacts over HTTP; --stdout writes the archive."""
    out = run_example("stream_download.py", str(tmp_path / "http")).stdout.decode()
    assert "weights: streamed over HTTP, sha256 matches" in out
    assert "logs: 3 files unpacked from the HTTP stream, all match" in out
    archive = tmp_path / "logs.tgz"
    archive.write_bytes(run_example("stream_download.py", str(tmp_path / "stdout"),
                                    "--stdout", "logs").stdout)
    with tarfile.open(archive) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == [
            f"logs/epochs/{i}.log" for i in range(3)]


def test_gc_after_workflow(tmp_path: Path) -> None:
    """gc_after_workflow.py deletes the stored, due artifacts of both attempts only."""
    out = run_example("gc_after_workflow.py", str(tmp_path)).stdout.decode()
    assert "attempt 0: model=failed, logs=stored, audit=stored" in out
    assert "attempt 0 model: skipped (never stored)" in out
    assert "deleted 3, skipped 3, failed 0" in out
    store = tmp_path / "artifact-store"
    # The local driver keeps object metadata under `.artifacts-async/`: objects only here.
    left = sorted(p.relative_to(store).as_posix() for p in store.rglob("*")
                  if p.is_file() and not p.relative_to(store).parts[0].startswith("."))
    # Only the artifacts marked `never` remain, one per attempt.
    assert left == [f"train/9a41c7e0/{a}/run.log" for a in range(2)]

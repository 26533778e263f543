"""The `artifacts-async` console script, run for real in subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(sys.executable).parent / "artifacts-async"

CONFIG = """\
default = "local"

[repositories.local]
driver = "local"
root = "{root}"
key_format = "{{{{workflow.name}}}}/{{{{workflow.uid}}}}"
"""


def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
        check: int | None = 0) -> subprocess.CompletedProcess[bytes]:
    """Run the console script; assert its exit code when `check` is not None."""
    result = subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True,
                            env={**os.environ, **(env or {})}, timeout=60, check=False)
    if check is not None:
        assert result.returncode == check, (result.returncode, result.stdout[-2000:],
                                            result.stderr.decode()[-2000:])
    return result


def out_json(result: subprocess.CompletedProcess[bytes]) -> Any:
    return json.loads(result.stdout)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A step's working directory: a config, a 3 MiB file and a small directory."""
    (tmp_path / "repos.toml").write_text(CONFIG.format(root=tmp_path / "store"))
    (tmp_path / "out" / "logs").mkdir(parents=True)
    (tmp_path / "out" / "model.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (tmp_path / "out" / "logs" / "train.log").write_text("epoch 1\n")
    return tmp_path


CTX = ["--workflow-name", "train", "--workflow-uid", "u1"]


def test_help_lists_every_command_and_exit_codes(work: Path) -> None:
    """--help names every command and documents the exit codes."""
    text = run("--help", cwd=work).stdout.decode()
    for command in ("save", "load", "cat", "ls", "stat", "gc", "sweep", "render-key",
                    "config"):
        assert f"  {command} " in text, command
    assert "2 usage or configuration error" in text
    assert "  argo-plugin " in text
    plugin = run("argo-plugin", "--help", cwd=work).stdout.decode()
    assert "usage: artifacts-async argo-plugin" in plugin
    # Each command's own help (the other commands run for real in the tests below).
    assert "--report-file" in run("save", "--help", cwd=work).stdout.decode()
    assert "--connect" in run("config", "check", "--help", cwd=work).stdout.decode()


def test_save_load_cat_ls_stat_round_trip(work: Path) -> None:
    """save --json, then load, cat, ls and stat read back the same bytes."""
    env = {"ARTIFACTS_ASYNC_CONFIG": str(work / "repos.toml")}
    saved = run("--json", "save", "model=out/model.bin", "logs=out/logs", "--archive", "none",
                *CTX, cwd=work, env=env)
    # `--archive none` stores a directory as one object per file and a manifest.
    records = {r["name"]: r for r in out_json(saved)["records"]}
    assert records["model"]["status"] == records["logs"]["status"] == "stored"
    assert records["logs"]["directory"] is True
    (work / "none-records.json").write_bytes(saved.stdout)
    run("load", "--records", "none-records.json", "logs=in/logs-none", cwd=work, env=env)
    assert (work / "in" / "logs-none" / "train.log").read_text() == "epoch 1\n"
    (work / "specs.yaml").write_text("- {name: logs, path: out/logs, archive: tar:1}\n")
    saved = run("--json", "save", "model=out/model.bin", "--archive", "none",
                "--specs", "specs.yaml", *CTX, cwd=work, env=env)
    (work / "records.json").write_bytes(saved.stdout)
    records = {r["name"]: r for r in out_json(saved)["records"]}
    assert {r["status"] for r in records.values()} == {"stored"}
    assert records["logs"]["location"]["key"] == "train/u1/logs.tgz"
    # Progress went to stderr as JSON lines.
    events = [json.loads(line) for line in saved.stderr.decode().splitlines()]
    assert {"upload.started", "upload.complete"} <= {e["event"] for e in events}

    loaded = run("--json", "load", "--records", "records.json", "model=in/model.bin",
                 "logs=in/logs", cwd=work, env=env)
    assert [row["status"] for row in out_json(loaded)["inputs"]] == ["loaded", "loaded"]
    assert (work / "in" / "model.bin").read_bytes() == (work / "out/model.bin").read_bytes()
    assert (work / "in" / "logs" / "train.log").read_text() == "epoch 1\n"

    cat = run("cat", "--records", "records.json", "model", cwd=work, env=env)
    assert cat.stdout == (work / "out" / "model.bin").read_bytes()
    by_key = run("cat", "--key", "train/u1/model.bin", cwd=work, env=env)
    assert by_key.stdout == cat.stdout

    listed = out_json(run("--json", "ls", "train/", cwd=work, env=env))
    assert sorted(o["key"] for o in listed["objects"]) == [
        "train/u1/logs.tgz", "train/u1/logs/.artifacts-async-manifest.json",
        "train/u1/logs/train.log", "train/u1/model.bin"]
    info = out_json(run("--json", "stat", "train/u1/model.bin", cwd=work, env=env))
    assert info["size"] == 3 * 1024 * 1024 + 17
    missing = run("stat", "train/u1/nope", cwd=work, env=env, check=3)
    assert missing.stderr.decode().startswith("artifacts-async: error: ")
    assert len(missing.stderr.decode().strip().splitlines()) == 1


def test_plain_progress_lines_when_not_a_terminal(work: Path) -> None:
    """Without a terminal, progress is one plain line per start, part and end."""
    # Above the local driver's 8 MiB single-put limit, so it goes in parts.
    (work / "out" / "big.bin").write_bytes(os.urandom(9 * 1024 * 1024 + 17))
    result = run("--config", "repos.toml", "save", "model=out/big.bin", "--archive", "none",
                 "--part-size", "3", *CTX, cwd=work)
    lines = result.stderr.decode().splitlines()
    assert "model: started (9.0 MiB)" in lines
    parts = [line for line in lines
             if re.fullmatch(r"model: part \d stored, [\d.]+ (B|KiB|MiB) of 9\.0 MiB \(\d+%\)",
                             line)]
    # 9 MiB + 17 bytes in 3 MiB parts; they complete in any order, so any running total.
    assert len(parts) == 4
    assert any(line.startswith("model: stored 9.0 MiB in ") for line in lines)
    assert "stored" in result.stdout.decode()
    quiet = run("--config", "repos.toml", "-q", "save", "model=out/model.bin", "--archive",
                "none", *CTX, cwd=work)
    assert quiet.stdout == b""
    assert quiet.stderr == b""


def test_load_and_cat_show_download_progress(work: Path) -> None:
    """load and cat print plain download lines on stderr (stdout keeps the bytes), JSON
    lines with --json, nothing with -q."""
    save = run("--config", "repos.toml", "--json", "save", "model=out/model.bin",
               "--archive", "none", *CTX, cwd=work)
    (work / "records.json").write_bytes(save.stdout)
    loaded = run("--config", "repos.toml", "load", "--records", "records.json",
                 "model=in/model.bin", cwd=work)
    lines = loaded.stderr.decode().splitlines()
    assert lines[0] == "model: downloading (3.0 MiB)"
    assert any(re.fullmatch(r"model: [\d.]+ MiB of 3\.0 MiB \(\d+%\)", line) for line in lines)
    assert re.fullmatch(r"model: loaded 3\.0 MiB in [\d.]+ s", lines[-1])
    cat = run("--config", "repos.toml", "cat", "--records", "records.json", "model", cwd=work)
    assert cat.stdout == (work / "out" / "model.bin").read_bytes()
    assert cat.stderr.decode().splitlines()[0] == "model: downloading (3.0 MiB)"
    as_json = run("--config", "repos.toml", "--json", "cat", "--records", "records.json",
                  "model", cwd=work)
    events = [json.loads(line)["event"] for line in as_json.stderr.decode().splitlines()]
    assert events[0] == "download.started"
    assert events[-1] == "download.complete"
    quiet = run("--config", "repos.toml", "-q", "cat", "--records", "records.json", "model",
                cwd=work)
    assert quiet.stderr == b""


PROBE = textwrap.dedent("""\
    import json, os
    from pathlib import Path
    from artifacts_async._drivers._local import LocalDriver

    report = Path(os.environ["PROBE_REPORT"])
    log = Path(os.environ["PROBE_LOG"])

    def wrap(name):
        original = getattr(LocalDriver, name)

        async def probe(self, key, *args, **kwargs):
            seen = json.loads(report.read_text()) if report.exists() else None
            with log.open("a") as f:
                f.write(json.dumps({"call": name, "key": key, "report": seen}) + "\\n")
            return await original(self, key, *args, **kwargs)

        setattr(LocalDriver, name, probe)

    for name in ("put", "start_upload", "upload_part"):
        wrap(name)
""")


def test_report_file_exists_before_the_first_upload_request(work: Path) -> None:
    """Executor mode: every upload request sees the complete planned report already
    written; the file ends with the final records."""
    probe = work / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(PROBE)
    report = work / "status" / "report.json"
    env = {"PYTHONPATH": str(probe), "PROBE_REPORT": str(report),
           "PROBE_LOG": str(work / "calls.jsonl")}
    run("--config", "repos.toml", "save", "model=out/model.bin", "logs=out/logs",
        "--part-size", "1", "--report-file", str(report), *CTX, cwd=work, env=env)
    calls = [json.loads(line) for line in (work / "calls.jsonl").read_text().splitlines()]
    assert {c["call"] for c in calls} >= {"start_upload", "upload_part"}
    for call in calls:
        # The first request (and every later one) found the early report in place.
        assert call["report"] is not None, call
        assert call["report"]["phase"] == "planned"
        assert [r["status"] for r in call["report"]["records"]] == ["planned", "planned"]
    final = json.loads(report.read_text())
    assert final["phase"] == "complete"
    assert [r["status"] for r in final["records"]] == ["stored", "stored"]
    assert [p.name for p in report.parent.iterdir()] == ["report.json"]  # no temp files


def test_gc_sweep_and_render_key(work: Path) -> None:
    """gc --dry-run then gc delete what is due; sweep and render-key answer in JSON."""
    cfg = ["--config", "repos.toml"]
    saved = run(*cfg, "--json", "save", "model=out/model.bin", *CTX, "--gc",
                "on_workflow_completion", cwd=work)
    (work / "records.json").write_bytes(saved.stdout)
    dry = out_json(run(*cfg, "--json", "gc", "--records", "records.json", "--dry-run",
                       cwd=work))
    assert [o["status"] for o in dry["outcomes"]] == ["would_delete"]
    assert (work / "store" / "train" / "u1" / "model.tgz").exists()
    done = out_json(run(*cfg, "--json", "gc", "--records", "records.json", cwd=work))
    assert [o["status"] for o in done["outcomes"]] == ["deleted"]
    assert not (work / "store" / "train" / "u1" / "model.tgz").exists()
    assert "deleted 0, already absent 1" in run(*cfg, "gc", "--records", "records.json",
                                                  cwd=work).stdout.decode()
    swept = out_json(run(*cfg, "--json", "sweep", "--older-than", "1h", "--dry-run",
                         cwd=work))
    assert swept == {"uploads": [], "dry_run": True}
    keys = out_json(run(*cfg, "--json", "render-key", "model", "logs=logs/{{workflow.uid}}",
                        "--workflow-name", "w", "--workflow-uid", "u7", cwd=work))
    assert [k["key"] for k in keys["keys"]] == ["w/u7/model.tgz", "logs/u7"]
    assert run("render-key", "--template", "{{workflow.name}}-x", "--workflow-name", "w",
               cwd=work).stdout == b"w-x\n"


def test_gc_from_a_ledger(work: Path) -> None:
    """gc and ls read a workflow's records from a ledger by uid."""
    import anyio  # noqa: PLC0415 - only this test writes a ledger

    import artifacts_async as aa  # noqa: PLC0415

    saved = run("--config", "repos.toml", "--json", "save", "model=out/model.bin", *CTX,
                "--gc", "on_workflow_completion", cwd=work)
    records = [aa.ArtifactRecord.from_dict(r) for r in out_json(saved)["records"]]

    async def write() -> None:
        async with aa.Ledger(work / "ledger.sqlite3") as ledger:
            await ledger.record(records)

    anyio.run(write)
    cfg = ["--config", "repos.toml"]
    done = out_json(run(*cfg, "--json", "gc", "--ledger", "ledger.sqlite3", "--workflow-uid",
                        "u1", cwd=work))
    assert [o["status"] for o in done["outcomes"]] == ["deleted"]
    listed = out_json(run(*cfg, "--json", "ls", "--ledger", "ledger.sqlite3",
                          "--workflow-uid", "u1", cwd=work))
    assert [r["collected"] for r in listed["records"]] == ["deleted"]


def test_config_check_file_and_mounted_configmap(work: Path) -> None:
    """config check describes each repository without secrets; --connect probes it."""
    checked = out_json(run("--config", "repos.toml", "--json", "config", "check",
                           "--connect", cwd=work))
    assert checked["repositories"][0]["reachable"] is True
    assert not (work / "store" / ".artifacts-async-check").exists() or not any(
        (work / "store" / ".artifacts-async-check").iterdir())
    mounted = work / "configmap"
    mounted.mkdir()
    (mounted / "default").write_text(textwrap.dedent("""\
        s3:
          bucket: my-bucket
          endpoint: minio:9000
          insecure: true
          accessKeySecret: {name: minio-creds, key: accesskey}
          secretKeySecret: {name: minio-creds, key: secretkey}
    """))
    text = run("--config", str(mounted), "config", "check", cwd=work).stdout.decode()
    assert "default (default): driver s3" in text
    assert "http://minio:9000" in text
    assert "SecretRef(kubernetes:minio-creds/accesskey)" in text
    (mounted / "oss").write_text("oss:\n  bucket: b\n")
    unusable = run("--config", str(mounted), "--json", "config", "check", cwd=work, check=1)
    assert set(out_json(unusable)["unusable"]) == {"oss"}
    broken = work / "broken.toml"
    broken.write_text('[repositories.x]\ndriver = "nosuch"\n')
    result = run("--config", str(broken), "config", "check", cwd=work, check=1)
    assert "not installed" in result.stdout.decode()


def test_errors_are_one_line_with_exit_codes(work: Path) -> None:
    """Usage and config errors exit 2 with one line; --debug adds the traceback."""
    no_config = run("save", "x=y", cwd=work, env={"ARTIFACTS_ASYNC_CONFIG": ""}, check=2)
    assert no_config.stderr.decode().splitlines() == [
        "artifacts-async: error: no repository config: pass --config PATH or set "
        "ARTIFACTS_ASYNC_CONFIG (a TOML, YAML or JSON file, or a mounted ConfigMap directory)"
    ]
    bad_template = run("--config", "repos.toml", "save", "m=out/model.bin", "--key",
                       "m={{nope}}", cwd=work, check=2)
    assert len(bad_template.stderr.decode().strip().splitlines()) == 1
    debug = run("--config", "repos.toml", "--debug", "save", "m=out/model.bin", "--key",
                "m={{nope}}", cwd=work, check=2)
    assert "Traceback (most recent call last)" in debug.stderr.decode()
    run("save", "--no-such-flag", cwd=work, check=2)
    missing = run("--config", "repos.toml", "save", "gone=out/nothing", *CTX, cwd=work,
                  check=1)
    assert "failed" in missing.stdout.decode()


def test_json_logs_for_a_pod(work: Path) -> None:
    """--log-level info --log-json: every stderr line is a JSON log record with fields."""
    result = run("--config", "repos.toml", "-q", "--log-level", "info", "--log-json", "save",
                 "model=out/model.bin", *CTX, cwd=work)
    records = [json.loads(line) for line in result.stderr.decode().splitlines()]
    assert [r["event"] for r in records] == ["artifact.planned", "artifact.stored"]
    stored = records[1]
    assert stored["logger"] == "artifacts_async.save"
    assert stored["level"] == "INFO"
    assert stored["artifact"] == "model"
    assert stored["size"] > 3 * 1024 * 1024
    assert "key" not in stored
    assert "train/u1" not in result.stderr.decode()  # keys stay out of INFO logs


def test_the_command_line_freezes_the_collector_after_start_up_and_after_the_report(
        work: Path) -> None:
    """The CLI is its own process: `gc.freeze()` once it has started (before the event
    loop) and again at the early report, when the drivers exist; the save still works."""
    script = textwrap.dedent("""
        import gc, sys
        from artifacts_async._cli import main
        calls = []
        freeze = gc.freeze
        def recording():
            calls.append("artifacts_async._drivers._local" in sys.modules)
            freeze()
        gc.freeze = recording
        sys.argv = ["artifacts-async", "--json", "save", "model=out/model.bin",
                    "--workflow-name", "train", "--workflow-uid", "u1"]
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        print(code, calls, gc.get_freeze_count() > 0, file=sys.stderr)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=work, capture_output=True,
                            env={**os.environ, "ARTIFACTS_ASYNC_CONFIG": str(work / "repos.toml")},
                            timeout=60, check=True)
    # Before the loop no driver exists; at the report the local driver's module is loaded.
    assert result.stderr.decode().splitlines()[-1] == "0 [False, True] True"
    assert out_json(result)["records"][0]["status"] == "stored"

"""The Argo artifact plugin as Argo uses it: a subprocess on a Unix socket, the local driver."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argo_plugin_support import MiB, Plugin, memory_kib, read_bytes

from artifacts_async.argo._server import DEFAULT_STATE_DIR, _parser


@pytest.fixture(scope="module")
def plugin() -> Iterator[Plugin]:
    """One plugin process for the module's functional tests."""
    with Plugin() as server:
        yield server


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    """A local-driver repository private to the test."""
    return {"driver": "local", "root": str(tmp_path / "store")}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _make_dir(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    (root / "sub" / "deeper" / "c.txt").write_bytes(b"gamma" * 1000)
    return root


def _archive(kind: str, source: Path, out: Path) -> Path:
    """The file Argo's executor hands the plugin for an output with archive `kind`."""
    if kind == "none":
        out.write_bytes(os.urandom(3 * MiB + 17))
    elif kind == "zip":
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(source.rglob("*")):
                zf.write(p, p.relative_to(source).as_posix())
    else:
        with tarfile.open(out, "w:gz" if kind == "tgz" else "w") as tf:
            tf.add(source, arcname=".")
    return out


def test_capabilities_announce_save_stream(plugin: Plugin) -> None:
    """GetCapabilities says SaveStream is supported (Argo then streams without a temp file)."""
    from artifacts_async.argo._proto import artifact_pb2 as pb  # noqa: PLC0415

    assert plugin.stub.GetCapabilities(pb.GetCapabilitiesRequest()).supports_save_stream


@pytest.mark.parametrize("kind", ["none", "tgz", "tar", "zip"])
def test_save_then_load_each_archive_kind(
    plugin: Plugin, config: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    """Whatever file Argo's executor made (raw, tgz, tar, zip) is stored and loaded back
    byte for byte, and an archive unpacks to the original tree."""
    source = _make_dir(tmp_path / "src")
    made = _archive(kind, source, tmp_path / f"out.{kind}")
    key = f"wf/pod/out.{kind}"
    assert plugin.save(made, key, config).success
    assert (Path(config["root"]) / key).read_bytes() == made.read_bytes()
    loaded = tmp_path / "in" / "out.tmp"
    response = plugin.load(key, loaded, config)
    assert response.success, response.error
    assert loaded.read_bytes() == made.read_bytes()
    if kind in ("tgz", "tar"):
        with tarfile.open(loaded) as tf:
            tf.extractall(tmp_path / "unpacked", filter="data")
        assert _tree(tmp_path / "unpacked") == _tree(source)
    elif kind == "zip":
        with zipfile.ZipFile(io.BytesIO(loaded.read_bytes())) as zf:
            assert {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")} == _tree(source)


def test_directory_is_stored_as_objects_listed_and_loaded(
    plugin: Plugin, config: dict[str, Any], tmp_path: Path
) -> None:
    """A directory (archive none) becomes one object per file under the key, as Argo's own
    drivers store it: IsDirectory and ListObjects see it, Load rebuilds the tree."""
    source = _make_dir(tmp_path / "src")
    assert plugin.save(source, "wf/dir", config).success
    listed = plugin.list_objects("wf/dir", config)
    assert not listed.error
    assert sorted(listed.objects) == ["wf/dir/a.txt", "wf/dir/sub/b.bin", "wf/dir/sub/deeper/c.txt"]
    assert plugin.is_directory("wf/dir", config).is_directory
    assert plugin.is_directory("wf/dir/", config).is_directory
    assert not plugin.is_directory("wf/dir/a.txt", config).is_directory
    assert list(plugin.list_objects("wf/dir/a.txt", config).objects) == []
    assert "does not exist" in plugin.list_objects("wf/nothing", config).error
    response = plugin.load("wf/dir", tmp_path / "in" / "dir.tmp", config)
    assert response.success, response.error
    assert _tree(tmp_path / "in" / "dir.tmp") == _tree(source)


def test_delete_is_idempotent_for_files_and_directories(
    plugin: Plugin, config: dict[str, Any], tmp_path: Path
) -> None:
    """Delete removes a file or a whole directory; deleting again (or never stored) is
    success; a deleted artifact no longer loads."""
    single = tmp_path / "one.bin"
    single.write_bytes(b"x" * 1000)
    assert plugin.save(single, "wf/one.bin", config).success
    assert plugin.save(_make_dir(tmp_path / "src"), "wf/dir", config).success
    for key in ("wf/one.bin", "wf/dir", "wf/dir", "wf/one.bin", "wf/never-stored"):
        response = plugin.delete(key, config)
        assert response.success, (key, response.error)
    assert not plugin.is_directory("wf/dir", config).is_directory
    assert _tree(Path(config["root"]) / "wf") == {}
    failed = plugin.load("wf/one.bin", tmp_path / "gone", config)
    assert not failed.success
    assert "MissingInputError" in failed.error


def test_open_stream_of_a_missing_object_or_a_directory_is_an_error_frame(
    plugin: Plugin, config: dict[str, Any], tmp_path: Path
) -> None:
    """OpenStream answers a missing key or a directory with one frame carrying `error`."""
    assert plugin.save(_make_dir(tmp_path / "src"), "wf/dir", config).success
    for key, text in (("wf/absent", "does not exist"), ("wf/dir", "is a directory")):
        frames = list(plugin.open_stream(key, config))
        assert len(frames) == 1
        assert text in frames[0].error
        assert not frames[0].is_end


def test_bad_configurations_and_keys_get_errors_and_the_server_keeps_serving(
    plugin: Plugin, config: dict[str, Any], tmp_path: Path
) -> None:
    """Malformed configurations and unsafe keys are answered in `error` with a clear
    message; the same server then serves a good request."""
    data = tmp_path / "f.bin"
    data.write_bytes(b"payload")
    bad_configs = [
        ("{not yaml: [", "not valid JSON or YAML"),
        ("", "must be a JSON or YAML mapping"),
        ("[1, 2]", "must be a JSON or YAML mapping"),
        ({"bucket": "b"}, "has no driver"),
        ({"driver": "nosuch"}, "nosuch"),
        ({**config, "transfer": {"part_sise": 1}}, "unknown transfer option 'part_sise'"),
        ({**config, "transfer": {"max_buffer_bytes": 1}}, "whole plugin server"),
        ({**config, "transfer": {"retry_attempts": 0}}, "retry_attempts must be a positive"),
        ("s3: {bucket: b, accessKeySecret: AKIA123}", "a literal secret is never accepted"),
    ]
    for bad, text in bad_configs:
        response = plugin.save(data, "wf/f.bin", bad)
        assert not response.success
        assert "Error: " in response.error
        assert text in response.error, response.error
    for key, text in (("../x", "'..' segment"), ("/abs", "absolute"), ("a//b", "empty segment"),
                      ("{{workflow.name}}/x", "already rendered")):
        answers: list[Any] = [
            plugin.save(data, key, config), plugin.load(key, tmp_path / "x", config),
            plugin.delete(key, config), plugin.list_objects(key, config),
            plugin.is_directory(key, config),
        ]
        for answer in answers:
            assert "KeyTemplateError" in answer.error
            assert text in answer.error
    assert "artifact.plugin.key is empty" in plugin.save(data, "", config).error
    missing = plugin.save(tmp_path / "absent.bin", "wf/absent.bin", config)
    assert "MissingInputError" in missing.error
    assert plugin.proc.poll() is None
    assert plugin.save(data, "wf/f.bin", config).success
    assert (Path(config["root"]) / "wf" / "f.bin").read_bytes() == b"payload"


def test_a_directory_file_named_like_a_template_is_stored_verbatim_not_rendered(
    plugin: Plugin, config: dict[str, Any], tmp_path: Path
) -> None:
    """A file called `{{workflow.name}}` in a saved directory is stored under its own
    name (file names are never rendered as templates), with the directory's manifest, and
    loads back."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "{{workflow.name}}").write_text("x")
    assert plugin.save(tmp_path / "d", "wf/d", config).success
    stored = Path(config["root"]) / "wf" / "d"
    assert sorted(p.name for p in stored.iterdir()) == [".artifacts-async-manifest.json",
                                                        "{{workflow.name}}"]
    assert plugin.list_objects("wf/d", config).objects == ["wf/d/{{workflow.name}}"]
    assert plugin.load("wf/d", tmp_path / "out", config).success
    assert (tmp_path / "out" / "{{workflow.name}}").read_text() == "x"
    assert plugin.delete("wf/d", config).success
    assert not stored.exists()


def _chunks(total: int, seed: bytes) -> Iterator[bytes]:
    """`total` bytes in Argo's 2 MiB SaveStream chunks, each distinct."""
    block = hashlib.sha256(seed).digest() * (2 * MiB // 32)
    for i in range(total // (2 * MiB)):
        yield i.to_bytes(8, "big") + block[8:]


def test_save_stream_of_200_mib_holds_bounded_memory_and_streams_back_in_frames(
    tmp_path: Path,
) -> None:
    """200 MiB through SaveStream with a 32 MiB budget: the server's peak RSS grows by far
    less than the object (no temp file, no buffering); OpenStream returns it in frames of
    at most 1 MiB, then `is_end`, byte for byte."""
    config = {"driver": "local", "root": str(tmp_path / "store")}
    total = 200 * MiB
    with Plugin(["--max-buffer-bytes", str(32 * MiB)]) as plugin:
        # Warm up (imports, driver, journal) before the baseline is read.
        assert plugin.save_stream(_chunks(16 * MiB, b"warm"), "wf/warm", config).success
        baseline = memory_kib(plugin.pid, "VmRSS")
        sent = hashlib.sha256()

        def counted() -> Iterator[bytes]:
            for chunk in _chunks(total, b"big"):
                sent.update(chunk)
                yield chunk

        response = plugin.save_stream(counted(), "wf/big.bin", config)
        assert response.success, response.error
        assert (Path(config["root"]) / "wf" / "big.bin").stat().st_size == total
        got = hashlib.sha256()
        sizes = []
        frames = plugin.open_stream("wf/big.bin", config)
        first = next(frames)
        got.update(first.data)
        sizes.append(len(first.data))
        # Backpressure: while this client reads nothing more, the server reads ahead by
        # at most gRPC's flow-control window and a few frames, not the whole object. An
        # absence can only be watched for a while: 2 s, in which the server could read
        # 200 MiB many times over if nothing held it back.
        start = read_bytes(plugin.pid)
        ahead = 0
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            ahead = max(ahead, read_bytes(plugin.pid) - start)
            time.sleep(0.05)
        assert ahead < 32 * MiB, f"the server read {ahead // MiB} MiB ahead of its client"
        for frame in frames:
            assert not frame.error
            if frame.is_end:
                break
            sizes.append(len(frame.data))
            got.update(frame.data)
        assert got.hexdigest() == sent.hexdigest()
        assert max(sizes) <= MiB
        assert sum(sizes) == total
        assert len(sizes) >= 200
        grown = (memory_kib(plugin.pid, "VmHWM") - baseline) // 1024
        assert grown < 100, f"peak RSS grew by {grown} MiB for a 200 MiB stream"
        assert plugin.terminate() == 0


def test_sigterm_lets_a_request_in_flight_finish_then_exits_zero(tmp_path: Path) -> None:
    """SIGTERM during a SaveStream: the server refuses new work, the stream in flight
    completes and is stored, then the process exits with 0 and removes its socket."""
    config = {"driver": "local", "root": str(tmp_path / "store")}
    plugin = Plugin()
    try:
        release = threading.Event()
        first_sent = threading.Event()

        def held() -> Iterator[bytes]:
            yield b"a" * MiB
            first_sent.set()
            release.wait(timeout=60)
            yield b"b" * MiB

        result: list[Any] = []
        thread = threading.Thread(
            target=lambda: result.append(plugin.save_stream(held(), "wf/held", config)))
        thread.start()
        assert first_sent.wait(timeout=30)
        plugin.proc.send_signal(15)
        plugin.wait_for_log("stopping")
        release.set()
        thread.join(timeout=60)
        assert len(result) == 1
        assert result[0].success, result[0].error
        assert plugin.proc.wait(timeout=60) == 0
        assert (Path(config["root"]) / "wf" / "held").read_bytes() == b"a" * MiB + b"b" * MiB
        assert not plugin.socket.exists()
    finally:
        plugin.close()


def test_journal_defaults_to_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    """The resume journal lives under /tmp unless configured (a sidecar can write there)."""
    monkeypatch.delenv("ARTIFACTS_ASYNC_STATE_DIR", raising=False)
    assert _parser().parse_args(["sock"]).state_dir == DEFAULT_STATE_DIR == Path(
        "/tmp/artifacts-async")
    monkeypatch.setenv("ARTIFACTS_ASYNC_STATE_DIR", "/elsewhere")
    assert _parser().parse_args(["sock"]).state_dir == Path("/elsewhere")


def test_the_deployment_examples_agree_with_the_plugin() -> None:
    """examples/argo-plugin: every plugin configuration in the workflow and the ConfigMap
    is one the plugin accepts, names the registered plugin, and the image runs the
    console script this distribution installs."""
    import tomllib  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    from artifacts_async import TransferOptions  # noqa: PLC0415
    from artifacts_async.argo._settings import build  # noqa: PLC0415

    root = Path(__file__).parent.parent
    examples = root / "examples" / "argo-plugin"
    configmap = yaml.safe_load((examples / "workflow-controller-configmap.yaml").read_text())
    (driver,) = yaml.safe_load(configmap["data"]["artifactDrivers"])
    default = yaml.safe_load(configmap["data"]["artifactRepository"])["plugin"]
    plugins = [default]
    workflow = yaml.safe_load((examples / "workflow.yaml").read_text())
    for template in workflow["spec"]["templates"]:
        for art in template.get("outputs", {}).get("artifacts", []):
            plugins.append(art["plugin"])
    assert len(plugins) == 4
    for plugin in plugins:
        assert plugin["name"] == driver["name"]
        config, _ = build(plugin["configuration"], TransferOptions())
        assert config.get(None).driver == "s3"
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = next(line for line in (examples / "Dockerfile").read_text().splitlines()
                      if line.startswith("ENTRYPOINT"))
    assert '["artifacts-async-argo-plugin"' in entrypoint
    assert scripts["artifacts-async-argo-plugin"] == "artifacts_async.argo:main"


@pytest.mark.anyio
async def test_an_unexpected_exception_is_answered_as_an_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug (any exception that is not the library's) becomes an `error` saying it is
    internal, logged with its traceback; the method still returns normally."""
    from artifacts_async import TransferOptions  # noqa: PLC0415
    from artifacts_async.argo._proto import artifact_pb2 as pb  # noqa: PLC0415
    from artifacts_async.argo._service import ArtifactService  # noqa: PLC0415
    from artifacts_async.argo._settings import Repositories  # noqa: PLC0415

    class Broken(Repositories):
        def get(self, text: str) -> Any:
            raise RuntimeError("boom")

    service = ArtifactService(Broken(TransferOptions()))
    request = pb.IsDirectoryRequest(artifact=pb.Artifact(
        plugin=pb.PluginArtifact(name="aa", configuration="{}", key="k")))
    response = await service.IsDirectory(request, None)  # type: ignore[arg-type]
    assert response.error == "internal error in the artifacts-async plugin (RuntimeError: boom)"
    assert not response.is_directory
    frames = [f async for f in service.OpenStream(
        pb.OpenStreamRequest(artifact=request.artifact), None)]  # type: ignore[arg-type]
    assert [f.error for f in frames] == [response.error]
    assert any(r.exc_info for r in caplog.records if "boom" in r.getMessage())

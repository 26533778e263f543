"""Archive streams: deterministic tar/gzip/zip writing and safe extraction.

Writers produce the same bytes for the same tree (sorted entries, owner and group
cleared, gzip header without a timestamp), so a resumed upload that regenerates the
stream gets identical parts. Archives hold one top-level entry named after the source
(`model/...` for a directory, `model.bin` for a file), as Argo's do.

Extraction refuses, before writing anything for that member: absolute names, `..`
segments, links whose target leaves the destination, hard links to outside, device
files and FIFOs. Everything is extracted into a fresh directory beside the destination
and renamed into place at the end, so a failed extraction leaves nothing under the
destination path. A damaged archive (what tarfile, gzip, zlib and zipfile raise for it)
is an `IntegrityError`, a refused member an `UnsafeArchiveError`.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import struct
import tarfile
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, cast

from ._exceptions import (
    ConfigurationError,
    IntegrityError,
    MissingInputError,
    UnsafeArchiveError,
)
from ._specs import Archive, ArchiveKind

__all__ = ["extract", "replace_path", "tree_fingerprint", "write_archive"]


def _walk(root: Path) -> Iterator[Path]:
    """Every entry under `root`, sorted, directories before their contents."""
    entries = sorted(os.scandir(root), key=lambda e: e.name)
    for entry in entries:
        path = Path(entry.path)
        yield path
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(path)


def tree_fingerprint(path: Path) -> str:
    """A string that changes when any file under `path` changes (name, size, mtime, mode)."""
    parts = []
    if path.is_dir():
        for entry in _walk(path):
            st = entry.lstat()
            parts.append(f"{entry.relative_to(path).as_posix()}:{st.st_size}:{st.st_mtime_ns}:"
                         f"{st.st_mode}")
    else:
        st = path.stat()
        parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
    import hashlib  # noqa: PLC0415 - only needed here

    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _tarinfo(tar: tarfile.TarFile, path: Path, arcname: str) -> tarfile.TarInfo:
    info = tar.gettarinfo(str(path), arcname)
    if not (info.isreg() or info.isdir() or info.issym()):
        raise ConfigurationError(
            f"{path} is not a regular file, directory or symlink: remove it from the output"
        )
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_tar(source: Path, out: IO[bytes], level: int) -> None:
    gz: gzip.GzipFile | None = None
    if level:
        gz = gzip.GzipFile(filename="", mode="wb", compresslevel=level, fileobj=out, mtime=0)
    try:
        with tarfile.open(fileobj=gz or out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            entries = [source, *(_walk(source) if source.is_dir() else [])]
            for entry in entries:
                arcname = (PurePosixPath(source.name) / entry.relative_to(source)).as_posix() \
                    if entry != source else source.name
                info = _tarinfo(tar, entry, arcname)
                if info.isreg():
                    with entry.open("rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    finally:
        if gz is not None:
            gz.close()


def _write_zip(source: Path, out: IO[bytes]) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        entries = [source, *(_walk(source) if source.is_dir() else [])]
        for entry in entries:
            arcname = (PurePosixPath(source.name) / entry.relative_to(source)).as_posix() \
                if entry != source else source.name
            # Zip has no portable symlinks: a link to a file inside the tree is stored as
            # that file's content; anything else is refused.
            if (entry.is_symlink() and not (
                entry.is_file() and _inside(source, entry.resolve())
            )) or not (entry.is_file() or entry.is_dir()):
                raise ConfigurationError(
                    f"{entry} cannot be stored in a zip archive (only files, directories and "
                    "links to files inside the tree): use a tar archive"
                )
            zf.write(entry, arcname)


def write_archive(source: Path, archive: Archive, out: IO[bytes] | io.RawIOBase) -> None:
    """Write `source` (a file or directory) to `out` as `archive`. Blocking."""
    if not source.exists():
        raise MissingInputError(f"{source} does not exist")
    # tarfile, gzip and zipfile only call write() (and flush()) on a stream: a raw,
    # write-only file is enough, though typeshed asks for a full IO.
    stream = cast(IO[bytes], out)
    if archive.kind is ArchiveKind.TAR:
        _write_tar(source, stream, archive.compression_level)
    elif archive.kind is ArchiveKind.ZIP:
        _write_zip(source, stream)
    else:
        raise ConfigurationError("write_archive needs a tar or zip archive")


def _check_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
    if ".." in path.parts:
        raise UnsafeArchiveError(f"archive member {name!r} has a '..' segment")
    if any(ord(c) < 0x20 for c in name):
        raise UnsafeArchiveError(f"archive member {name!r} has control characters")
    return path


def _inside(root: Path, target: Path) -> bool:
    return os.path.realpath(target).startswith(os.path.realpath(root) + os.sep) or \
        os.path.realpath(target) == os.path.realpath(root)


def _extract_tar(stream: BinaryIO, staging: Path) -> None:
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for member in tar:
            rel = _check_name(member.name)
            target = staging / rel
            if not _inside(staging, target.parent):
                raise UnsafeArchiveError(f"archive member {member.name!r} would escape via a link")
            if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
                raise UnsafeArchiveError(f"archive member {member.name!r} is a device or FIFO")
            if member.issym():
                link = PurePosixPath(member.linkname)
                if link.is_absolute() or not _inside(staging, target.parent / link):
                    raise UnsafeArchiveError(
                        f"archive member {member.name!r} links outside the destination "
                        f"({member.linkname!r})"
                    )
            if member.islnk():
                _check_name(member.linkname)
                if not _inside(staging, staging / member.linkname):
                    raise UnsafeArchiveError(
                        f"archive member {member.name!r} hard-links outside the destination"
                    )
            # The data filter re-checks all of the above and drops setuid bits.
            tar.extract(member, staging, filter="data")


def _extract_zip(stream: BinaryIO, staging: Path) -> None:
    with zipfile.ZipFile(stream) as zf:
        for info in zf.infolist():
            rel = _check_name(info.filename)
            # Python's own zipfile.writestr, and other tools, store permission bits
            # without a file type: those are regular files (or directories, by name).
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchiveError(
                    f"archive member {info.filename!r} is not a regular file or directory"
                )
            target = staging / rel
            if not _inside(staging, target.parent):
                raise UnsafeArchiveError(f"archive member {info.filename!r} would escape")
            zf.extract(info, staging)


# What the archive libraries raise for a damaged archive (a truncated or altered body,
# a broken compressed stream, a bad directory); the data filter's refusals are
# tarfile.FilterError, a TarError too, so they are told apart first.
_DAMAGED = (tarfile.TarError, zipfile.BadZipFile, zlib.error, gzip.BadGzipFile, EOFError,
            NotImplementedError, struct.error)


def _extract(stream: BinaryIO, archive: Archive, staging: Path) -> None:
    """Extract into `staging`; archive-library errors become this library's, at this
    boundary: refusals `UnsafeArchiveError`, damage `IntegrityError` (with `__cause__`)."""
    kind = "zip" if archive.kind is ArchiveKind.ZIP else "tar"
    try:
        if archive.kind is ArchiveKind.ZIP:
            _extract_zip(stream, staging)
        else:
            _extract_tar(stream, staging)
    except tarfile.FilterError as exc:
        raise UnsafeArchiveError(f"archive member refused: {exc}") from exc
    except _DAMAGED as exc:
        raise IntegrityError(
            f"the {kind} archive is damaged: {type(exc).__name__}: {exc}"
        ) from exc


def extract(
    stream: BinaryIO | io.RawIOBase,
    archive: Archive,
    dest: Path,
    *,
    mode: int | None = None,
    before_commit: Callable[[], None] | None = None,
) -> None:
    """Extract `stream` to `dest` safely. Blocking; run it in a worker thread.

    When the archive holds a single top-level entry (our and Argo's layout) that entry
    becomes `dest`; otherwise `dest` is a directory holding all top-level entries.
    An existing `dest` is replaced only once extraction has fully succeeded and
    `before_commit` (which may raise, e.g. on a checksum mismatch) has returned.
    """
    dest = dest.absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.extract-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    binary = cast(BinaryIO, stream)  # read/seek/tell are all the readers use
    try:
        _extract(binary, archive, staging)
        top = list(staging.iterdir())
        result = top[0] if len(top) == 1 else staging
        if mode is not None:
            _chmod_tree(result, mode)
        if before_commit is not None:
            before_commit()
        replace_path(result, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _chmod_tree(path: Path, mode: int) -> None:
    if path.is_dir() and not path.is_symlink():
        for entry in _walk(path):
            if entry.is_file() and not entry.is_symlink():
                entry.chmod(mode)
    elif path.is_file():
        path.chmod(mode)


def replace_path(source: Path, dest: Path) -> None:
    """Put `source` at `dest`, replacing a file or directory there (blocking)."""
    if dest.is_dir() and not dest.is_symlink():
        old = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:12]}"
        dest.rename(old)
        source.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        source.replace(dest)

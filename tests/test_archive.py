"""Archive streams: deterministic output and safe extraction."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from artifacts_async import Archive, ConfigurationError, UnsafeArchiveError
from artifacts_async._archive import extract, tree_fingerprint, write_archive


def _tar(members: list[tarfile.TarInfo], payloads: dict[str, bytes] | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info in members:
            data = (payloads or {}).get(info.name)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    buf.seek(0)
    return buf


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([_member("/etc/evil")], "absolute"),
        ([_member("../evil")], r"'\.\.'"),
        ([_member("top/../../evil")], r"'\.\.'"),
        ([_member("top/link", tarfile.SYMTYPE, "/etc/passwd")], "links outside"),
        ([_member("top/link", tarfile.SYMTYPE, "../../outside")], "links outside"),
        ([_member("top/hard", tarfile.LNKTYPE, "../outside")], r"'\.\.'"),
        ([_member("top/dev", tarfile.CHRTYPE)], "device"),
        ([_member("top/blk", tarfile.BLKTYPE)], "device"),
        ([_member("top/fifo", tarfile.FIFOTYPE)], "FIFO"),
        ([_member("top/link", tarfile.SYMTYPE, "."), _member("top/link/x")], None),
    ],
)
def test_unsafe_tar_members_refused(tmp_path: Path, members: list[tarfile.TarInfo],
                                    message: str | None) -> None:
    """Absolute, '..', escaping links, devices and FIFOs are refused; nothing lands outside."""
    dest = tmp_path / "sandbox" / "dest"
    payloads = {m.name: b"pwned" for m in members if m.type == tarfile.REGTYPE}
    stream = _tar(members, payloads)
    if message is None:
        # A link inside the destination is fine, and writing through it stays inside.
        extract(stream, Archive.tar(compression_level=0), dest)
        assert (dest / "x").read_bytes() == b"pwned"
    else:
        with pytest.raises(UnsafeArchiveError, match=message):
            extract(stream, Archive.tar(compression_level=0), dest)
        assert not dest.exists()
    outside = [p for p in tmp_path.rglob("*") if "pwned" in p.name or p.name == "evil"]
    assert outside == []
    assert sorted(p.name for p in (tmp_path / "sandbox").iterdir()) in ([], ["dest"])


def test_symlink_then_write_through_it_refused(tmp_path: Path) -> None:
    """A link to outside followed by a file written 'through' it never touches outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    stream = _tar([_member("top/esc", tarfile.SYMTYPE, str(outside)), _member("top/esc/f")],
                  {"top/esc/f": b"pwned"})
    with pytest.raises(UnsafeArchiveError):
        extract(stream, Archive.tar(compression_level=0), tmp_path / "dest")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("name", ["/abs.txt", "../up.txt", "a/../../up.txt"])
def test_unsafe_zip_members_refused(tmp_path: Path, name: str) -> None:
    """Zip members with absolute or '..' names are refused."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, b"pwned")
    buf.seek(0)
    with pytest.raises(UnsafeArchiveError):
        extract(buf, Archive.zip(), tmp_path / "sandbox" / "dest")
    assert not any(p.read_bytes() == b"pwned" for p in tmp_path.rglob("*") if p.is_file())


def test_zip_device_member_refused(tmp_path: Path) -> None:
    """A zip member whose mode says 'character device' is refused."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("top/dev")
        info.external_attr = (0o020644) << 16
        zf.writestr(info, b"")
    buf.seek(0)
    with pytest.raises(UnsafeArchiveError, match="not a regular file"):
        extract(buf, Archive.zip(), tmp_path / "dest")


def _archive_bytes(source: Path, archive: Archive) -> bytes:
    out = io.BytesIO()
    write_archive(source, archive, out)
    return out.getvalue()


def test_archives_are_deterministic(tmp_path: Path) -> None:
    """The same tree gives byte-identical tar, tgz and zip streams, whatever the time."""
    tree = tmp_path / "tree"
    (tree / "b").mkdir(parents=True)
    (tree / "z.txt").write_text("z")
    (tree / "b" / "a.bin").write_bytes(os.urandom(5000))
    for archive in (Archive.tar(compression_level=0), Archive.tar(compression_level=6),
                    Archive.zip()):
        first = _archive_bytes(tree, archive)
        assert _archive_bytes(tree, archive) == first
    fingerprint = tree_fingerprint(tree)
    assert tree_fingerprint(tree) == fingerprint
    (tree / "b" / "a.bin").write_bytes(os.urandom(5000))
    assert tree_fingerprint(tree) != fingerprint


def test_tar_headers_are_anonymous(tmp_path: Path) -> None:
    """Owner names and ids are cleared; the gzip header has no timestamp."""
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "f").write_text("x")
    data = _archive_bytes(tree, Archive.tar(compression_level=6))
    assert data[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for info in tar.getmembers():
            assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")
        assert tar.getnames() == ["t", "t/f"]


def test_special_files_refused_when_archiving(tmp_path: Path) -> None:
    """A FIFO in an output directory is a clear error, not a hang."""
    tree = tmp_path / "t"
    tree.mkdir()
    os.mkfifo(tree / "pipe")
    with pytest.raises(ConfigurationError, match="not a regular file"):
        _archive_bytes(tree, Archive.tar())


def test_foreign_archive_with_many_top_entries(tmp_path: Path) -> None:
    """An archive made elsewhere with several top-level entries becomes a directory."""
    stream = _tar([_member("a.txt"), _member("b.txt")], {"a.txt": b"a", "b.txt": b"b"})
    extract(stream, Archive.tar(compression_level=0), tmp_path / "dest")
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["a.txt", "b.txt"]

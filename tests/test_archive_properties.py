"""Property tests: any tree of files and directories round-trips through every archive kind."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import artifacts_async as aa
from artifacts_async._archive import extract, write_archive

ARCHIVES = [aa.Archive.tar(compression_level=0), aa.Archive.tar(compression_level=1),
            aa.Archive.tar(compression_level=9), aa.Archive.zip()]

names = st.text(
    alphabet=st.sampled_from("abcXYZ019 -_.,+=@()[]~éß☃"), min_size=1, max_size=20,
).filter(lambda n: n not in {".", ".."})

# A tree: a dict of names to file contents (bytes) or subtrees (dicts), a few levels deep.
trees = st.recursive(
    st.dictionaries(names, st.binary(max_size=3000), max_size=4),
    lambda children: st.dictionaries(names, st.one_of(st.binary(max_size=3000), children),
                                     max_size=4),
    max_leaves=12,
)


def build(root: Path, tree: dict[str, Any]) -> None:
    root.mkdir()
    for name, value in tree.items():
        if isinstance(value, dict):
            build(root / name, value)
        else:
            (root / name).write_bytes(value)


def read_tree(root: Path) -> dict[str, Any]:
    return {p.name: read_tree(p) if p.is_dir() else p.read_bytes()
            for p in sorted(root.iterdir())}


@pytest.mark.parametrize("archive", ARCHIVES, ids=["tar", "tgz1", "tgz9", "zip"])
@settings(max_examples=20, deadline=None)
@given(tree=trees)
def test_archive_round_trip(archive: aa.Archive, tree: dict[str, Any]) -> None:
    """A generated tree, archived and extracted, comes back identical; archiving it again
    gives the same bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        build(source, tree)
        first, second = io.BytesIO(), io.BytesIO()
        write_archive(source, archive, first)
        write_archive(source, archive, second)
        assert first.getvalue() == second.getvalue()
        first.seek(0)
        extract(first, archive, Path(tmp) / "out")
        assert read_tree(Path(tmp) / "out") == tree

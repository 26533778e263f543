"""The package's imports point one way, and its public classes can be introspected."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import attrs
import pytest

import artifacts_async
import artifacts_async.abc
import artifacts_async.testing

PACKAGE = Path(artifacts_async.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, wherever the import is (functions and
    `if TYPE_CHECKING:` blocks included). A package's parent is not an edge of its own."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        base = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = base[: len(base) - (node.level - 1)]
                    module = ".".join([*anchor, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                # `from pkg import sub` imports the submodule `pkg.sub` when there is one.
                subs = [f"{module}.{alias.name}" for alias in node.names
                        if f"{module}.{alias.name}" in files]
                targets = subs if len(subs) == len(node.names) else [module, *subs]
            graph[name].update(t for t in targets if t in files and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_no_import_cycles() -> None:
    """No module of the package imports, even lazily or for typing, one that imports it."""
    graph = _import_graph()
    assert graph["artifacts_async._specs"] >= {"artifacts_async._records"}  # the parser works
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    """The cycle check itself can fail: a two-module loop is reported."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b", "a"]]


def _public_attrs_classes() -> list[type]:
    found: list[type] = []
    for module in (artifacts_async, artifacts_async.abc, artifacts_async.testing):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and attrs.has(value) and value not in found:
                found.append(value)
    return found


@pytest.mark.parametrize("cls", _public_attrs_classes(), ids=lambda c: c.__name__)
def test_type_hints_resolve(cls: type) -> None:
    """`typing.get_type_hints` and `attrs.resolve_types` work on every public attrs class."""
    hints = typing.get_type_hints(cls)
    assert set(hints) >= {field.name for field in attrs.fields(cls)}
    attrs.resolve_types(cls)


def test_input_artifact_with_record_structures_with_cattrs() -> None:
    """cattrs can build an InputArtifact holding a record (it needs the resolved hints)."""
    import cattrs  # noqa: PLC0415

    record = artifacts_async.ArtifactRecord(
        name="data", location=artifacts_async.Location(repository="r", driver="memory", key="k"),
        archive=artifacts_async.Archive.none(), gc=artifacts_async.GCStrategy.NEVER,
    )
    converter = cattrs.Converter()
    converter.register_structure_hook(artifacts_async.ArtifactRecord,
                                      lambda d, _: artifacts_async.ArtifactRecord.from_dict(d))
    spec = converter.structure({"name": "data", "path": "in/data", "record": record.to_dict()},
                               artifacts_async.InputArtifact)
    assert spec.record == record

"""The API reference is generated from docstrings: every public object and method has one,
and the docs site's configuration names pages that exist."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import artifacts_async
import artifacts_async.abc
import artifacts_async.sync
import artifacts_async.testing

ROOT = Path(__file__).parent.parent


def undocumented(module: ModuleType) -> list[str]:
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if not inspect.isclass(obj):
            continue
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            target = member.__func__ if isinstance(member, classmethod | staticmethod) \
                else member
            if (inspect.isfunction(target) or isinstance(target, property)) and \
                    not (target.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
    return missing


@pytest.mark.parametrize("module", [artifacts_async, artifacts_async.sync,
                                    artifacts_async.abc, artifacts_async.testing])
def test_every_public_object_has_a_docstring(module: ModuleType) -> None:
    """Public names and their public methods and properties all have docstrings."""
    assert undocumented(module) == []


def test_site_nav_names_existing_pages() -> None:
    """Every page in mkdocs.yml's nav exists (mkdocs --strict also checks the links)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [p for item in nav for p in pages(item)]
        if isinstance(nav, dict):
            return [p for value in nav.values() for p in pages(value)]
        return []

    named = pages(config["nav"])
    assert named
    assert [p for p in named if not (ROOT / "docs" / p).is_file()] == []

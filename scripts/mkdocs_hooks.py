"""mkdocs hook: list every page of docs/ that the nav of mkdocs.yml does not name."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _named(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_named(item) for item in nav)) if nav else set()
    if isinstance(nav, dict):
        return set().union(*(_named(value) for value in nav.values())) if nav else set()
    return set()


def on_config(config: Any) -> Any:
    """Append pages missing from the nav under "More", so no page is left out."""
    docs = Path(config["docs_dir"])
    named = _named(config["nav"])
    missing = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md")
                     if p.relative_to(docs).as_posix() not in named)
    if missing:
        config["nav"].append({"More": missing})
    return config

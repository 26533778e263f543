"""Generate docs/api.md from the docstrings of the public API.

    .venv/bin/python scripts/gen_api_docs.py          # rewrite docs/api.md
    .venv/bin/python scripts/gen_api_docs.py --check  # exit 1 if docs/api.md is stale
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from types import ModuleType

import artifacts_async
import artifacts_async.abc

OUT = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _section(module: ModuleType) -> list[str]:
    lines = [f"## `{module.__name__}`", ""]
    for name in module.__all__:
        obj = getattr(module, name)
        doc = inspect.getdoc(obj) or ""
        if inspect.isclass(obj):
            lines += [f"### class `{name}`", "", doc, ""]
            for attr, member in sorted(vars(obj).items()):
                if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(
                        member, classmethod | property)):
                    continue
                target = member.__func__ if isinstance(member, classmethod) else member
                if isinstance(member, property):
                    lines += [f"- `{attr}` (property): {inspect.getdoc(member) or ''}"]
                    continue
                first = (inspect.getdoc(target) or "").split("\n\n")[0].replace("\n", " ")
                lines += [f"- `{attr}{_signature(target)}`: {first}"]
            lines.append("")
        elif callable(obj):
            lines += [f"### `{name}{_signature(obj)}`", "", doc, ""]
    return lines


def render() -> str:
    lines = ["# API reference", "",
             "Generated from the docstrings by `scripts/gen_api_docs.py`; do not edit.", ""]
    lines += _section(artifacts_async)
    lines += _section(artifacts_async.abc)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/api.md is stale: run scripts/gen_api_docs.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The `artifacts-async` command line (extra `artifacts-async[cli]`: click and rich)."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Entry point of the `artifacts-async` console script."""
    try:
        # click and rich are an optional extra; the command modules register on `cli`.
        from . import _admin, _transfers  # noqa: F401, PLC0415
        from ._main import cli  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - the tests install the extra
        print(f"artifacts-async: the command line needs click and rich ({exc}): "
              "pip install 'artifacts-async[cli]'", file=sys.stderr)
        raise SystemExit(2) from None
    cli(prog_name="artifacts-async")

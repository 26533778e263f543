"""`artifacts_async.testing.plugin`: the fixtures every test suite here shares, loaded
only where a suite names it (the repository's root conftest does)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import stamina

pytestmark = pytest.mark.anyio


async def test_the_plugin_runs_tests_on_asyncio_with_retries_that_do_not_wait(
    anyio_backend: str,
) -> None:
    """In this suite (as in each driver's) the backend is asyncio and retries are fast."""
    assert anyio_backend == "asyncio"
    assert asyncio.current_task() is not None
    assert stamina.is_testing()


def test_the_plugin_is_loaded_only_when_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installing the library changes no one's tests; `-p` (or `pytest_plugins`) turns
    the fast retries on for every test."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_retries.py").write_text(
        "import os, stamina\n"
        "WANT = os.environ['WANT'] == '1'\n"
        "def test_first():\n"
        "    assert stamina.is_testing() is WANT\n"
        "def test_second():\n"
        "    assert stamina.is_testing() is WANT\n"
    )
    for want, args in (("0", []), ("1", ["-p", "artifacts_async.testing.plugin"])):
        monkeypatch.setenv("WANT", want)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), *args,
             str(tmp_path)],
            cwd=tmp_path, capture_output=True, text=True, check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 passed" in result.stdout

"""Shared fixtures for the core's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from artifacts_async._drivers._memory import MemoryDriver


@pytest.fixture
def memory_store_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, private in-memory store for one test."""
    name = f"test-{request.node.nodeid}"
    MemoryDriver.get_store(name).clear()
    yield name
    MemoryDriver.get_store(name).clear()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A private resume-journal directory."""
    return tmp_path / "state"

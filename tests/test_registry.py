"""Driver discovery through entry points, imported on first use."""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest

import artifacts_async as aa
from artifacts_async import _registry
from artifacts_async._drivers._local import LocalDriver
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async.abc import Driver


def test_core_drivers_registered() -> None:
    """`local` and `memory` are found through the entry-point group and load."""
    assert {"local", "memory"} <= set(aa.available_drivers())
    assert aa.load_driver("local") is LocalDriver
    assert aa.load_driver("memory") is MemoryDriver


def test_discovery_does_not_import_drivers() -> None:
    """Listing drivers imports none of them; the first use does."""
    code = ("import sys, artifacts_async as aa; names = aa.available_drivers(); "
            "assert 'artifacts_async._drivers._local' not in sys.modules, 'imported early'; "
            "aa.load_driver('local'); assert 'artifacts_async._drivers._local' in sys.modules; "
            "print(','.join(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "local" in out.split(",")


def test_missing_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown driver names the package to install (one of ours: the core's extra)."""
    # Whether or not the azure driver is installed here, it is hidden for this test.
    installed = {n: ep for n, ep in _registry._entry_points().items() if n != "azure"}
    monkeypatch.setattr(_registry, "_entry_points", functools.cache(lambda: installed))
    with pytest.raises(aa.DriverNotInstalledError, match=r"pip install 'artifacts-async\[azure\]'"):
        aa.load_driver("azure")
    with pytest.raises(aa.DriverNotInstalledError, match="entry points"):
        aa.load_driver("no-such-driver")
    assert issubclass(aa.DriverNotInstalledError, ImportError)


def test_drivers_satisfy_protocol(tmp_path: object) -> None:
    """The core's drivers are Driver instances (runtime-checkable protocol)."""
    assert isinstance(MemoryDriver(), Driver)
    assert isinstance(LocalDriver(str(tmp_path)), Driver)


def test_bad_settings_are_configuration_errors() -> None:
    """Invalid driver settings are ConfigurationError naming the setting."""
    with pytest.raises(aa.ConfigurationError, match="root"):
        aa.create_driver("local", {})
    with pytest.raises(aa.ConfigurationError, match="max_parts"):
        aa.create_driver("memory", {"max_parts": "many"})

"""Driver discovery through entry points, imported on first use."""

from __future__ import annotations

import functools
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import artifacts_async as aa
from artifacts_async import _registry
from artifacts_async._drivers._local import LocalDriver
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async._registry import FIRST_PARTY, create_driver
from artifacts_async.abc import Driver

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"


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
    _registry.load_driver.cache_clear()  # a driver loaded by an earlier test is forgotten
    with pytest.raises(aa.DriverNotInstalledError, match=r"pip install 'artifacts-async\[azure\]'"):
        aa.load_driver("azure")
    with pytest.raises(aa.DriverNotInstalledError, match="entry points"):
        aa.load_driver("no-such-driver")
    assert issubclass(aa.DriverNotInstalledError, ImportError)
    _registry.load_driver.cache_clear()


def test_drivers_satisfy_protocol(tmp_path: object) -> None:
    """The core's drivers are Drivers (checked by mypy: the protocol is static only)."""
    drivers: list[Driver] = [MemoryDriver(), LocalDriver(str(tmp_path))]
    assert all(d.limits.max_parts > 0 for d in drivers)


def test_bad_settings_are_configuration_errors() -> None:
    """Invalid driver settings are ConfigurationError naming the setting."""
    with pytest.raises(aa.ConfigurationError, match="root"):
        create_driver("local", {})
    with pytest.raises(aa.ConfigurationError, match="max_parts"):
        create_driver("memory", {"max_parts": "many"})


def test_install_hint_only_for_first_party_extras() -> None:
    """The hint names `artifacts-async[<name>]` only for our own drivers, and each of those
    is an extra of the core that installs `artifacts-async-<name>`."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    for name in sorted(FIRST_PARTY):
        assert extras[name] == [f"artifacts-async-{name}"], name
        if name not in aa.available_drivers():
            with pytest.raises(aa.DriverNotInstalledError,
                               match=rf"pip install 'artifacts-async\[{name}\]'"):
                aa.load_driver(name)
    with pytest.raises(aa.DriverNotInstalledError) as info:
        aa.load_driver("ftp")
    assert "pip install" not in str(info.value)
    assert "artifacts_async.drivers" in str(info.value)


def test_packaging_extras() -> None:
    """`testing` installs pytest (the conformance kit needs it); dev tools are in `dev`,
    not in `test`; requires-python allows tarfile's extraction filters (3.11.4)."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    extras = project["optional-dependencies"]
    assert any(req.startswith("pytest") for req in extras["testing"])
    assert "artifacts-async[testing]" in extras["test"]
    for tool in ("ruff", "mypy", "coverage", "types-"):
        assert not any(req.startswith(tool) for req in extras["test"]), tool
        assert any(req.startswith(tool) for req in extras["dev"]), tool
    assert project["requires-python"] == ">=3.11.4"


def test_testing_without_pytest_says_what_to_install() -> None:
    """Importing artifacts_async.testing without pytest names the `testing` extra."""
    code = ("import sys; sys.modules['pytest'] = None\n"
            "try:\n    import artifacts_async.testing\n"
            "except ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'artifacts-async[testing]'" in out

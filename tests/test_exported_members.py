"""The public surface: `__all__` is exactly what the package exports, and classes are final."""

from __future__ import annotations

import sys
import typing

import pytest

import artifacts_async
import artifacts_async.abc
import artifacts_async.sync


@pytest.mark.parametrize("module", [artifacts_async, artifacts_async.abc, artifacts_async.sync])
def test_all_is_the_public_surface(module: object) -> None:
    """Every public name is in __all__, __all__ is sorted, and names resolve."""
    exported = set(module.__all__)  # type: ignore[attr-defined]
    public = {n for n in dir(module) if not n.startswith("_")
              and not isinstance(getattr(module, n), type(sys))}
    assert public == exported
    assert list(module.__all__) == sorted(module.__all__)  # type: ignore[attr-defined]


def test_public_names_come_from_private_modules() -> None:
    """Implementation lives in private modules; the package only re-exports."""
    for name in artifacts_async.__all__:
        obj = getattr(artifacts_async, name)
        module = getattr(obj, "__module__", "artifacts_async._")
        assert module.startswith(("artifacts_async._", "artifacts_async.abc")), name


def test_value_classes_are_final() -> None:
    """Concrete public classes are @final (subclassing them is not supported)."""
    for name in ["Archive", "ArtifactRecord", "Artifacts", "Context", "InputArtifact",
                 "Location", "OutputArtifact", "ProgressEvent", "ReportDetails", "Repository",
                 "RepositoryConfig", "SaveResult", "SyncArtifacts", "TransferOptions"]:
        cls = getattr(artifacts_async, name)
        assert getattr(cls, "__final__", False), name
    assert typing.get_type_hints(artifacts_async.Artifacts.save_outputs)


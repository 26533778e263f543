"""The driver author's surface: public helpers, class-level limits, what the core guarantees,
and a conformance kit whose tests can fail."""

from __future__ import annotations

import json
import tomllib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from helpers import WrappedDriver
from packaging.requirements import Requirement

import artifacts_async as aa
from artifacts_async import abc
from artifacts_async._drivers._local import LocalDriver
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async.abc import DeleteOutcome, Driver, DriverLimits, ObjectInfo
from artifacts_async.testing import DriverConformance

pytestmark = pytest.mark.anyio


def test_driver_helpers_are_public() -> None:
    """What a driver needs to verify parts and resolve ranges is in artifacts_async.abc."""
    data = b"some part"
    checks, crc = abc.part_checksums(data, frozenset(abc.ChecksumKind))
    assert crc == abc.crc32c(data)
    assert checks.crc32c == crc.to_bytes(4, "big")
    assert abc.verify_part(data, checks) is None
    assert abc.verify_part(data + b"!", checks) == "CRC32C mismatch"
    assert abc.verify_part(data, attrs.evolve(checks, crc32c=None, md5=b"0" * 16)) == \
        "MD5 mismatch"
    assert abc.resolve_range(10, -3, None) == (7, 10)
    assert abc.resolve_range(10, 20, 5) == (10, 10)
    base = MemoryDriver.DEFAULT_LIMITS
    assert abc.limits_from_settings(base, {"delete_batch_size": 7}).delete_batch_size == 7
    with pytest.raises(aa.ConfigurationError, match="max_parts"):
        abc.limits_from_settings(base, {"max_parts": "many"})


@pytest.mark.parametrize("driver_class", [LocalDriver, MemoryDriver])
def test_default_limits_are_a_class_constant(
    driver_class: type[LocalDriver] | type[MemoryDriver], tmp_path: Path
) -> None:
    """DEFAULT_LIMITS is on the class; settings override a copy, never the constant."""
    defaults = driver_class.DEFAULT_LIMITS
    assert isinstance(defaults, DriverLimits)
    settings = {"root": str(tmp_path), "name": "limits", "max_parts": 3}
    driver = driver_class.from_settings(settings)
    assert driver.limits == attrs.evolve(defaults, max_parts=3)
    assert driver_class.DEFAULT_LIMITS is defaults
    assert driver_class.from_settings({"root": str(tmp_path)}).limits is defaults


def test_driver_protocol_is_static_only() -> None:
    """Driver is checked by the type checker, not at run time (no @runtime_checkable)."""
    driver: Driver = MemoryDriver()  # mypy checks that the core's drivers conform
    with pytest.raises(TypeError):
        isinstance(driver, Driver)  # type: ignore[misc]


async def test_core_sends_deletes_in_distinct_batches(memory_store_name: str) -> None:
    """GC never gives a driver more keys than its batch size, nor a key twice in a call."""
    limits = attrs.evolve(MemoryDriver.DEFAULT_LIMITS, delete_batch_size=3)
    seen: list[list[str]] = []

    class Guard(WrappedDriver):
        async def delete(self, keys: Sequence[str]) -> Sequence[DeleteOutcome]:
            seen.append(list(keys))
            return await self.inner.delete(keys)

    config = aa.RepositoryConfig.from_dict(
        {"default": "m", "repositories": {"m": {"driver": "memory", "name": memory_store_name}}})
    location = aa.Location(repository="m", driver="memory", key="")
    # Ten records over seven keys: retried attempts of a step may share a key.
    records = [aa.ArtifactRecord(name=f"a{i}", location=attrs.evolve(location, key=f"k/{i % 7}"),
                                 archive=aa.Archive.none(), gc=aa.GCStrategy.ON_WORKFLOW_COMPLETION,
                                 status=aa.ArtifactStatus.STORED) for i in range(10)]
    store = MemoryDriver.get_store(memory_store_name)
    for record in records:
        store.objects[record.location.key] = (b"", {}, datetime.now(UTC))
    driver = Guard(MemoryDriver(name=memory_store_name, limits=limits))
    async with aa.Artifacts(config, drivers={"m": driver}) as arts:
        report = await arts.collect_garbage(records, event=aa.GCEvent.WORKFLOW_COMPLETED)
    assert report.ok
    assert all(0 < len(keys) <= 3 and len(set(keys)) == len(keys) for keys in seen)
    assert sorted(k for keys in seen for k in keys) == [f"k/{i}" for i in range(7)]


async def test_local_metadata_is_bound_to_its_file(tmp_path: Path) -> None:
    """A sidecar that describes another version of the file is not believed."""
    driver = LocalDriver(tmp_path)
    await driver.put("m/obj", b"one", checksums=abc.PartChecksums(),
                     metadata={"artifact": "first"})
    assert dict((await driver.stat("m/obj")).metadata) == {"artifact": "first"}
    # Something else replaces the file (not through the driver): its metadata is unknown.
    (tmp_path / "m" / "obj").unlink()
    (tmp_path / "m" / "obj").write_bytes(b"other bytes")
    assert dict((await driver.stat("m/obj")).metadata) == {}
    sidecar = driver._sidecars.path("m/obj")
    assert json.loads(sidecar.read_text())["metadata"] == {"artifact": "first"}
    await driver.delete(["m/obj"])
    assert not sidecar.exists()
    assert [i.key async for i in driver.list("")] == []


class BufferingDriver(WrappedDriver):
    """A driver that reads the whole object before yielding its first chunk."""

    async def read(self, key: str, *, offset: int = 0,
                   length: int | None = None) -> AsyncIterator[bytes]:
        chunks = [c async for c in self.inner.read(key, offset=offset, length=length)]
        for chunk in chunks:
            yield chunk


class ForgetfulDriver(WrappedDriver):
    """A driver that stores objects but not their metadata (the old `local`)."""

    async def stat(self, key: str) -> ObjectInfo:
        return attrs.evolve(await self.inner.stat(key), metadata={})


class _Kit(DriverConformance):
    """The kit, called directly on faulty drivers (not collected: no Test prefix)."""


async def test_laziness_test_fails_on_a_buffering_driver(memory_store_name: str) -> None:
    """The kit's laziness test catches a driver that buffers the whole object."""
    kit = _Kit()
    lazy = MemoryDriver(name=memory_store_name)
    await kit.test_read_is_lazy(lazy)
    with pytest.raises(AssertionError, match="must stream"):
        await kit.test_read_is_lazy(BufferingDriver(lazy))


DRIVERS = sorted((Path(__file__).parent.parent / "drivers").glob("*/pyproject.toml"))


@pytest.mark.parametrize("pyproject", DRIVERS, ids=lambda p: p.parent.name)
def test_each_driver_pins_the_cores_compatible_range(pyproject: Path) -> None:
    """A driver requires the core's current minor series, nothing past it, and nothing
    before it (the drivers use the abc helpers of this series)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    (core,) = [Requirement(r) for r in project["dependencies"]
               if Requirement(r).name == "artifacts-async"]
    major, minor = (int(n) for n in aa.__version__.split(".")[:2])
    assert core.specifier.contains(aa.__version__)
    assert not core.specifier.contains(f"{major}.{minor + 1}.0")
    assert not core.specifier.contains(f"{major}.{minor - 1}.999", prereleases=True)


async def test_metadata_test_fails_on_a_driver_that_drops_metadata(
    memory_store_name: str,
) -> None:
    """The kit's metadata round trip catches a driver that does not keep metadata."""
    kit = _Kit()
    await kit.test_metadata_round_trip(MemoryDriver(name=memory_store_name))
    with pytest.raises(AssertionError):
        await kit.test_metadata_round_trip(ForgetfulDriver(MemoryDriver(name=memory_store_name)))

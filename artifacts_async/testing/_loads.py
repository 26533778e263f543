"""Load suites every driver runs: damaged stored objects, cancellation at random points,
and loads through faults (a `FaultProxy` or a `FaultyDriver`).

They use only a `RepositoryConfig` (its default repository) and the driver protocol, so
any driver's tests can call them against a live backend:

```python
async def test_damaged(tmp_path):
    await check_damaged_loads(config, tmp_path)

async def test_cancelled(tmp_path):
    await check_cancelled_loads(config, tmp_path, seed=1, rounds=10)

async def test_faults(tmp_path):  # saved through `config`, loaded through the proxy
    async with FaultProxy(endpoint, seed=1, faults=Faults(reset=0.1)) as proxy:
        outcomes = await check_faulty_loads(config, tmp_path, load_config=proxied(proxy))
```

Each saves one artifact of every kind: a file stored as is (`none-small`, streamed on
load, and `none-large`, fetched as parallel ranges), and a directory as `tar`, `tgz`
and `zip`.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

import anyio
import anyio.lowlevel

from .._artifacts import Artifacts
from .._checksums import part_checksums
from .._config import RepositoryConfig
from .._exceptions import ArtifactError, IntegrityError
from .._options import TransferOptions
from .._records import ArtifactRecord
from .._specs import Archive, Context, InputArtifact, OutputArtifact
from ..abc import Driver

__all__ = ["DAMAGES", "KINDS", "check_cancelled_loads", "check_damaged_loads",
           "check_faulty_loads"]

_PART = 256 * 1024
_CONTEXT = Context(workflow_name="suite", workflow_uid="suite-uid", pod_name="suite-pod")

#: The artifact kinds saved by the suites, by name.
KINDS: Mapping[str, Archive] = {
    "none-small": Archive.none(),
    "none-large": Archive.none(),
    "tar": Archive.tar(compression_level=0),
    "tgz": Archive.tar(compression_level=6),
    "zip": Archive.zip(),
}


def _flip(at: Callable[[int], int]) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        out = bytearray(data)
        out[at(len(data))] ^= 0x5A
        return bytes(out)
    return damage


#: Ways to damage a stored object: each load of it must fail with `IntegrityError`.
DAMAGES: Mapping[str, Callable[[bytes], bytes]] = {
    "flip-first": _flip(lambda n: 0),
    "flip-body": _flip(lambda n: n // 2),
    "flip-last": _flip(lambda n: n - 1),
    "truncate-last": lambda data: data[:-1],
    "truncate-half": lambda data: data[: len(data) // 2],
    "extend": lambda data: data + b"\0" * 1000,
}


def _options(state: Path, request_timeout: float = 10.0) -> TransferOptions:
    # Loads with 256 KiB parts, so the 1.5 MiB file is fetched as parallel ranges.
    return TransferOptions(part_size=_PART, resume=False, state_dir=state,
                           request_timeout=request_timeout)


def _sources(root: Path, seed: int) -> dict[str, Path]:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "small.bin").write_bytes(rng.randbytes(700_000))
    (root / "large.bin").write_bytes(rng.randbytes(6 * _PART + 12_345))
    tree = root / "tree"
    (tree / "sub").mkdir(parents=True, exist_ok=True)
    (tree / "a.txt").write_text("alpha\n" * 1000)
    (tree / "sub" / "b.bin").write_bytes(rng.randbytes(900_000))
    (tree / "sub" / "c.txt").write_text("gamma")
    return {"none-small": root / "small.bin", "none-large": root / "large.bin",
            "tar": tree, "tgz": tree, "zip": tree}


async def _save_all(config: RepositoryConfig, drivers: Mapping[str, Driver] | None,
                    root: Path, seed: int) -> dict[str, ArtifactRecord]:
    sources = _sources(root, seed)
    # Saved with the backend's own part sizes (the loads' 256 KiB may be below its minimum).
    options = TransferOptions(resume=False, state_dir=root / "state")
    async with Artifacts(config, options=options, drivers=drivers) as artifacts:
        result = await artifacts.save_outputs(
            [OutputArtifact(name=name, path=sources[name], archive=archive)
             for name, archive in KINDS.items()],
            context=_CONTEXT,
        )
    result.raise_for_errors()
    return {r.name: r for r in result.records}


def _snapshot(path: Path) -> dict[str, bytes | None]:
    """Every entry under `path` (itself included): file contents, None for directories."""
    if not path.exists():
        return {}
    if not path.is_dir():
        return {".": path.read_bytes()}
    found: dict[str, bytes | None] = {".": None}
    for entry in sorted(path.rglob("*")):
        rel = entry.relative_to(path).as_posix()
        found[rel] = None if entry.is_dir() else entry.read_bytes()
    return found


def _older(dest: Path, name: str) -> None:
    """An older version of the input at `dest`, which a failed load must keep."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if name.startswith("none"):
        dest.write_bytes(b"older " + name.encode())
    else:
        dest.mkdir(parents=True)
        (dest / "older.txt").write_text("older " + name)


async def _replace(driver: Driver, key: str, data: bytes) -> None:
    checksums = part_checksums(data, driver.limits.checksums)[0]
    await driver.put(key, data, checksums=checksums, metadata={})


async def _read(driver: Driver, key: str) -> bytes:
    return b"".join([c async for c in driver.read(key)])


async def check_damaged_loads(config: RepositoryConfig, workdir: Path, *,
                              drivers: Mapping[str, Driver] | None = None) -> None:
    """Damage stored objects of every kind in every way of `DAMAGES`; every load must
    fail with `IntegrityError` on its input alone, leave nothing beside its destination
    and keep the older file there. Raises `AssertionError` listing what did not."""
    problems: list[str] = []
    records = await _save_all(config, drivers, workdir, seed=7)
    async with Artifacts(config, options=_options(workdir / "state"),
                         drivers=drivers) as artifacts:
        driver = await artifacts.driver(next(iter(records.values())).location.repository)
        originals = {name: await _read(driver, r.location.key) for name, r in records.items()}
        for damage_name, damage in DAMAGES.items():
            parent = workdir / "in" / damage_name
            for name, record in records.items():
                await _replace(driver, record.location.key, damage(originals[name]))
                _older(parent / name, name)
            before = {name: _snapshot(parent / name) for name in records}
            result = await artifacts.load_inputs(
                [InputArtifact(name=name, path=parent / name, record=record)
                 for name, record in records.items()],
                context=_CONTEXT, raise_on_error=False,
            )
            for name in records:
                error = result.errors.get(name)
                if not isinstance(error, IntegrityError):
                    problems.append(f"{damage_name} {name}: {type(error).__name__}: {error}")
                if _snapshot(parent / name) != before[name]:
                    problems.append(f"{damage_name} {name}: the older file was changed")
            leftovers = sorted(set(os.listdir(parent)) - set(records))
            if leftovers:
                problems.append(f"{damage_name}: left beside the destinations: {leftovers}")
            for name, record in records.items():
                await _replace(driver, record.location.key, originals[name])
    assert not problems, "damaged objects not refused as they must be:\n" + "\n".join(problems)


def _our_threads() -> list[str]:
    """Threads other than this one that are running this library's code."""
    package = str(Path(__file__).resolve().parent.parent)
    busy = []
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident():
            continue
        f: FrameType | None = frame
        while f is not None:
            if f.f_code.co_filename.startswith(package):
                busy.append(f"{ident}: {f.f_code.co_filename}:{f.f_lineno}")
                break
            f = f.f_back
    return busy


async def _count_checkpoints(artifacts: Artifacts, spec: InputArtifact) -> int:
    """How many times another task gets to run while `spec` loads: the range of points
    at which a cancellation can land."""
    count = 0
    done = anyio.Event()

    async def count_until_done() -> None:
        nonlocal count
        while not done.is_set():
            await anyio.lowlevel.checkpoint()
            count += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(count_until_done)
        await artifacts.load_inputs([spec], context=_CONTEXT)
        done.set()
    return count


async def check_cancelled_loads(config: RepositoryConfig, workdir: Path, *,
                                drivers: Mapping[str, Driver] | None = None, seed: int = 0,
                                rounds: int = 10, within: float = 1.0) -> None:
    """Cancel loads of every kind at `rounds` seeded random points each.

    Each cancelled load must end within `within` seconds, leave no task, no busy thread
    and nothing beside its destination, and keep the older file there (or, cancelled too
    late to matter, have put the complete input in its place). A rerun then succeeds.
    Raises `AssertionError` listing what did not hold.
    """
    rng = random.Random(seed)
    problems: list[str] = []
    records = await _save_all(config, drivers, workdir, seed=seed)
    async with Artifacts(config, options=_options(workdir / "state"),
                         drivers=drivers) as artifacts:
        for name, record in records.items():
            parent = workdir / "in" / name
            dest = parent / name
            spec = InputArtifact(name=name, path=dest, record=record)
            await artifacts.load_inputs([spec], context=_CONTEXT)
            complete = _snapshot(dest)
            span = await _count_checkpoints(artifacts, spec)
            for round_ in range(rounds):
                what = f"{name} round {round_}"
                _clear(dest)
                _older(dest, name)
                older = _snapshot(dest)
                tasks = asyncio.all_tasks()
                point = rng.randint(0, span)
                elapsed = await _cancel_after(artifacts, spec, point)
                if elapsed is not None and elapsed > within:
                    problems.append(f"{what}: took {elapsed:.2f} s to end after the cancel")
                if _snapshot(dest) not in (older, complete):
                    problems.append(f"{what}: the destination holds a partial result")
                leftovers = sorted(set(os.listdir(parent)) - {name})
                if leftovers:
                    problems.append(f"{what}: left beside the destination: {leftovers}")
                if extra := asyncio.all_tasks() - tasks:
                    problems.append(f"{what}: tasks left: {extra}")
                if busy := _our_threads():
                    problems.append(f"{what}: threads still running: {busy}")
            _clear(dest)
            await artifacts.load_inputs([spec], context=_CONTEXT)
            if _snapshot(dest) != complete:
                problems.append(f"{name}: the rerun did not load the input")
    assert not problems, "cancelled loads misbehaved:\n" + "\n".join(problems)


async def _cancel_after(artifacts: Artifacts, spec: InputArtifact, point: int) -> float | None:
    """Load `spec`, cancelling after `point` checkpoints of another task; return the
    seconds from the cancel to the end of the load, or None if it ended first."""
    cancelled_at: float | None = None
    with anyio.CancelScope() as scope:

        async def cancel_later() -> None:
            nonlocal cancelled_at
            for _ in range(point):
                await anyio.lowlevel.checkpoint()
            cancelled_at = anyio.current_time()
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_later)
            await artifacts.load_inputs([spec], context=_CONTEXT)
            tg.cancel_scope.cancel()
    return None if cancelled_at is None else anyio.current_time() - cancelled_at


def _clear(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for entry in sorted(path.rglob("*"), reverse=True):
            entry.rmdir() if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()


async def check_faulty_loads(config: RepositoryConfig, workdir: Path, *,
                             load_config: RepositoryConfig | None = None,
                             load_drivers: Mapping[str, Driver] | None = None,
                             request_timeout: float = 1.0, within: float = 60.0,
                             ) -> dict[str, int]:
    """Save every kind through `config`, then load them all through `load_config` (or
    `config`) and `load_drivers`, where faults are injected.

    The load must end within `within` seconds; each input must then hold exactly what a
    load without faults gives, or have failed with one error of this library and kept
    the older file at its destination, with nothing left beside it. Returns how many
    inputs ended each way ("loaded", or the error's class name); raises `AssertionError`
    listing what did not hold.
    """
    problems: list[str] = []
    outcomes: dict[str, int] = {}
    records = await _save_all(config, None, workdir, seed=11)
    async with Artifacts(config, options=_options(workdir / "state")) as artifacts:
        reference = workdir / "reference"
        await artifacts.load_inputs(
            [InputArtifact(name=n, path=reference / n, record=r) for n, r in records.items()],
            context=_CONTEXT)
    parent = workdir / "faulty"
    for name in records:
        _older(parent / name, name)
    older = {name: _snapshot(parent / name) for name in records}
    options = _options(workdir / "state", request_timeout)
    start = anyio.current_time()
    with anyio.move_on_after(within) as scope:
        async with Artifacts(load_config or config, options=options,
                             drivers=load_drivers) as artifacts:
            result = await artifacts.load_inputs(
                [InputArtifact(name=n, path=parent / n, record=r) for n, r in records.items()],
                context=_CONTEXT, raise_on_error=False)
    elapsed = anyio.current_time() - start
    assert not scope.cancelled_caught, f"the load did not end within {within} s"
    for name in records:
        error = result.errors.get(name)
        now = _snapshot(parent / name)
        if error is None:
            outcome = "loaded"
            if now != _snapshot(reference / name):
                problems.append(f"{name}: loaded, but not what a load without faults gives")
        else:
            outcome = type(error).__name__
            if not isinstance(error, ArtifactError):
                problems.append(f"{name}: failed with a foreign {outcome}: {error}")
            if now != older[name]:
                problems.append(f"{name}: failed ({outcome}) and changed the older file")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    leftovers = sorted(set(os.listdir(parent)) - set(records))
    if leftovers:
        problems.append(f"left beside the destinations: {leftovers}")
    assert not problems, f"loads through faults ({elapsed:.1f} s):\n" + "\n".join(problems)
    return outcomes

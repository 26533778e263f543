"""Where the time before `on_report` goes at COUNT artifacts:
`python -m bench.report_cost [--count 10000] [--rounds 7]`.

Each round builds COUNT fresh output specs (archive none, explicit keys, one parent
directory, as in the `scale` suite) and times, in thread CPU (not disturbed by other
processes' load), the steps a save runs before its report: planning the records
(`plan_outputs`), formatting each spec's path (`str`, which pathlib does once per path:
the directory check needs the parent), the directory check with the paths formatted
(`directory_outputs`: one listing of the parent), and the whole of `save_outputs` up to
`on_report` (memory driver, its wall time, the process's CPU and of it the collector's
passes, which the fresh specs' allocations bring on). Prints medians (ms) as one JSON
line, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import artifacts_async as aa
from artifacts_async._dirsave import directory_outputs


class _Reported(Exception):
    """Stops the save at its report: only the time before it is measured."""


def _specs(paths: list[str]) -> list[aa.OutputArtifact]:
    return [aa.OutputArtifact(name=f"a{i}", path=path, key=f"scale/{i}", repository="store",
                              archive=aa.Archive.none()) for i, path in enumerate(paths)]


def _cpu(step: Callable[[], object]) -> float:
    started = time.thread_time()
    step()
    return (time.thread_time() - started) * 1000


async def _until_report(outputs: list[aa.OutputArtifact],
                        state: str) -> tuple[float, float, float]:
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"store": {"driver": "memory", "name": "report-cost"}}})
    context = aa.Context(workflow_name="bench", pod_name="p")
    async with aa.Artifacts(config, options=aa.TransferOptions(state_dir=Path(state))) as arts:
        await arts.driver("store")
        reported: list[tuple[float, float]] = []

        def on_report(_details: object) -> None:
            reported.append((time.perf_counter(), time.process_time()))
            raise _Reported

        collected: list[float] = []
        started = [0.0]

        def timed(phase: str, _info: dict[str, Any]) -> None:
            if phase == "start":
                started[0] = time.thread_time()
            else:
                collected.append(time.thread_time() - started[0])

        wall, cpu = time.perf_counter(), time.process_time()
        gc.callbacks.append(timed)
        try:
            await arts.save_outputs(outputs, context=context, on_report=on_report)
        except _Reported:
            pass
        finally:
            gc.callbacks.remove(timed)
        return ((reported[0][0] - wall) * 1000, (reported[0][1] - cpu) * 1000,
                sum(collected) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report_cost", description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"store": {"driver": "memory", "name": "report-cost"}}})
    context = aa.Context(workflow_name="bench", pod_name="p")
    describe = {"store": lambda key: f"memory://report-cost/{key}"}
    steps: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="bench-report-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        paths = []
        for i in range(args.count):
            path = tree / f"{i:05d}"
            path.write_bytes(b"x")
            paths.append(str(path))
        for _ in range(args.rounds):
            outputs = _specs(paths)
            timed: dict[str, Any] = {
                "plan_outputs_cpu_ms": _cpu(lambda o=outputs: aa.plan_outputs(  # type: ignore[misc]
                    o, context=context, config=config, describe=describe)),
                "str_paths_cpu_ms": _cpu(lambda o=outputs: [str(s.path) for s in o]),  # type: ignore[misc]
                "directory_check_cpu_ms": _cpu(lambda o=outputs: directory_outputs(o)),  # type: ignore[misc]
            }
            wall, cpu, collector = asyncio.run(_until_report(_specs(paths),
                                                             str(Path(tmp) / "state")))
            timed |= {"save_to_report_wall_ms": wall, "save_to_report_cpu_ms": cpu,
                      "of_it_collector_cpu_ms": collector}
            for name, ms in timed.items():
                steps.setdefault(name, []).append(ms)
    medians = {name: round(statistics.median(ms), 1) for name, ms in steps.items()}
    print(json.dumps({"count": args.count, "rounds": args.rounds, **medians,
                      "load_average": [round(x, 1) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()

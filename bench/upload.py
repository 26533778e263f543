"""Benchmark: upload a large file with the `local` driver, against `cp` of the same file.

Reports wall time, throughput relative to `cp`, client CPU seconds per GiB (user+sys of
the uploading process) and its peak RSS, alternating runs so both see the same page cache.

    .venv/bin/python bench/upload.py --size-mib 2048 --runs 3 [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
import anyio
import artifacts_async as aa

source, root, state, part_mib, inflight, budget_mib = sys.argv[1:7]

async def main():
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"local": {"driver": "local", "root": root}}})
    options = aa.TransferOptions(part_size=int(part_mib) * 2**20,
                                 max_parts_in_flight=int(inflight),
                                 max_buffer_bytes=int(budget_mib) * 2**20, state_dir=state)
    async with aa.Artifacts(config, options=options) as arts:
        start = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="big", path=source, key="bench/big.bin",
                               archive=aa.Archive.none())],
            context=aa.Context(workflow_name="bench", pod_name="p"))
        wall = time.perf_counter() - t0
    result.raise_for_errors()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU of the upload itself: interpreter start-up and imports are excluded.
    cpu = (usage.ru_utime - start.ru_utime) + (usage.ru_stime - start.ru_stime)
    print(json.dumps({"wall": wall, "cpu": cpu,
                      "rss_kib": usage.ru_maxrss, "peak_bytes": result.peak_buffered_bytes}))

anyio.run(main)
"""


def run_cp(source: Path, dest: Path) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(["cp", str(source), str(dest)], check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    dest.unlink()
    return {"wall": wall, "cpu": cpu}


def run_ours(source: Path, work: Path, args: argparse.Namespace) -> dict[str, float]:
    root = work / "store"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(source), str(root), str(work / "state"),
         str(args.part_mib), str(args.inflight), str(args.budget_mib)],
        check=True, capture_output=True, text=True,
    ).stdout
    shutil.rmtree(root)
    result: dict[str, float] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--inflight", type=int, default=8)
    parser.add_argument("--budget-mib", type=int, default=256)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="aa-bench-") as tmp:
        work = Path(tmp)
        source = work / "source.bin"
        with source.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(2**20))
        cps, ours = [], []
        for _ in range(args.runs):
            cps.append(run_cp(source, work / "copy.bin"))
            ours.append(run_ours(source, work, args))
    gib = args.size_mib / 1024
    cp_wall = statistics.median(r["wall"] for r in cps)
    our_wall = statistics.median(r["wall"] for r in ours)
    rows = [
        ("cp", cp_wall, statistics.median(r["cpu"] for r in cps) / gib, None),
        ("artifacts_async (local)", our_wall,
         statistics.median(r["cpu"] for r in ours) / gib,
         max(r["rss_kib"] for r in ours) / 1024),
    ]
    lines = [
        f"Upload of a {args.size_mib} MiB file, local driver, part size {args.part_mib} MiB, "
        f"{args.inflight} parts in flight, budget {args.budget_mib} MiB; median of "
        f"{args.runs} alternating runs.",
        "",
        "| client | wall (s) | MiB/s | vs cp | CPU s/GiB | peak RSS (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    for name, wall, cpu, rss in rows:
        lines.append(f"| {name} | {wall:.2f} | {args.size_mib / wall:.0f} | "
                     f"{cp_wall / wall:.2f}x | {cpu:.2f} | "
                     f"{'-' if rss is None else f'{rss:.0f}'} |")
    lines += ["", f"Peak bytes buffered by the engine: "
              f"{max(r['peak_bytes'] for r in ours) / 2**20:.0f} MiB.",
              f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}, {platform.platform()}."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()

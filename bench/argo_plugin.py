"""Benchmark: a 1 GiB Save through the Argo plugin against the same save through the library
directly, and SaveStream against Save (local driver, so the plugin's own cost shows).

- direct: `Artifacts.save_outputs` in a fresh process (imports excluded from its CPU).
- plugin Save: the gRPC call to a running `artifacts-async-argo-plugin` on a Unix socket;
  CPU is the server's (from /proc) plus the client's during the call.
- plugin SaveStream: the client reads the file and sends Argo's 2 MiB frames; CPU likewise.

Variants alternate within each round (the order rotates), so all see the same page cache.
Reports medians over the rounds, the spread (max/min), and ratios to direct.

    .venv/bin/python bench/argo_plugin.py --size-mib 1024 --rounds 3 [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from argo_plugin_support import Plugin

MiB = 1024 * 1024
FRAME = 2 * MiB  # Argo's SaveStream chunk size

DIRECT = """
import json, resource, sys, time
import anyio
import artifacts_async as aa

source, root, state = sys.argv[1:4]

async def main():
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"local": {"driver": "local", "root": root}}})
    async with aa.Artifacts(config, options=aa.TransferOptions(state_dir=state)) as arts:
        start = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        result = await arts.save_outputs(
            [aa.OutputArtifact(name="big", path=source, key="bench/big.bin",
                               archive=aa.Archive.none())],
            context=aa.Context(workflow_name="bench"))
        wall = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_SELF)
    result.raise_for_errors()
    cpu = (usage.ru_utime - start.ru_utime) + (usage.ru_stime - start.ru_stime)
    print(json.dumps({"wall": wall, "cpu": cpu}))

anyio.run(main)
"""


def _cpu_of(pid: int) -> float:
    """User plus system CPU seconds of process `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def direct(source: Path, work: Path) -> dict[str, float]:
    root = work / "direct-store"
    out = subprocess.run([sys.executable, "-c", DIRECT, str(source), str(root),
                          str(work / "direct-state")],
                         check=True, capture_output=True, text=True).stdout
    shutil.rmtree(root)
    result: dict[str, float] = json.loads(out)
    return result


def _timed(plugin: Plugin, call: Callable[[], object]) -> dict[str, float]:
    server0, client0 = _cpu_of(plugin.pid), _self_cpu()
    t0 = time.perf_counter()
    response = call()
    wall = time.perf_counter() - t0
    server, client = _cpu_of(plugin.pid) - server0, _self_cpu() - client0
    if not getattr(response, "success", False):
        raise SystemExit(f"plugin call failed: {getattr(response, 'error', response)}")
    return {"wall": wall, "cpu": server + client, "server_cpu": server, "client_cpu": client}


def plugin_save(plugin: Plugin, source: Path, config: str) -> dict[str, float]:
    result = _timed(plugin, lambda: plugin.save(source, "bench/big.bin", config))
    plugin.delete("bench/big.bin", config)
    return result


def _frames(source: Path) -> Iterator[bytes]:
    with source.open("rb") as f:
        while chunk := f.read(FRAME):
            yield chunk


def plugin_stream(plugin: Plugin, source: Path, config: str) -> dict[str, float]:
    result = _timed(plugin, lambda: plugin.save_stream(_frames(source), "bench/big.bin", config))
    plugin.delete("bench/big.bin", config)
    return result


def _row(name: str, runs: list[dict[str, float]], base: dict[str, float]) -> str:
    wall = statistics.median(r["wall"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    spread = max(r["wall"] for r in runs) / min(r["wall"] for r in runs)
    extra = ""
    if "server_cpu" in runs[0]:
        extra = (f" (server {statistics.median(r['server_cpu'] for r in runs):.2f}, "
                 f"client {statistics.median(r['client_cpu'] for r in runs):.2f})")
    return (f"| {name} | {wall:.2f} | {spread:.2f}x | {wall / base['wall']:.3f} | "
            f"{cpu:.2f}{extra} | {cpu / base['cpu']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aa-bench-argo-", dir=args.workdir))
    try:
        source = work / "big.bin"
        with source.open("wb") as f:
            block = os.urandom(MiB)
            for i in range(args.size_mib):
                f.write(i.to_bytes(8, "big") + block[8:])
        config = json.dumps({"driver": "local", "root": str(work / "plugin-store")})
        plugin = Plugin(timeout=60)
        try:
            plugin.save(source, "bench/warm.bin", config)  # driver and journal warmed up
            variants: dict[str, Callable[[], dict[str, float]]] = {
                "direct (library)": lambda: direct(source, work),
                "plugin Save": lambda: plugin_save(plugin, source, config),
                "plugin SaveStream": lambda: plugin_stream(plugin, source, config),
            }
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            names = list(variants)
            for round_ in range(args.rounds):
                order = names[round_ % len(names):] + names[:round_ % len(names)]
                for name in order:
                    runs[name].append(variants[name]())
                    print(f"round {round_ + 1} {name}: {runs[name][-1]}", file=sys.stderr)
            assert plugin.terminate() == 0
        finally:
            plugin.close()
        base = {k: statistics.median(r[k] for r in runs["direct (library)"])
                for k in ("wall", "cpu")}
        print(f"{args.size_mib} MiB, {args.rounds} rounds, local driver, medians; CPU in s "
              f"(user+sys); {os.cpu_count()} CPUs")
        print("| variant | wall (s) | wall spread | wall vs direct | CPU (s) | CPU vs direct |")
        print("|---|---|---|---|---|---|")
        for name in names:
            print(_row(name, runs[name], base))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

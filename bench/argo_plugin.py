"""Benchmark: a 1 GiB Save through the Argo plugin against the same save through the library
directly, and SaveStream against Save (local driver, so the plugin's own cost shows).

- direct: `Artifacts.save_outputs` in a long-lived process of its own (warm, like the
  plugin server; CPU of the save only).
- plugin Save: the gRPC call to a running `artifacts-async-argo-plugin` on a Unix socket;
  CPU is the server's (from /proc) plus the client's during the call.
- plugin SaveStream: the client reads the file and sends Argo's 2 MiB frames; CPU likewise.
- gRPC frames only: the same frames to a server that drops them (Python gRPC's own cost).

Variants alternate within each round (the order rotates), so all see the same page cache.
Reports medians over the rounds, the spread (max/min), and ratios to direct.

    .venv/bin/python bench/argo_plugin.py --size-mib 1024 --rounds 5 [--workdir DIR] [--only-save]
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

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from argo_plugin_support import Plugin

from artifacts_async.argo._proto import artifact_pb2 as pb
from artifacts_async.argo._proto.artifact_pb2_grpc import ArtifactServiceStub

MiB = 1024 * 1024
FRAME = 2 * MiB  # Argo's SaveStream chunk size

# The direct variant is a long-lived process too, like the plugin server: each line on its
# stdin runs one save with the same warm `Artifacts` (driver, journal, buffer pool).
DIRECT = """
import json, os, resource, sys, time
import anyio
import artifacts_async as aa

source, root, state = sys.argv[1:4]

async def main():
    config = aa.RepositoryConfig.from_dict(
        {"repositories": {"local": {"driver": "local", "root": root}}})
    options = aa.TransferOptions(state_dir=state)
    # One budget for the life of the process, as the plugin server keeps one: its buffer
    # pool stays allocated between saves.
    budget = aa.TransferBudget.from_options(options)
    async with aa.Artifacts(config, options=options, budget=budget) as arts:
        for line in sys.stdin:
            start = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            result = await arts.save_outputs(
                [aa.OutputArtifact(name="big", path=source, key="bench/big.bin",
                                   archive=aa.Archive.none())],
                context=aa.Context(workflow_name="bench"))
            wall = time.perf_counter() - t0
            usage = resource.getrusage(resource.RUSAGE_SELF)
            result.raise_for_errors()
            os.remove(os.path.join(root, "bench", "big.bin"))
            cpu = (usage.ru_utime - start.ru_utime) + (usage.ru_stime - start.ru_stime)
            print(json.dumps({"wall": wall, "cpu": cpu}), flush=True)

anyio.run(main)
"""


class Direct:
    """The library in a process of its own, saving on request."""

    def __init__(self, source: Path, work: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DIRECT, str(source), str(work / "direct-store"),
             str(work / "direct-state")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )

    def save(self) -> dict[str, float]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        result: dict[str, float] = json.loads(self.proc.stdout.readline())
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


# What Python gRPC alone costs: a server that receives SaveStream frames and drops them.
DRAIN = """
import asyncio, sys, grpc
from artifacts_async.argo._proto import artifact_pb2 as pb, artifact_pb2_grpc as g

class Drain(g.ArtifactServiceServicer):
    async def SaveStream(self, frames, context):
        async for _ in frames:
            pass
        return pb.SaveArtifactResponse(success=True)

async def main():
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 * 2**20)])
    g.add_ArtifactServiceServicer_to_server(Drain(), server)
    server.add_insecure_port("unix:" + sys.argv[1])
    await server.start()
    await server.wait_for_termination()

asyncio.run(main())
"""


class Drain:
    """The gRPC floor: the same frames to a server that does nothing with them."""

    def __init__(self, work: Path) -> None:
        socket = work / "drain.sock"
        self.proc = subprocess.Popen([sys.executable, "-c", DRAIN, str(socket)])
        self.pid = self.proc.pid
        self.channel = grpc.insecure_channel(f"unix:{socket}")
        grpc.channel_ready_future(self.channel).result(timeout=60)
        self.stub = ArtifactServiceStub(self.channel)

    def save_stream(self, source: Path) -> dict[str, float]:
        def frames() -> Iterator[pb.SaveStreamArtifactRequest]:
            yield pb.SaveStreamArtifactRequest(output_artifact=pb.Artifact(name="drain"))
            for chunk in _frames(source):
                yield pb.SaveStreamArtifactRequest(chunk=chunk)

        return _timed(self.pid, lambda: self.stub.SaveStream(frames()))

    def close(self) -> None:
        self.channel.close()
        self.proc.terminate()
        self.proc.wait(timeout=60)


def _cpu_of(pid: int) -> float:
    """User plus system CPU seconds of process `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(pid: int, call: Callable[[], object]) -> dict[str, float]:
    server0, client0 = _cpu_of(pid), _self_cpu()
    t0 = time.perf_counter()
    response = call()
    wall = time.perf_counter() - t0
    server, client = _cpu_of(pid) - server0, _self_cpu() - client0
    if not getattr(response, "success", False):
        raise SystemExit(f"plugin call failed: {getattr(response, 'error', response)}")
    return {"wall": wall, "cpu": server + client, "server_cpu": server, "client_cpu": client}


def plugin_save(plugin: Plugin, source: Path, config: str) -> dict[str, float]:
    result = _timed(plugin.pid, lambda: plugin.save(source, "bench/big.bin", config))
    plugin.delete("bench/big.bin", config)
    return result


def _frames(source: Path) -> Iterator[bytes]:
    with source.open("rb") as f:
        while chunk := f.read(FRAME):
            yield chunk


def plugin_stream(plugin: Plugin, source: Path, config: str) -> dict[str, float]:
    result = _timed(plugin.pid,
                    lambda: plugin.save_stream(_frames(source), "bench/big.bin", config))
    plugin.delete("bench/big.bin", config)
    return result


def _ratios(runs: list[dict[str, float]], base: list[dict[str, float]], key: str) -> str:
    """The median of the per-round ratios to direct, and their range (paired by round, so
    drifts of the machine's load cancel out)."""
    ratios = sorted(r[key] / b[key] for r, b in zip(runs, base, strict=True))
    return f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def _row(name: str, runs: list[dict[str, float]], base: list[dict[str, float]]) -> str:
    wall = statistics.median(r["wall"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    extra = ""
    if "server_cpu" in runs[0]:
        extra = (f" (server {statistics.median(r['server_cpu'] for r in runs):.2f}, "
                 f"client {statistics.median(r['client_cpu'] for r in runs):.2f})")
    return (f"| {name} | {wall:.2f} | {_ratios(runs, base, 'wall')} | {cpu:.2f}{extra} | "
            f"{_ratios(runs, base, 'cpu')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--only-save", action="store_true",
                        help="direct and plugin Save only (more rounds in the same time)")
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
        library = Direct(source, work)
        drain = Drain(work)
        try:
            # Both warmed up the same way: driver, journal and buffer pool in place.
            plugin_save(plugin, source, config)
            library.save()
            variants: dict[str, Callable[[], dict[str, float]]] = {
                "direct (library)": library.save,
                "plugin Save": lambda: plugin_save(plugin, source, config),
                "plugin SaveStream": lambda: plugin_stream(plugin, source, config),
                "gRPC frames only (no save)": lambda: drain.save_stream(source),
            }
            if args.only_save:
                variants = {k: v for k, v in variants.items()
                            if k in ("direct (library)", "plugin Save")}
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
            library.close()
            drain.close()
        base = runs["direct (library)"]
        print(f"{args.size_mib} MiB, {args.rounds} rounds, local driver, medians; CPU in s "
              f"(user+sys); ratios to direct paired by round: median (min-max); "
              f"{os.cpu_count()} CPUs")
        print("| variant | wall (s) | wall vs direct | CPU (s) | CPU vs direct |")
        print("|---|---|---|---|---|")
        for name in names:
            print(_row(name, runs[name], base))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

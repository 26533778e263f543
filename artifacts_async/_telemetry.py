"""Optional OpenTelemetry (extra `artifacts-async[otel]`), at no cost when not installed.

Without `opentelemetry-api`, `Telemetry.get()` is a shared object whose hooks do nothing,
`traced` returns the function it decorates unchanged and `trace_driver` returns the driver
itself. With it, `_otel.py` supplies spans and metrics, once an SDK is set up: with only
the API's default (no-op) providers, saves and requests make no spans or metrics at all
(`_otel.configured`), which would cost tens of µs per request for nothing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from ._telemetry_api import TelemetryHooks
from .abc import Driver

__all__ = ["Telemetry", "trace_driver", "traced"]

P = ParamSpec("P")
R = TypeVar("R")


class Telemetry:
    """Chooses the telemetry of a save."""

    @staticmethod
    def get() -> TelemetryHooks:
        """A fresh recorder for one save: OpenTelemetry's if installed and set up (an
        SDK's provider), else a no-op."""
        if _otel is None or not _otel.configured():
            return _NOOP
        keys = os.environ.get("ARTIFACTS_ASYNC_LOG_KEYS", "").lower() in ("1", "true", "yes")
        return _otel.OtelTelemetry(keys=keys)


_NOOP = TelemetryHooks()

try:
    from . import _otel
except ImportError:  # opentelemetry-api is not installed: everything stays a no-op
    _otel = None  # type: ignore[assignment]


def traced(
    name: str, *, on_result: Callable[[Any], None] | None = None
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Run an async method in a span `artifacts_async.<name>` (when OpenTelemetry is here)."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        if _otel is None:
            return fn
        otel = _otel

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not otel.configured():  # no SDK: every span and metric would be a no-op
                return await fn(*args, **kwargs)
            with otel.tracer().start_as_current_span(f"artifacts_async.{name}"):
                result = await fn(*args, **kwargs)
            if on_result is not None:
                on_result(result)
            return result

        return wrapper

    return decorate


def count_gc(report: Any) -> None:
    """Count GC outcomes (a no-op without OpenTelemetry)."""
    if _otel is not None:
        _otel.count_gc(report)


def trace_driver(driver: Driver, name: str) -> Driver:
    """`driver` with a span per request (itself without OpenTelemetry)."""
    if _otel is None:
        return driver
    return _otel.TracedDriver(driver, name)

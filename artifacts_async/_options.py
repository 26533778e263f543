"""Transfer options: part sizes, concurrency, memory budget, retries, resume."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from pathlib import Path
from types import TracebackType
from typing import final

import anyio
import attrs
import stamina

from ._exceptions import ConfigurationError, TransientBackendError

__all__ = ["TransferOptions"]

MiB = 1024 * 1024


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{attribute.name} must be a positive integer, got {value!r}")


class _Deadline:
    """`TransferOptions.deadline`: `anyio.fail_after` with the timeout translated.

    A plain class around a cancel scope: the two generator-based context managers it
    replaces cost twice as much, once per request.
    """

    __slots__ = ("_limit", "_scope", "_what")

    def __init__(self, limit: float, what: str) -> None:
        self._limit = limit
        self._what = what
        self._scope = anyio.CancelScope(deadline=anyio.current_time() + limit)

    def __enter__(self) -> None:
        self._scope.__enter__()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        swallowed = self._scope.__exit__(exc_type, exc, tb)
        # As `anyio.fail_after` decides: the scope caught its own deadline's cancellation.
        if self._scope.cancelled_caught and anyio.current_time() >= self._scope.deadline:
            timeout = TimeoutError()
            raise TransientBackendError(
                f"{self._what}: no complete answer within {self._limit:.1f} s "
                "(a stalled connection?)"
            ) from timeout
        return bool(swallowed)


@final
@attrs.frozen(kw_only=True)
class TransferOptions:
    """How transfers run. Invalid values raise `ConfigurationError` at construction.

    - `part_size`: fixed part size; None picks one from the object's size and the
      backend's limits (at least 8 MiB), growing it for streams of unknown size.
    - `max_parts_in_flight` / `max_buffer_bytes`: one budget shared by every part of a
      save; peak memory is about `max_buffer_bytes` plus a constant.
    - `max_artifacts_in_flight`: artifacts transferred at once.
    - `single_put_threshold`: objects up to this size go in one request.
    - `retry_attempts`, `retry_wait_initial`, `retry_wait_max`, `retry_timeout`: per
      request retries of transient failures, exponential backoff with jitter.
    - `request_timeout`, `min_throughput`: every single request attempt has a deadline
      of `request_timeout` seconds plus its size divided by `min_throughput` (bytes per
      second); an attempt that misses it (a stalled connection) is cancelled and retried
      as a transient failure.
    - `parallel_downloads`: fetch files larger than two parts as concurrent ranged
      reads (faster on real object stores; servers whose ranged reads cost the whole
      object's time, like moto, are faster with one streamed read).
    - `resume`: journal multipart uploads in `state_dir` (default
      `~/.local/state/artifacts-async`) so a killed process resumes them.
    """

    part_size: int | None = None
    max_parts_in_flight: int = attrs.field(default=8, validator=_positive)
    max_buffer_bytes: int = attrs.field(default=256 * MiB, validator=_positive)
    max_artifacts_in_flight: int = attrs.field(default=16, validator=_positive)
    single_put_threshold: int = attrs.field(default=8 * MiB, validator=_positive)
    retry_attempts: int = attrs.field(default=6, validator=_positive)
    retry_wait_initial: float = 0.1
    retry_wait_max: float = 5.0
    retry_timeout: float | None = 300.0
    request_timeout: float = 60.0
    min_throughput: int = attrs.field(default=1 * MiB, validator=_positive)
    parallel_downloads: bool = True
    resume: bool = True
    state_dir: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))

    def retrying(
        self, on: type[Exception] | Callable[[Exception], bool]
    ) -> AsyncIterable[stamina.Attempt]:
        """A stamina retry loop with these options' attempts, backoff and timeout."""
        return stamina.retry_context(
            on=on,
            attempts=self.retry_attempts,
            timeout=self.retry_timeout,
            wait_initial=self.retry_wait_initial,
            wait_max=self.retry_wait_max,
        )

    def attempt_timeout(self, nbytes: int | None = None) -> float:
        """The deadline, in seconds, of one request attempt moving `nbytes` bytes."""
        return self.request_timeout + (nbytes or 0) / self.min_throughput

    def deadline(self, nbytes: int | None, what: str) -> _Deadline:
        """Bound one request attempt by `attempt_timeout(nbytes)` (a context manager).

        A missed deadline cancels the attempt and raises `TransientBackendError` (so the
        retry loop tries again), naming `what`.
        """
        return _Deadline(self.attempt_timeout(nbytes), what)

    def __attrs_post_init__(self) -> None:
        if self.part_size is not None:
            _positive(self, attrs.fields(TransferOptions).part_size, self.part_size)  # type: ignore[arg-type]
            if self.part_size > self.max_buffer_bytes:
                raise ConfigurationError(
                    f"part_size ({self.part_size}) is larger than max_buffer_bytes "
                    f"({self.max_buffer_bytes}): raise the budget or lower the part size"
                )
        if self.max_buffer_bytes < MiB:
            raise ConfigurationError("max_buffer_bytes must be at least 1 MiB")
        if self.retry_wait_initial < 0 or self.retry_wait_max < 0:
            raise ConfigurationError("retry waits must not be negative")
        if not self.request_timeout > 0:
            raise ConfigurationError(
                f"request_timeout must be positive seconds, got {self.request_timeout!r}"
            )

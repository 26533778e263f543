"""Transfer options: part sizes, concurrency, memory budget, retries, resume."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import final

import attrs
import stamina

from ._exceptions import ConfigurationError

__all__ = ["TransferOptions"]

MiB = 1024 * 1024


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{attribute.name} must be a positive integer, got {value!r}")


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

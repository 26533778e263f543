"""Part planning: part sizes that make any object the backend allows fit."""

from __future__ import annotations

from ._exceptions import ConfigurationError, TransferError
from ._options import MiB, TransferOptions
from .abc import DriverLimits

__all__ = ["PartSizer"]

DEFAULT_PART_SIZE = 8 * MiB
# For a stream of unknown size the part size doubles every `max_parts // _GROWTH_STEPS`
# parts, so 16 doublings cover far more than any backend's largest object.
_GROWTH_STEPS = 16


def _round_up(value: int, unit: int) -> int:
    return -(-value // unit) * unit


class PartSizer:
    """The size of each part of one upload.

    Known size: one uniform part size, the smallest that fits `max_parts`. Unknown size:
    parts start at the base size and double at fixed part numbers, up to the backend's
    maximum or the byte budget, whichever is smaller.
    """

    def __init__(self, size: int | None, limits: DriverLimits, options: TransferOptions) -> None:
        self.size = size
        self.limits = limits
        self.cap = min(limits.max_part_size, options.max_buffer_bytes)
        if size is not None and limits.max_object_size is not None and \
                size > limits.max_object_size:
            raise TransferError(
                f"object of {size} bytes is larger than the backend allows "
                f"({limits.max_object_size} bytes)"
            )
        base = options.part_size or DEFAULT_PART_SIZE
        if options.part_size is not None and not (
            limits.min_part_size <= options.part_size <= limits.max_part_size
        ):
            raise ConfigurationError(
                f"part_size {options.part_size} is outside the backend's range "
                f"{limits.min_part_size}..{limits.max_part_size}"
            )
        if options.part_size is None:
            # The default fits backends whose parts must be smaller (within the budget).
            base = min(base, self.cap)
        base = max(base, limits.min_part_size)
        if size is not None:
            needed = -(-size // limits.max_parts)
            if options.part_size is not None and needed > options.part_size:
                raise ConfigurationError(
                    f"part_size {options.part_size} makes {-(-size // options.part_size)} parts "
                    f"for {size} bytes, more than the backend's {limits.max_parts}: raise it "
                    f"to at least {needed}"
                )
            if needed > base:
                # Whole MiB parts when they fit, else exactly what is needed.
                base = max(min(_round_up(needed, MiB), self.cap), needed)
        if base > self.cap:
            raise TransferError(
                f"an object of {size if size is not None else 'unknown'} bytes needs parts of "
                f"{base} bytes, above the limit of {self.cap} (backend maximum or "
                "max_buffer_bytes): raise max_buffer_bytes"
            )
        self.base = base
        self.growing = size is None and options.part_size is None
        self._step = max(1, limits.max_parts // _GROWTH_STEPS)

    def part_size(self, number: int) -> int:
        """Size of part `number` (1-based); the last part may be shorter."""
        if number > self.limits.max_parts:
            raise TransferError(
                f"the stream needs more than the backend's {self.limits.max_parts} parts: "
                "raise part_size or max_buffer_bytes"
            )
        if not self.growing:
            return self.base
        return min(self.base << ((number - 1) // self._step), self.cap)

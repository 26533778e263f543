"""What a driver author needs besides the protocol: checksums, ranges, limits from settings.

Every name here is public through `artifacts_async.abc`. The core uses the same functions,
so a driver that verifies with `verify_part` agrees with the engine byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs
import crc32c as _crc32c

from .._exceptions import ConfigurationError
from ._driver import ChecksumKind, DriverLimits, PartChecksums

__all__ = [
    "combine_all",
    "crc32c",
    "crc32c_combine",
    "http_range",
    "limits_from_settings",
    "part_checksums",
    "resolve_range",
    "verify_part",
]

#: The `DriverLimits` fields `limits_from_settings` lets a repository's settings override.
LIMIT_SETTINGS = ("min_part_size", "max_part_size", "max_parts", "max_single_put",
                  "delete_batch_size", "max_object_size")


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """Extend the CRC32C `value` with `data` (hardware-accelerated; releases the GIL).

    `crc32c(data).to_bytes(4, "big")` is the form `PartChecksums.crc32c` holds, and
    `f"{crc32c(data):08x}"` the hex form `ObjectInfo.checksums["crc32c"]` holds.
    """
    return int(_crc32c.crc32c(data, value))


def part_checksums(
    data: bytes | bytearray, kinds: frozenset[ChecksumKind]
) -> tuple[PartChecksums, int]:
    """Digests of `data` for `kinds`, plus its CRC32C (always computed, for the record).

    This is what the engine sends with each part; tests call it to build valid checksums.
    """
    crc = crc32c(data)
    md5 = hashlib.md5(data, usedforsecurity=False).digest() if ChecksumKind.MD5 in kinds else None
    crc_bytes = crc.to_bytes(4, "big") if ChecksumKind.CRC32C in kinds else None
    return PartChecksums(md5=md5, crc32c=crc_bytes), crc


_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _multmodp(a: int, b: int) -> int:
    # Multiply a(x) by b(x) modulo the CRC polynomial (zlib's method, bit-reflected).
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


def _x2n_table() -> list[int]:
    table = []
    p = 1 << 30  # x^1
    for _ in range(32):
        table.append(p)
        p = _multmodp(p, p)
    return table


_X2N = _x2n_table()


def _x2nmodp(n: int, k: int) -> int:
    # x^(n * 2^k) modulo the polynomial.
    p = 1 << 31  # x^0
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


def crc32c_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC32C of A+B given crc(A), crc(B) and len(B), without the bytes.

    For a backend that keeps no whole-object checksum: the CRC32C of an object uploaded
    in parts is combined from the parts' CRC32Cs (`UploadedPart.checksums["crc32c"]`).
    """
    return _multmodp(_x2nmodp(len2, 3), crc1) ^ crc2


def combine_all(parts: Iterable[tuple[int, int]]) -> int:
    """The CRC32C of consecutive parts given `(crc, size)` of each."""
    value = 0
    for crc, size in parts:
        value = crc32c_combine(value, crc, size)
    return value


def verify_part(data: bytes | bytearray, checksums: PartChecksums) -> str | None:
    """What does not match between `data` and the declared `checksums`, or None.

    For a driver whose backend does not verify a body on receipt: call it (in a worker
    thread for large parts) before storing, and raise `IntegrityError` with the answer.
    Digests that are None in `checksums` are not checked.
    """
    return verify_part_crc(data, checksums)[0]


def verify_part_crc(data: bytes | bytearray, checksums: PartChecksums) -> tuple[str | None, int]:
    """`verify_part`, plus the CRC32C of `data`, computed once (for the core's drivers)."""
    crc = crc32c(data)
    if checksums.crc32c is not None and crc.to_bytes(4, "big") != checksums.crc32c:
        return "CRC32C mismatch", crc
    if checksums.md5 is not None and hashlib.md5(data, usedforsecurity=False).digest() != \
            checksums.md5:
        return "MD5 mismatch", crc
    return None, crc


def resolve_range(size: int, offset: int, length: int | None) -> tuple[int, int]:
    """`(start, end)` (end exclusive) of `Driver.read(offset=, length=)` in `size` bytes.

    A negative `offset` counts from the end; a range past the end is cut at the end; an
    offset beyond the end gives an empty range (`start == end`).
    """
    if offset < 0:
        start = max(0, size + offset)
        end = size if length is None else min(size, start + length)
    else:
        start = min(offset, size)
        end = size if length is None else min(size, offset + length)
    return start, max(start, end)


async def http_range(
    offset: int, length: int | None, *, size: Callable[[], Awaitable[int]]
) -> str | None:
    """The HTTP `Range` header of a `Driver.read(offset=, length=)`.

    Returns None to read the whole object and "" when the read covers nothing (the
    driver then yields no bytes). `size` is called only when the range needs the
    object's size (a suffix read with a length) or its existence (an empty read, where a
    missing object must still raise).
    """
    if length is not None and length <= 0:
        await size()  # a missing object is still an error
        return ""
    if offset < 0:
        if length is None:
            return f"bytes={offset}"  # the last -offset bytes
        start, end = resolve_range(await size(), offset, length)
        return f"bytes={start}-{end - 1}" if end > start else ""
    if offset == 0 and length is None:
        return None
    return f"bytes={offset}-" + ("" if length is None else str(offset + length - 1))


def int_setting(settings: Mapping[str, Any], name: str, default: int) -> int:
    """An integer setting, or a `ConfigurationError` naming it."""
    value = settings.get(name, default)
    if not is_int_at_least(value, 0):
        raise ConfigurationError(f"setting {name!r} must be a non-negative integer, got {value!r}")
    return int(value)


def is_int_at_least(value: object, minimum: int) -> bool:
    """Whether `value` is an int (not a bool) of at least `minimum`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def limits_from_settings(base: DriverLimits, settings: Mapping[str, Any]) -> DriverLimits:
    """`base` with `min_part_size`, `max_part_size`, `max_parts`, `max_single_put`,
    `delete_batch_size` or `max_object_size` overridden by `settings`.

    Used to run a driver with small limits in tests (`{"delete_batch_size": 50}`). A value
    that is not a non-negative integer raises `ConfigurationError` naming the setting.
    """
    changes: dict[str, Any] = {
        name: int_setting(settings, name, 0) for name in LIMIT_SETTINGS if name in settings
    }
    return attrs.evolve(base, **changes) if changes else base

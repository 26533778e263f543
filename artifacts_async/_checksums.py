"""Checksums: CRC32C (whole objects and parts), MD5 (parts), and their combinations.

Everything here is CPU work and is called from worker threads; google-crc32c and
hashlib release the GIL on large buffers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# The checksums a driver also needs are public in `artifacts_async.abc`; the core uses
# the very same functions.
from .abc._helpers import crc32c, part_checksums, verify_part, verify_part_crc

__all__ = [
    "combine_all",
    "crc32c",
    "crc32c_combine",
    "part_checksums",
    "s3_multipart_etag",
    "verify_part",
    "verify_part_crc",
]

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
    """The CRC32C of A+B given crc(A), crc(B) and len(B), without the bytes."""
    return _multmodp(_x2nmodp(len2, 3), crc1) ^ crc2


def combine_all(parts: Iterable[tuple[int, int]]) -> int:
    """The CRC32C of consecutive parts given `(crc, size)` of each."""
    value = 0
    for crc, size in parts:
        value = crc32c_combine(value, crc, size)
    return value


def s3_multipart_etag(md5s: Iterable[bytes]) -> str:
    """S3's ETag of a multipart object: MD5 of the concatenated part MD5s, then `-N`."""
    digests = list(md5s)
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"

"""Checksums: CRC32C (whole objects and parts), MD5 (parts), and their combinations.

Everything here is CPU work and is called from worker threads; google-crc32c and
hashlib release the GIL on large buffers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import crc32c as _crc32c

from .abc import ChecksumKind, PartChecksums

__all__ = ["crc32c", "crc32c_combine", "part_checksums", "s3_multipart_etag"]

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """Extend the CRC32C `value` with `data` (hardware-accelerated; releases the GIL)."""
    return int(_crc32c.crc32c(data, value))


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


def part_checksums(
    data: bytes | bytearray, kinds: frozenset[ChecksumKind]
) -> tuple[PartChecksums, int]:
    """Digests of `data` for `kinds`, plus its CRC32C (always computed, for the record)."""
    crc = crc32c(data)
    md5 = hashlib.md5(data, usedforsecurity=False).digest() if ChecksumKind.MD5 in kinds else None
    crc_bytes = crc.to_bytes(4, "big") if ChecksumKind.CRC32C in kinds else None
    return PartChecksums(md5=md5, crc32c=crc_bytes), crc


def s3_multipart_etag(md5s: Iterable[bytes]) -> str:
    """S3's ETag of a multipart object: MD5 of the concatenated part MD5s, then `-N`."""
    digests = list(md5s)
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"


def verify_part(data: bytes | bytearray, checksums: PartChecksums) -> str | None:
    """What does not match between `data` and the declared `checksums`, or None.

    Used by drivers whose backend does not verify on its own (local, memory).
    """
    return verify_part_crc(data, checksums)[0]


def verify_part_crc(data: bytes | bytearray, checksums: PartChecksums) -> tuple[str | None, int]:
    """`verify_part`, plus the CRC32C of `data`, computed once."""
    crc = crc32c(data)
    if checksums.crc32c is not None and crc.to_bytes(4, "big") != checksums.crc32c:
        return "CRC32C mismatch", crc
    if checksums.md5 is not None and hashlib.md5(data, usedforsecurity=False).digest() != \
            checksums.md5:
        return "MD5 mismatch", crc
    return None, crc

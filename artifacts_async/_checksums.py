"""Checksums: CRC32C (whole objects and parts), MD5 (parts), and their combinations.

Everything here is CPU work and is called from worker threads; google-crc32c and
hashlib release the GIL on large buffers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# The checksums a driver also needs are public in `artifacts_async.abc`; the core uses
# the very same functions.
from .abc._helpers import (
    combine_all,
    crc32c,
    crc32c_combine,
    part_checksums,
    verify_part,
    verify_part_crc,
)

__all__ = [
    "combine_all",
    "crc32c",
    "crc32c_combine",
    "part_checksums",
    "s3_multipart_etag",
    "verify_part",
    "verify_part_crc",
]

def s3_multipart_etag(md5s: Iterable[bytes]) -> str:
    """S3's ETag of a multipart object: MD5 of the concatenated part MD5s, then `-N`."""
    digests = list(md5s)
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"

"""A seekable file over ranged reads, for zip extraction in a worker thread.

Zip needs random access (its directory is at the end), so a zip is not streamed: it is
read in windows aligned to multiples of the window size, fetched on demand (two kept)
instead of staging the whole object locally. Each window's CRC32C is computed once, as
it arrives; `check_crc` fetches the windows extraction never read (none, for a
well-formed zip: every byte is a header, data or the directory) and combines the
windows' CRCs in order into the whole object's CRC32C. So every byte is read once and
checked once, as for every other kind.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ._checksums import combine_all, crc32c
from ._exceptions import IntegrityError

__all__ = ["WINDOW", "RangedFile"]

WINDOW = 4 * 1024 * 1024
_KEEP = 2


class RangedFile(io.RawIOBase):
    """A seekable, read-only file of `size` bytes over `read_range(offset, length)`.

    For a worker thread: `read_range` blocks (it asks the event loop for the bytes) and
    must return exactly `length` bytes. `name` is used in messages.
    """

    def __init__(self, read_range: Callable[[int, int], bytes], size: int, *, name: str,
                 window: int = WINDOW) -> None:
        self._read_range = read_range
        self._size = size
        self._name = name
        self._window = window
        self._pos = 0
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._crcs: dict[int, int] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        n = max(0, min(len(view), self._size - self._pos))
        done = 0
        # A read is filled completely (zipfile does not retry short reads of headers).
        while done < n:
            index, start = divmod(self._pos, self._window)
            data = self._fetch(index)
            got = min(n - done, len(data) - start)
            view[done : done + got] = data[start : start + got]
            done += got
            self._pos += got
        return done

    def _span(self, index: int) -> tuple[int, int]:
        start = index * self._window
        return start, min(self._window, self._size - start)

    def _fetch(self, index: int) -> bytes:
        data = self._cache.get(index)
        if data is not None:
            self._cache.move_to_end(index)
            return data
        start, length = self._span(index)
        data = self._read_range(start, length)
        crc = crc32c(data)
        # Invariant: the CRC of each window is the CRC of the bytes extraction used; a
        # window read again must be the same bytes, or the object changed meanwhile.
        if self._crcs.setdefault(index, crc) != crc:
            raise IntegrityError(
                f"{self._name}: bytes {start}-{start + length - 1} differ between two reads "
                "(the object changed during the download)"
            )
        self._cache[index] = data
        while len(self._cache) > _KEEP:
            self._cache.popitem(last=False)
        return data

    def check_crc(self, expected: int) -> None:
        """Raise `IntegrityError` unless the whole object's CRC32C is `expected`."""
        count = -(-self._size // self._window)
        for index in range(count):
            if index not in self._crcs:
                start, length = self._span(index)
                self._crcs[index] = crc32c(self._read_range(start, length))
        value = combine_all((self._crcs[i], self._span(i)[1]) for i in range(count))
        if value != expected:
            raise IntegrityError(
                f"{self._name}: CRC32C {value:08x} does not match the record's {expected:08x}"
            )

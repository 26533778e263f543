"""Progress events of loads and streams: `download.started`, `download.progress`,
`download.complete`, `download.failed`, through the same `on_progress` as saves."""

from __future__ import annotations

from ._events import ProgressCallback, ProgressEvent

__all__ = ["LoadProgress", "load_progress"]

#: `download.progress` comes once this many bytes arrived since the last one (and at the
#: end): per network chunk would be thousands of callbacks per GiB.
STEP = 1024 * 1024


class LoadProgress:
    """The events of one input or stream. Called on the event loop only."""

    __slots__ = ("_artifact", "_begun", "_emit", "_fixed", "_key", "_pending", "size",
                 "transferred")

    def __init__(self, emit: ProgressCallback, artifact: str, key: str) -> None:
        self._emit = emit
        self._artifact = artifact
        self._key = key
        self._pending = 0
        self._begun = False
        self._fixed = False
        self.size: int | None = None
        self.transferred = 0

    def _event(self, name: str, **fields: int | str | None) -> None:
        self._emit(ProgressEvent(name=name, artifact=self._artifact, key=self._key,
                                 **fields))  # type: ignore[arg-type]

    def started(self, size: int | None, *, whole: bool = False) -> None:
        """The download begins; `size` when known. `whole`: a directory's, counting all
        its files, which `learn_size` never replaces with one file's."""
        self.size = size
        self._fixed = whole
        self._begun = True
        self._event("download.started", size=size)

    def expect_directory(self) -> None:
        """What is loaded may be a directory found by listing: `download.started` comes
        with its first bytes (or its completion), never for one that is not there."""
        self._fixed = True

    def learn_size(self, size: int) -> None:
        """The object's size, once it is looked at (when not known at the start)."""
        if self.size is None and not self._fixed:
            self.size = size

    def add(self, n: int) -> None:
        """`n` more bytes arrived (and were written, for a file)."""
        if not self._begun:
            self.started(self.size, whole=self._fixed)
        self.transferred += n
        self._pending += n
        if self._pending >= STEP:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, 0
            self._event("download.progress", bytes=pending, transferred=self.transferred,
                        size=self.size)

    def complete(self) -> None:
        """Every byte arrived and every check passed."""
        if not self._begun:
            self.started(self.size, whole=self._fixed)
        self._flush()
        self._event("download.complete", transferred=self.transferred,
                    size=self.size if self.size is not None else self.transferred)

    def failed(self, error: BaseException) -> None:
        """The download failed with `error` (nothing was left at the destination)."""
        self._flush()
        self._event("download.failed", transferred=self.transferred, size=self.size,
                    error=f"{type(error).__name__}: {error}")


def load_progress(emit: ProgressCallback | None, artifact: str, key: str) -> LoadProgress | None:
    """A `LoadProgress` for `emit`, or None (no events, no cost) without a callback."""
    return None if emit is None else LoadProgress(emit, artifact, key)

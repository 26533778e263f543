"""Progress displays for `save`, `load` and `cat`: rich bars on a terminal, lines
elsewhere, JSON lines.

All of them are `on_progress` callbacks writing to stderr, so stdout stays for results.
"""

from __future__ import annotations

import json
import sys
import time
from types import TracebackType
from typing import IO, Any

import attrs
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .._events import ProgressEvent


def human(size: float | None) -> str:
    """`24.0 MiB`."""
    if size is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class Display:
    """No display (`--quiet`); the base of the others."""

    def __enter__(self) -> Display:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def __call__(self, event: ProgressEvent, /) -> None:
        return None


#: A download's plain progress line comes every tenth of its size (or every 64 MiB when
#: the size is unknown), not for each of its ~1 MiB events.
_LINE_SHARE = 10
_LINE_UNKNOWN = 64 * 1024 * 1024


class LineDisplay(Display):
    """One plain line per start, part, retry and end: readable in pod logs and CI."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._out = stream or sys.stderr
        self._started: dict[str, float] = {}
        self._sizes: dict[str, int | None] = {}
        self._shown: dict[str, int] = {}  # a download's last step with a line

    def _download(self, event: ProgressEvent) -> str | None:
        name, art = event.name, event.artifact
        if name == "download.started":
            self._started[art] = time.monotonic()
            self._shown[art] = 0
            return f"{art}: downloading ({human(event.size)})"
        if name == "download.progress":
            size = event.size
            step = (event.transferred * _LINE_SHARE // size if size
                    else event.transferred // _LINE_UNKNOWN)
            if step <= self._shown.get(art, 0):
                return None
            self._shown[art] = step
            share = f" ({100 * event.transferred // size}%)" if size else ""
            return f"{art}: {human(event.transferred)} of {human(size)}{share}"
        if name == "download.complete":
            took = time.monotonic() - self._started.get(art, time.monotonic())
            return f"{art}: loaded {human(event.size)} in {took:.1f} s"
        return f"{art}: FAILED: {event.error}"

    def __call__(self, event: ProgressEvent, /) -> None:
        name, art = event.name, event.artifact
        if name.startswith("download."):
            text = self._download(event)
            if text is not None:
                print(text, file=self._out, flush=True)
            return
        if name == "upload.started":
            self._started[art] = time.monotonic()
            self._sizes[art] = event.size
            line = f"{art}: started ({human(event.size)})"
        elif name == "upload.part.complete":
            size = event.size or self._sizes.get(art)
            share = f" ({100 * event.transferred // size}%)" if size else ""
            line = (f"{art}: part {event.part} stored, {human(event.transferred)} of "
                    f"{human(size)}{share}")
        elif name == "upload.retry":
            line = f"{art}: retrying part {event.part} (attempt {event.attempt})"
        elif name == "upload.complete":
            took = time.monotonic() - self._started.get(art, time.monotonic())
            line = f"{art}: stored {human(event.size)} in {took:.1f} s"
        elif name == "upload.failed":
            line = f"{art}: FAILED: {event.error}"
        else:
            line = f"{art}: {name}"
        print(line, file=self._out, flush=True)


class JsonDisplay(Display):
    """Every event as one JSON object per line (`--json`)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._out = stream or sys.stderr

    def __call__(self, event: ProgressEvent, /) -> None:
        data: dict[str, Any] = {"event": event.name,
                                **{k: v for k, v in attrs.asdict(event).items()
                                   if v is not None and k != "name"}}
        print(json.dumps(data), file=self._out, flush=True)


class RichDisplay(Display):
    """A bar per artifact and one overall: bytes, rate, ETA, parts and retries."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:<16}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[parts]} parts {task.fields[retries]} retries "
                       "{task.fields[state]}"),
            console=console or Console(stderr=True),
        )
        self._tasks: dict[str, TaskID] = {}
        self._total = self._progress.add_task("all", total=None, parts=0, retries=0,
                                              state="")
        self._sizes: dict[str, int] = {}
        self._done: dict[str, int] = {}
        self._live = False

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live:
            self._progress.stop()

    def _bump(self, task: TaskID, field: str) -> None:
        fields = self._progress.tasks[self._index(task)].fields
        self._progress.update(task, **{field: fields[field] + 1})

    def _index(self, task: TaskID) -> int:
        return next(i for i, t in enumerate(self._progress.tasks) if t.id == task)

    def _refresh(self) -> None:
        self._progress.update(self._total, total=sum(self._sizes.values()) or None,
                              completed=sum(self._done.values()))

    def __call__(self, event: ProgressEvent, /) -> None:
        art = event.artifact
        if not self._live:
            # Started by the first event, so a planning error leaves no empty bars behind.
            self._live = True
            self._progress.start()
        if event.name in ("upload.started", "download.started"):
            self._tasks[art] = self._progress.add_task(art, total=event.size, parts=0,
                                                       retries=0, state="")
            # An archive's size is known only at its end: its bar has no total until then.
            self._sizes[art] = event.size or 0
            self._done[art] = 0
            self._refresh()
            return
        task = self._tasks.get(art)
        if task is None:
            return
        if event.name == "upload.part.complete":
            self._done[art] = event.transferred
            self._progress.update(task, completed=event.transferred)
            self._bump(task, "parts")
            self._bump(self._total, "parts")
        elif event.name == "download.progress":
            self._done[art] = event.transferred
            if event.size is not None and not self._sizes[art]:
                self._sizes[art] = event.size  # learned once the object was looked at
            self._progress.update(task, total=event.size, completed=event.transferred)
        elif event.name == "upload.retry":
            self._bump(task, "retries")
            self._bump(self._total, "retries")
        elif event.name in ("upload.complete", "download.complete"):
            size = event.size or event.transferred
            self._sizes[art] = self._done[art] = size
            state = "[green]stored" if event.name == "upload.complete" else "[green]loaded"
            self._progress.update(task, total=size, completed=size, state=state)
        elif event.name in ("upload.failed", "download.failed"):
            self._progress.update(task, state="[red]failed")
        self._refresh()


def display_for(*, json_mode: bool, quiet: bool) -> Display:
    """Rich bars on a terminal, plain lines otherwise, JSON lines with `--json`."""
    if quiet:
        return Display()
    if json_mode:
        return JsonDisplay()
    if sys.stderr.isatty():
        return RichDisplay()
    return LineDisplay()

"""The CLI's progress displays handle upload and download events alike."""

from __future__ import annotations

import io

from rich.console import Console

import artifacts_async as aa
from artifacts_async._cli._progress import LineDisplay, RichDisplay

MiB = 1024 * 1024


def download_events(name: str, size: int | None, steps: int) -> list[aa.ProgressEvent]:
    events = [aa.ProgressEvent(name="download.started", artifact=name, key="k", size=size)]
    for i in range(1, steps + 1):
        events.append(aa.ProgressEvent(name="download.progress", artifact=name, key="k",
                                       bytes=MiB, transferred=i * MiB, size=size))
    events.append(aa.ProgressEvent(name="download.complete", artifact=name, key="k",
                                   transferred=steps * MiB, size=steps * MiB))
    return events


def test_plain_lines_come_every_tenth_of_a_download() -> None:
    """20 progress events of a 20 MiB download make 10 lines, plus its start and end; a
    failure is one line."""
    out = io.StringIO()
    display = LineDisplay(out)
    for event in download_events("data", 20 * MiB, 20):
        display(event)
    display(aa.ProgressEvent(name="download.failed", artifact="other", key="k",
                             error="IntegrityError: CRC32C differs"))
    lines = out.getvalue().splitlines()
    assert lines[0] == "data: downloading (20.0 MiB)"
    assert lines[1] == "data: 2.0 MiB of 20.0 MiB (10%)"
    assert len([line for line in lines if " of 20.0 MiB (" in line]) == 10
    assert lines[-2].startswith("data: loaded 20.0 MiB in ")
    assert lines[-1] == "other: FAILED: IntegrityError: CRC32C differs"


def test_plain_lines_of_a_download_of_unknown_size() -> None:
    """Without a size, a line every 64 MiB."""
    out = io.StringIO()
    display = LineDisplay(out)
    for event in download_events("data", None, 130):
        display(event)
    progress = [line for line in out.getvalue().splitlines() if " of ? " in line or
                line.endswith(" of ?")]
    assert progress == ["data: 64.0 MiB of ?", "data: 128.0 MiB of ?"]


def test_bars_follow_downloads() -> None:
    """A download gets a bar that ends complete and loaded."""
    out = io.StringIO()
    display = RichDisplay(Console(file=out, force_terminal=True, width=120))
    with display:
        for event in download_events("data", 3 * MiB, 3):
            display(event)
        task = display._progress.tasks[-1]
        assert task.description == "data"
        assert task.completed == task.total == 3 * MiB
        assert "loaded" in task.fields["state"]

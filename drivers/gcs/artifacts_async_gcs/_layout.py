"""Where an upload's temporary objects live, and how they are composed into the object.

GCS's JSON API has no S3-style multipart upload. Each part is uploaded as a temporary
object, and `compose` concatenates them:

```
<prefix>.artifacts-async/uploads/<key>/<upload-id>/start        marker: metadata, start time
<prefix>.artifacts-async/uploads/<key>/<upload-id>/00001        part 1
<prefix>.artifacts-async/uploads/<key>/<upload-id>/c1-00000     an intermediate composite
```

Temporaries are never under (or beside) the final key, and `list` hides the reserved
`<prefix>.artifacts-async/` folder. A name parses back from the right (`<key>` may hold
slashes; the upload id and the leaf never do).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["MAX_COMPOSE_SOURCES", "Layout", "Step", "compose_plan"]

#: "You can use between 1 and 32 source objects" in one compose request
#: (https://cloud.google.com/storage/docs/composite-objects#compose-operation).
MAX_COMPOSE_SOURCES = 32

_RESERVED = ".artifacts-async/"
_MARKER = "start"

Step = tuple[str, list[str]]  # (destination, sources)


class Layout:
    """Object names for keys and for the temporaries of their uploads."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.reserved = f"{prefix}{_RESERVED}"
        self.uploads = f"{self.reserved}uploads/"

    def name(self, key: str) -> str:
        """The object name of `key`."""
        return self.prefix + key

    def key(self, name: str) -> str:
        """The key of an object name."""
        return name.removeprefix(self.prefix)

    def hidden(self, name: str) -> bool:
        """True for the driver's own objects (temporaries), which `list` never shows."""
        return name.startswith(self.reserved)

    def folder(self, key: str, upload_id: str) -> str:
        """The name prefix of every temporary of one upload."""
        return f"{self.uploads}{key}/{upload_id}/"

    def marker(self, key: str, upload_id: str) -> str:
        return f"{self.folder(key, upload_id)}{_MARKER}"

    def part(self, key: str, upload_id: str, number: int) -> str:
        return f"{self.folder(key, upload_id)}{number:05d}"

    def intermediate(self, key: str, upload_id: str, level: int, index: int) -> str:
        return f"{self.folder(key, upload_id)}c{level}-{index:05d}"

    def parse(self, name: str) -> tuple[str, str, str] | None:
        """`(key, upload_id, leaf)` of a temporary's name, or None for another name."""
        if not name.startswith(self.uploads):
            return None
        pieces = name[len(self.uploads):].rsplit("/", 2)
        if len(pieces) != 3 or not all(pieces):
            return None
        key, upload_id, leaf = pieces
        return key, upload_id, leaf

    @staticmethod
    def part_number(leaf: str) -> int | None:
        """The part number of a temporary's leaf name, or None (marker, intermediate)."""
        return int(leaf) if leaf.isdigit() else None


def compose_plan(
    sources: list[str], final: str, intermediate: Callable[[int, int], str]
) -> list[list[Step]]:
    """Compose steps, level by level: at most 32 sources each, the last one `final`.

    The steps of one level are independent (they may run concurrently); each level
    composes the previous level's results, in order, so the final object is the
    concatenation of `sources` (1,024 parts take 32 + 1 requests).
    """
    levels: list[list[Step]] = []
    current = sources
    level = 0
    while len(current) > MAX_COMPOSE_SOURCES:
        level += 1
        step: list[Step] = []
        for index, start in enumerate(range(0, len(current), MAX_COMPOSE_SOURCES)):
            step.append((intermediate(level, index), current[start : start + MAX_COMPOSE_SOURCES]))
        levels.append(step)
        current = [destination for destination, _ in step]
    levels.append([(final, current)])
    return levels

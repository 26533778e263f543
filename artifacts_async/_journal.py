"""The resume journal: which multipart upload belongs to which key and source.

A small SQLite database (stdlib) in the state directory. Every confirmed part is
committed as it is confirmed, so a process killed at any point leaves a journal that a
new process reconciles with the backend's `list_parts`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import attrs

from ._sqlite import Database

__all__ = ["Journal", "JournalEntry", "default_state_dir"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    target TEXT PRIMARY KEY,
    upload_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    part_size INTEGER NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS parts (
    target TEXT NOT NULL,
    number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    crc32c TEXT NOT NULL,
    PRIMARY KEY (target, number)
);
CREATE TABLE IF NOT EXISTS objects (
    target TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    crc32c TEXT NOT NULL
);
"""


def default_state_dir() -> Path:
    """`$ARTIFACTS_ASYNC_STATE_DIR`, else `$XDG_STATE_HOME/artifacts-async`, else
    `~/.local/state/artifacts-async`."""
    if explicit := os.environ.get("ARTIFACTS_ASYNC_STATE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "artifacts-async"


@attrs.frozen
class JournalEntry:
    """A journaled upload: its id, its source's fingerprint, and its confirmed parts."""

    upload_id: str
    fingerprint: str
    part_size: int
    parts: dict[int, tuple[int, str]]  # number -> (size, crc32c hex)


class Journal:
    """Durable map from an upload target (`driver location of the key`) to its upload."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = Database(path, _SCHEMA, pragmas=("synchronous=NORMAL",))

    async def _run(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return await self._db.execute(sql, *args)

    async def find(self, target: str) -> JournalEntry | None:
        """The journaled upload of `target`, if any."""
        rows = await self._run(
            "SELECT upload_id, fingerprint, part_size FROM uploads WHERE target = ?", target
        )
        if not rows:
            return None
        upload_id, fingerprint, part_size = rows[0]
        parts = await self._run("SELECT number, size, crc32c FROM parts WHERE target = ?", target)
        return JournalEntry(
            str(upload_id),
            str(fingerprint),
            int(str(part_size)),
            {int(str(n)): (int(str(s)), str(c)) for n, s, c in parts},
        )

    async def begin(self, target: str, upload_id: str, fingerprint: str, part_size: int) -> None:
        """Record a new upload of `target`, replacing any earlier one (atomically)."""

        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM parts WHERE target = ?", (target,))
            db.execute("DELETE FROM uploads WHERE target = ?", (target,))
            db.execute(
                "INSERT INTO uploads (target, upload_id, fingerprint, part_size) "
                "VALUES (?, ?, ?, ?)",
                (target, upload_id, fingerprint, part_size),
            )

        await self._db.run(work)

    async def record_part(self, target: str, number: int, size: int, crc: str) -> None:
        """Record a part the backend confirmed."""
        await self._run(
            "INSERT OR REPLACE INTO parts (target, number, size, crc32c) VALUES (?, ?, ?, ?)",
            target, number, size, crc,
        )

    async def forget(self, target: str) -> None:
        """Drop `target`'s upload (completed or aborted)."""

        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM parts WHERE target = ?", (target,))
            db.execute("DELETE FROM uploads WHERE target = ?", (target,))

        await self._db.run(work)

    async def record_objects(self, objects: list[tuple[str, int, str]]) -> None:
        """Record whole objects the backend confirmed: `(target, size, crc32c hex)`.

        The files of a directory stored with archive `none`: a rerun skips those still
        stored with the same size and CRC32C.
        """
        if not objects:
            return

        def work(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR REPLACE INTO objects (target, size, crc32c) VALUES (?, ?, ?)",
                objects,
            )

        await self._db.run(work)

    async def objects(self, prefix: str) -> dict[str, tuple[int, str]]:
        """The recorded objects whose target starts with `prefix`: target -> (size, crc)."""
        rows = await self._run(
            "SELECT target, size, crc32c FROM objects WHERE substr(target, 1, ?) = ?",
            len(prefix), prefix,
        )
        return {str(t): (int(str(s)), str(c)) for t, s, c in rows}

    async def forget_objects(self, prefix: str) -> None:
        """Drop the recorded objects whose target starts with `prefix`."""
        await self._run("DELETE FROM objects WHERE substr(target, 1, ?) = ?", len(prefix), prefix)

    async def targets(self) -> list[tuple[str, str]]:
        """Every journaled `(target, upload_id)`."""
        rows = await self._run("SELECT target, upload_id FROM uploads ORDER BY target")
        return [(str(t), str(u)) for t, u in rows]

    def close(self) -> None:
        """Close the database."""
        self._db.close()

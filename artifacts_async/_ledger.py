"""A durable ledger of artifact records, for callers without a state store of their own.

SQLite from the standard library, keyed by (workflow uid, node id, attempt, artifact
name). Record saves from `on_report` / `on_complete`; later, from any process, collect a
workflow's garbage by its uid.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import final

import anyio.to_thread

from ._gc import GCReport, GCStatus
from ._records import ArtifactRecord

__all__ = ["Ledger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (
    workflow_uid TEXT NOT NULL,
    node_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    name TEXT NOT NULL,
    repository TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,
    collected TEXT,
    updated TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (workflow_uid, node_id, attempt, name)
);
CREATE INDEX IF NOT EXISTS artifacts_location ON artifacts (repository, key);
"""


@final
class Ledger:
    """Records of saved artifacts, kept in an SQLite file at `path`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=10000")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    async def _run(self, sql: str, rows: Sequence[tuple[object, ...]]) -> list[tuple[object, ...]]:
        def work() -> list[tuple[object, ...]]:
            with self._lock:
                db = self._conn()
                if len(rows) == 1:
                    return db.execute(sql, rows[0]).fetchall()
                db.execute("BEGIN")
                db.executemany(sql, rows)
                db.execute("COMMIT")
                return []

        return await anyio.to_thread.run_sync(work)

    async def record(self, records: Sequence[ArtifactRecord]) -> None:
        """Insert or update `records` (a later status replaces an earlier one)."""
        if not records:
            return
        await self._run(
            "INSERT INTO artifacts (workflow_uid, node_id, attempt, name, repository, key, "
            "status, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (workflow_uid, node_id, attempt, name) DO UPDATE SET "
            "repository = excluded.repository, key = excluded.key, status = excluded.status, "
            "record = excluded.record, updated = datetime('now')",
            [(r.workflow_uid, r.node_id, r.attempt, r.name, r.location.repository,
              r.location.key, r.status.value, json.dumps(r.to_dict())) for r in records],
        )

    async def records(self, *, workflow_uid: str,
                      include_collected: bool = False) -> list[ArtifactRecord]:
        """Every record of a workflow, attempts included, in a stable order."""
        rows = await self._run(
            "SELECT record FROM artifacts WHERE workflow_uid = ? AND (? OR collected IS NULL) "
            "ORDER BY node_id, attempt, name",
            [(workflow_uid, include_collected)],
        )
        return [ArtifactRecord.from_dict(json.loads(str(row[0]))) for row in rows]

    async def collected(self, *, workflow_uid: str) -> dict[str, str]:
        """`{artifact name/attempt: GC status}` of the collected records of a workflow."""
        rows = await self._run(
            "SELECT name, attempt, collected FROM artifacts "
            "WHERE workflow_uid = ? AND collected IS NOT NULL",
            [(workflow_uid,)],
        )
        return {f"{name}/{attempt}": str(state) for name, attempt, state in rows}

    async def mark_collected(self, report: GCReport) -> None:
        """Mark deleted and already-absent artifacts of `report` as collected."""
        done = [o for o in report.outcomes
                if o.status in (GCStatus.DELETED, GCStatus.ALREADY_ABSENT)]
        if not done:
            return
        await self._run(
            "UPDATE artifacts SET collected = ?, updated = datetime('now') "
            "WHERE repository = ? AND key = ? AND node_id = ? AND attempt = ?",
            [(o.status.value, o.location.repository, o.location.key, o.node_id, o.attempt)
             for o in done],
        )

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

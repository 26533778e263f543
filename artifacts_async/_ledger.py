"""A durable ledger of artifact records, for callers without a state store of their own.

SQLite from the standard library, keyed by (workflow uid, node id, attempt, artifact
name). Record saves from `on_report` / `on_complete`; later, from any process, collect a
workflow's garbage by its uid.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import final

from ._gc import GCReport, GCStatus
from ._records import ArtifactRecord
from ._sqlite import Database

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
        self._db = Database(self.path, _SCHEMA)

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    async def _run(self, sql: str, rows: Sequence[tuple[object, ...]]) -> list[tuple[object, ...]]:
        """`sql` once per row, all in one transaction; the rows of a single statement."""

        def work(db: sqlite3.Connection) -> list[tuple[object, ...]]:
            if len(rows) == 1:
                return db.execute(sql, rows[0]).fetchall()
            db.executemany(sql, rows)
            return []

        return await self._db.run(work)

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
        # Invariant: an outcome marks exactly the row of its own record (its workflow,
        # node, attempt and name at that location), never another workflow's record.
        await self._run(
            "UPDATE artifacts SET collected = ?, updated = datetime('now') "
            "WHERE workflow_uid = ? AND node_id = ? AND attempt = ? AND name = ? "
            "AND repository = ? AND key = ?",
            [(o.status.value, o.workflow_uid, o.node_id, o.attempt, o.name,
              o.location.repository, o.location.key) for o in done],
        )

    def close(self) -> None:
        """Close the database."""
        self._db.close()

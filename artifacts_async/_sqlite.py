"""One small SQLite helper for the journal and the ledger: a connection, a lock, and
statements run in a worker thread inside a transaction that rolls back on any error.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

__all__ = ["Database"]

T = TypeVar("T")
Rows = list[tuple[object, ...]]


class Database:
    """An SQLite file opened on first use with `schema`, in WAL mode.

    Invariant: after `run` returns or raises, the connection is outside any transaction,
    so one failed statement never leaves later ones stuck inside it.
    """

    def __init__(self, path: Path, schema: str, *, pragmas: Sequence[str] = ()) -> None:
        self.path = path
        self._schema = schema
        self._pragmas = ("journal_mode=WAL", "busy_timeout=10000", *pragmas)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                for pragma in self._pragmas:
                    db.execute(f"PRAGMA {pragma}")
                db.executescript(self._schema)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one transaction (blocking): committed if it returns, else rolled back."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`transact(work)` in a worker thread."""
        return await anyio.to_thread.run_sync(self.transact, work)

    async def execute(self, sql: str, *args: object) -> Rows:
        """One statement in its own transaction; its rows."""
        return await self.run(lambda db: db.execute(sql, args).fetchall())

    def close(self) -> None:
        """Close the connection (reopened on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

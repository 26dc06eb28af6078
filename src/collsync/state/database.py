"""The state file's one connection, and the one transaction every write joins."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pydantic_core

from collsync.text import escape_surrogates

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import sqlite_utils

BUSY_TIMEOUT = 5.0
"""Seconds a write waits for another process's transaction before giving up."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def json_text(value: Any) -> str:
    """``value`` as JSON text: pydantic-core's serialiser (fast, on every request); the standard
    one (which escapes) for text UTF-8 cannot hold, such as a lone surrogate from an answer."""
    try:
        return pydantic_core.to_json(value, fallback=str).decode()
    except pydantic_core.PydanticSerializationError:
        return json.dumps(value, default=str)


def stored_text(text: str | None) -> str | None:
    """Text as SQLite can hold it: an unpaired surrogate (which JSON can carry) escaped."""
    return None if text is None else escape_surrogates(text)


class Database:
    """One SQLite connection in WAL mode; :meth:`transaction` is the unit of every write.

    The outermost transaction takes the write lock at once (``BEGIN IMMEDIATE``), so two
    processes never deadlock upgrading a read; a transaction opened inside another is a
    savepoint of it, so a repository's write joins whatever its caller has open and a
    confirmation commits with the map row it produces. Transactions never span an ``await``
    except the read-back's replacement, while nothing else writes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self._utils: sqlite_utils.Database | None = None

    @property
    def utils(self) -> sqlite_utils.Database:
        """sqlite-utils on this connection (imported when first needed: reading needs none)."""
        if self._utils is None:
            import sqlite_utils

            self._utils = sqlite_utils.Database(self.conn)
        return self._utils

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Everything inside commits together, or nothing does."""
        if self.conn.in_transaction:
            with self.utils.atomic():  # a savepoint of the caller's transaction
                yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def scalar(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return None if row is None else row[0]

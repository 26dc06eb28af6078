"""The state file's one connection, and the one transaction every write joins."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pydantic_core

from collsync.errors import CollsyncError, ConfigError, StateError
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


def state_problem(path: Path, exc: sqlite3.Error | OSError) -> CollsyncError:
    """What a failure of the state file means, said once, in one line, naming the file."""
    message = str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
    lowered = message.lower()
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "disk is full" in lowered:
        return StateError(
            f"{path}: the disk is full; free some space and run again (the journal keeps what "
            "was sent)"
        )
    if "locked" in lowered:
        return StateError(
            f"{path} is locked by another process (a write held for more than "
            f"{BUSY_TIMEOUT:g} s); run again once it is done"
        )
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return StateError(
            f"{path} is not a readable collsync state ({message}); restore a backup "
            "(`collsync state backup` makes one), or move it away and let the next run start a "
            "new one"
        )
    if "readonly" in lowered or "read-only" in lowered or isinstance(exc, PermissionError):
        return ConfigError(f"state.path: {path} cannot be written ({message})")
    if "unable to open" in lowered or isinstance(exc, OSError):
        return ConfigError(f"state.path: {path} cannot be opened ({message})")
    return StateError(f"{path}: {message}")


def _translated(exc: sqlite3.Error) -> bool:
    """Failures of the file itself (not of collsync's own statements): said as state problems."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


def create_private(path: Path) -> None:
    """The state's folder (0700) and file (0600), made before SQLite opens them: the state holds
    the account's e-mail and the store's data. SQLite gives its -wal and -shm files the same
    mode as the file."""
    if path.parent.exists() and not path.parent.is_dir():
        raise ConfigError(f"state.path: {path.parent} is a file, not a folder")
    if path.is_dir():
        raise ConfigError(f"state.path: {path} is a folder; name a file in it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(descriptor)
    except FileExistsError:
        pass
    except OSError as exc:
        raise state_problem(path, exc) from None


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
        try:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise state_problem(path, exc) from None
        self.conn = conn
        self._utils: sqlite_utils.Database | None = None
        self._broken: StateError | None = None

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
        """Everything inside commits together, or nothing does. A failure of the file itself
        (disk full, locked) becomes a :class:`~collsync.errors.StateError`, and every later
        write fails at once with it: the run stops, it does not wait again and again."""
        if self._broken is not None:
            raise StateError(str(self._broken))
        try:
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
        except sqlite3.Error as exc:
            if not _translated(exc):
                raise
            problem = state_problem(self.path, exc)
            if isinstance(problem, StateError):
                self._broken = problem
            raise problem from exc

    def scalar(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return None if row is None else row[0]

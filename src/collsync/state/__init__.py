"""The SQLite state file: one small repository a concern, and the transaction they all join.

::

    run_lock(path)       the run lock: one run at a time, held by the operating system
    State.open(path)
    ├── runs         what each command did          checkpoints  where a run stopped
    ├── staging      the store's records as read, by generation, and their items
    ├── readback     the copy of the Akinon account the plan is made against
    ├── ids          source collection <-> Akinon collection, the items collsync added, SKU map
    ├── journal      every write to Akinon: an intent before, an outcome after
    ├── failures     every record that did not make it, and when it is tried again
    └── binding      the store, Akinon install and account the state belongs to

One file (WAL mode) holds everything a run needs to resume after a crash. A journal
confirmation commits in one transaction with the map row it produces
(``with state.transaction(): ...``), so the state never says "sent" without saying what came
of it, nor "mapped" without the journal agreeing. All of collsync's SQL is in this package.

sqlite-utils builds and migrates the schema and writes staging in bulk (``upsert_all``). The
writes made once per request (journal intents and outcomes, map rows) are single SQL statements
instead: sqlite-utils' ``insert`` and ``update`` look up the table's schema at every call, a
cost paid on every request of a run for nothing a statement needs. Reads are joins and counts
that return the pipeline's own values, which ``rows_where`` would give as dicts to convert.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collsync.state.binding import Binding, Bound
from collsync.state.database import Database, create_private, state_problem
from collsync.state.failures import FailureRow, Failures
from collsync.state.journal import Journal, JournalEntry, Outcome, Write
from collsync.state.lock import run_lock
from collsync.state.mapping import IdMap, MapCounts, MapEntry, MappedItem
from collsync.state.readback import ReadBackCopy
from collsync.state.runs import Checkpoints, RunRecord, Runs
from collsync.state.schema import SCHEMA_VERSION, migrate
from collsync.state.staging import Membership, StagedCollection, StagedItem, StagedRecord, Staging

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@dataclass(frozen=True, slots=True)
class Health:
    integrity: list[str]
    """SQLite's integrity check: empty when the file is sound."""
    schema: int
    bound: Bound | None
    open_intents: int
    mapped: int


class State:
    """The state file, opened: its repositories share one connection."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.path = database.path
        self.runs = Runs(database)
        self.checkpoints = Checkpoints(database)
        self.staging = Staging(database)
        self.readback = ReadBackCopy(database)
        self.ids = IdMap(database)
        self.journal = Journal(database)
        self.failures = Failures(database)
        self.binding = Binding(database)

    @classmethod
    def open(cls, path: Path) -> State:
        """Open (or create, private to its owner) the state at ``path``, at the current schema;
        any problem with the file is one :class:`~collsync.errors.CollsyncError` naming it."""
        create_private(path)
        database = Database(path)
        try:
            migrate(database)
        except sqlite3.DatabaseError as exc:
            database.close()
            raise state_problem(path, exc) from None
        except BaseException:
            database.close()
            raise
        return cls(database)

    def backup(self, target: Path) -> None:
        """A consistent copy in one file (the write-ahead log included), private like the
        state: SQLite's online backup, safe while a run writes."""
        if target.exists():
            target.unlink()
        create_private(target)
        copy = sqlite3.connect(str(target))
        try:
            self.database.conn.backup(copy)
        except sqlite3.Error as exc:
            raise state_problem(target, exc) from None
        finally:
            copy.close()

    def check(self) -> Health:
        """What ``collsync state check`` reports."""
        conn = self.database.conn
        try:
            problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            raise state_problem(self.path, exc) from None
        return Health(
            integrity=[] if problems == ["ok"] else problems,
            schema=int(conn.execute("PRAGMA user_version").fetchone()[0]),
            bound=self.binding.get(),
            open_intents=self.journal.count_open(),
            mapped=self.ids.counts().collections,
        )

    def close(self) -> None:
        self.database.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write inside commits together, or none does."""
        with self.database.transaction():
            yield


__all__ = [
    "SCHEMA_VERSION",
    "Bound",
    "FailureRow",
    "Health",
    "JournalEntry",
    "MapCounts",
    "MapEntry",
    "MappedItem",
    "Membership",
    "Outcome",
    "RunRecord",
    "StagedCollection",
    "StagedItem",
    "StagedRecord",
    "State",
    "Write",
    "run_lock",
]

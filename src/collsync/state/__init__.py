"""The SQLite state file: one small repository a concern, and the transaction they all join.

::

    State.open(path)
    ├── lock         the run lock (one run at a time)
    ├── runs         what each command did          checkpoints  where a run stopped
    ├── staging      the store's records as read, by generation, and their items
    ├── readback     the copy of the Akinon account the plan is made against
    ├── ids          source collection <-> Akinon collection, the items collsync added, SKU map
    ├── journal      every write to Akinon: an intent before, an outcome after
    └── failures     every record that did not make it, and when it is tried again

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
from typing import TYPE_CHECKING

from collsync.state.database import Database
from collsync.state.failures import FailureRow, Failures
from collsync.state.journal import Journal, JournalEntry, Outcome, Write
from collsync.state.lock import RunLock
from collsync.state.mapping import IdMap, MapCounts, MapEntry, MappedItem
from collsync.state.readback import ReadBackCopy
from collsync.state.runs import Checkpoints, RunRecord, Runs
from collsync.state.schema import SCHEMA_VERSION, migrate
from collsync.state.staging import Membership, StagedCollection, StagedItem, StagedRecord, Staging

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class State:
    """The state file, opened: its repositories share one connection."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.path = database.path
        self.lock = RunLock(database)
        self.runs = Runs(database)
        self.checkpoints = Checkpoints(database)
        self.staging = Staging(database)
        self.readback = ReadBackCopy(database)
        self.ids = IdMap(database)
        self.journal = Journal(database)
        self.failures = Failures(database)

    @classmethod
    def open(cls, path: Path) -> State:
        path.parent.mkdir(parents=True, exist_ok=True)
        database = Database(path)
        try:
            migrate(database)
        except BaseException:
            database.close()
            raise
        return cls(database)

    def close(self) -> None:
        self.database.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write inside commits together, or none does."""
        with self.database.transaction():
            yield


__all__ = [
    "SCHEMA_VERSION",
    "FailureRow",
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
]

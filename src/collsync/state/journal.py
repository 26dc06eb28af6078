"""The journal: every write to Akinon, as an intent before it is sent and an outcome after.

An intent left open (a crash, a lost answer) is resolved by reading Akinon before anything
touches that record again: see ``pipeline.resolve``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from collsync.state.database import json_text, now_iso

if TYPE_CHECKING:
    from collections.abc import Sequence

    from collsync.state.database import Database


class Write(StrEnum):
    """The journaled calls."""

    CREATE = "create"
    UPDATE = "update"
    ADD_ITEM = "add_item"
    REMOVE_ITEM = "remove_item"
    DELETE = "delete"


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    """Answered: done."""
    ADOPTED = "adopted"
    """The answer was lost; reading Akinon showed it done."""
    ABANDONED = "abandoned"
    """The answer was lost; reading Akinon showed it not done (a plan may send it again)."""
    SUPERSEDED = "superseded"
    """Nothing to resolve any more (the record was settled another way)."""
    FAILED = "failed"
    """A clean refusal: nothing changed."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    operation: Write
    source_id: str
    product_pk: int | None
    payload: dict[str, Any]
    run_id: int | None = None


class Journal:
    def __init__(self, database: Database) -> None:
        self._db = database

    def intend(
        self,
        run_id: int,
        operation: Write,
        source_id: str,
        payload: dict[str, Any],
        product_pk: int | None = None,
    ) -> int:
        """Commit the intent to send a call, before it is sent."""
        return self.intend_many(run_id, operation, source_id, [(payload, product_pk)])[0]

    def intend_many(
        self,
        run_id: int,
        operation: Write,
        source_id: str,
        calls: Sequence[tuple[dict[str, Any], int | None]],
    ) -> list[int]:
        """Several intents in one transaction (``(payload, product_pk)`` each)."""
        created = now_iso()
        ids: list[int] = []
        with self._db.transaction() as conn:
            for payload, product_pk in calls:
                cursor = conn.execute(
                    "INSERT INTO journal (run_id, operation, source_id, product_pk, payload,"
                    " state, created_at) VALUES (?, ?, ?, ?, ?, 'intent', ?)",
                    (run_id, operation.value, source_id, product_pk, json_text(payload), created),
                )
                ids.append(int(cursor.lastrowid or 0))
        return ids

    def close(
        self, entry_id: int, outcome: Outcome, result: Any = None, *, at: str | None = None
    ) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE journal SET state = ?, resolved_at = ?, result = ? WHERE id = ?",
                (outcome.value, at or now_iso(), json_text(result), entry_id),
            )

    def open_intents(self, operation: Write | None = None) -> list[JournalEntry]:
        query = (
            "SELECT id, operation, source_id, product_pk, payload, run_id FROM journal"
            " WHERE state = 'intent'"
        )
        args: tuple[Any, ...] = ()
        if operation is not None:
            query += " AND operation = ?"
            args = (operation.value,)
        rows = self._db.conn.execute(query + " ORDER BY id", args).fetchall()
        return [JournalEntry(r[0], Write(r[1]), r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def count_open(self) -> int:
        return int(self._db.scalar("SELECT COUNT(*) FROM journal WHERE state = 'intent'"))

"""Runs (what each command did) and checkpoints (where a run stopped)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collsync.state.database import now_iso

if TYPE_CHECKING:
    from collsync.state.database import Database


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    command: str
    status: str
    """``running``, ``done``, ``interrupted`` or ``failed``."""
    started_at: str
    finished_at: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def unfinished(self) -> bool:
        return self.status in ("running", "interrupted", "failed")


class Runs:
    def __init__(self, database: Database) -> None:
        self._db = database

    def start(self, command: str, filters: dict[str, Any]) -> int:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (command, status, started_at, pid, filters) VALUES (?,?,?,?,?)",
                (command, "running", now_iso(), os.getpid(), json.dumps(filters, sort_keys=True)),
            )
            return int(cursor.lastrowid or 0)

    def last(self, command: str) -> RunRecord | None:
        rows = self._select("WHERE command = ? ORDER BY id DESC LIMIT 1", (command,))
        return rows[0] if rows else None

    def get(self, run_id: int) -> RunRecord | None:
        rows = self._select("WHERE id = ?", (run_id,))
        return rows[0] if rows else None

    def recent(self, limit: int = 10) -> list[RunRecord]:
        return self._select("ORDER BY id DESC LIMIT ?", (limit,))

    def resume(self, run_id: int) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = 'running', pid = ? WHERE id = ?", (os.getpid(), run_id)
            )

    def finish(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
                (status, now_iso(), json.dumps(summary, sort_keys=True), run_id),
            )

    def _select(self, where: str, args: tuple[Any, ...]) -> list[RunRecord]:
        rows = self._db.conn.execute(
            "SELECT id, command, status, started_at, finished_at, filters, summary FROM runs "
            + where,
            args,
        ).fetchall()
        return [
            RunRecord(
                id=int(r[0]),
                command=r[1],
                status=r[2],
                started_at=r[3],
                finished_at=r[4],
                filters=json.loads(r[5] or "{}"),
                summary=json.loads(r[6] or "{}"),
            )
            for r in rows
        ]


class Checkpoints:
    """Named JSON values a run saves as it goes (``extract.collections``, ``sync.watermark``)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def get(self, name: str) -> Any:
        value = self._db.scalar("SELECT value FROM checkpoints WHERE name = ?", (name,))
        return None if value is None else json.loads(value)

    def set(self, name: str, value: Any, run_id: int) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints (name, value, run_id, updated_at)"
                " VALUES (?,?,?,?)",
                (name, json.dumps(value, sort_keys=True), run_id, now_iso()),
            )

    def clear(self, prefix: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM checkpoints WHERE name LIKE ?", (prefix + "%",))

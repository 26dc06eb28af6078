"""Failures: every record that did not make it, why, and when it is tried again."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collsync.state.database import now_iso, stored_text

if TYPE_CHECKING:
    from collections.abc import Iterable

    from collsync.pipeline.models import Failure
    from collsync.state.database import Database

RETRIED_STAGES = ("load", "transform", "verify")
"""Failures of these stages name a collection that a later sync tries again."""


@dataclass(frozen=True, slots=True)
class FailureRow:
    record_id: str
    stage: str
    kind: str
    reason: str
    raw: str | None
    attempts: int
    first_at: str
    last_at: str
    run_id: int | None
    resolved: bool
    retry_at: float | None
    parked: bool
    acked_at: str | None = None
    """When a person accepted it (``failures --ack``): still listed, no longer retried, and no
    longer a reason for exit code 3."""
    ack_reason: str | None = None


class Failures:
    def __init__(self, database: Database) -> None:
        self._db = database

    def record(self, failure: Failure, run_id: int | None) -> None:
        stamp = now_iso()
        raw = failure.raw
        with self._db.transaction() as conn:
            # An acknowledgement holds while the failure says the same; a changed one (the
            # record changed in the store, another reason) is news again.
            conn.execute(
                "INSERT INTO failures (record_id, stage, kind, reason, raw, first_at, last_at,"
                " run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id, stage) DO UPDATE"
                " SET acked_at = CASE WHEN resolved = 0 AND kind = excluded.kind"
                " AND reason = excluded.reason AND raw IS excluded.raw THEN acked_at END,"
                " kind = excluded.kind, reason = excluded.reason, raw = excluded.raw,"
                " attempts = attempts + 1, last_at = excluded.last_at, run_id = excluded.run_id,"
                " resolved = 0",
                (
                    stored_text(failure.record_id),
                    failure.stage,
                    failure.kind,
                    stored_text(failure.reason),
                    None
                    if raw is None
                    else stored_text(json.dumps(raw, ensure_ascii=False, default=str)),
                    stamp,
                    stamp,
                    run_id,
                ),
            )

    def schedule_retries(self, run_id: int, *, backoff: float, limit: int) -> None:
        """Give this run's new failures a retry time (doubling per attempt); park the hopeless."""
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE failures SET parked = CASE WHEN attempts >= ? THEN 1 ELSE 0 END,"
                " retry_at = CASE WHEN attempts >= ? THEN NULL"
                " ELSE ? + ? * (1 << MIN(attempts - 1, 20)) END"
                " WHERE run_id = ? AND resolved = 0",
                (limit, limit, time.time(), backoff, run_id),
            )

    def due(self, *, force: bool = False) -> list[str]:
        """Collections whose failures are due for another try (``force``: parked ones too)."""
        stages = ", ".join(f"'{s}'" for s in RETRIED_STAGES)
        rows = self._db.conn.execute(
            "SELECT DISTINCT record_id FROM failures WHERE resolved = 0 AND acked_at IS NULL"
            f" AND stage IN ({stages})"
            + ("" if force else " AND parked = 0 AND (retry_at IS NULL OR retry_at <= ?)"),
            () if force else (time.time(),),
        ).fetchall()
        return sorted({str(r[0]).split("/", 1)[0] for r in rows})

    def unpark(self) -> int:
        """Make every open failure due now (``collsync failures --retry``)."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE failures SET parked = 0, retry_at = ? WHERE resolved = 0", (time.time(),)
            )
            return cursor.rowcount

    def resolve(self, record_id: str, stages: Iterable[str] | None = None) -> None:
        with self._db.transaction() as conn:
            if stages is None:
                conn.execute("UPDATE failures SET resolved = 1 WHERE record_id = ?", (record_id,))
            else:
                conn.executemany(
                    "UPDATE failures SET resolved = 1 WHERE record_id = ? AND stage = ?",
                    [(record_id, s) for s in stages],
                )

    def resolve_stale(self, stages: Iterable[str], run_id: int) -> None:
        """Failures of these stages that this run did not record again are gone."""
        with self._db.transaction() as conn:
            conn.executemany(
                "UPDATE failures SET resolved = 1 WHERE resolved = 0 AND stage = ?"
                " AND (run_id IS NULL OR run_id != ?)",
                [(stage, run_id) for stage in stages],
            )

    def acknowledge(
        self, *, records: Iterable[str] = (), kind: str | None = None, reason: str = ""
    ) -> int:
        """Accept the open failures of ``records`` (or of ``kind``); how many were."""
        stamp = now_iso()
        with self._db.transaction() as conn:
            if kind is not None:
                cursor = conn.execute(
                    "UPDATE failures SET acked_at = ?, ack_reason = ?"
                    " WHERE resolved = 0 AND acked_at IS NULL AND kind = ?",
                    (stamp, reason, kind),
                )
                return cursor.rowcount
            total = 0
            for record in records:
                cursor = conn.execute(
                    "UPDATE failures SET acked_at = ?, ack_reason = ? WHERE resolved = 0"
                    " AND acked_at IS NULL AND (record_id = ? OR record_id LIKE ? ESCAPE '\\')",
                    (stamp, reason, record, _like_prefix(record) + "/%"),
                )
                total += cursor.rowcount
            return total

    def is_open(self, record_id: str, stage: str) -> bool:
        return (
            self._db.scalar(
                "SELECT 1 FROM failures WHERE record_id = ? AND stage = ? AND resolved = 0",
                (record_id, stage),
            )
            is not None
        )

    def listed(self, *, include_resolved: bool = False) -> list[FailureRow]:
        rows = self._db.conn.execute(
            "SELECT record_id, stage, kind, reason, raw, attempts, first_at, last_at, run_id,"
            " resolved, retry_at, parked, acked_at, ack_reason FROM failures"
            + ("" if include_resolved else " WHERE resolved = 0")
            + " ORDER BY last_at, record_id"
        ).fetchall()
        return [
            FailureRow(
                record_id=r[0],
                stage=r[1],
                kind=r[2],
                reason=r[3],
                raw=r[4],
                attempts=r[5],
                first_at=r[6],
                last_at=r[7],
                run_id=r[8],
                resolved=bool(r[9]),
                retry_at=r[10],
                parked=bool(r[11]),
                acked_at=r[12],
                ack_reason=r[13],
            )
            for r in rows
        ]

    def count_open(self, run_id: int | None = None) -> int:
        """Open failures nobody acknowledged (of run ``run_id``, or all)."""
        query = "SELECT COUNT(*) FROM failures WHERE resolved = 0 AND acked_at IS NULL"
        if run_id is None:
            return int(self._db.scalar(query))
        return int(self._db.scalar(query + " AND run_id = ?", (run_id,)))

    def count_acknowledged(self) -> int:
        return int(
            self._db.scalar(
                "SELECT COUNT(*) FROM failures WHERE resolved = 0 AND acked_at IS NOT NULL"
            )
        )


def _like_prefix(text: str) -> str:
    """``text`` as a literal in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

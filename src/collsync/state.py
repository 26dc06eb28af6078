"""The SQLite state file: schema and migrations, the run lock, staging, the maps, journal, failures.

One file (WAL mode) holds everything a run needs to resume after a crash. Each confirmation of a
journaled call is one transaction together with the map row it produces, so the state never says
"sent" without saying what came of it, nor "mapped" without the journal agreeing.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pydantic_core
import sqlite_utils

from collsync.errors import LockHeldError
from collsync.logging import get_logger
from collsync.text import escape_surrogates

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path

log = get_logger("collsync.state")

SCHEMA_VERSION = 1

_MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE lock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL, host TEXT NOT NULL, command TEXT NOT NULL, since REAL NOT NULL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        command TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL,
        finished_at TEXT, pid INTEGER, filters TEXT, summary TEXT
    );
    CREATE TABLE checkpoints (
        name TEXT PRIMARY KEY, value TEXT NOT NULL, run_id INTEGER, updated_at TEXT NOT NULL
    );
    CREATE TABLE staged_collections (
        source_id TEXT PRIMARY KEY, slug TEXT, name TEXT, createdon TEXT,
        raw TEXT NOT NULL, content_hash TEXT NOT NULL, valid INTEGER NOT NULL,
        generation INTEGER NOT NULL, position INTEGER NOT NULL
    );
    CREATE INDEX staged_collections_generation ON staged_collections (generation, position);
    CREATE TABLE staged_items (
        collection_id TEXT NOT NULL, sku TEXT NOT NULL, product_source_id TEXT,
        name TEXT, note TEXT NOT NULL DEFAULT '', generation INTEGER NOT NULL,
        PRIMARY KEY (collection_id, sku)
    );
    CREATE TABLE product_map (sku TEXT PRIMARY KEY, product_pk INTEGER NOT NULL);
    CREATE TABLE collection_map (
        source_id TEXT PRIMARY KEY, source_slug TEXT, akinon_pk INTEGER NOT NULL UNIQUE,
        akinon_slug TEXT, public_url TEXT, owner TEXT, synced_hash TEXT, updated_at TEXT NOT NULL
    );
    CREATE TABLE item_map (
        source_id TEXT NOT NULL, product_pk INTEGER NOT NULL, akinon_item_pk INTEGER NOT NULL,
        note TEXT NOT NULL DEFAULT '', PRIMARY KEY (source_id, product_pk)
    );
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER, operation TEXT NOT NULL, source_id TEXT NOT NULL,
        product_pk INTEGER, payload TEXT NOT NULL, state TEXT NOT NULL,
        created_at TEXT NOT NULL, resolved_at TEXT, result TEXT
    );
    CREATE INDEX journal_open ON journal (state, operation);
    CREATE TABLE failures (
        record_id TEXT NOT NULL, stage TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,
        raw TEXT, attempts INTEGER NOT NULL DEFAULT 1, first_at TEXT NOT NULL,
        last_at TEXT NOT NULL, run_id INTEGER, resolved INTEGER NOT NULL DEFAULT 0,
        retry_at REAL, parked INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (record_id, stage)
    );
    CREATE TABLE target_collections (
        pk INTEGER PRIMARY KEY, name TEXT NOT NULL, slug TEXT, status TEXT, public_url TEXT
    );
    CREATE INDEX target_collections_name ON target_collections (name);
    CREATE TABLE target_items (
        item_pk INTEGER PRIMARY KEY, collection_pk INTEGER NOT NULL,
        product_pk INTEGER NOT NULL, note TEXT NOT NULL DEFAULT '', sku TEXT
    );
    CREATE INDEX target_items_collection ON target_items (collection_pk);
    """,
]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


@dataclass(frozen=True, slots=True)
class MapEntry:
    source_id: str
    source_slug: str | None
    akinon_pk: int
    akinon_slug: str | None
    public_url: str | None
    synced_hash: str | None


@dataclass(frozen=True, slots=True)
class ItemConfirmation:
    """An answered add-item: the item Akinon holds, and the intent it closes."""

    entry_id: int
    product_pk: int
    item_pk: int
    note: str
    outcome: str


def _json_text(value: Any) -> str:
    """``value`` as JSON text for the journal: pydantic-core's serialiser, five times faster
    than the standard one on every request; the standard one (which escapes) for text UTF-8
    cannot hold, such as a lone surrogate decoded from an answer's escape."""
    try:
        return pydantic_core.to_json(value, fallback=str).decode()
    except pydantic_core.PydanticSerializationError:
        return json.dumps(value, default=str)


def _escaped(*texts: str | None) -> tuple[str | None, ...]:
    return tuple(None if t is None else escape_surrogates(t) for t in texts)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    operation: str
    source_id: str
    product_pk: int | None
    payload: dict[str, Any]


class State:
    """The state file. Open with :meth:`open`; every method commits what it changes."""

    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: Path) -> State:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=5.0, isolation_level=None)
        db = sqlite_utils.Database(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        conn.execute("PRAGMA foreign_keys=ON")
        state = cls(db, path)
        state._migrate()
        return state

    def close(self) -> None:
        self.db.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together, or nothing does."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        version = int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            from collsync.errors import ConfigError

            raise ConfigError(
                f"state.path: {self.path} was written by a newer collsync "
                f"(schema {version}, this one knows {SCHEMA_VERSION}); upgrade collsync"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction() as conn:
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
            log.info("collsync.state.migrated", path=str(self.path), version=number + 1)

    # -- lock -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, command: str, *, stale_after: float = 3600.0) -> Iterator[None]:
        """Hold the run lock; raise :class:`LockHeldError` naming the holder if it is taken."""
        me, host = os.getpid(), socket.gethostname()
        with self.transaction() as conn:
            row = conn.execute("SELECT pid, host, command, since FROM lock").fetchone()
            if row is not None:
                pid, holder_host, holder_command, since = row
                age = time.time() - since
                dead = holder_host == host and not _pid_alive(pid)
                if not dead and age < stale_after and pid != me:
                    started = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
                    raise LockHeldError(
                        f"{self.path} is in use by `collsync {holder_command}` "
                        f"(pid {pid} on {holder_host}, since {started})"
                    )
                log.warning(
                    "collsync.state.stale_lock_taken_over",
                    pid=pid,
                    host=holder_host,
                    command=holder_command,
                    reason="process gone" if dead else f"older than {stale_after:.0f}s",
                )
            conn.execute(
                "INSERT OR REPLACE INTO lock (id, pid, host, command, since)"
                " VALUES (1, ?, ?, ?, ?)",
                (me, host, command, time.time()),
            )
        try:
            yield
        finally:
            with self.transaction() as conn:
                conn.execute("DELETE FROM lock WHERE pid = ?", (me,))

    # -- runs and checkpoints -------------------------------------------------------------------

    def start_run(self, command: str, filters: dict[str, Any]) -> int:
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (command, status, started_at, pid, filters) VALUES (?,?,?,?,?)",
                (command, "running", now_iso(), os.getpid(), json.dumps(filters, sort_keys=True)),
            )
            return int(cursor.lastrowid or 0)

    def unfinished_run(self, command: str) -> dict[str, Any] | None:
        """The last run of ``command`` if it never finished (crashed or interrupted)."""
        row = self.db.conn.execute(
            "SELECT id, status, filters FROM runs WHERE command = ? ORDER BY id DESC LIMIT 1",
            (command,),
        ).fetchone()
        if row is None or row[1] not in ("running", "interrupted", "failed"):
            return None
        return {"id": row[0], "status": row[1], "filters": json.loads(row[2] or "{}")}

    def resume_run(self, run_id: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = 'running', pid = ? WHERE id = ?", (os.getpid(), run_id)
            )

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
                (status, now_iso(), json.dumps(summary, sort_keys=True), run_id),
            )

    def runs(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.db.conn.execute(
            "SELECT id, command, status, started_at, finished_at, summary FROM runs "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        keys = ("id", "command", "status", "started_at", "finished_at", "summary")
        return [
            {**dict(zip(keys, row, strict=True)), "summary": json.loads(row[5] or "{}")}
            for row in rows
        ]

    def checkpoint(self, name: str) -> Any:
        row = self.db.conn.execute(
            "SELECT value FROM checkpoints WHERE name = ?", (name,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def set_checkpoint(self, name: str, value: Any, run_id: int, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO checkpoints (name, value, run_id, updated_at) VALUES (?,?,?,?)",
            (name, json.dumps(value, sort_keys=True), run_id, now_iso()),
        )

    def clear_checkpoints(self, prefix: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM checkpoints WHERE name LIKE ?", (prefix + "%",))

    # -- staging --------------------------------------------------------------------------------

    def next_generation(self) -> int:
        row = self.db.conn.execute("SELECT MAX(generation) FROM staged_collections").fetchone()
        return int(row[0] or 0) + 1

    def stage_collections(self, rows: Iterable[dict[str, Any]], conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO staged_collections (source_id, slug, name, createdon, raw, content_hash,"
            " valid, generation, position) VALUES (:source_id, :slug, :name, :createdon, :raw,"
            " :content_hash, :valid, :generation, :position)"
            " ON CONFLICT (source_id) DO UPDATE SET slug = excluded.slug, name = excluded.name,"
            " createdon = excluded.createdon, raw = excluded.raw,"
            " content_hash = excluded.content_hash, valid = excluded.valid,"
            " generation = excluded.generation, position = excluded.position",
            list(rows),
        )

    def staged_count(self, generation: int) -> int:
        row = self.db.conn.execute(
            "SELECT COUNT(*) FROM staged_collections WHERE generation = ?", (generation,)
        ).fetchone()
        return int(row[0])

    def stage_items(self, rows: Iterable[dict[str, Any]], conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO staged_items (collection_id, sku, product_source_id, name, note,"
            " generation) VALUES (:collection_id, :sku, :product_source_id, :name, :note,"
            " :generation) ON CONFLICT (collection_id, sku) DO UPDATE SET"
            " product_source_id = excluded.product_source_id, name = excluded.name,"
            " note = excluded.note, generation = excluded.generation",
            list(rows),
        )

    def iter_staged(self, generation: int, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Valid staged collections of a generation, in store order, a batch at a time."""
        last = -1
        taken = 0
        while True:
            batch = self.db.conn.execute(
                "SELECT source_id, raw, content_hash, position FROM staged_collections"
                " WHERE generation = ? AND valid = 1 AND position > ? ORDER BY position LIMIT 500",
                (generation, last),
            ).fetchall()
            if not batch:
                return
            for source_id, raw, content_hash, position in batch:
                if limit is not None and taken >= limit:
                    return
                taken += 1
                last = position
                yield {"source_id": source_id, "raw": json.loads(raw), "hash": content_hash}

    def staged_items_of(self, collection_id: str, generation: int) -> list[dict[str, Any]]:
        """A collection's staged items, each with the Akinon product its SKU maps to (or None):
        one query for the collection instead of one per item."""
        rows = self.db.conn.execute(
            "SELECT s.sku, s.product_source_id, s.name, s.note, p.product_pk"
            " FROM staged_items s LEFT JOIN product_map p ON p.sku = s.sku"
            " WHERE s.collection_id = ? AND s.generation = ? ORDER BY s.sku",
            (collection_id, generation),
        ).fetchall()
        return [
            {"sku": r[0], "product_source_id": r[1], "name": r[2], "note": r[3], "product_pk": r[4]}
            for r in rows
        ]

    # -- products -------------------------------------------------------------------------------

    def replace_product_map(self, pairs: Iterable[tuple[str, int]]) -> int:
        with self.transaction() as conn:
            conn.execute("DELETE FROM product_map")
            conn.executemany("INSERT INTO product_map (sku, product_pk) VALUES (?, ?)", pairs)
            return int(conn.execute("SELECT COUNT(*) FROM product_map").fetchone()[0])

    # -- target read-back -----------------------------------------------------------------------

    def insert_target(self, conn: sqlite3.Connection, collection: Any) -> None:
        """Record an Akinon collection (with its items) as read back.

        Text is stored with any unpaired surrogate escaped: JSON can carry one, SQLite cannot,
        and no source record (refused at extract) can match it anyway."""
        c = collection
        conn.execute(
            "INSERT OR REPLACE INTO target_collections VALUES (?, ?, ?, ?, ?)",
            (c.pk, *_escaped(c.name, c.slug), c.status, *_escaped(c.public_url)),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO target_items VALUES (?, ?, ?, ?, ?)",
            [(i.pk, c.pk, i.product.pk, *_escaped(i.note or "", i.product.sku)) for i in c.items],
        )

    def upsert_target(self, collection: Any) -> None:
        """Keep the read-back copy in step with a change collsync made itself."""
        with self.transaction() as conn:
            self.replace_target(conn, collection)

    def replace_target(self, conn: sqlite3.Connection, collection: Any) -> None:
        """:meth:`upsert_target` inside the caller's transaction."""
        conn.execute("DELETE FROM target_items WHERE collection_pk = ?", (collection.pk,))
        self.insert_target(conn, collection)

    def target_collection(self, pk: int) -> dict[str, Any] | None:
        row = self.db.conn.execute(
            "SELECT pk, name, slug, status, public_url FROM target_collections WHERE pk = ?", (pk,)
        ).fetchone()
        if row is None:
            return None
        items = self.db.conn.execute(
            "SELECT item_pk, product_pk, note, sku FROM target_items WHERE collection_pk = ?"
            " ORDER BY item_pk",
            (pk,),
        ).fetchall()
        keys = ("pk", "name", "slug", "status", "public_url")
        return {**dict(zip(keys, row, strict=True)), "items": [tuple(i) for i in items]}

    def unmapped_target_named(self, name: str, source_id: str) -> list[int]:
        """Akinon collections named ``name`` that no other source collection is mapped to."""
        rows = self.db.conn.execute(
            "SELECT t.pk FROM target_collections t LEFT JOIN collection_map m"
            " ON m.akinon_pk = t.pk WHERE t.name = ? AND (m.source_id IS NULL OR m.source_id = ?)"
            " ORDER BY t.pk",
            (name, source_id),
        ).fetchall()
        return [int(r[0]) for r in rows]

    # -- the id map -----------------------------------------------------------------------------

    def mapped(self, source_id: str) -> MapEntry | None:
        row = self.db.conn.execute(
            "SELECT source_id, source_slug, akinon_pk, akinon_slug, public_url, synced_hash"
            " FROM collection_map WHERE source_id = ?",
            (source_id,),
        ).fetchone()
        return MapEntry(*row) if row else None

    def map_collection(
        self,
        conn: sqlite3.Connection,
        *,
        source_id: str,
        source_slug: str,
        pk: int,
        slug: str | None,
        public_url: str | None,
        owner: str | None,
    ) -> None:
        """Map a source collection to a (new) Akinon collection; its old item map goes."""
        conn.execute("DELETE FROM item_map WHERE source_id = ?", (source_id,))
        conn.execute(
            "INSERT OR REPLACE INTO collection_map (source_id, source_slug, akinon_pk,"
            " akinon_slug, public_url, owner, synced_hash, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
            (source_id, source_slug, pk, slug, public_url, owner, now_iso()),
        )

    def settle_collection(
        self,
        source_id: str,
        content_hash: str,
        collection: Any | None,
        confirmed: Sequence[ItemConfirmation] = (),
    ) -> None:
        """A collection's load is done: its added items mapped and their intents closed, the
        content it now matches recorded, its earlier load failures resolved, in one transaction.

        A collection that was in step already (a no-op rerun) is not written at all.
        """
        conn = self.db.conn
        if not confirmed and collection is None:
            synced = conn.execute(
                "SELECT synced_hash FROM collection_map WHERE source_id = ?", (source_id,)
            ).fetchone()
            failed = conn.execute(
                "SELECT 1 FROM failures WHERE record_id = ? AND stage = 'load' AND resolved = 0",
                (source_id,),
            ).fetchone()
            if synced is not None and synced[0] == content_hash and failed is None:
                return
        with self.transaction() as conn:
            self._confirm_items(conn, source_id, confirmed)
            if collection is not None:
                conn.execute(
                    "UPDATE collection_map SET akinon_slug = ?, public_url = ?, synced_hash = ?,"
                    " updated_at = ? WHERE source_id = ?",
                    (collection.slug, collection.public_url, content_hash, now_iso(), source_id),
                )
            else:
                conn.execute(
                    "UPDATE collection_map SET synced_hash = ?, updated_at = ? WHERE source_id = ?",
                    (content_hash, now_iso(), source_id),
                )
            self._resolve_failures(conn, source_id, ["load"])

    def unmap_collection(self, source_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM item_map WHERE source_id = ?", (source_id,))
            conn.execute("DELETE FROM collection_map WHERE source_id = ?", (source_id,))

    def mapped_not_staged(self, generation: int) -> list[tuple[str, int, str | None]]:
        """Mapped collections the store no longer has (absent from a full extract)."""
        rows = self.db.conn.execute(
            "SELECT m.source_id, m.akinon_pk, m.source_slug FROM collection_map m"
            " LEFT JOIN staged_collections s ON s.source_id = m.source_id AND s.generation = ?"
            " WHERE s.source_id IS NULL ORDER BY m.source_slug",
            (generation,),
        ).fetchall()
        return [(str(r[0]), int(r[1]), r[2]) for r in rows]

    def mapped_pks(self, *, excluding: str) -> set[int]:
        """Akinon pks mapped to any source collection but ``excluding``."""
        rows = self.db.conn.execute(
            "SELECT akinon_pk FROM collection_map WHERE source_id != ?", (excluding,)
        ).fetchall()
        return {int(r[0]) for r in rows}

    def items_mapped(self, source_id: str) -> dict[int, tuple[int, str]]:
        rows = self.db.conn.execute(
            "SELECT product_pk, akinon_item_pk, note FROM item_map WHERE source_id = ?",
            (source_id,),
        ).fetchall()
        return {int(r[0]): (int(r[1]), r[2]) for r in rows}

    def map_item(
        self, conn: sqlite3.Connection, source_id: str, product_pk: int, item_pk: int, note: str
    ) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO item_map (source_id, product_pk, akinon_item_pk, note)"
            " VALUES (?, ?, ?, ?)",
            (source_id, product_pk, item_pk, note),
        )

    def unmap_item(self, source_id: str, product_pk: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM item_map WHERE source_id = ? AND product_pk = ?",
                (source_id, product_pk),
            )

    def map_counts(self) -> dict[str, int]:
        conn = self.db.conn
        return {
            "collections": int(conn.execute("SELECT COUNT(*) FROM collection_map").fetchone()[0]),
            "items": int(conn.execute("SELECT COUNT(*) FROM item_map").fetchone()[0]),
            "products": int(conn.execute("SELECT COUNT(*) FROM product_map").fetchone()[0]),
            "staged": int(conn.execute("SELECT COUNT(*) FROM staged_collections").fetchone()[0]),
        }

    # -- the journal ----------------------------------------------------------------------------

    def journal_intent(
        self,
        run_id: int,
        operation: str,
        source_id: str,
        payload: dict[str, Any],
        product_pk: int | None = None,
    ) -> int:
        """Commit the intent to send a non-idempotent call, before it is sent."""
        return self.journal_intents(run_id, operation, source_id, [(payload, product_pk)])[0]

    def journal_intents(
        self,
        run_id: int,
        operation: str,
        source_id: str,
        calls: Sequence[tuple[dict[str, Any], int | None]],
    ) -> list[int]:
        """Commit several intents in one transaction (``(payload, product_pk)`` each)."""
        created = now_iso()
        ids: list[int] = []
        with self.transaction() as conn:
            for payload, product_pk in calls:
                cursor = conn.execute(
                    "INSERT INTO journal (run_id, operation, source_id, product_pk, payload,"
                    " state, created_at) VALUES (?, ?, ?, ?, ?, 'intent', ?)",
                    (
                        run_id,
                        operation,
                        source_id,
                        product_pk,
                        _json_text(payload),
                        created,
                    ),
                )
                ids.append(int(cursor.lastrowid or 0))
        return ids

    def confirm_items(self, source_id: str, confirmed: Sequence[ItemConfirmation]) -> None:
        """Map added items and close their intents, all in one transaction (when a collection
        stops short; a finished one's go with :meth:`settle_collection`)."""
        if not confirmed:
            return
        with self.transaction() as conn:
            self._confirm_items(conn, source_id, confirmed)

    def _confirm_items(
        self, conn: sqlite3.Connection, source_id: str, confirmed: Sequence[ItemConfirmation]
    ) -> None:
        stamp = now_iso()  # one commit, one time
        for c in confirmed:
            self.map_item(conn, source_id, c.product_pk, c.item_pk, c.note)
            self.journal_close(conn, c.entry_id, c.outcome, {"pk": c.item_pk}, at=stamp)

    def journal_close(
        self,
        conn: sqlite3.Connection,
        entry_id: int,
        state: str,
        result: Any = None,
        *,
        at: str | None = None,
    ) -> None:
        conn.execute(
            "UPDATE journal SET state = ?, resolved_at = ?, result = ? WHERE id = ?",
            (state, at or now_iso(), _json_text(result), entry_id),
        )

    def open_intents(self, operation: str | None = None) -> list[JournalEntry]:
        query = (
            "SELECT id, operation, source_id, product_pk, payload FROM journal"
            " WHERE state = 'intent'"
        )
        args: tuple[Any, ...] = ()
        if operation:
            query += " AND operation = ?"
            args = (operation,)
        rows = self.db.conn.execute(query + " ORDER BY id", args).fetchall()
        return [JournalEntry(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    # -- failures -------------------------------------------------------------------------------

    def record_failure(
        self,
        record_id: str,
        stage: str,
        kind: str,
        reason: str,
        raw: Any = None,
        run_id: int | None = None,
    ) -> None:
        stamp = now_iso()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO failures (record_id, stage, kind, reason, raw, first_at, last_at,"
                " run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id, stage) DO UPDATE"
                " SET kind = excluded.kind, reason = excluded.reason, raw = excluded.raw,"
                " attempts = attempts + 1, last_at = excluded.last_at, run_id = excluded.run_id,"
                " resolved = 0",
                (
                    escape_surrogates(record_id),
                    stage,
                    kind,
                    escape_surrogates(reason),
                    None
                    if raw is None
                    else escape_surrogates(json.dumps(raw, ensure_ascii=False, default=str)),
                    stamp,
                    stamp,
                    run_id,
                ),
            )

    def schedule_retries(self, run_id: int, *, backoff: float, limit: int) -> None:
        """Give this run's new failures a retry time (doubling per attempt); park the hopeless."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE failures SET parked = CASE WHEN attempts >= ? THEN 1 ELSE 0 END,"
                " retry_at = CASE WHEN attempts >= ? THEN NULL"
                " ELSE ? + ? * (1 << MIN(attempts - 1, 20)) END"
                " WHERE run_id = ? AND resolved = 0",
                (limit, limit, time.time(), backoff, run_id),
            )

    def due_failures(self, *, force: bool = False) -> list[str]:
        """Collections whose failures are due for another try (``force``: parked ones too)."""
        rows = self.db.conn.execute(
            "SELECT DISTINCT record_id FROM failures WHERE resolved = 0"
            " AND stage IN ('load', 'transform')"
            + ("" if force else " AND parked = 0 AND (retry_at IS NULL OR retry_at <= ?)"),
            () if force else (time.time(),),
        ).fetchall()
        return sorted({str(r[0]).split("/", 1)[0] for r in rows})

    def unpark_failures(self) -> int:
        """Make every open failure due now (``collsync failures --retry``)."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE failures SET parked = 0, retry_at = ? WHERE resolved = 0", (time.time(),)
            )
            return cursor.rowcount

    def resolve_failures(self, record_id: str, stages: Iterable[str] | None = None) -> None:
        with self.transaction() as conn:
            self._resolve_failures(conn, record_id, stages)

    def _resolve_failures(
        self, conn: sqlite3.Connection, record_id: str, stages: Iterable[str] | None
    ) -> None:
        if stages is None:
            conn.execute("UPDATE failures SET resolved = 1 WHERE record_id = ?", (record_id,))
        else:
            conn.executemany(
                "UPDATE failures SET resolved = 1 WHERE record_id = ? AND stage = ?",
                [(record_id, s) for s in stages],
            )

    def failures(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        query = (
            "SELECT record_id, stage, kind, reason, raw, attempts, first_at, last_at, run_id,"
            " resolved, retry_at, parked FROM failures"
        )
        if not include_resolved:
            query += " WHERE resolved = 0"
        rows = self.db.conn.execute(query + " ORDER BY last_at, record_id").fetchall()
        keys = (
            "record_id",
            "stage",
            "kind",
            "reason",
            "raw",
            "attempts",
            "first_at",
            "last_at",
            "run_id",
            "resolved",
            "retry_at",
            "parked",
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def resolve_stale_failures(self, stages: Iterable[str], run_id: int) -> None:
        """Failures of these stages that this run did not record again are gone."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE failures SET resolved = 1 WHERE resolved = 0 AND stage = ?"
                " AND (run_id IS NULL OR run_id != ?)",
                [(stage, run_id) for stage in stages],
            )

    def open_failures_of_run(self, run_id: int) -> int:
        row = self.db.conn.execute(
            "SELECT COUNT(*) FROM failures WHERE resolved = 0 AND run_id = ?", (run_id,)
        ).fetchone()
        return int(row[0])

"""The state's schema, built and migrated with sqlite-utils; its version is ``user_version``.

Each migration runs in its own transaction with the version it brings, so a state is always at
one version or the next, never between.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collsync.errors import ConfigError
from collsync.logging import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable

    import sqlite_utils

    from collsync.state.database import Database

log = get_logger("collsync.state")


def _first(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key", not_null={"value"})
    db.table("lock").create(
        {"id": int, "pid": int, "host": str, "command": str, "since": float},
        pk="id",
        not_null={"pid", "host", "command", "since"},
    )
    db.table("runs").create(
        {
            "id": int,
            "command": str,
            "status": str,
            "started_at": str,
            "finished_at": str,
            "pid": int,
            "filters": str,
            "summary": str,
        },
        pk="id",
        not_null={"command", "status", "started_at"},
    )
    db.table("checkpoints").create(
        {"name": str, "value": str, "run_id": int, "updated_at": str},
        pk="name",
        not_null={"value", "updated_at"},
    )
    db.table("staged_collections").create(
        {
            "source_id": str,
            "slug": str,
            "name": str,
            "createdon": str,
            "raw": str,
            "content_hash": str,
            "valid": int,
            "generation": int,
            "position": int,
        },
        pk="source_id",
        not_null={"raw", "content_hash", "valid", "generation", "position"},
    )
    db.table("staged_collections").create_index(["generation", "position"])
    db.table("staged_items").create(
        {
            "collection_id": str,
            "sku": str,
            "product_source_id": str,
            "name": str,
            "note": str,
            "generation": int,
        },
        pk=("collection_id", "sku"),
        not_null={"collection_id", "sku", "note", "generation"},
        defaults={"note": ""},
    )
    db.table("product_map").create(
        {"sku": str, "product_pk": int}, pk="sku", not_null={"product_pk"}
    )
    db.table("collection_map").create(
        {
            "source_id": str,
            "source_slug": str,
            "akinon_pk": int,
            "akinon_slug": str,
            "public_url": str,
            "owner": str,
            "synced_hash": str,
            "updated_at": str,
        },
        pk="source_id",
        not_null={"akinon_pk", "updated_at"},
    )
    db.table("collection_map").create_index(["akinon_pk"], unique=True)
    db.table("item_map").create(
        {"source_id": str, "product_pk": int, "akinon_item_pk": int, "note": str},
        pk=("source_id", "product_pk"),
        not_null={"source_id", "product_pk", "akinon_item_pk", "note"},
        defaults={"note": ""},
    )
    db.table("journal").create(
        {
            "id": int,
            "run_id": int,
            "operation": str,
            "source_id": str,
            "product_pk": int,
            "payload": str,
            "state": str,
            "created_at": str,
            "resolved_at": str,
            "result": str,
        },
        pk="id",
        not_null={"operation", "source_id", "payload", "state", "created_at"},
    )
    db.table("journal").create_index(["state", "operation"], index_name="journal_open")
    db.table("failures").create(
        {
            "record_id": str,
            "stage": str,
            "kind": str,
            "reason": str,
            "raw": str,
            "attempts": int,
            "first_at": str,
            "last_at": str,
            "run_id": int,
            "resolved": int,
            "retry_at": float,
            "parked": int,
        },
        pk=("record_id", "stage"),
        not_null={
            "record_id",
            "stage",
            "kind",
            "reason",
            "attempts",
            "first_at",
            "last_at",
            "resolved",
            "parked",
        },
        defaults={"attempts": 1, "resolved": 0, "parked": 0},
    )
    db.table("target_collections").create(
        {"pk": int, "name": str, "slug": str, "status": str, "public_url": str},
        pk="pk",
        not_null={"name"},
    )
    db.table("target_collections").create_index(["name"])
    db.table("target_items").create(
        {"item_pk": int, "collection_pk": int, "product_pk": int, "note": str, "sku": str},
        pk="item_pk",
        not_null={"collection_pk", "product_pk", "note"},
        defaults={"note": ""},
    )
    db.table("target_items").create_index(["collection_pk"])


def _created_run(db: sqlite_utils.Database) -> None:
    """Which run created each mapped collection (``rollback --run N``); NULL when collsync
    did not create it. Filled from the journal for collections mapped before."""
    db.table("collection_map").add_column("created_run", int)
    db.execute(
        "UPDATE collection_map SET created_run = (SELECT j.run_id FROM journal j"
        " WHERE j.operation = 'create' AND j.state IN ('confirmed', 'adopted')"
        " AND json_extract(j.result, '$.pk') = collection_map.akinon_pk"
        " ORDER BY j.id DESC LIMIT 1)"
    )


def _acknowledged(db: sqlite_utils.Database) -> None:
    """Failures a person has accepted (``collsync failures --ack``)."""
    failures = db.table("failures")
    failures.add_column("acked_at", str)
    failures.add_column("ack_reason", str)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_first, _created_run, _acknowledged]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(database: Database) -> None:
    """Bring the state to :data:`SCHEMA_VERSION`; refuse a state written by a newer collsync."""
    version = int(database.scalar("PRAGMA user_version"))
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"state.path: {database.path} was written by a newer collsync "
            f"(schema {version}, this one knows {SCHEMA_VERSION}); upgrade collsync"
        )
    for number in range(version, SCHEMA_VERSION):
        with database.transaction():
            MIGRATIONS[number](database.utils)
            database.conn.execute(f"PRAGMA user_version = {number + 1}")
    if version < SCHEMA_VERSION:
        # a new state is no news; an upgraded one is (an older collsync can no longer read it)
        (log.info if version else log.debug)(
            "collsync.state.migrated",
            path=str(database.path),
            from_version=version,
            version=SCHEMA_VERSION,
        )

"""Staging: the store's records as read, by generation, and their item memberships.

Each full read of the store is a generation; a record is upserted by id, so a page that shifts
during a long scan is harmless. Invalid records stay staged (``valid = 0``) so the store's count
adds up and a mirror never deletes what the store still has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collsync.pipeline.models import SourceItem

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from collsync.state.database import Database

BATCH = 500


@dataclass(frozen=True, slots=True)
class StagedRecord:
    """A store collection record as read (``valid``: it parsed; otherwise kept as raw)."""

    source_id: str
    raw: Any
    content_hash: str
    valid: bool
    position: int
    slug: str | None = None
    name: str | None = None
    createdon: str | None = None


@dataclass(frozen=True, slots=True)
class StagedCollection:
    source_id: str
    raw: dict[str, Any]
    content_hash: str


@dataclass(frozen=True, slots=True)
class Membership:
    """A store product listed in a collection (from the products API or the items file)."""

    collection_id: str
    sku: str
    product_source_id: str | None = None
    name: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class StagedItem:
    item: SourceItem
    product_pk: int | None
    """The Akinon product the SKU map gives the item's SKU, if any."""


class Staging:
    def __init__(self, database: Database) -> None:
        self._db = database

    def next_generation(self) -> int:
        return int(self._db.scalar("SELECT MAX(generation) FROM staged_collections") or 0) + 1

    def stage_collections(self, records: Iterable[StagedRecord], generation: int) -> None:
        rows = [
            {
                "source_id": r.source_id,
                "slug": r.slug,
                "name": r.name,
                "createdon": r.createdon,
                # valid records hold no unpaired surrogate; an invalid one may: ASCII escapes
                "raw": json.dumps(r.raw, ensure_ascii=not r.valid, sort_keys=True, default=str),
                "content_hash": r.content_hash,
                "valid": int(r.valid),
                "generation": generation,
                "position": r.position,
            }
            for r in records
        ]
        with self._db.transaction():
            self._db.utils.table("staged_collections").upsert_all(rows, pk="source_id")

    def stage_items(self, members: Iterable[Membership], generation: int) -> None:
        rows = [
            {
                "collection_id": m.collection_id,
                "sku": m.sku,
                "product_source_id": m.product_source_id,
                "name": m.name,
                "note": m.note,
                "generation": generation,
            }
            for m in members
        ]
        with self._db.transaction():
            self._db.utils.table("staged_items").upsert_all(rows, pk=("collection_id", "sku"))

    def count(self, generation: int) -> int:
        return int(
            self._db.scalar(
                "SELECT COUNT(*) FROM staged_collections WHERE generation = ?", (generation,)
            )
        )

    def count_all(self) -> int:
        return int(self._db.scalar("SELECT COUNT(*) FROM staged_collections"))

    def valid(self, generation: int, limit: int | None = None) -> Iterator[StagedCollection]:
        """Valid staged collections of a generation, in store order, a batch at a time."""
        last, taken = -1, 0
        while True:
            batch = self._db.conn.execute(
                "SELECT source_id, raw, content_hash, position FROM staged_collections"
                " WHERE generation = ? AND valid = 1 AND position > ? ORDER BY position LIMIT ?",
                (generation, last, BATCH),
            ).fetchall()
            if not batch:
                return
            for source_id, raw, content_hash, position in batch:
                if limit is not None and taken >= limit:
                    return
                taken += 1
                last = position
                yield StagedCollection(source_id, json.loads(raw), content_hash)

    def get(self, source_id: str, generation: int) -> StagedCollection | None:
        row = self._db.conn.execute(
            "SELECT raw, content_hash FROM staged_collections"
            " WHERE source_id = ? AND generation = ? AND valid = 1",
            (source_id, generation),
        ).fetchone()
        return None if row is None else StagedCollection(source_id, json.loads(row[0]), row[1])

    def items_of(self, collection_id: str, generation: int) -> list[StagedItem]:
        """A collection's staged items with the product each SKU maps to: one query."""
        rows = self._db.conn.execute(
            "SELECT s.sku, s.product_source_id, s.name, s.note, p.product_pk"
            " FROM staged_items s LEFT JOIN product_map p ON p.sku = s.sku"
            " WHERE s.collection_id = ? AND s.generation = ? ORDER BY s.sku",
            (collection_id, generation),
        ).fetchall()
        return [
            StagedItem(SourceItem(sku, product_id, name or "", note or ""), product_pk)
            for sku, product_id, name, note, product_pk in rows
        ]

    def ids_by_slug(self, generation: int) -> dict[str, str]:
        """Slug -> source id of the generation's valid collections (the items file names
        collections either way)."""
        rows = self._db.conn.execute(
            "SELECT slug, source_id FROM staged_collections WHERE generation = ? AND valid = 1",
            (generation,),
        ).fetchall()
        return {str(slug): str(source_id) for slug, source_id in rows}

    def newest_createdon(self) -> str | None:
        """The creation time of the newest valid record staged (the sync's watermark)."""
        value = self._db.scalar("SELECT MAX(createdon) FROM staged_collections WHERE valid = 1")
        return None if value is None else str(value)

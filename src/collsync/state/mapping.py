"""The id map: source collection <-> Akinon collection, the items collsync added, and the SKU map.

A source collection is mapped to one Akinon collection (by pk; ``akinon_pk`` is unique); its
items are the ones collsync added and confirmed. ``created_run`` names the run that created the
Akinon collection, so ``rollback`` deletes only what collsync created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collsync.state.database import now_iso
from collsync.state.readback import digest

if TYPE_CHECKING:
    from collections.abc import Iterable

    from collsync.state.database import Database


@dataclass(frozen=True, slots=True)
class MapEntry:
    source_id: str
    source_slug: str | None
    akinon_pk: int
    akinon_slug: str | None
    public_url: str | None
    synced_hash: str | None
    """The source content Akinon last matched; None until the collection's load finished."""
    created_run: int | None = None
    """The run that created the Akinon collection; None when collsync did not create it."""


@dataclass(frozen=True, slots=True)
class MappedItem:
    product_pk: int
    item_pk: int
    note: str


@dataclass(frozen=True, slots=True)
class MapCounts:
    collections: int
    items: int
    products: int


_ENTRY = (
    "SELECT source_id, source_slug, akinon_pk, akinon_slug, public_url, synced_hash, created_run"
    " FROM collection_map"
)


def _entry(row: Any) -> MapEntry:
    return MapEntry(str(row[0]), row[1], int(row[2]), row[3], row[4], row[5], row[6])


class IdMap:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- collections ----------------------------------------------------------------------------

    def get(self, source_id: str) -> MapEntry | None:
        row = self._db.conn.execute(_ENTRY + " WHERE source_id = ?", (source_id,)).fetchone()
        return None if row is None else _entry(row)

    def entries(self) -> list[MapEntry]:
        """Every mapped collection, by source slug."""
        rows = self._db.conn.execute(_ENTRY + " ORDER BY source_slug, source_id").fetchall()
        return [_entry(r) for r in rows]

    def created(self, run_id: int | None = None) -> list[MapEntry]:
        """Mapped collections collsync created (by run ``run_id``, or by any run)."""
        if run_id is None:
            rows = self._db.conn.execute(
                _ENTRY + " WHERE created_run IS NOT NULL ORDER BY source_slug, source_id"
            ).fetchall()
        else:
            rows = self._db.conn.execute(
                _ENTRY + " WHERE created_run = ? ORDER BY source_slug, source_id", (run_id,)
            ).fetchall()
        return [_entry(r) for r in rows]

    def not_staged(self, generation: int) -> list[MapEntry]:
        """Mapped collections the store no longer has (absent from a full read's generation)."""
        rows = self._db.conn.execute(
            "SELECT m.source_id, m.source_slug, m.akinon_pk, m.akinon_slug, m.public_url,"
            " m.synced_hash, m.created_run FROM collection_map m"
            " LEFT JOIN staged_collections s ON s.source_id = m.source_id AND s.generation = ?"
            " WHERE s.source_id IS NULL ORDER BY m.source_slug, m.source_id",
            (generation,),
        ).fetchall()
        return [_entry(r) for r in rows]

    def holder(self, pk: int) -> str | None:
        """The source collection mapped to Akinon ``pk``, if any."""
        value = self._db.scalar("SELECT source_id FROM collection_map WHERE akinon_pk = ?", (pk,))
        return None if value is None else str(value)

    def pks(self, *, excluding: str) -> set[int]:
        """Akinon pks mapped to any source collection but ``excluding``."""
        rows = self._db.conn.execute(
            "SELECT akinon_pk FROM collection_map WHERE source_id != ?", (excluding,)
        ).fetchall()
        return {int(r[0]) for r in rows}

    def map_collection(
        self,
        source_id: str,
        source_slug: str,
        *,
        pk: int,
        slug: str | None,
        public_url: str | None,
        owner: str | None,
        created_run: int | None,
    ) -> None:
        """Map a source collection to a (new) Akinon collection; its old item map goes.

        An Akinon collection is mapped to one source collection at most: mapping one that is
        mapped to another raises ``sqlite3.IntegrityError`` instead of taking it over."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM item_map WHERE source_id = ?", (source_id,))
            conn.execute(
                "INSERT INTO collection_map (source_id, source_slug, akinon_pk, akinon_slug,"
                " public_url, owner, synced_hash, updated_at, created_run)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?) ON CONFLICT (source_id) DO UPDATE SET"
                " source_slug = excluded.source_slug, akinon_pk = excluded.akinon_pk,"
                " akinon_slug = excluded.akinon_slug, public_url = excluded.public_url,"
                " owner = excluded.owner, synced_hash = NULL, updated_at = excluded.updated_at,"
                " created_run = excluded.created_run",
                (source_id, source_slug, pk, slug, public_url, owner, now_iso(), created_run),
            )

    def mark_synced(
        self,
        source_id: str,
        content_hash: str,
        *,
        slug: str | None = None,
        public_url: str | None = None,
        refresh_urls: bool = False,
    ) -> None:
        """Record the source content the Akinon collection now matches (and, when it was read
        again, its slug and public URL)."""
        with self._db.transaction() as conn:
            if refresh_urls:
                conn.execute(
                    "UPDATE collection_map SET akinon_slug = ?, public_url = ?, synced_hash = ?,"
                    " updated_at = ? WHERE source_id = ?",
                    (slug, public_url, content_hash, now_iso(), source_id),
                )
            else:
                conn.execute(
                    "UPDATE collection_map SET synced_hash = ?, updated_at = ? WHERE source_id = ?",
                    (content_hash, now_iso(), source_id),
                )

    def unmap(self, source_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM item_map WHERE source_id = ?", (source_id,))
            conn.execute("DELETE FROM collection_map WHERE source_id = ?", (source_id,))

    def counts(self) -> MapCounts:
        return MapCounts(
            collections=int(self._db.scalar("SELECT COUNT(*) FROM collection_map")),
            items=int(self._db.scalar("SELECT COUNT(*) FROM item_map")),
            products=int(self._db.scalar("SELECT COUNT(*) FROM product_map")),
        )

    # -- items ----------------------------------------------------------------------------------

    def items(self, source_id: str) -> dict[int, MappedItem]:
        """The items collsync added to a collection, by product pk."""
        rows = self._db.conn.execute(
            "SELECT product_pk, akinon_item_pk, note FROM item_map WHERE source_id = ?",
            (source_id,),
        ).fetchall()
        return {int(p): MappedItem(int(p), int(i), n) for p, i, n in rows}

    def map_item(self, source_id: str, product_pk: int, item_pk: int, note: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO item_map (source_id, product_pk, akinon_item_pk, note)"
                " VALUES (?, ?, ?, ?)",
                (source_id, product_pk, item_pk, note),
            )

    def unmap_item(self, source_id: str, product_pk: int) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM item_map WHERE source_id = ? AND product_pk = ?",
                (source_id, product_pk),
            )

    # -- products -------------------------------------------------------------------------------

    def replace_products(self, pairs: Iterable[tuple[str, int]]) -> int:
        """The SKU map (sku -> Akinon product pk), replaced whole; the count written."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM product_map")
            conn.executemany("INSERT INTO product_map (sku, product_pk) VALUES (?, ?)", pairs)
            return int(conn.execute("SELECT COUNT(*) FROM product_map").fetchone()[0])

    def fingerprint(self) -> dict[str, str]:
        """A digest of each mapping (pk, synced content, items), by source id: what a saved
        plan was made against."""
        items: dict[str, list[Any]] = {}
        for source_id, product_pk, item_pk, note in self._db.conn.execute(
            "SELECT source_id, product_pk, akinon_item_pk, note FROM item_map ORDER BY product_pk"
        ):
            items.setdefault(source_id, []).append([product_pk, item_pk, note])
        return {
            source_id: digest([pk, synced, items.get(source_id, [])])
            for source_id, pk, synced in self._db.conn.execute(
                "SELECT source_id, akinon_pk, synced_hash FROM collection_map"
            )
        }

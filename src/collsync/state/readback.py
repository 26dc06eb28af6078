"""The state's copy of the Akinon account, as read back at the start of a run.

Kept in step with every change collsync makes during the run, so the planner and the journal's
resolution read one consistent picture. Text is stored with any unpaired surrogate escaped:
JSON can carry one, SQLite cannot, and no source record (refused at extract) can match it.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from collsync.pipeline.models import ActualCollection, ActualItem
from collsync.state.database import stored_text

if TYPE_CHECKING:
    from collsync.state.database import Database


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class ReadBackCopy:
    def __init__(self, database: Database) -> None:
        self._db = database

    def clear(self) -> None:
        """Forget the whole copy (inside the transaction that writes the new one)."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM target_items")
            conn.execute("DELETE FROM target_collections")

    def insert(self, collection: ActualCollection) -> None:
        c = collection
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO target_collections VALUES (?, ?, ?, ?, ?)",
                (
                    c.pk,
                    stored_text(c.name),
                    stored_text(c.slug),
                    c.status,
                    stored_text(c.public_url),
                ),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO target_items VALUES (?, ?, ?, ?, ?)",
                [
                    (i.item_pk, c.pk, i.product_pk, stored_text(i.note), stored_text(i.sku))
                    for i in c.items
                ],
            )

    def replace(self, collection: ActualCollection) -> None:
        """Keep the copy in step with a change collsync made itself."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM target_items WHERE collection_pk = ?", (collection.pk,))
            self.insert(collection)

    def remove(self, pk: int) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM target_items WHERE collection_pk = ?", (pk,))
            conn.execute("DELETE FROM target_collections WHERE pk = ?", (pk,))

    def remove_item(self, item_pk: int) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM target_items WHERE item_pk = ?", (item_pk,))

    def get(self, pk: int) -> ActualCollection | None:
        row = self._db.conn.execute(
            "SELECT pk, name, slug, status, public_url FROM target_collections WHERE pk = ?", (pk,)
        ).fetchone()
        if row is None:
            return None
        items = self._db.conn.execute(
            "SELECT item_pk, product_pk, note, sku FROM target_items WHERE collection_pk = ?"
            " ORDER BY item_pk",
            (pk,),
        ).fetchall()
        return ActualCollection(
            pk=int(row[0]),
            name=row[1],
            slug=row[2],
            status=row[3],
            public_url=row[4],
            items=tuple(ActualItem(int(i), int(p), str(n), s) for i, p, n, s in items),
        )

    def count(self) -> int:
        return int(self._db.scalar("SELECT COUNT(*) FROM target_collections"))

    def pks_named(self, name: str) -> list[int]:
        """The account's collections named exactly ``name``."""
        rows = self._db.conn.execute(
            "SELECT pk FROM target_collections WHERE name = ? ORDER BY pk", (name,)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def fingerprint(self) -> dict[str, str]:
        """A digest of every collection (name, slug, status, items), by pk: what a saved plan
        was made against."""
        items: dict[int, list[Any]] = {}
        for collection_pk, product_pk, note in self._db.conn.execute(
            "SELECT collection_pk, product_pk, note FROM target_items ORDER BY product_pk"
        ):
            items.setdefault(collection_pk, []).append([product_pk, note])
        return {
            str(pk): digest([name, slug, status, items.get(pk, [])])
            for pk, name, slug, status in self._db.conn.execute(
                "SELECT pk, name, slug, status FROM target_collections"
            )
        }

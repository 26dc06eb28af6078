"""Whose state this is: the store, the Akinon install and the account it was made with.

A state used against another store or account would take that account's collections for its
own, or the other store's absence for deletions. Every run that reads the services checks the
binding; a real move is declared with ``--rebind``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collsync.state.database import Database

KEYS = ("bound.store", "bound.akinon", "bound.account")


@dataclass(frozen=True, slots=True)
class Bound:
    store: str
    """The store's base URL."""
    akinon: str
    """Akinon's base URL."""
    account: str
    """The Akinon account: the login e-mail, or a fingerprint of the token."""

    def differences(self, other: Bound) -> list[str]:
        """``store: A (this state) vs B (this config)`` for each value that differs."""
        return [
            f"{label} {mine} (this state) vs {theirs} (this config)"
            for label, mine, theirs in (
                ("store", self.store, other.store),
                ("Akinon", self.akinon, other.akinon),
                ("account", self.account, other.account),
            )
            if mine != theirs
        ]


class Binding:
    def __init__(self, database: Database) -> None:
        self._db = database

    def get(self) -> Bound | None:
        rows = dict(
            self._db.conn.execute(
                "SELECT key, value FROM meta WHERE key IN (?, ?, ?)", KEYS
            ).fetchall()
        )
        if not all(key in rows for key in KEYS):
            return None
        return Bound(*(rows[key] for key in KEYS))

    def set(self, bound: Bound) -> None:
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                zip(KEYS, (bound.store, bound.akinon, bound.account), strict=True),
            )

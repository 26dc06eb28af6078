"""The storefront behind the Akinon Commerce sandbox: users, logins, products, collections, items.

Every lookup a request needs is a dict access: collections are indexed by pk, by owner (in creation
order, so a newest-first page is a reversed slice), by slug, and by the products they hold.
"""

from __future__ import annotations

import random
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from slugify import slugify

if TYPE_CHECKING:
    from collsync.sandbox.data import CommerceSeed

PUBLIC = "public"
PRIVATE = "private"
STATUSES = (PUBLIC, PRIVATE)
NAME_MAX_LENGTH = 255
_SLUG_BASE_MAX = NAME_MAX_LENGTH - 33  # room for "-" and the 32-hex suffix
_SESSION_KEY_CHARS = string.ascii_lowercase + string.digits


@dataclass(slots=True)
class Login:
    """One successful login; its session id and its token share one use counter."""

    email: str
    session_id: str
    token: str
    uses: int = 0


@dataclass(slots=True)
class Item:
    pk: int
    collection_pk: int
    product_pk: int
    note: str
    created: datetime


@dataclass(slots=True)
class Collection:
    pk: int
    owner: str
    name: str
    status: str
    slug: str
    folded_name: str
    items: dict[int, Item] = field(default_factory=dict)
    """product pk -> item, in the order the items were added."""


class Selection:
    """The owner's collections that match a query, newest first, counted before being sliced."""

    def __init__(self, owned: dict[int, Collection], matches: list[Collection] | None) -> None:
        self._owned = owned
        self._matches = matches

    @property
    def count(self) -> int:
        return len(self._owned) if self._matches is None else len(self._matches)

    def window(self, offset: int, limit: int) -> list[Collection]:
        if self._matches is None:
            return list(islice(reversed(self._owned.values()), offset, offset + limit))
        return self._matches[offset : offset + limit]


class CommerceState:
    """Mutable in-memory storefront: users, sessions and tokens, products, collections, items."""

    def __init__(self, seed: CommerceSeed, *, slug_seed: int = 0) -> None:
        self.users: dict[str, str] = dict(seed.users)
        self.products: dict[int, dict[str, Any]] = {p["pk"]: p for p in seed.products}
        self.collections: dict[int, Collection] = {}
        self.items: dict[int, Item] = {}
        self._by_owner: dict[str, dict[int, Collection]] = {}
        self._by_slug: dict[str, Collection] = {}
        self._by_product: dict[int, set[int]] = {}
        self._by_session: dict[str, Login] = {}
        self._by_token: dict[str, Login] = {}
        self._next_collection_pk = 1
        self._next_item_pk = 1
        self._slug_rng = random.Random(slug_seed)
        for record in seed.collections:
            self._load(record)

    def _load(self, record: dict[str, Any]) -> None:
        owner = record["owner"]
        if owner not in self.users:
            raise ValueError(f"seeded collection {record['name']!r}: unknown owner {owner!r}")
        collection = self.create_collection(owner, record["name"], record.get("status", PRIVATE))
        for item in record.get("items", []):
            product_pk = item["product_pk"]
            if product_pk not in self.products or product_pk in collection.items:
                raise ValueError(
                    f"seeded collection {record['name']!r}: unknown or repeated product "
                    f"{product_pk!r}"
                )
            self.add_item(collection, product_pk, item.get("note", ""))

    # -- logins -------------------------------------------------------------------------------

    def login(self, email: str, password: str) -> Login | None:
        if email not in self.users or self.users[email] != password:
            return None
        session_id = "".join(secrets.choice(_SESSION_KEY_CHARS) for _ in range(32))
        login = Login(email=email, session_id=session_id, token=secrets.token_hex(20))
        self._by_session[login.session_id] = login
        self._by_token[login.token] = login
        return login

    def by_session(self, session_id: str) -> Login | None:
        return self._by_session.get(session_id)

    def by_token(self, token: str) -> Login | None:
        return self._by_token.get(token)

    def use(self, login: Login, limit: int | None) -> bool:
        """Count one authenticated request; False (and the login is gone) once it has expired."""
        if limit is not None and login.uses >= limit:
            self._by_session.pop(login.session_id, None)
            self._by_token.pop(login.token, None)
            return False
        login.uses += 1
        return True

    # -- collections ----------------------------------------------------------------------------

    def owned(self, owner: str, pk: int) -> Collection | None:
        return self._by_owner.get(owner, {}).get(pk)

    def public(self, slug: str) -> Collection | None:
        collection = self._by_slug.get(slug)
        return collection if collection is not None and collection.status == PUBLIC else None

    def select(
        self, owner: str, terms: list[str] | None = None, product_pk: int | None = None
    ) -> Selection:
        """Collections of ``owner`` whose name holds every search term, and the product if given."""
        owned = self._by_owner.get(owner, {})
        if not terms and product_pk is None:
            return Selection(owned, None)
        if product_pk is None:
            candidates = list(reversed(owned.values()))
        else:
            holders = self._by_product.get(product_pk, set())
            candidates = [owned[pk] for pk in sorted(holders & owned.keys(), reverse=True)]
        folded = [term.casefold() for term in terms or ()]
        matches = [c for c in candidates if all(term in c.folded_name for term in folded)]
        return Selection(owned, matches)

    def create_collection(self, owner: str, name: str, status: str) -> Collection:
        pk = self._next_collection_pk
        self._next_collection_pk += 1
        collection = Collection(
            pk=pk,
            owner=owner,
            name=name,
            status=status,
            slug=self._new_slug(name),
            folded_name=name.casefold(),
        )
        self.collections[pk] = collection
        self._by_owner.setdefault(owner, {})[pk] = collection
        self._by_slug[collection.slug] = collection
        return collection

    def _new_slug(self, name: str) -> str:
        base = slugify(name, max_length=_SLUG_BASE_MAX, word_boundary=False)
        while True:
            suffix = uuid.UUID(int=self._slug_rng.getrandbits(128), version=4).hex
            slug = f"{base}-{suffix}" if base else suffix
            if slug not in self._by_slug:
                return slug

    def update_collection(
        self, collection: Collection, *, name: str | None, status: str | None
    ) -> None:
        # The slug is chosen once, at creation: public URLs survive a rename.
        if name is not None:
            collection.name = name
            collection.folded_name = name.casefold()
        if status is not None:
            collection.status = status

    def delete_collection(self, collection: Collection) -> None:
        for item in list(collection.items.values()):
            self.remove_item(item)
        del self.collections[collection.pk]
        del self._by_owner[collection.owner][collection.pk]
        del self._by_slug[collection.slug]

    # -- items ----------------------------------------------------------------------------------

    def add_item(self, collection: Collection, product_pk: int, note: str) -> Item:
        pk = self._next_item_pk
        self._next_item_pk += 1
        item = Item(pk, collection.pk, product_pk, note, datetime.now(UTC))
        collection.items[product_pk] = item
        self.items[pk] = item
        self._by_product.setdefault(product_pk, set()).add(collection.pk)
        return item

    def owned_item(self, owner: str, pk: int) -> Item | None:
        item = self.items.get(pk)
        if item is None or self.collections[item.collection_pk].owner != owner:
            return None
        return item

    def remove_item(self, item: Item) -> None:
        del self.items[item.pk]
        del self.collections[item.collection_pk].items[item.product_pk]
        holders = self._by_product[item.product_pk]
        holders.discard(item.collection_pk)
        if not holders:
            del self._by_product[item.product_pk]

    # -- wire format ------------------------------------------------------------------------------

    def collection_body(self, collection: Collection) -> dict[str, Any]:
        public = collection.status == PUBLIC
        return {
            "pk": collection.pk,
            "status": collection.status,
            "name": collection.name,
            "slug": collection.slug,
            "items": [
                {
                    "pk": item.pk,
                    "note": item.note,
                    "product": self.products[item.product_pk],
                    "created_date": _drf_datetime(item.created),
                }
                for item in collection.items.values()
            ],
            "public_url": f"/wishlists/user-collection/{collection.slug}/" if public else None,
        }

    def item_body(self, item: Item) -> dict[str, Any]:
        return {
            "pk": item.pk,
            "product": self.products[item.product_pk],
            "created_date": _drf_datetime(item.created),
            "note": item.note,
        }


def _drf_datetime(value: datetime) -> str:
    # DRF renders isoformat() with "Z" for UTC (so whole seconds carry no fraction, as there).
    return value.isoformat().replace("+00:00", "Z")

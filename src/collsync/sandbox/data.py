"""Deterministic seeded data for the two sandbox services.

One :class:`SeedSpec` gives the same store and storefront every time: collections with Turkish and
other non-ASCII names spread over several years, products whose SKUs exist on both sides under
different ids, item membership carried by a product field, and the SKU -> Akinon product pk map
that a migration needs (written as CSV).
"""

from __future__ import annotations

import csv
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

STORE_API_KEY = "sandbox-store-key"
AKINON_EMAIL = "migrator@example.com"
AKINON_PASSWORD = "sandbox-password"
OTHER_EMAIL = "shopper@example.com"
OTHER_PASSWORD = "shopper-password"

CREATEDON_FORMAT = "%Y-%m-%d %H:%M:%S"

_THEMES = [
    "Yaz İndirimi",
    "Kış Koleksiyonu",
    "Çocuk Ayakkabıları",
    "Ev & Yaşam",
    "Güneş Gözlükleri",
    "Şık Çantalar",
    "Öğrenci Fırsatları",
    "Ağaç Oyuncaklar",
    "Doğal Kozmetik",
    "Spor Giyim",
    "Größe XL",
    "Frühlingsmode",
    "Été à la plage",
    "Décoration Maison",
    "Niños y Niñas",
    "Zimowe Płaszcze",
    "Καλοκαίρι",
    "Летняя распродажа",
    "夏のセール",
    "Café & Thé",
]
_QUALIFIERS = [
    "Seçkisi",
    "Favoriler",
    "Yeni Gelenler",
    "Çok Satanlar",
    "Editörün Seçimi",
    "Outlet",
    "Premium",
    "Klasik",
    "Mini",
    "Özel",
]
_PRODUCT_WORDS = [
    "Çerçeve",
    "Gömlek",
    "Kazak",
    "Ayakkabı",
    "Şapka",
    "Çanta",
    "Fincan",
    "Yastık",
    "Lamba",
    "Defter",
    "Kalem",
    "Saat",
    "Cüzdan",
    "Eldiven",
    "Atkı",
]
_AUTHORS = ["Ayşe Yılmaz", "Mehmet Öztürk", "Zeynep Çelik", "Mr Example", ""]


@dataclass(frozen=True, slots=True)
class SeedSpec:
    """What to generate. The same spec always gives the same data."""

    collections: int = 300
    items_per_collection: int = 5
    products: int = 500
    seed: int = 42
    unmapped_products: int = 0
    """Store products whose SKU has no Akinon product (they cannot be migrated)."""
    malformed: bool = False
    """Add five broken store records: no name, a name over 255 chars, a bad GUID, a bad date, a
    name holding an unpaired surrogate."""
    collection_field: str = "collections"
    """The store product field that lists the ids of the product's collections."""
    first_year: int = 2016
    last_year: int = 2024


@dataclass(slots=True)
class StoreSeed:
    """Commerscale data: raw records exactly as the RPC API returns them."""

    collections: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    collection_field: str = "collections"


@dataclass(slots=True)
class CommerceSeed:
    """Akinon data: users, the product catalogue, and collections that exist before a migration."""

    users: dict[str, str] = field(default_factory=dict)
    """email -> password"""
    products: list[dict[str, Any]] = field(default_factory=list)
    """Full Akinon product objects, as item answers embed them."""
    collections: list[dict[str, Any]] = field(default_factory=list)
    """``{"owner", "name", "status", "items": [{"product_pk", "note"}]}``"""


@dataclass(slots=True)
class Seed:
    store: StoreSeed
    commerce: CommerceSeed
    sku_map: list[tuple[str, int]]
    """SKU -> Akinon product pk, for every store product that exists on Akinon."""


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _slug(text: str) -> str:
    from slugify import slugify

    return slugify(text)


def akinon_product(pk: int, sku: str, name: str) -> dict[str, Any]:
    """An Akinon product object with the keys and types of the documented examples."""
    return {
        "pk": pk,
        "sku": sku,
        "name": name,
        "base_code": None,
        "product_type": "0",
        "is_active": True,
        "parent": None,
        "attributes": {},
        "attributes_kwargs": {},
        "extra_attributes": {},
        "group_products": [],
        "productimage_set": [],
        "attribute_set": None,
        "custom_attribute_set": None,
        "is_listable": True,
        "listing_code": None,
        "data_source": None,
        "is_seller_product": False,
        "absolute_url": f"/product/{pk}/",
        "is_form_required": False,
    }


def generate(spec: SeedSpec = SeedSpec()) -> Seed:
    rng = random.Random(spec.seed)
    start = datetime(spec.first_year, 1, 1)
    span = int((datetime(spec.last_year, 12, 31, 23, 59, 59) - start).total_seconds())

    # Products, on both sides: same SKU, unrelated ids.
    store_products: list[dict[str, Any]] = []
    akinon_products: list[dict[str, Any]] = []
    sku_map: list[tuple[str, int]] = []
    pks = rng.sample(range(1000, 1000 + spec.products * 20), spec.products)
    unmapped = set(rng.sample(range(spec.products), min(spec.unmapped_products, spec.products)))
    for n in range(spec.products):
        sku = f"SKU-{n + 1:06d}"
        name = f"{rng.choice(_PRODUCT_WORDS)} {rng.choice(_QUALIFIERS)} {n + 1}"
        store_products.append(
            {"id": _guid(rng), "sku": sku, "name": name, spec.collection_field: []}
        )
        if n not in unmapped:
            akinon_products.append(akinon_product(pks[n], sku, name))
            sku_map.append((sku, pks[n]))

    # Collections, in creation order (the order the store lists them).
    stamps = sorted(start + timedelta(seconds=rng.randrange(span)) for _ in range(spec.collections))
    seen_names: set[str] = set()
    slugs: dict[str, str] = {}
    collections: list[dict[str, Any]] = []
    for n, created in enumerate(stamps):
        name = base = f"{rng.choice(_THEMES)} {rng.choice(_QUALIFIERS)}"
        if base not in slugs:
            slugs[base] = _slug(base)  # slugify is slow; there are few distinct bases
        slug = slugs[base]
        if name in seen_names:
            name, slug = f"{name} {n + 1}", f"{slug}-{n + 1}"
        seen_names.add(name)
        author = rng.choice(_AUTHORS)
        collections.append(
            {
                "id": _guid(rng),
                "name": name,
                "slug": slug,
                "description": f"{name} — {created.year} seçkisi",
                "seopagetitle": name[:60],
                "seometakeywords": ", ".join(name.lower().split()[:3]),
                "seopagedescription": f"{name} ürünleri",
                "author": author,
                "createdon": created.strftime(CREATEDON_FORMAT),
            }
        )
        if spec.products:
            k = min(spec.items_per_collection, spec.products)
            for index in rng.sample(range(spec.products), k):
                store_products[index][spec.collection_field].append(collections[-1]["id"])

    if spec.malformed:
        collections.extend(_malformed(rng))
        collections.sort(key=lambda c: (c["createdon"], c["id"]))  # the store's listing order
        # Products in good and bad collections at once: each bad entry costs only itself.
        members = [p for p in store_products if p[spec.collection_field]]
        for product, bad in zip(members, BAD_MEMBERSHIPS, strict=False):
            product[spec.collection_field].insert(1, bad)

    commerce = CommerceSeed(
        users={AKINON_EMAIL: AKINON_PASSWORD, OTHER_EMAIL: OTHER_PASSWORD},
        products=akinon_products,
        collections=[
            # Someone else's collections share the storefront; a migration must never see them.
            {
                "owner": OTHER_EMAIL,
                "name": collections[0]["name"] if collections else "Favorilerim",
                "status": "public",
                "items": [{"product_pk": p["pk"], "note": "beğendim"} for p in akinon_products[:2]],
            },
            {"owner": OTHER_EMAIL, "name": "Doğum Günü Listesi", "status": "private", "items": []},
        ],
    )
    return Seed(
        store=StoreSeed(collections, store_products, spec.collection_field),
        commerce=commerce,
        sku_map=sku_map,
    )


BAD_MEMBERSHIPS: tuple[Any, ...] = ("legacy-coll-1002", "not-a-guid", 1002, None)
"""Entries of a product's collection list that name no collection: a legacy id, the malformed
collection's own id, a number, a null."""


def _malformed(rng: random.Random) -> list[dict[str, Any]]:
    base = {
        "description": "",
        "seopagetitle": "",
        "seometakeywords": "",
        "seopagedescription": "",
        "author": "",
        "createdon": "2020-02-02 10:00:00",
    }
    return [
        {**base, "id": _guid(rng), "slug": "no-name"},
        {**base, "id": _guid(rng), "name": "Uzun " * 60, "slug": "too-long-name"},
        {**base, "id": "not-a-guid", "name": "Bozuk Kimlik", "slug": "bad-guid"},
        {
            **base,
            "id": _guid(rng),
            "name": "Bozuk Tarih",
            "slug": "bad-date",
            "createdon": "2019-13-45 25:61:00",
        },
        # half a UTF-16 pair, as the JSON escape "\\ud800": JSON can carry it, UTF-8 cannot
        {**base, "id": _guid(rng), "name": "Bozuk Metin \ud800", "slug": "bad-text"},
    ]


def write_sku_map(seed: Seed, path: Path) -> Path:
    """Write the ``sku,product_pk`` CSV a migration's ``[products] path`` points to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "product_pk"])
        writer.writerows(seed.sku_map)
    return path


def write_items_csv(seed: Seed, path: Path) -> Path:
    """Write item membership as ``collection,sku,note`` (``[items] from = "file"``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    slugs = {c["id"]: c["slug"] for c in seed.store.collections}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["collection", "sku", "note"])
        for product in seed.store.products:
            for collection_id in product[seed.store.collection_field]:
                if collection_id not in slugs:
                    continue  # a malformed entry (BAD_MEMBERSHIPS)
                writer.writerow([slugs[collection_id], product["sku"], f"{product['name']} ⭐"])
    return path

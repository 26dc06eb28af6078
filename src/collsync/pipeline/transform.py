"""Pure transform: a staged source collection and its items -> the desired Akinon collection.

No I/O here: product resolution is passed in as a function, so the same rules run in tests,
in ``diff`` and in ``migrate``.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from collsync.errors import TransformError
from collsync.pipeline.models import DesiredCollection, DesiredItem, ItemProblem, SourceItem

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from collsync.config import TransformConfig

MAX_NAME = 255
DROPPED_FIELDS = ("description", "seopagetitle", "seometakeywords", "seopagedescription", "author")


def content_hash(raw: dict[str, Any], items: Sequence[SourceItem]) -> str:
    """A stable digest of a source collection and its membership."""
    payload = {
        "record": raw,
        "items": sorted((i.sku, i.product_id or "", i.note) for i in items),
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _render(template: str, fields: dict[str, str], what: str) -> str:
    try:
        return template.format_map(fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise TransformError(f"{what} template {template!r} cannot be filled: {exc}") from None


def transform(
    raw: dict[str, Any],
    items: Sequence[SourceItem],
    rules: TransformConfig,
    resolve: Callable[[SourceItem], int | None],
) -> DesiredCollection:
    """The desired Akinon collection for one valid source record."""
    source_id, slug, source_name = str(raw["id"]), str(raw["slug"]), str(raw["name"])
    fields = {"name": source_name, "slug": slug, "id": source_id}
    name = _render(rules.name_template, fields, "transform.name_template").strip()
    if not name:
        raise TransformError("the name is empty after transform.name_template")
    if len(name) > MAX_NAME:
        raise TransformError(f"the name is {len(name)} characters; Akinon takes {MAX_NAME}")
    status = next((r.status for r in rules.rules if r.matches(slug, source_name)), rules.status)

    desired: dict[int, DesiredItem] = {}
    problems: list[ItemProblem] = []
    for item in sorted(items, key=lambda i: i.sku):
        product_pk = resolve(item)
        if product_pk is None:
            problems.append(ItemProblem(item.sku, f"no Akinon product for sku {item.sku!r}"))
            continue
        note_fields = {"note": item.note, "sku": item.sku, "name": item.name}
        note = _render(rules.note_template, note_fields, "transform.note_template")
        desired.setdefault(product_pk, DesiredItem(product_pk, note, item.sku))
    dropped = tuple(f for f in DROPPED_FIELDS if str(raw.get(f) or "").strip())
    return DesiredCollection(
        source_id=source_id,
        source_slug=slug,
        name=name,
        status=status,
        items=tuple(desired.values()),
        content_hash=content_hash(raw, items),
        dropped_fields=dropped,
        item_problems=tuple(problems),
        uncertain_skus=frozenset(p.sku for p in problems),
    )

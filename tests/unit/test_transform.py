"""Transform: name template, ordered status rules, items resolved or named as problems."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from collsync.config import StatusRule, TransformConfig
from collsync.errors import TransformError
from collsync.pipeline.models import SourceItem
from collsync.pipeline.transform import transform

Rules = TransformConfig  # the transform takes the config's own section

RAW: dict[str, Any] = {
    "id": "00000000-0000-0000-0000-000000000001",
    "name": "Yaz İndirimi",
    "slug": "yaz-indirimi",
    "description": "Sıcak günler",
    "seopagetitle": "",
    "seometakeywords": "yaz",
    "seopagedescription": None,
    "author": "Ayşe",
    "createdon": "2020-05-01 10:00:00",
}
PKS = {"SKU-1": 101, "SKU-2": 102}


def resolve(item: SourceItem) -> int | None:
    return PKS.get(item.sku)


def test_defaults_keep_the_name_and_resolve_items() -> None:
    items = [SourceItem("SKU-2", note="ikinci"), SourceItem("SKU-1")]
    desired = transform(RAW, items, Rules(), resolve)
    assert (desired.name, desired.status) == ("Yaz İndirimi", "public")
    assert [(i.product_pk, i.note) for i in desired.items] == [(101, ""), (102, "ikinci")]
    assert desired.dropped_fields == ("description", "seometakeywords", "author")


def test_templates_and_first_matching_rule_win() -> None:
    rules = Rules(
        status="private",
        name_template="{name} ({slug})",
        note_template="{sku}: {note}",
        rules=[
            StatusRule(status="public", slug="yaz-*"),
            StatusRule(status="private", name="Yaz*"),
        ],
    )
    desired = transform(RAW, [SourceItem("SKU-1", note="not")], rules, resolve)
    assert desired.name == "Yaz İndirimi (yaz-indirimi)"
    assert desired.status == "public"
    assert desired.items[0].note == "SKU-1: not"


def test_no_rule_matching_gives_the_default() -> None:
    rules = Rules(status="private", rules=[StatusRule(status="public", name="Kış*")])
    assert transform(RAW, [], rules, resolve).status == "private"


def test_unresolvable_products_are_named_not_dropped_silently() -> None:
    desired = transform(RAW, [SourceItem("SKU-1"), SourceItem("SKU-404")], Rules(), resolve)
    assert [i.sku for i in desired.items] == ["SKU-1"]
    assert [(p.sku, p.reason) for p in desired.item_problems] == [
        ("SKU-404", "no Akinon product for sku 'SKU-404'")
    ]


@pytest.mark.parametrize(
    ("template", "message"),
    [("{title}", "cannot be filled"), ("", "empty"), ("{name}" * 30, "Akinon takes 255")],
)
def test_a_name_akinon_cannot_take_is_an_error(template: str, message: str) -> None:
    with pytest.raises(TransformError, match=message):
        transform(RAW, [], Rules(name_template=template), resolve)


def test_the_hash_follows_the_record_and_its_membership() -> None:
    base = transform(RAW, [SourceItem("SKU-1")], Rules(), resolve).content_hash
    assert transform(RAW, [SourceItem("SKU-1")], Rules(), resolve).content_hash == base
    assert (
        transform({**RAW, "name": "Yeni"}, [SourceItem("SKU-1")], Rules(), resolve).content_hash
        != base
    )
    assert transform(RAW, [SourceItem("SKU-2")], Rules(), resolve).content_hash != base


def test_pure_stages_import_no_io() -> None:
    package = Path(__file__).resolve().parents[2] / "src" / "collsync" / "pipeline"
    for name in ("transform.py", "plan.py", "models.py"):
        tree = ast.parse((package / name).read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert not imported & {"httpx", "sqlite_utils", "sqlite3", "asyncio"}, name

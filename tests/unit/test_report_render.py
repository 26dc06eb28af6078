"""Report renderers: each format shows the same changes, escapes what it must, keeps its shape."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from html.parser import HTMLParser
from typing import Any

import jsonschema
import pytest
from rich.cells import cell_len

from collsync.report.model import Change, DiffReport, FieldChange, ItemChange, NotCarried
from collsync.report.render import FORMATS, render, schema
from collsync.report.render_text import CSV_COLUMNS

SCRIPT = "<script>alert(1)</script>"
PIPE_NAME = "Ev | Yaşam\nikinci satır"
LONG_SLUG = "cocuk-ayakkabilari-editorun-secimi-11"
NO_CHANGES = "No changes: `collsync sync --full` has nothing to do."


def full_report() -> DiffReport:
    """Every action and origin, items both ways, awkward names, and all three not-carried kinds."""
    return DiffReport(
        generated_at="2024-05-01T10:00:00+00:00",
        source_url="https://store.example.com",
        target_url="https://commerce.example.com",
        changes=[
            Change(
                "create",
                "source",
                "c-1",
                "cocuk-ayakkabilari",
                "Çocuk Ayakkabıları",
                fields=(
                    FieldChange("name", None, "Çocuk Ayakkabıları"),
                    FieldChange("status", None, "public"),
                ),
                items_added=(
                    ItemChange("SKU-1", 101, "Kırmızı, 32 numara"),
                    ItemChange("SKU-7", 107),
                ),
            ),
            Change(
                "recreate",
                "drift",
                "c-2",
                "kis-koleksiyonu",
                "Kış Koleksiyonu",
                fields=(
                    FieldChange("name", None, "Kış Koleksiyonu"),
                    FieldChange("status", None, "private"),
                ),
            ),
            Change(
                "update",
                "drift",
                "c-3",
                LONG_SLUG,
                "Çocuk Ayakkabıları Editörün Seçimi 11",
                akinon_pk=123,
                akinon_slug=LONG_SLUG + "-x8f2k",
                fields=(
                    FieldChange(
                        "name", "Elle değiştirildi", "Çocuk Ayakkabıları Editörün Seçimi 11"
                    ),
                    FieldChange("status", "private", "public"),
                ),
            ),
            Change(
                "update",
                "source",
                "c-4",
                "ev-yasam",
                PIPE_NAME,
                akinon_pk=124,
                akinon_slug="ev-yasam-q1",
                fields=(FieldChange("name", "Ev & Yaşam", PIPE_NAME),),
                items_added=(ItemChange("SKU-3", 103, 'not | "pipe"'),),
                items_removed=(ItemChange("SKU-2", 102),),
            ),
            Change(
                "update",
                "source",
                "c-5",
                "yaz",
                SCRIPT,
                akinon_pk=125,
                akinon_slug="yaz-1",
                fields=(FieldChange("name", "Yaz", SCRIPT),),
            ),
            Change(
                "delete",
                "source",
                "c-6",
                "eski",
                "Eski Koleksiyon",
                akinon_pk=126,
                akinon_slug="eski-z",
            ),
        ],
        unchanged=52,
        not_carried=[
            NotCarried("unresolved_product", "SKU-404", "no Akinon product for SKU-404"),
            NotCarried("rejected_record", "not-a-guid", "id is not a GUID"),
            NotCarried("dropped_field", "description", "12 collection(s) have a description"),
        ],
        dropped_fields=Counter({"description": 12}),
    )


def empty_report(**kwargs: Any) -> DiffReport:
    return DiffReport(
        generated_at="2024-05-01T10:00:00+00:00",
        source_url="https://store.example.com",
        target_url="https://commerce.example.com",
        **{"unchanged": 12, **kwargs},
    )


def test_an_unknown_format_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="table, json, csv, markdown, html"):
        render(full_report(), "yaml")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("report", [full_report(), empty_report()], ids=["changes", "empty"])
def test_every_format_renders_text_ending_in_a_newline(report: DiffReport, fmt: str) -> None:
    text = render(report, fmt)
    assert text.endswith("\n")
    assert "\x1b[" not in text  # no colour unless asked for


# -- json ----------------------------------------------------------------------------------


def test_the_shipped_schema_is_a_valid_draft_2020_12_schema() -> None:
    shipped = schema()
    assert shipped["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(shipped)


@pytest.mark.parametrize(
    "report",
    [
        full_report(),
        empty_report(),
        empty_report(not_carried=[NotCarried("rejected_record", "x", "y")]),
    ],
    ids=["changes", "empty", "only-not-carried"],
)
def test_json_validates_against_the_shipped_schema(report: DiffReport) -> None:
    document = json.loads(render(report, "json"))
    jsonschema.Draft202012Validator(schema()).validate(document)
    assert document == json.loads(json.dumps(report.to_dict()))


def test_json_keeps_turkish_letters_readable() -> None:
    text = render(full_report(), "json")
    assert '"name": "Çocuk Ayakkabıları"' in text
    assert '"old": "Elle değiştirildi"' in text


def _break(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A valid document with one value replaced (or, given ``KeyError``, removed)."""
    document: dict[str, Any] = json.loads(json.dumps(full_report().to_dict()))
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("changes", 0, "action"), "rename"),
        (("changes", 0, "origin"), "manual"),
        (("changes", 2, "fields", 0, "field"), "description"),
        (("changes", 2, "akinon_pk"), "123"),
        (("changes", 3, "items_added", 0, "product_pk"), None),
        (("changes", 0, "surprise"), 1),
        (("changes", 0, "source_slug"), KeyError),
        (("not_carried", 0, "kind"), "lost"),
        (("summary", "update"), KeyError),
        (("summary", "update"), -1),
        (("summary", "renamed"), 1),
        (("dropped_fields", "description"), "twelve"),
        (("schema_version",), 1),
        (("changes", 0, "item_count"), -1),
        (("guard",), {"text": "2 deletions"}),
        (("extra",), True),
    ],
)
def test_a_broken_document_does_not_validate(path: tuple[str | int, ...], value: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema()).validate(_break(path, value))


# -- csv -----------------------------------------------------------------------------------


def test_csv_has_its_header_even_with_nothing_to_change() -> None:
    text = render(empty_report(), "csv")
    assert text.splitlines() == [",".join(CSV_COLUMNS)]


def test_csv_has_one_row_per_atomic_change_and_survives_a_round_trip() -> None:
    rows = list(csv.DictReader(io.StringIO(render(full_report(), "csv"))))
    assert all(list(r) == list(CSV_COLUMNS) for r in rows)
    summary = [(r["action"], r["origin"], r["source_slug"], r["kind"], r["field"]) for r in rows]
    assert summary == [
        ("create", "source", "cocuk-ayakkabilari", "collection", ""),
        ("create", "source", "cocuk-ayakkabilari", "field", "name"),
        ("create", "source", "cocuk-ayakkabilari", "field", "status"),
        ("create", "source", "cocuk-ayakkabilari", "item_added", ""),
        ("create", "source", "cocuk-ayakkabilari", "item_added", ""),
        ("recreate", "drift", "kis-koleksiyonu", "collection", ""),
        ("recreate", "drift", "kis-koleksiyonu", "field", "name"),
        ("recreate", "drift", "kis-koleksiyonu", "field", "status"),
        ("update", "drift", LONG_SLUG, "field", "name"),
        ("update", "drift", LONG_SLUG, "field", "status"),
        ("update", "source", "ev-yasam", "field", "name"),
        ("update", "source", "ev-yasam", "item_added", ""),
        ("update", "source", "ev-yasam", "item_removed", ""),
        ("update", "source", "yaz", "field", "name"),
        ("delete", "source", "eski", "collection", ""),
    ]
    by_kind = {(r["source_slug"], r["kind"], r["field"], r["sku"]): r for r in rows}
    assert by_kind[("cocuk-ayakkabilari", "collection", "", "")]["new"] == "Çocuk Ayakkabıları"
    assert by_kind[("cocuk-ayakkabilari", "collection", "", "")]["akinon_pk"] == ""
    item = by_kind[("cocuk-ayakkabilari", "item_added", "", "SKU-1")]
    assert (item["product_pk"], item["note"]) == ("101", "Kırmızı, 32 numara")
    renamed = by_kind[("ev-yasam", "field", "name", "")]
    assert (renamed["old"], renamed["new"]) == ("Ev & Yaşam", PIPE_NAME)  # the newline survives
    assert (renamed["akinon_pk"], renamed["akinon_slug"]) == ("124", "ev-yasam-q1")
    assert by_kind[("ev-yasam", "item_added", "", "SKU-3")]["note"] == 'not | "pipe"'
    assert by_kind[("ev-yasam", "item_removed", "", "SKU-2")]["product_pk"] == "102"
    drift = by_kind[(LONG_SLUG, "field", "name", "")]
    assert (drift["old"], drift["new"]) == (
        "Elle değiştirildi",
        "Çocuk Ayakkabıları Editörün Seçimi 11",
    )
    assert by_kind[("yaz", "field", "name", "")]["new"] == SCRIPT
    assert by_kind[("eski", "collection", "", "")]["old"] == "Eski Koleksiyon"


# -- markdown ------------------------------------------------------------------------------


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_has_the_summary_every_change_and_what_will_not_carry_over() -> None:
    text = render(full_report(), "markdown")
    lines = text.splitlines()
    assert lines[0] == "# collsync diff"
    assert "**Plan: 1 to create, 1 to recreate, 3 to update, 1 to delete.**" in lines
    assert "| update | 3 | 2 | 1 | 1 | 1 |" in lines
    assert "| delete | 1 | 1 | 0 | 0 | 0 |" in lines
    change_rows = [
        line
        for line in lines
        if line.startswith(("| create |", "| recreate |", "| update |", "| delete |"))
        and "`" in line
    ]
    assert len(change_rows) == len(full_report().changes)
    for row, change in zip(change_rows, full_report().changes, strict=True):
        assert row.startswith(f"| {change.action} | {change.origin} |")
        assert f"`{change.source_slug}`" in row
    assert "name: Elle değiştirildi → Çocuk Ayakkabıları Editörün Seçimi 11" in text
    assert '+ `SKU-1` (pk 101) "Kırmızı, 32 numara"' in text
    assert "- `SKU-2` (pk 102)" in text
    assert "## Will not carry over" in lines
    for record in ("SKU-404", "not-a-guid", "description"):
        assert f"`{record}`" in text


def test_markdown_escapes_pipes_newlines_and_html_so_the_tables_stay_whole() -> None:
    text = render(full_report(), "markdown")
    table_lines = [line for line in text.splitlines() if line.startswith("|")]
    for line in table_lines:
        columns = _unescaped_pipes(line) - 1
        assert columns in (3, 6), line  # not-carried, summary and changes tables; no stray cell
    assert r"Ev \| Yaşam<br>ikinci satır" in text
    assert SCRIPT not in text
    assert r"\<script\>alert(1)\</script\>" in text


def test_markdown_says_there_is_nothing_to_change() -> None:
    text = render(empty_report(), "markdown")
    assert f"**{NO_CHANGES}**" in text
    assert "## Changes" not in text
    assert "Everything in the store carries over." in text


# -- html ----------------------------------------------------------------------------------


class Page(HTMLParser):
    """Everything a self-containment and structure check needs from a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.rows: dict[str, list[dict[str, str | None]]] = {}
        """Table id -> the attributes of each of its rows (header row included)."""
        self._in: str | None = None
        self._tables: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag in ("script", "style"):
            self._in = tag
        elif tag == "table":
            self._tables.append(str(found.get("id") or ""))
        elif tag == "tr" and self._tables:
            self.rows.setdefault(self._tables[-1], []).append(found)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in = None

    def handle_endtag(self, tag: str) -> None:
        self._in = None
        if tag == "table":
            self._tables.pop()

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)
        else:
            self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


@pytest.fixture(scope="module")
def page() -> Page:
    return Page(render(full_report(), "html"))


@pytest.mark.parametrize("report", [full_report(), empty_report()], ids=["changes", "empty"])
def test_html_loads_nothing_from_outside_the_file(report: DiffReport) -> None:
    page = Page(render(report, "html"))
    for tag in ("link", "img", "iframe", "object", "embed"):
        assert not page.all(tag), tag
    for name, attrs in page.tags:
        for attr, value in attrs.items():
            assert "://" not in (value or ""), (name, attr, value)
            if attr in ("src", "srcset", "action", "formaction", "poster", "data", "xlink:href"):
                pytest.fail(f"<{name} {attr}={value!r}> would load a resource")
            if attr == "href":
                assert (value or "").startswith("#"), value
                assert (value or "")[1:] in page.ids, f"link {value} points at no element"
    assert all("src" not in attrs for attrs in page.all("script"))
    for css in page.styles:
        assert "url(" not in css
        assert "@import" not in css
    assert {"charset": "utf-8"} in page.all("meta")


def test_html_has_every_section_and_a_nav_to_each(page: Page) -> None:
    assert {"summary", "chart", "changes", "not-carried"} <= {
        str(a.get("id")) for a in page.all("section")
    }
    assert [a["href"] for a in page.all("a")] == ["#summary", "#chart", "#changes", "#not-carried"]
    text = "".join(page.text)
    assert "Plan: 1 to create, 1 to recreate, 3 to update, 1 to delete." in text
    assert len(page.all("svg")) >= 2  # charts by action and by origin
    assert {str(r.get("class")) for r in page.all("rect")} >= {
        "create",
        "recreate",
        "update",
        "delete",
        "source",
        "drift",
    }


def test_html_shows_every_change_with_a_search_box_and_without_needing_js(page: Page) -> None:
    inputs = page.all("input")
    assert [(i.get("id"), i.get("type")) for i in inputs] == [("q", "search")]
    rows = page.rows["changes-table"]
    assert len(rows) == 1 + len(full_report().changes)  # the header, then a row per collection
    text = "".join(page.text)
    for change in full_report().changes:
        assert change.source_slug in text
    for shown in ("Elle değiştirildi", "Çocuk Ayakkabıları Editörün Seçimi 11", "SKU-3", "SKU-2"):
        assert shown in text
    assert all("hidden" not in attrs for attrs in rows)  # every row visible without JS
    for record in ("SKU-404", "not-a-guid", "description"):
        assert record in text


def test_html_shows_a_script_name_as_text(page: Page) -> None:
    assert SCRIPT in "".join(page.text)
    assert len(page.all("script")) == 1  # only the page's own filter
    assert "alert" not in "".join(page.scripts)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in render(full_report(), "html")


def test_html_says_there_is_nothing_to_change() -> None:
    page = Page(render(empty_report(), "html"))
    text = "".join(page.text)
    assert NO_CHANGES in text
    assert "12 collections unchanged." in text
    assert not page.all("input")  # nothing to search


# -- table ---------------------------------------------------------------------------------


def test_table_shows_a_summary_line_per_action_and_each_change_field_by_field() -> None:
    text = render(full_report(), "table")
    assert re.search(r"^\s+create\s+1\s+1 source\s+\+2 items", text, re.M)
    assert re.search(r"^\s+recreate\s+1\s+1 drift\s", text, re.M)
    assert re.search(r"^\s+update\s+3\s+2 source, 1 drift\s+\+1 -1 items", text, re.M)
    assert re.search(r"^\s+delete\s+1\s+1 source\s", text, re.M)
    assert re.search(r"^\s+unchanged\s+52$", text, re.M)
    assert "name: Yaz → " + SCRIPT in text
    assert "status: private → public" in text
    assert '+ SKU-1 (pk 101) "Kırmızı, 32 numara"' in text
    assert "- SKU-2 (pk 102)" in text
    assert "Will not carry over" in text
    for record in ("SKU-404", "not-a-guid", "description"):
        assert record in text


def test_table_keeps_slugs_and_names_whole_at_120_columns() -> None:
    text = render(full_report(), "table", width=120)
    assert LONG_SLUG in text
    assert "name: Elle değiştirildi" in text
    assert "  → Çocuk Ayakkabıları Editörün Seçimi" in text  # the new name on a line of its own


@pytest.mark.parametrize("width", [80, 120, 200])
def test_table_fits_the_width_it_is_given(width: int) -> None:
    text = render(full_report(), "table", width=width)
    assert max(cell_len(line) for line in text.splitlines()) <= width


def test_table_is_coloured_only_when_asked() -> None:
    assert "\x1b[" in render(full_report(), "table", color=True)
    assert "\x1b[" not in render(full_report(), "table", color=False)


def test_table_says_there_is_nothing_to_change_and_still_lists_what_will_not_carry_over() -> None:
    text = render(empty_report(), "table")
    assert NO_CHANGES in text
    assert "12 collections unchanged." in text
    assert "Will not carry over" not in text
    lost = render(
        empty_report(
            not_carried=[NotCarried("rejected_record", "bad-date", "createdon is not a date")]
        ),
        "table",
    )
    assert NO_CHANGES in lost
    assert "bad-date" in lost
    assert "createdon is not a date" in lost

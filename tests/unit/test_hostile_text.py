"""Names a service sends are data: no report runs them in a spreadsheet or a terminal."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from collsync.report.model import Change, DiffReport, FieldChange, ItemChange, NotCarried
from collsync.report.render import render
from collsync.text import shown

from .test_report_render import empty_report

HOSTILE = (
    '=HYPERLINK("http://evil.example","click")',
    "=cmd|'/C calc'!A0",
    "+cmd|'/C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "\t=1+1",
    "\r=1+1",
    "\x1b]0;owned\x07Başlık",  # retitles the terminal
    "\x1b[2J\x1b[HClear",  # clears it
    "Ters \u202eçevrilmiş",  # reads backwards
    "NUL\x00içinde",
)
# a terminal acts on these: C0 but tab and newline, DEL, C1, bidirectional controls
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def hostile_report() -> DiffReport:
    return empty_report(
        unchanged=0,
        changes=[
            Change(
                "create",
                "source",
                f"c-{n}",
                name,  # as a slug too: the store sends what it sends
                name,
                fields=(FieldChange("name", None, name),),
                items_added=(ItemChange(name, 100 + n, name),),
            )
            for n, name in enumerate(HOSTILE)
        ],
        not_carried=[NotCarried("rejected_record", HOSTILE[7], f"reason: {HOSTILE[0]}")],
    )


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown"])
def test_text_reports_show_control_characters_escaped(fmt: str) -> None:
    text = render(hostile_report(), fmt, width=200)
    assert not RAW_CONTROL.search(text)
    assert "\\x1b]0;owned\\x07Başlık" in text  # shown, not dropped: the operator sees it
    assert "Ters \\u202eçevrilmiş" in text


def test_csv_cells_never_start_a_formula() -> None:
    rows = list(csv.reader(io.StringIO(render(hostile_report(), "csv"))))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=cmd|'/C calc'!A0" in cells  # neutralised the OWASP way, still readable
    assert "'-2+3" in cells


def test_json_keeps_the_text_as_the_service_sent_it() -> None:
    document = json.loads(render(hostile_report(), "json"))
    assert [c["name"] for c in document["changes"]] == list(HOSTILE)


def test_shown_keeps_what_a_person_reads() -> None:
    assert shown("Çocuk Ayakkabıları 👟\n\tyeni") == "Çocuk Ayakkabıları 👟\n\tyeni"
    assert shown("a\rb\x7fc\x9bd") == "a\\x0db\\x7fc\\x9bd"

"""Render a diff report in the format asked for, and ship the JSON schema its JSON form obeys."""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from collsync.report.render_html import render_html
from collsync.report.render_text import render_csv, render_markdown, render_table
from collsync.text import shown_all

if TYPE_CHECKING:
    from collsync.report.model import DiffReport

FORMATS = ("table", "json", "csv", "markdown", "html")
SCHEMA_FILE = "diff.schema.json"


def render(report: DiffReport, fmt: str, *, color: bool = False, width: int = 120) -> str:
    """The report as text in ``fmt``; ``color`` and ``width`` apply to the terminal table only."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        return render_html(report)  # escaped as HTML, where control characters do nothing
    report = shown_all(report)  # a terminal or an editor would act on control characters
    if fmt == "table":
        return render_table(report, color=color, width=width)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "markdown":
        return render_markdown(report)
    raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``render(report, "json")``, as shipped in the package."""
    text = resources.files("collsync.report").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def sync_summary_schema() -> dict[str, Any]:
    """The JSON schema of ``collsync sync --summary-json`` (shipped in the package)."""
    text = (
        resources.files("collsync.report")
        .joinpath("sync-summary.schema.json")
        .read_text(encoding="utf-8")
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded

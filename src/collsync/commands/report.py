"""How a command shows a plan (``diff``, ``--dry-run``) and what a run did (its summary)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from pathlib import Path

    from collsync.pipeline.run import RunSummary
    from collsync.report.model import DiffReport

ACTIONS = (
    ("create", "create"),
    ("recreate", "recreate"),
    ("update", "update"),
    ("delete", "delete"),
    ("items_added", "items added"),
    ("items_removed", "items removed"),
)
READ_ROWS = (
    ("staged", "Source collections read"),
    ("rejected", "Rejected source records"),
    ("retried", "Failed records tried again"),
    ("adopted", "Adopted after a lost answer"),
    ("forgotten", "Forgotten (already gone from Akinon)"),
    ("unchanged", "Unchanged"),
    ("fields_dropped", "Source field values Akinon cannot hold"),
)


def show_report(report: DiffReport, fmt: str, output: Path | None) -> None:
    from collsync.report.render import render

    if output is not None:
        output.write_text(render(report, fmt), encoding="utf-8")
        click.echo(f"report written to {output}", err=True)
    else:
        console = Console()
        click.echo(render(report, fmt, color=sys.stdout.isatty(), width=console.width), nl=False)


def print_summary(summary: RunSummary) -> None:
    """The plan's counts beside what was done, with the diff's names; then what was read,
    what failed and what was verified."""
    console = Console()
    title = f"collsync {summary.command}: run {summary.run_id}"
    if summary.label:
        title += f" ({summary.label})"
    if summary.mode != summary.command:
        title += f", the plan of `collsync {summary.mode}`"
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("planned", justify="right")
    table.add_column("done", justify="right")
    for key, label in ACTIONS:
        table.add_row(label, str(summary.planned.get(key, 0)), str(summary.done.get(key, 0)))
    for key, label in READ_ROWS:
        value = summary.counts.get(key, 0)
        if value or (key == "staged" and "staged" in summary.read):
            table.add_row(label, "", str(value))
    table.add_row("Failed", "", str(summary.failed))
    console.print(table)
    if summary.verification is not None and summary.verification.of_collections:
        style = "green" if summary.verification.complete else "yellow"
        console.print(f"[{style}]{summary.verification.line.capitalize()}[/{style}]")
    if summary.failed:
        console.print(
            f"[yellow]{summary.failed} record(s) failed; see `collsync failures`[/yellow]"
        )

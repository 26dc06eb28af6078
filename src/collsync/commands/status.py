"""``collsync status`` and ``collsync failures``: what the state file knows, read-only."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from collsync.commands.options import config_option, logging_options
from collsync.config import load_config
from collsync.state import State
from collsync.text import shown

if TYPE_CHECKING:
    from pathlib import Path

_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)


def _open(config_path: Path) -> State:
    config = load_config(config_path, offline=True)
    if not config.state.path.exists():
        click.echo(f"no state yet at {config.state.path}: run `collsync migrate` first", err=True)
        click.get_current_context().exit(0)
    return State.open(config.state.path)


def status_data(state: State, runs: int = 10) -> dict[str, Any]:
    counts = state.ids.counts()
    return {
        "state": str(state.path),
        "runs": [
            {
                "id": r.id,
                "command": r.command,
                "status": r.status,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "summary": r.summary,
            }
            for r in state.runs.recent(runs)
        ],
        "map": {
            "collections": counts.collections,
            "items": counts.items,
            "products": counts.products,
            "staged": state.staging.count_all(),
        },
        "open_failures": state.failures.count_open(),
        "acknowledged_failures": state.failures.count_acknowledged(),
        "open_intents": state.journal.count_open(),
    }


@click.command()
@config_option
@_format
@click.option(
    "--runs",
    "run_count",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="How many of the last runs to list (rollback --run N takes their numbers).",
)
@logging_options
def status(config_path: Path, fmt: str, run_count: int) -> None:
    """Show the last runs, what is mapped, and what failed.

    \b
    Example:
      collsync status -c config/store.toml --format json
      collsync status -c config/store.toml --runs 50
    """
    state = _open(config_path)
    try:
        data = status_data(state, run_count)
    finally:
        state.close()
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    console = Console()
    runs = Table(title=f"Runs ({data['state']})", title_justify="left")
    for column in ("run", "command", "status", "started", "finished", "created", "failed"):
        runs.add_column(column)
    for run in data["runs"]:
        counts = run["summary"].get("counts", {})
        runs.add_row(
            str(run["id"]),
            run["command"],
            run["status"],
            run["started_at"],
            run["finished_at"] or "-",
            str(counts.get("create", 0)),
            str(run["summary"].get("failed", 0)),
        )
    console.print(runs)
    mapped = data["map"]
    console.print(
        f"Mapped: {mapped['collections']} collections, {mapped['items']} items; "
        f"{mapped['products']} products in the SKU map; {mapped['staged']} staged source records"
    )
    console.print(
        f"Open failures: {data['open_failures']} (and {data['acknowledged_failures']} "
        f"acknowledged)   Open journal intents: {data['open_intents']}"
    )


def _next_try(row: dict[str, Any]) -> str:
    if row["resolved"]:
        return "resolved"
    if row["acked_at"]:
        reason = f": {row['ack_reason']}" if row["ack_reason"] else ""
        return f"acknowledged {row['acked_at']}{reason} (not retried)"
    if row["parked"]:
        return "parked (collsync failures --retry)"
    if row["retry_at"] is None:
        return "next run"
    return datetime.fromtimestamp(row["retry_at"], UTC).isoformat(timespec="seconds")


@click.command()
@config_option
@_format
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved failures.")
@click.option(
    "--retry",
    is_flag=True,
    help="Make every open failure due now, parked ones included: the next run tries them.",
)
@click.option(
    "--ack",
    "ack",
    multiple=True,
    metavar="RECORD",
    help="Accept the failures of this record (repeatable): still listed, no longer retried, "
    "and no longer a reason for exit code 3.",
)
@click.option("--ack-all", metavar="KIND", help="Accept every open failure of this kind.")
@click.option("--reason", default="", help="Why they are accepted (shown with them).")
@logging_options
def failures(
    config_path: Path,
    fmt: str,
    include_resolved: bool,
    retry: bool,
    ack: tuple[str, ...],
    ack_all: str | None,
    reason: str,
) -> None:
    """List records that failed, with the reason, the stage, and when they are tried again.

    \b
    Example:
      collsync failures -c config/store.toml
      collsync failures -c config/store.toml --retry && collsync sync -c config/store.toml
      collsync failures -c config/store.toml --ack-all unresolved_product --reason "not sold"
    A failed record is tried again by later runs, waiting longer after each failure; after
    [sync] retry_limit failures it is parked until --retry. An acknowledged failure stays
    listed and no longer makes a run exit 3, until it changes (the record changed in the store)
    or another failure comes.
    """
    state = _open(config_path)
    try:
        if retry:
            click.echo(
                f"{state.failures.unpark()} failure(s) will be tried on the next run", err=True
            )
        if ack or ack_all:
            accepted = state.failures.acknowledge(records=ack, kind=ack_all, reason=reason)
            click.echo(f"{accepted} failure(s) acknowledged", err=True)
        rows = [asdict(f) for f in state.failures.listed(include_resolved=include_resolved)]
    finally:
        state.close()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no open failures")
        return
    table = Table(title=f"{len(rows)} failure(s)", title_justify="left")
    for column in ("record", "stage", "kind", "reason", "tries", "last", "next try"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            shown(row["record_id"]),
            row["stage"],
            row["kind"],
            shown(row["reason"]),
            str(row["attempts"]),
            row["last_at"],
            _next_try(row),
        )
    Console().print(table)

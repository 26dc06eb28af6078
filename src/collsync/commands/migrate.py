"""``collsync migrate``: the one-off migration, resumable, exactly once."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from collsync import aio
from collsync.commands.options import config_option, logging_options
from collsync.commands.progress import StageProgress
from collsync.config import load_config
from collsync.errors import ConfigError
from collsync.pipeline.run import MigrateOptions, RunSummary, merge_filters, migrate
from collsync.source import CollectionFilters

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from collsync.config import Config

SUMMARY_ROWS = [
    ("staged", "Source collections read"),
    ("rejected", "Rejected source records"),
    ("created", "Collections created"),
    ("recreated", "  of them re-created (deleted on Akinon)"),
    ("adopted", "Adopted after a lost answer"),
    ("updated", "Collections updated"),
    ("items_added", "Items added"),
    ("items_removed", "Items removed"),
    ("deleted", "Collections deleted (mirror)"),
    ("retried", "Failed records tried again"),
    ("unchanged", "Unchanged"),
    ("failed", "Failed"),
    ("unresolved_items", "Items without an Akinon product"),
    ("fields_dropped", "Source fields Akinon cannot hold"),
]


@dataclass(frozen=True, slots=True)
class Selection:
    """The collections a command works on, as chosen on the command line."""

    filters: CollectionFilters
    limit: int | None

    def options(self, config: Config, **extra: Any) -> MigrateOptions:
        return MigrateOptions(
            filters=merge_filters(config, self.filters), limit=self.limit, **extra
        )


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--id/--name/--slug/--created-since/--created-until/--limit`` as one ``selection``."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        ids: tuple[str, ...],
        names: tuple[str, ...],
        slugs: tuple[str, ...],
        created_since: Any,
        created_until: Any,
        limit: int | None,
        **kwargs: Any,
    ) -> Any:
        filters = cli_filters(ids, names, slugs, created_since, created_until)
        return command(*args, selection=Selection(filters, limit), **kwargs)

    decorated: Callable[..., Any] = wrapper
    for option in reversed(
        [
            click.option("--id", "ids", multiple=True, help="Only this source collection id."),
            click.option("--name", "names", multiple=True, help="Only collections with this name."),
            click.option("--slug", "slugs", multiple=True, help="Only collections with this slug."),
            click.option(
                "--created-since",
                type=click.DateTime(["%Y-%m-%d"]),
                help="Only collections created on or after this date (YYYY-MM-DD).",
            ),
            click.option(
                "--created-until",
                type=click.DateTime(["%Y-%m-%d"]),
                help="Only collections created on or before this date (YYYY-MM-DD).",
            ),
            click.option("--limit", type=click.IntRange(1), help="At most this many collections."),
        ]
    ):
        decorated = option(decorated)
    return decorated


def cli_filters(
    ids: tuple[str, ...],
    names: tuple[str, ...],
    slugs: tuple[str, ...],
    created_since: Any,
    created_until: Any,
) -> CollectionFilters:
    try:
        return CollectionFilters(
            id=ids,
            name=names,
            slug=slugs,
            createdon_min=created_since.date() if created_since else None,
            createdon_max=created_until.date() if created_until else None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        option = {"id": "--id", "name": "--name", "slug": "--slug"}.get(str(first["loc"][0]))
        raise ConfigError(f"{option or first['loc'][0]}: {first['msg']}") from None


def print_summary(summary: RunSummary, *, dry_run: bool = False) -> None:
    console = Console()
    title = "Planned changes (dry run)" if dry_run else "Migration summary"
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    if dry_run:
        for key, value in sorted(summary.planned.items()):
            action, origin = key.split(":")
            table.add_row(f"{action.replace('_', ' ')} ({origin})", str(value))
        if not summary.planned:
            table.add_row("nothing to change", "0")
    for key, label in SUMMARY_ROWS:
        if dry_run and key not in ("staged", "rejected", "unresolved_items", "fields_dropped"):
            continue
        value = summary.counts.get(key, 0)
        if value or key in ("staged", "created", "failed"):
            table.add_row(label, str(value))
    console.print(table)
    if summary.open_failures:
        console.print(
            f"[yellow]{summary.open_failures} record(s) failed; see `collsync failures`[/yellow]"
        )


@click.command("migrate")
@config_option
@filter_options
@click.option("--dry-run", is_flag=True, help="Plan only: read both sides, change nothing.")
@click.option(
    "--restart",
    is_flag=True,
    help="Start over instead of resuming an unfinished run (the id map is kept).",
)
@logging_options
def migrate_command(config_path: Path, selection: Selection, dry_run: bool, restart: bool) -> None:
    """Migrate collections to Akinon; resumes an unfinished run, never creates twice.

    \b
    Example:
      collsync migrate -c config/store.toml
      collsync migrate -c config/store.toml --slug summer-sale --dry-run
    Exit codes: 0 done, 3 some records failed (see `collsync failures`), 1 fatal (state saved,
    safe to re-run), 2 config error, 75 another run holds the state.
    """
    config = load_config(config_path)
    options = selection.options(config, dry_run=dry_run, restart=restart)
    with StageProgress() as progress:
        summary = aio.run(migrate(config, options, progress=progress))
    print_summary(summary, dry_run=dry_run)
    click.get_current_context().exit(summary.exit_code)

"""``collsync migrate``: the one-off migration, resumable, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from collsync.commands.options import (
    config_option,
    existing_options,
    logging_options,
    rebind_option,
    report_options,
)
from collsync.commands.progress import stage_progress
from collsync.commands.report import print_summary, show_report
from collsync.config import load_config
from collsync.errors import ConfigError
from collsync.pipeline.plan import MIGRATE
from collsync.pipeline.run import RunRequest, run
from collsync.pipeline.scope import selected
from collsync.source import CollectionFilters

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from collsync.config import Config
    from collsync.pipeline.plan import Existing, Mode
    from collsync.pipeline.scope import Scope


@dataclass(frozen=True, slots=True)
class Selection:
    """The collections a command works on, as chosen on the command line."""

    filters: CollectionFilters
    limit: int | None

    def scope(self, config: Config, mode: Mode) -> Scope:
        return selected(config, mode, self.filters, self.limit)


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
                type=CREATED_ON,
                help="Only collections created on or after this day (YYYY-MM-DD), or this "
                "moment (YYYY-MM-DD HH:MM:SS).",
            ),
            click.option(
                "--created-until",
                type=CREATED_ON,
                help="Only collections created on or before this day (YYYY-MM-DD, all of it), or "
                "this moment (YYYY-MM-DD HH:MM:SS).",
            ),
            click.option("--limit", type=click.IntRange(1), help="At most this many collections."),
        ]
    ):
        decorated = option(decorated)
    return decorated


class CreatedOn(click.ParamType):  # type: ignore[type-arg]
    """A day (``date``: all of it) or a moment (``datetime``), as the store's createdon."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, date):
            return value
        for pattern, day in (("%Y-%m-%d", True), ("%Y-%m-%d %H:%M:%S", False)):
            with contextlib.suppress(ValueError):
                moment = datetime.strptime(value.strip().replace("T", " "), pattern)
                return moment.date() if day else moment
        return self.fail(
            f"{value!r} is not a day (YYYY-MM-DD) or a moment (YYYY-MM-DD HH:MM:SS)", param, ctx
        )


CREATED_ON = CreatedOn()


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
            createdon_min=created_since,
            createdon_max=created_until,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        option = {"id": "--id", "name": "--name", "slug": "--slug"}.get(str(first["loc"][0]))
        raise ConfigError(f"{option or first['loc'][0]}: {first['msg']}") from None


@click.command("migrate")
@config_option
@filter_options
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show the plan as `collsync diff` does, and write nothing.",
)
@report_options
@click.option(
    "--restart",
    is_flag=True,
    help="Start over instead of resuming an unfinished run (the id map is kept).",
)
@click.option("--no-verify", is_flag=True, help="Do not read back what the run changed.")
@existing_options
@rebind_option
@logging_options
def migrate_command(
    config_path: Path,
    selection: Selection,
    dry_run: bool,
    fmt: str,
    output: Path | None,
    restart: bool,
    no_verify: bool,
    existing: Existing,
    rebind: bool,
) -> None:
    """Migrate collections to Akinon; resumes an unfinished run, never creates twice.

    \b
    Example:
      collsync migrate -c config/store.toml --dry-run
      collsync migrate -c config/store.toml
      collsync migrate -c config/store.toml --slug summer-sale
    Creates what was never migrated, re-creates what was deleted on Akinon, updates names and
    statuses, adds items and removes the items it added that the store no longer lists.
    Exit codes: 0 done, 3 some records failed (see `collsync failures`), 1 fatal (state saved,
    safe to re-run), 2 config error, 75 another run holds the state.
    """
    config = load_config(config_path)
    request = RunRequest(
        "migrate --dry-run" if dry_run else "migrate",
        selection.scope(config, MIGRATE.taking(existing)),
        preview=dry_run,
        restart=restart,
        resumable=not dry_run,
        verify=not no_verify,
        rebind=rebind,
    )
    with stage_progress() as progress:
        result = asyncio.run(run(config, request, progress=progress))
    if result.preview is not None:
        show_report(result.preview.report, fmt, output)
    else:
        print_summary(result.summary)
    click.get_current_context().exit(result.summary.exit_code)

"""``collsync diff`` and ``collsync apply``: review a plan, then apply exactly that plan."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from collsync import aio
from collsync.commands.migrate import Selection, filter_options, print_summary
from collsync.commands.options import config_option, logging_options
from collsync.commands.progress import StageProgress
from collsync.config import load_config
from collsync.errors import EXIT_CHANGES, EXIT_OK
from collsync.pipeline.diff import apply, diff, read_plan


def _formats() -> tuple[str, ...]:
    from collsync.report.render import FORMATS

    return tuple(FORMATS)


@click.command("diff")
@config_option
@filter_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_formats()),
    default="table",
    show_default=True,
    help="Report format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report to this file instead of the terminal.",
)
@click.option("--exit-code", is_flag=True, help="Exit 4 when there are changes, 0 when none.")
@click.option(
    "--save-plan",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also save the plan, for `collsync apply`.",
)
@logging_options
def diff_command(
    config_path: Path,
    selection: Selection,
    fmt: str,
    output: Path | None,
    exit_code: bool,
    save_plan: Path | None,
) -> None:
    """Show what a sync would change, writing nothing to either service.

    \b
    Example:
      collsync diff -c config/store.toml
      collsync diff -c config/store.toml --format html -o diff.html
      collsync diff -c config/store.toml --save-plan plan.json && collsync apply -c ... plan.json
    Changes are labelled `source` (the store changed) or `drift` (Akinon was changed outside
    collsync). With --exit-code: 4 when there are changes, 0 when none.
    """
    from collsync.report.render import render

    config = load_config(config_path)
    options = selection.options(config)
    with StageProgress() as progress:
        report, document = aio.run(diff(config, options, progress=progress))
    if output is not None:
        output.write_text(render(report, fmt), encoding="utf-8")
        click.echo(f"report written to {output}", err=True)
    else:
        click.echo(render(report, fmt, color=sys.stdout.isatty()), nl=False)
    if save_plan is not None:
        save_plan.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
        click.echo(
            f"plan saved to {save_plan}: apply it with "
            f"`collsync apply -c {config_path} {save_plan}`",
            err=True,
        )
    if exit_code:
        click.get_current_context().exit(EXIT_CHANGES if report.has_changes else EXIT_OK)


@click.command("apply")
@config_option
@click.argument("plan_path", metavar="PLAN", type=click.Path(path_type=Path, dir_okay=False))
@logging_options
def apply_command(config_path: Path, plan_path: Path) -> None:
    """Apply a plan saved by `collsync diff --save-plan`, exactly; refuse if it is stale.

    \b
    Example:
      collsync apply -c config/store.toml plan.json
    The plan is refused (exit 1, nothing written) when the store, Akinon or the state changed
    since it was made; the message names what changed. Journaled and resumable like migrate.
    """
    config = load_config(config_path)
    document = read_plan(plan_path)
    with StageProgress() as progress:
        summary = aio.run(apply(config, document, progress=progress))
    print_summary(summary)
    click.get_current_context().exit(summary.exit_code)

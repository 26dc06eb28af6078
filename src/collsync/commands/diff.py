"""``collsync diff`` and ``collsync apply``: review a plan, then apply exactly that plan."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from collsync.commands.migrate import Selection, filter_options
from collsync.commands.options import (
    config_option,
    existing_options,
    logging_options,
    report_options,
)
from collsync.commands.progress import stage_progress
from collsync.commands.report import print_summary, show_report
from collsync.config import load_config
from collsync.errors import EXIT_CHANGES, EXIT_OK
from collsync.pipeline.plan import SYNC_FULL, SYNC_MIRROR, Existing
from collsync.pipeline.run import RunRequest, run
from collsync.pipeline.saved_plan import read_plan, scope_of


@click.command("diff")
@config_option
@filter_options
@click.option(
    "--mirror",
    is_flag=True,
    help="The plan of `sync --full --mirror`: also every collection and item it would delete.",
)
@click.option(
    "--max-deletes",
    metavar="N|N%",
    help="With --mirror: the guard to judge the deletions by (default: [sync] max_deletes).",
)
@report_options
@click.option("--exit-code", is_flag=True, help="Exit 4 when there are changes, 0 when none.")
@click.option(
    "--save-plan",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also save the plan, for `collsync apply`.",
)
@existing_options
@logging_options
def diff_command(
    config_path: Path,
    selection: Selection,
    mirror: bool,
    max_deletes: str | None,
    fmt: str,
    output: Path | None,
    exit_code: bool,
    save_plan: Path | None,
    existing: Existing,
) -> None:
    """Show what `sync --full` (or `--mirror`) would change, writing nothing.

    \b
    Example:
      collsync diff -c config/store.toml
      collsync diff -c config/store.toml --mirror --format html -o diff.html
      collsync diff -c config/store.toml --save-plan plan.json && collsync apply -c ... plan.json
    Changes are labelled `source` (the store changed) or `drift` (Akinon was changed outside
    collsync). The command of the same mode, run next, makes exactly these changes. With
    --exit-code: 4 when there are changes, 0 when none.
    """
    config = load_config(config_path)
    request = RunRequest(
        "diff",
        selection.scope(config, (SYNC_MIRROR if mirror else SYNC_FULL).taking(existing)),
        preview=True,
        resumable=False,
        max_deletes=max_deletes,
        save_plan=save_plan is not None,
    )
    with stage_progress() as progress:
        result = asyncio.run(run(config, request, progress=progress))
    assert result.preview is not None
    report = result.preview.report
    show_report(report, fmt, output)
    if save_plan is not None:
        save_plan.write_text(
            json.dumps(result.saved, ensure_ascii=False, indent=1), encoding="utf-8"
        )
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
@click.option("--no-verify", is_flag=True, help="Do not read back what the run changed.")
@logging_options
def apply_command(config_path: Path, plan_path: Path, no_verify: bool) -> None:
    """Apply a plan saved by `collsync diff --save-plan`, exactly; refuse if it is stale.

    \b
    Example:
      collsync apply -c config/store.toml plan.json
    The plan is refused (exit 1, nothing written) when the store, Akinon or the state changed
    since it was made; the message names what changed. Journaled and resumable like migrate.
    """
    config = load_config(config_path)
    saved = read_plan(plan_path)
    request = RunRequest(
        f"apply {saved['created_at']}",
        scope_of(saved, config),
        saved=saved,
        verify=not no_verify,
    )
    with stage_progress() as progress:
        result = asyncio.run(run(config, request, progress=progress))
    print_summary(result.summary)
    click.get_current_context().exit(result.summary.exit_code)

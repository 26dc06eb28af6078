"""``collsync rollback``: delete what collsync created, and nothing else."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

import click

from collsync.commands.options import config_option, logging_options, report_options
from collsync.commands.progress import stage_progress
from collsync.commands.report import print_summary, show_report
from collsync.config import load_config
from collsync.errors import EXIT_FATAL, ConfigError
from collsync.pipeline.plan import rollback
from collsync.pipeline.run import RunRequest, run
from collsync.pipeline.scope import Scope

if TYPE_CHECKING:
    from pathlib import Path

    from collsync.report.model import DiffReport
    from collsync.state import State


@click.command("rollback")
@config_option
@click.option(
    "--run",
    "run_id",
    type=click.IntRange(1),
    help="Only the collections created by this run (see `collsync status`).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be deleted, and write nothing.")
@report_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option("--no-verify", is_flag=True, help="Do not read back what the run deleted.")
@logging_options
def rollback_command(
    config_path: Path,
    run_id: int | None,
    dry_run: bool,
    fmt: str,
    output: Path | None,
    yes: bool,
    no_verify: bool,
) -> None:
    """Delete on Akinon the collections collsync created (all, or those of run N).

    \b
    Example:
      collsync rollback -c config/store.toml --run 3 --dry-run
      collsync rollback -c config/store.toml --run 3
    Never touches a collection collsync did not create. Shows the plan and asks before
    deleting (--yes for scripts); every delete is journaled. The id map then forgets the
    deleted collections, so a later `collsync migrate` creates them again.
    """
    config = load_config(config_path)
    if not dry_run and not yes and not sys.stdin.isatty():
        raise ConfigError("rollback deletes collections: confirm with --yes when not on a terminal")

    def approve(report: DiffReport) -> bool:
        show_report(report, fmt, output)
        if not report.has_changes:
            return True  # nothing to delete (the map may forget collections already gone)
        return yes or click.confirm(
            f"Delete these {report.summary['delete']} collection(s) on Akinon?", default=False
        )

    def scope(state: State) -> Scope:
        if run_id is not None and state.runs.get(run_id) is None:
            raise ConfigError(f"--run {run_id}: no such run in {state.path} (see collsync status)")
        return Scope(rollback(run_id), reads_store=False, bookkeeping="forget")

    request = RunRequest(
        "rollback --dry-run" if dry_run else "rollback",
        scope,
        preview=dry_run,
        resumable=False,
        verify=not no_verify,
        approve=None if dry_run else approve,
    )
    # no progress bars under the confirmation prompt
    with stage_progress(bars=None if dry_run or yes else False) as progress:
        result = asyncio.run(run(config, request, progress=progress))
    if dry_run:
        assert result.preview is not None
        show_report(result.preview.report, fmt, output)
    elif not result.summary.approved:
        click.echo("rollback cancelled: nothing deleted", err=True)
        click.get_current_context().exit(EXIT_FATAL)
    else:
        print_summary(result.summary)
    click.get_current_context().exit(result.summary.exit_code)

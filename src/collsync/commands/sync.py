"""``collsync sync``: the cron job, with outputs for unattended runs.

Besides the exit code, a run can leave a one-line JSON summary (``--summary-json`` on stdout,
``[sync] summary_file``) and a Prometheus text file (``[sync] metrics_file``) for the node
exporter's textfile collector. Both are written whatever the outcome, except when another run
holds the lock (that run writes them); files are replaced atomically.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

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
from collsync.errors import EXIT_FATAL, CollsyncError, InterruptedRunError, LockHeldError
from collsync.logging import redact
from collsync.metrics import write_metrics
from collsync.pipeline.run import RunRequest, RunResult, run
from collsync.pipeline.scope import SyncChoice, sync_scope
from collsync.state import State

if TYPE_CHECKING:
    from pathlib import Path

    from collsync.config import Config
    from collsync.pipeline.plan import Existing
    from collsync.pipeline.run import RunSummary

LAST_SUCCESS = "sync.last_success"
SUMMARY_VERSION = 1


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def summary_document(
    started: float,
    summary: RunSummary | None,
    exit_code: int,
    error: str | None,
    interrupted: bool = False,
) -> dict[str, Any]:
    finished = time.time()
    if interrupted:
        status = "interrupted"
    elif error is not None:
        status = "error"
    else:
        status = "failures" if exit_code == 3 else "ok"
    return {
        "version": SUMMARY_VERSION,
        "command": "sync",
        "status": status,
        "exit_code": exit_code,
        "mode": summary.label if summary and summary.label else None,
        "run_id": summary.run_id if summary else None,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_seconds": round(finished - started, 3),
        "counts": dict(sorted(summary.counts.items())) if summary else {},
        "planned": dict(sorted(summary.planned.items())) if summary else {},
        "verified": asdict(summary.verification) if summary and summary.verification else None,
        "open_failures": summary.failed if summary else None,
        "error": error,
    }


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` at once (a reader never sees half of it), with the mode the umask
    gives: a summary is for other users' tools to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _record_outcome(config: Config, document: dict[str, Any]) -> tuple[float | None, int | None]:
    """Remember a successful sync; answer when one last succeeded and how many failures
    a person acknowledged (both for the metrics)."""
    if not config.state.path.exists():
        return None, None
    state = State.open(config.state.path)
    try:
        if document["status"] in ("ok", "failures"):
            state.checkpoints.set(LAST_SUCCESS, {"at": time.time()}, document["run_id"])
        saved = state.checkpoints.get(LAST_SUCCESS)
        return (float(saved["at"]) if saved else None), state.failures.count_acknowledged()
    finally:
        state.close()


@click.command("sync")
@config_option
@click.option("--full", is_flag=True, help="Reconcile everything now, not only new collections.")
@click.option(
    "--mirror",
    is_flag=True,
    help="Delete on Akinon what the store no longer has (guarded by --max-deletes).",
)
@click.option(
    "--max-deletes",
    metavar="N|N%",
    help="Most collections --mirror may delete (default: [sync] max_deletes, 10).",
)
@click.option("--retry", is_flag=True, help="Retry parked failures too.")
@click.option(
    "--dry-run", is_flag=True, help="Show the plan as `collsync diff` does, and write nothing."
)
@report_options
@click.option("--no-verify", is_flag=True, help="Do not read back what the run changed.")
@existing_options
@rebind_option
@click.option(
    "--summary-json",
    is_flag=True,
    help="Print a one-line JSON summary on stdout instead of the table.",
)
@logging_options
def sync_command(
    config_path: Path,
    full: bool,
    mirror: bool,
    max_deletes: str | None,
    retry: bool,
    dry_run: bool,
    fmt: str,
    output: Path | None,
    no_verify: bool,
    existing: Existing,
    rebind: bool,
    summary_json: bool,
) -> None:
    """Bring Akinon up to date with the store; the job to run from cron.

    \b
    Example (crontab, every 15 minutes):
      */15 * * * * collsync sync -c /etc/collsync/store.toml --json-logs --summary-json
    New collections since the last run each time; a full reconcile (renames, status rules,
    items added and removed) with --full or when [sync] reconcile_every has passed; --mirror
    also deletes what the store no longer has. `collsync diff [--mirror]` shows the plan of a
    full sync. Exit codes: 0 done, 3 some records failed, 1 fatal or interrupted (safe to
    re-run), 75 another run is active.
    """
    config = load_config(config_path)
    choice = SyncChoice(full=full, mirror=mirror, retry=retry, existing=existing)
    request = RunRequest(
        "sync --dry-run" if dry_run else "sync",
        lambda state: sync_scope(state, config, choice),
        preview=dry_run,
        resumable=not dry_run,
        verify=not no_verify,
        max_deletes=max_deletes,
        rebind=rebind,
    )
    started = time.time()
    result: RunResult | None = None
    error: CollsyncError | None = None
    try:
        with stage_progress(bars=False if summary_json else None) as progress:
            result = asyncio.run(run(config, request, progress=progress))
    except LockHeldError:
        raise  # the run holding the lock writes the summary and the metrics
    except CollsyncError as exc:
        error = exc
    summary = result.summary if result else None
    exit_code = summary.exit_code if summary else (error.exit_code if error else EXIT_FATAL)
    document = summary_document(
        started,
        summary,
        exit_code,
        redact(str(error)) if error else None,
        interrupted=isinstance(error, InterruptedRunError),
    )
    if not dry_run:
        last_success, acknowledged = _record_outcome(config, document)
        if config.sync.summary_file:
            _write_atomically(config.sync.summary_file, json.dumps(document) + "\n")
        if config.sync.metrics_file:
            write_metrics(config.sync.metrics_file, document, last_success, acknowledged)
    if summary_json:
        click.echo(json.dumps(document, ensure_ascii=False))
    elif result is not None and result.preview is not None:
        show_report(result.preview.report, fmt, output)
    elif summary is not None:
        print_summary(summary)
    if error is not None:
        raise error
    click.get_current_context().exit(exit_code)

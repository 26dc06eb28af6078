"""``collsync state backup`` and ``collsync state check``: the state file, looked after."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from collsync.commands.options import config_option, logging_options
from collsync.config import load_config
from collsync.errors import EXIT_FATAL, ConfigError
from collsync.state import State


def _existing_state(config_path: Path) -> State:
    config = load_config(config_path, offline=True)
    if not config.state.path.exists():
        raise ConfigError(f"state.path: {config.state.path} does not exist (no run yet?)")
    return State.open(config.state.path)


@click.group("state")
def state_group() -> None:
    """Look after the state file: a consistent backup, and a health check.

    \b
    Example:
      collsync state backup -c /etc/collsync/store.toml /var/backups/collsync.db
      collsync state check -c /etc/collsync/store.toml
    """


@state_group.command("backup")
@config_option
@click.argument("target", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False))
@logging_options
def backup(config_path: Path, target: Path) -> None:
    """Copy the state into FILE: one consistent file, its write-ahead log included.

    \b
    Example:
      collsync state backup -c config/store.toml backups/collsync-$(date +%F).db
    Safe while a run writes (SQLite's online backup). A copy of the .db file alone, without its
    -wal beside it, can miss the last confirmations of a run, and a later run would create
    what they confirmed a second time.
    """
    state = _existing_state(config_path)
    try:
        state.backup(target)
    finally:
        state.close()
    click.echo(f"state copied to {target}", err=True)


@state_group.command("check")
@config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@logging_options
def check(config_path: Path, fmt: str) -> None:
    """Check the state: its integrity, schema version, bound services and open intents.

    \b
    Example:
      collsync state check -c config/store.toml
    Exit codes: 0 sound, 1 the file is damaged (restore a backup).
    """
    state = _existing_state(config_path)
    try:
        health = state.check()
    finally:
        state.close()
    if fmt == "json":
        click.echo(json.dumps(asdict(health), indent=2))
    else:
        bound = health.bound
        click.echo(f"integrity     {'ok' if not health.integrity else 'DAMAGED'}")
        for problem in health.integrity[:10]:
            click.echo(f"  {problem}")
        click.echo(f"schema        {health.schema}")
        click.echo(
            "bound to      "
            + (
                f"store {bound.store}, Akinon {bound.akinon}, account {bound.account}"
                if bound
                else "nothing yet (the first run that writes binds it)"
            )
        )
        click.echo(f"mapped        {health.mapped} collections")
        click.echo(f"open intents  {health.open_intents} (settled by the next run)")
    if health.integrity:
        click.get_current_context().exit(EXIT_FATAL)

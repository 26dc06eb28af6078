"""``collsync check``: validate a config and reach both services with it, writing nothing."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from collsync.commands.options import config_option, logging_options
from collsync.config import load_config
from collsync.errors import ConfigError
from collsync.logging import get_logger
from collsync.preflight import file_problems, service_problems

if TYPE_CHECKING:
    from pathlib import Path

log = get_logger("collsync.check")


@click.command()
@config_option
@logging_options
def check(config_path: Path) -> None:
    """Check what a run needs: the config, its files and folders, both services.

    Reads the files the config names, tries the folders a run writes, reaches the store and logs
    in to Akinon. Writes nothing; names every problem at once, each with its key (exit 2).

    \b
    Example:
      collsync check -c config/sandbox.toml
    """
    config = load_config(config_path)
    problems = file_problems(config)
    found, unreachable = asyncio.run(service_problems(config))
    problems += unreachable
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) a run would meet:\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )
    log.info("collsync.check.ok", **found)
    products = "store_products" in found
    click.echo(
        f"store   {config.source.url}  {found['store_collections']} collections"
        + (", products API answers" if products else "")
        + f"\nakinon  {config.target.url}  logged in as {config.target.email or '(token)'}, "
        f"{found['akinon_collections']} collections in the account"
        + f"\nstate   {config.state.path}  writable"
    )

"""``collsync check``: validate a config and reach both services with it, writing nothing."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import click

from collsync.commands.options import config_option, logging_options
from collsync.config import Config, load_config
from collsync.logging import get_logger
from collsync.pipeline.scope import config_filters
from collsync.source import StoreClient
from collsync.target import AkinonClient

if TYPE_CHECKING:
    from pathlib import Path

log = get_logger("collsync.check")


async def run_check(config: Config) -> dict[str, Any]:
    """Count what the store offers and log in to Akinon; returns what was found."""
    filters = config_filters(config)
    async with StoreClient.from_config(config) as store:
        collections = await store.count_collections(filters)
        products = None
        if config.items.from_ == "store":  # the products API must answer too (it has no count)
            products = (await store.get_products(1, 1)).size
    async with AkinonClient.from_config(config) as akinon:
        await akinon.login()
        first = await akinon.list_page(1, page_size=1)
    return {
        "store_collections": collections,
        "store_products": products,
        "akinon_account": config.target.email or "(token)",
        "akinon_collections": first.count,
    }


@click.command()
@config_option
@logging_options
def check(config_path: Path) -> None:
    """Check a config: validate it, reach the store and log in to Akinon. Writes nothing.

    \b
    Example:
      collsync check -c config/sandbox.toml
    """
    config = load_config(config_path)
    found = asyncio.run(run_check(config))
    log.info("collsync.check.ok", **found)
    products = found["store_products"]
    click.echo(
        f"store   {config.source.url}  {found['store_collections']} collections"
        + (", products API answers" if products is not None else "")
        + f"\nakinon  {config.target.url}  logged in as {found['akinon_account']}, "
        f"{found['akinon_collections']} collections in the account"
    )

"""``collsync demo``: the whole job on the sandbox, in one command, in well under a minute."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx
from rich.console import Console

from collsync.commands.options import logging_options
from collsync.commands.progress import stage_progress
from collsync.commands.report import print_summary
from collsync.config import load_config
from collsync.pipeline.plan import MIGRATE, SYNC_FULL
from collsync.pipeline.run import RunRequest, RunSummary, run
from collsync.pipeline.scope import Scope
from collsync.report.render import render
from collsync.sandbox import (
    AKINON_EMAIL,
    AKINON_PASSWORD,
    STORE_API_KEY,
    SeedSpec,
    create_commerce_app,
    create_store_app,
    generate,
    serve_in_thread,
    write_sku_map,
)
from collsync.state import State

if TYPE_CHECKING:
    from collsync.config import Config

CONFIG = """# Written by `collsync demo`: the sandbox it points at is gone once the demo ends.
[source]
url = "{store}"
api_key = "${{STORE_API_KEY}}"

[products]
resolve = "sku-map"
path = "sku-map.csv"

[target]
url = "{commerce}"
email = "${{AKINON_EMAIL}}"
password = "${{AKINON_PASSWORD}}"

[state]
path = "state.db"

[run]
concurrency = 16
"""


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("collsync-demo"),
    show_default=True,
    help="Where the demo writes its config, SKU map and state (replaced each time).",
)
@click.option(
    "--collections",
    type=click.IntRange(1, 100_000),
    default=300,
    show_default=True,
    help="Collections in the seeded store.",
)
@logging_options(default_level="warning")
def demo(directory: Path, collections: int) -> None:
    """Show the whole job on the sandbox: a real migration, a no-op rerun, and a diff.

    \b
    Example:
      collsync demo
    Starts both stand-in services on free loopback ports, migrates a seeded store, runs again to
    show nothing is left to do, changes the store and shows what a sync would change.
    """
    console = Console()
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (directory / name).unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    seed = generate(
        SeedSpec(collections=collections, products=max(50, collections), items_per_collection=5)
    )
    write_sku_map(seed, directory / "sku-map.csv")
    store_app, commerce_app = create_store_app(seed.store), create_commerce_app(seed.commerce)
    os.environ.update(
        STORE_API_KEY=STORE_API_KEY, AKINON_EMAIL=AKINON_EMAIL, AKINON_PASSWORD=AKINON_PASSWORD
    )
    with serve_in_thread(store_app) as store_url, serve_in_thread(commerce_app) as commerce_url:
        config_path = directory / "collsync.toml"
        config_path.write_text(
            CONFIG.format(store=store_url, commerce=commerce_url), encoding="utf-8"
        )
        config = load_config(config_path)
        console.rule("1. The store and Akinon, on 127.0.0.1")
        console.print(
            f"Commerscale store  {store_url}   {collections} collections\n"
            f"Akinon storefront  {commerce_url}   account {AKINON_EMAIL}"
        )

        console.rule("2. Migrate")
        print_summary(_migrate(config))

        console.rule("3. Run it again: nothing left to do")
        writes = _writes(commerce_app)
        print_summary(_migrate(config))
        console.print(
            f"Write requests sent to Akinon by the second run: {_writes(commerce_app) - writes}"
        )

        console.rule("4. The store changes: `collsync diff` shows what a sync would do")
        changed = asyncio.run(_rename_one(store_url, seed.store.collections[0]))
        console.print(f"Renamed in the store: {seed.store.collections[0]['name']!r} -> {changed!r}")
        with stage_progress() as progress:
            request = RunRequest("diff", Scope(SYNC_FULL), preview=True, resumable=False)
            shown = asyncio.run(run(config, request, progress=progress)).preview
        assert shown is not None
        report = shown.report
        click.echo(render(report, "table", color=console.is_terminal, width=console.width))

        state = State.open(config.state.path)
        try:
            sample = next((e for e in state.ids.entries() if e.public_url), None)
        finally:
            state.close()
    console.rule("Where things are")
    console.print(f"State file        {config.state.path}")
    if sample is not None:
        console.print(
            f"Sample public URL {commerce_url}{sample.public_url}   (store slug "
            f"{sample.source_slug})",
            soft_wrap=True,
        )
    console.print(f"Look inside       collsync status -c {config_path}", soft_wrap=True)
    shutil.rmtree(directory / "__pycache__", ignore_errors=True)


def _migrate(config: Config) -> RunSummary:
    request = RunRequest("migrate", Scope(MIGRATE, bookkeeping="reconciled"))
    with stage_progress() as progress:
        return asyncio.run(run(config, request, progress=progress)).summary


def _writes(app: Any) -> int:
    return int(app.state.sandbox.injector.log.writes())


async def _rename_one(store_url: str, record: dict[str, Any]) -> str:
    new_name = f"{record['name']} (yenilendi)"
    async with httpx.AsyncClient(base_url=store_url) as client:
        answer = await client.post(
            "/api/v1/products/collections/update",
            json={
                "authentication": {"apiKey": STORE_API_KEY},
                "data": [{"id": record["id"], "name": new_name, "slug": record["slug"]}],
            },
        )
        answer.raise_for_status()
    return new_name

"""``collsync sandbox serve``: both stand-in services on 127.0.0.1, seeded, with fault knobs."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import click

from collsync.commands.options import logging_options
from collsync.errors import ConfigError
from collsync.logging import get_logger

DEFAULT_STORE_PORT = 8701
DEFAULT_COMMERCE_PORT = 8702

_rate = click.FloatRange(0.0, 1.0)


def _check_port_free(option: str, port: int) -> None:
    """Refuse a port another program listens on, binding it as the server will: with
    SO_REUSEADDR, so the closed connections of a server stopped a moment ago (TIME_WAIT) do not
    count."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise ConfigError(
                f"{option} {port}: the port is in use on 127.0.0.1; "
                "choose another, or 0 for any free port"
            ) from None


@click.group()
def sandbox() -> None:
    """Local stand-ins for the Commerscale store and Akinon Commerce, to rehearse a migration."""


@sandbox.command()
@click.option(
    "--store-port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_STORE_PORT,
    show_default=True,
    help="Port of the Commerscale store (0: any free port).",
)
@click.option(
    "--commerce-port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_COMMERCE_PORT,
    show_default=True,
    help="Port of the Akinon storefront (0: any free port).",
)
@click.option(
    "--collections",
    type=click.IntRange(0),
    default=300,
    show_default=True,
    help="Seeded store collections.",
)
@click.option(
    "--items",
    "items_per_collection",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Products per collection.",
)
@click.option(
    "--products",
    type=click.IntRange(0),
    default=500,
    show_default=True,
    help="Products in the store (the same SKUs exist on Akinon).",
)
@click.option(
    "--unmapped-products",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Store products with no Akinon counterpart.",
)
@click.option("--malformed", is_flag=True, help="Add five broken store records.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the data.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("sandbox-data"),
    show_default=True,
    help="Where sku-map.csv and items.csv are written.",
)
@click.option(
    "--latency",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds from each request's arrival to its answer.",
)
@click.option(
    "--error-rate",
    type=_rate,
    default=0.0,
    show_default=True,
    help="Fraction of requests answered with a server error.",
)
@click.option(
    "--throttle-rate",
    type=_rate,
    default=0.0,
    show_default=True,
    help="Fraction of requests answered 429.",
)
@click.option(
    "--retry-after",
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    help="Retry-After seconds sent with those 429s.",
)
@click.option(
    "--drop-write-rate",
    type=_rate,
    default=0.0,
    show_default=True,
    help="Fraction of writes committed whose response is then dropped.",
)
@click.option(
    "--session-expiry",
    type=click.IntRange(1),
    default=None,
    help="Akinon sessions expire after this many requests.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Requests per second each service accepts (429 above).",
)
@click.option(
    "--page-size-cap",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="Largest page_size Akinon honours.",
)
@click.option(
    "--create-response",
    type=click.Choice(["envelope", "object"]),
    default="envelope",
    show_default=True,
    help="Shape of Akinon's create answer.",
)
@logging_options
def serve(
    store_port: int,
    commerce_port: int,
    data_dir: Path,
    page_size_cap: int,
    create_response: str,
    **knobs: Any,
) -> None:
    """Serve a seeded Commerscale store and Akinon storefront on 127.0.0.1 until Ctrl+C.

    \b
    Example:
      collsync sandbox serve --collections 1000 --latency 0.05 --error-rate 0.1
    Fault knobs can also be changed while it runs:
      curl -X PATCH localhost:8702/__sandbox__/faults -d '{"throttle_rate": 0.2}'
      curl localhost:8702/__sandbox__/requests       # request counts per endpoint
    """
    from collsync.sandbox import (
        AKINON_EMAIL,
        AKINON_PASSWORD,
        STORE_API_KEY,
        Faults,
        SeedSpec,
        create_commerce_app,
        create_store_app,
        generate,
        write_items_csv,
        write_sku_map,
    )
    from collsync.sandbox.server import make_server, serve_all

    spec_keys = (
        "collections",
        "items_per_collection",
        "products",
        "unmapped_products",
        "malformed",
        "seed",
    )
    if store_port and store_port == commerce_port:
        raise ConfigError(
            f"--store-port and --commerce-port are both {store_port}; "
            "each service needs its own port"
        )
    _check_port_free("--store-port", store_port)
    _check_port_free("--commerce-port", commerce_port)
    spec = SeedSpec(**{k: knobs.pop(k) for k in spec_keys})
    seed = generate(spec)
    sku_map = write_sku_map(seed, data_dir / "sku-map.csv")
    items_csv = write_items_csv(seed, data_dir / "items.csv")
    fault_knobs = {
        k: knobs[k]
        for k in (
            "latency",
            "error_rate",
            "throttle_rate",
            "retry_after",
            "drop_write_rate",
            "session_expiry",
            "rate_limit",
        )
    }
    store_app = create_store_app(seed.store, faults=Faults(**fault_knobs, seed=spec.seed))
    commerce_app = create_commerce_app(
        seed.commerce,
        faults=Faults(**fault_knobs, seed=spec.seed + 1),
        max_page_size=page_size_cap,
        create_response=create_response,  # type: ignore[arg-type]
    )
    servers = [make_server(store_app, store_port), make_server(commerce_app, commerce_port)]
    store_url = f"http://127.0.0.1:{servers[0].config.port}"
    commerce_url = f"http://127.0.0.1:{servers[1].config.port}"
    banner = (
        f"Commerscale store   {store_url}   ({len(seed.store.collections)} collections, "
        f"{len(seed.store.products)} products)\n"
        f"Akinon storefront   {commerce_url}   ({len(seed.commerce.products)} products)\n"
        f"SKU map             {sku_map}\n"
        f"Items file          {items_csv}\n\n"
        "Sandbox credentials (for config/sandbox.toml):\n"
        f"  export STORE_API_KEY={STORE_API_KEY}\n"
        f"  export AKINON_EMAIL={AKINON_EMAIL}\n"
        f"  export AKINON_PASSWORD={AKINON_PASSWORD}\n\n"
        "Try:\n"
        f"  curl -s {store_url}/api/v1/products/collections/count "
        f"-d \"{{'authentication': {{'apiKey': '{STORE_API_KEY}'}}}}\"\n"
        f"  curl -s {commerce_url}/__sandbox__/requests\n"
        "Ctrl+C stops both."
    )

    def ready() -> None:
        get_logger("collsync.sandbox").info(
            "collsync.sandbox.serving", store=store_url, commerce=commerce_url, **fault_knobs
        )
        click.echo(banner)

    asyncio.run(serve_all(servers, on_ready=ready))

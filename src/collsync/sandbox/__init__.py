"""Local stand-ins for the Commerscale store and the Akinon Commerce storefront.

They behave as the vendors document, not as our client would like, and import nothing from the rest
of collsync. Use them in-process (``SandboxTransport``), on 127.0.0.1 (``serve_in_thread``), or from
the command line (``collsync sandbox serve``)::

    seed = generate(SeedSpec(collections=50))
    store = create_store_app(seed.store)
    commerce = create_commerce_app(seed.commerce)
    async with httpx.AsyncClient(transport=SandboxTransport(store), base_url="http://store") as c:
        ...
"""

from __future__ import annotations

from collsync.sandbox.commerce import create_commerce_app
from collsync.sandbox.data import (
    AKINON_EMAIL,
    AKINON_PASSWORD,
    OTHER_EMAIL,
    OTHER_PASSWORD,
    STORE_API_KEY,
    Seed,
    SeedSpec,
    generate,
    write_items_csv,
    write_sku_map,
)
from collsync.sandbox.faults import Faults, RequestLog
from collsync.sandbox.server import free_port, serve_in_thread
from collsync.sandbox.store import create_store_app
from collsync.sandbox.transport import SandboxTransport

__all__ = [
    "AKINON_EMAIL",
    "AKINON_PASSWORD",
    "OTHER_EMAIL",
    "OTHER_PASSWORD",
    "STORE_API_KEY",
    "Faults",
    "RequestLog",
    "SandboxTransport",
    "Seed",
    "SeedSpec",
    "create_commerce_app",
    "create_store_app",
    "free_port",
    "generate",
    "serve_in_thread",
    "write_items_csv",
    "write_sku_map",
]

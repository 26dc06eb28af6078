"""Both clients against the sandbox, in-process (ASGI) and over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stamina
from starlette.applications import Starlette

from collsync.http import Limits
from collsync.sandbox import (
    AKINON_EMAIL,
    AKINON_PASSWORD,
    STORE_API_KEY,
    SandboxTransport,
    Seed,
    SeedSpec,
    create_commerce_app,
    create_store_app,
    generate,
    serve_in_thread,
)
from collsync.sandbox.faults import FaultInjector, RequestLog
from collsync.source import StoreClient
from collsync.target import AkinonClient

LIMITS = Limits(concurrency=4, timeout=5.0, attempts=5)


@pytest.fixture(autouse=True)
def _instant_retries() -> Iterator[None]:
    # Backoff off, the clients' own attempt counts kept.
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture(scope="module")
def seed() -> Seed:
    return generate(SeedSpec(collections=30, products=40, items_per_collection=3, seed=7))


@dataclass
class Service:
    app: Starlette
    base_url: str
    transport: httpx.AsyncBaseTransport | None

    @property
    def injector(self) -> FaultInjector:
        injector: FaultInjector = self.app.state.sandbox.injector
        return injector

    @property
    def log(self) -> RequestLog:
        return self.injector.log

    def faults(self, **knobs: Any) -> None:
        self.injector.faults.update(knobs)


@pytest.fixture(params=["asgi", "http"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _service(app: Starlette, mode: str, name: str) -> Iterator[Service]:
    if mode == "asgi":
        yield Service(app, f"http://{name}", SandboxTransport(app))
    else:
        with serve_in_thread(app) as url:
            yield Service(app, url, None)


@pytest.fixture
def store(seed: Seed, mode: str) -> Iterator[Service]:
    yield from _service(create_store_app(seed.store), mode, "store")


@pytest.fixture
def commerce(seed: Seed, mode: str) -> Iterator[Service]:
    yield from _service(create_commerce_app(seed.commerce, max_page_size=10), mode, "commerce")


@pytest.fixture
async def store_client(store: Service) -> AsyncIterator[StoreClient]:
    async with StoreClient(
        store.base_url, STORE_API_KEY, limits=LIMITS, transport=store.transport
    ) as client:
        yield client


@pytest.fixture
async def akinon(commerce: Service) -> AsyncIterator[AkinonClient]:
    async with AkinonClient(
        commerce.base_url,
        email=AKINON_EMAIL,
        password=AKINON_PASSWORD,
        limits=LIMITS,
        transport=commerce.transport,
    ) as client:
        yield client

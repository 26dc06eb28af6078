"""Failure modes that only show under concurrency, moving data or odd answers."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from collsync.errors import (
    AuthenticationError,
    ConfigError,
    OutcomeUnknownError,
    ProtocolError,
    RejectedError,
    ThrottledError,
    TransientError,
)
from collsync.http import Limits, ServiceClient
from collsync.sandbox import (
    AKINON_EMAIL,
    AKINON_PASSWORD,
    STORE_API_KEY,
    Faults,
    Seed,
    create_commerce_app,
    create_store_app,
)
from collsync.sandbox.transport import SandboxTransport
from collsync.source import CollectionData, StoreClient
from collsync.target import AkinonClient

from .conftest import LIMITS, Service


def client_for(app: ASGIApp, **limits: object) -> AkinonClient:
    return AkinonClient(
        "http://commerce",
        email=AKINON_EMAIL,
        password=AKINON_PASSWORD,
        transport=SandboxTransport(app),
        limits=Limits(**{"attempts": 5, **limits}),
    )  # type: ignore[arg-type]


async def test_concurrent_writes_survive_expiring_sessions_and_429s(seed: Seed) -> None:
    app = create_commerce_app(
        seed.commerce, faults=Faults(session_expiry=5, throttle_rate=0.2, seed=2)
    )
    async with client_for(app, concurrency=8, attempts=8) as client:
        created = await asyncio.gather(*(client.create_collection(f"Yarış {n}") for n in range(30)))
        await asyncio.gather(*(client.update_collection(c.pk, status="public") for c in created))
    state = app.state.sandbox.data
    assert (
        sorted(c.status for c in state.collections.values() if c.owner == AKINON_EMAIL)
        == ["public"] * 30
    )
    # each POST was sent once, or again only after a refusal that proves it was not done
    statuses = [
        e.status
        for e in app.state.sandbox.injector.log.entries
        if e.method == "POST" and e.path == "/wishlists/user-collections/"
    ]
    assert statuses.count(201) == 30


class ShiftWhileReading:
    """Deletes a collection from page 1 just before page 2 is served (the list moves)."""

    def __init__(self, app: ASGIApp, delete: object) -> None:
        self.app, self.delete, self.done = app, delete, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and b"page=2" in scope.get("query_string", b"")
            and not self.done
        ):
            self.done = True
            self.delete()  # type: ignore[operator]
        await self.app(scope, receive, send)


async def test_a_list_that_moves_while_read_still_yields_every_collection(seed: Seed) -> None:
    app = create_commerce_app(seed.commerce, max_page_size=10)
    state = app.state.sandbox.data
    async with client_for(app) as client:
        for n in range(35):
            await client.create_collection(f"Kayma {n:02d}")
    newest = max(c.pk for c in state.collections.values() if c.owner == AKINON_EMAIL)
    shifting = ShiftWhileReading(app, lambda: state.delete_collection(state.collections[newest]))
    async with AkinonClient(
        "http://commerce",
        email=AKINON_EMAIL,
        password=AKINON_PASSWORD,
        transport=SandboxTransport(shifting),
        limits=LIMITS,
    ) as client:
        listed = await client.list_collections()
    exists = {c.pk for c in state.collections.values() if c.owner == AKINON_EMAIL}
    assert len(exists) == 34
    assert exists <= {c.pk for c in listed}  # nothing that exists was skipped


async def test_a_very_long_retry_after_is_reported_not_slept() -> None:
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, headers={"Retry-After": "86400"})

    started = time.monotonic()
    async with ServiceClient(
        "http://svc", transport=httpx.MockTransport(answer), limits=Limits(attempts=5)
    ) as client:
        with pytest.raises(ThrottledError) as info:
            await client.send("GET", "/x", endpoint="GET /x", idempotent=True)
    assert info.value.retry_after == 86400
    assert len(calls) == 1
    assert time.monotonic() - started < 5


async def test_a_rate_limit_below_one_per_second_works() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={}))
    async with ServiceClient(
        "http://svc", transport=transport, limits=Limits(rate_limit=0.5)
    ) as client:
        response = await client.send("GET", "/x", endpoint="GET /x", idempotent=True)
    assert response.status_code == 200


def store_answering(code: int, message: str, calls: list[httpx.Request]) -> StoreClient:
    """A store that answers every call with this error body (HTTP 200, as the store does)."""

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"error": {"code": code, "message": message}})

    transport = httpx.MockTransport(answer)
    return StoreClient(
        "http://store", STORE_API_KEY, transport=transport, limits=Limits(attempts=3)
    )


@pytest.mark.parametrize(
    ("code", "message", "raised", "sent"),
    [
        (500, "Invalid filter value", TransientError, 3),  # a 500 is retried, whatever it says
        (500, "Geçersiz filtre", TransientError, 3),
        (500, "Database connection lost", TransientError, 3),
        (401, "temporary failure, try again", AuthenticationError, 1),  # never retried
        (404, "try again later", ConfigError, 1),
        (400, "temporarily unavailable", RejectedError, 1),
    ],
)
async def test_store_errors_are_retried_by_their_code_not_their_wording(
    code: int, message: str, raised: type[Exception], sent: int
) -> None:
    calls: list[httpx.Request] = []
    async with store_answering(code, message, calls) as client:
        with pytest.raises(raised) as info:
            await client.count_collections()
    assert len(calls) == sent
    assert message in str(info.value)  # quoted, to explain


async def test_a_store_500_on_a_write_is_not_sent_again() -> None:
    calls: list[httpx.Request] = []
    async with store_answering(500, "Invalid name", calls) as client:
        with pytest.raises(OutcomeUnknownError):  # it may have been applied: the caller looks
            await client.create_collections([CollectionData(name="x", slug="x")])
    assert len(calls) == 1


async def test_a_store_that_ignores_page_numbers_is_not_read_forever() -> None:
    page = [
        {
            "id": f"00000000-0000-0000-0000-{n:012d}",
            "name": f"c{n}",
            "slug": f"c{n}",
            "createdon": "2020-01-01 00:00:00",
        }
        for n in range(5)
    ]
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=page)

    async with StoreClient(
        "http://store", STORE_API_KEY, transport=httpx.MockTransport(answer), limits=LIMITS
    ) as client:
        with pytest.raises(ProtocolError, match="ignores pagination"):
            async for _ in client.iter_collections(page_size=5):
                pass
    assert len(calls) == 2


async def test_a_target_url_that_is_not_akinon_is_a_config_error(store: Service) -> None:
    async with AkinonClient(
        store.base_url,
        email=AKINON_EMAIL,
        password=AKINON_PASSWORD,
        transport=store.transport,
        limits=LIMITS,
    ) as client:
        with pytest.raises(ConfigError, match=r"target\.url: .*/users/login/ answered HTTP 404"):
            await client.login()


async def test_a_wrong_store_url_message_has_no_double_slash(seed: Seed) -> None:
    app = create_store_app(seed.store)
    async with StoreClient(
        "http://store/shop/", STORE_API_KEY, transport=SandboxTransport(app), limits=LIMITS
    ) as client:
        with pytest.raises(ConfigError) as info:
            await client.count_collections()
    assert "//api" not in str(info.value)

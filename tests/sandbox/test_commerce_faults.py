"""The Akinon Commerce sandbox's fault knobs: each one shows up as a client would notice it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from collsync.sandbox.commerce import create_commerce_app
from collsync.sandbox.data import AKINON_EMAIL, AKINON_PASSWORD, SeedSpec, generate
from collsync.sandbox.faults import Faults
from collsync.sandbox.server import serve_in_thread
from collsync.sandbox.transport import SandboxTransport

COLLECTIONS = "/wishlists/user-collections/"
ITEMS = "/wishlists/user-collection-items/"
CREDENTIALS = {"email": AKINON_EMAIL, "password": AKINON_PASSWORD}


def make_app(**faults: Any) -> Starlette:
    seed = generate(SeedSpec(collections=3, products=10)).commerce
    return create_commerce_app(seed, faults=Faults(**faults))


async def log_in(client: httpx.AsyncClient) -> str:
    response = await client.post("/users/login/", json=CREDENTIALS)
    assert response.status_code == 200, response.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return str(response.json()["key"])


def owned_names(app: Starlette) -> list[str]:
    data = app.state.sandbox.data
    return [c.name for c in data.collections.values() if c.owner == AKINON_EMAIL]


@pytest.fixture
def app() -> Starlette:
    return make_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://commerce") as c:
        yield c


async def set_faults(client: httpx.AsyncClient, **changes: object) -> None:
    response = await client.patch("/__sandbox__/faults", json=changes)
    assert response.status_code == 200, response.text


async def test_a_session_expires_after_n_requests_and_a_new_login_works(
    client: httpx.AsyncClient,
) -> None:
    await set_faults(client, session_expiry=3)
    await log_in(client)

    statuses = [(await client.get(COLLECTIONS)).status_code for _ in range(4)]
    expired = await client.post(COLLECTIONS, json={"name": "Sonra"})
    await log_in(client)
    renewed = await client.post(COLLECTIONS, json={"name": "Sonra"})

    assert statuses == [200, 200, 200, 401]
    assert expired.json() == {"detail": "Authentication credentials were not provided."}
    assert renewed.status_code == 201


async def test_an_expired_token_is_an_invalid_token(client: httpx.AsyncClient) -> None:
    await set_faults(client, session_expiry=1)
    key = await log_in(client)
    client.cookies.clear()
    headers = {"Authorization": f"Token {key}"}

    first = await client.get(COLLECTIONS, headers=headers)
    second = await client.get(COLLECTIONS, headers=headers)

    assert first.status_code == 200
    assert (second.status_code, second.json()) == (401, {"detail": "Invalid token."})


async def test_a_dropped_create_response_still_commits_in_process(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await log_in(client)
    await set_faults(client, drop_write_rate=1.0)

    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(COLLECTIONS, json={"name": "Kayıp Cevap"})

    assert owned_names(app) == ["Kayıp Cevap"]
    await set_faults(client, drop_write_rate=0.0)
    listed = (await client.get(COLLECTIONS, params={"search": "Kayıp"})).json()
    assert listed["count"] == 1
    log = (await client.get("/__sandbox__/requests")).json()
    assert log["faults"] == {"response_lost": 1}


async def test_a_dropped_create_response_still_commits_over_http() -> None:
    app = make_app()
    with serve_in_thread(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as client:
            await log_in(client)
            await set_faults(client, drop_write_rate=1.0)
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(COLLECTIONS, json={"name": "Ağda Kayıp"})
            await set_faults(client, drop_write_rate=0.0)
            listed = (await client.get(COLLECTIONS)).json()
    assert [r["name"] for r in listed["results"]] == ["Ağda Kayıp"]


async def test_a_dropped_login_answer_is_not_a_write(client: httpx.AsyncClient) -> None:
    await set_faults(client, drop_write_rate=1.0)
    response = await client.post("/users/login/", json=CREDENTIALS)
    assert response.status_code == 200


async def test_server_errors_are_djangos_html_page_and_change_nothing(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await log_in(client)
    await set_faults(client, error_rate=1.0)

    created = await client.post(COLLECTIONS, json={"name": "Hata"})
    login = await client.post("/users/login/", json=CREDENTIALS)

    for response in (created, login):
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("text/html")
        assert "<h1>Server Error (500)</h1>" in response.text
    assert owned_names(app) == []


@pytest.mark.parametrize(
    ("retry_after", "header", "detail"),
    [
        (2.5, "3", "Request was throttled. Expected available in 3 seconds."),
        (1.0, "1", "Request was throttled. Expected available in 1 second."),
    ],
)
async def test_throttling_answers_429_with_retry_after_and_drf_detail(
    app: Starlette, client: httpx.AsyncClient, retry_after: float, header: str, detail: str
) -> None:
    await log_in(client)
    await set_faults(client, throttle_rate=1.0, retry_after=retry_after)

    response = await client.post(COLLECTIONS, json={"name": "Yavaş"})

    assert response.status_code == 429
    assert response.headers["Retry-After"] == header
    assert response.json() == {"detail": detail}
    assert owned_names(app) == []


async def test_a_rate_limit_refuses_the_request_over_it(client: httpx.AsyncClient) -> None:
    await log_in(client)
    await set_faults(client, rate_limit=1.0)

    statuses = [(await client.get(COLLECTIONS)).status_code for _ in range(3)]

    assert statuses[0] == 200
    assert 429 in statuses


async def test_latency_delays_every_answer(client: httpx.AsyncClient) -> None:
    await set_faults(client, latency=0.05)
    started = time.perf_counter()
    response = await client.get("/wishlists/user-collection/none/")
    assert response.status_code == 404
    assert time.perf_counter() - started >= 0.05


async def test_request_log_counts_writes_by_endpoint(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await log_in(client)
    one = (await client.post(COLLECTIONS, json={"name": "Bir"})).json()["results"][0]
    await client.post(COLLECTIONS, json={"name": "İki"})
    product = next(iter(app.state.sandbox.data.products))
    await client.post(ITEMS, json={"product_id": product, "usercollection_id": one["pk"]})
    await client.patch(f"{COLLECTIONS}{one['pk']}/", json={"status": "public"})
    await client.get(COLLECTIONS)
    await client.get("/__sandbox__/faults")  # control requests are not logged

    log = (await client.get("/__sandbox__/requests")).json()

    assert log["by_endpoint"] == {
        "POST /users/login/": 1,
        "POST /wishlists/user-collections/": 2,
        "POST /wishlists/user-collection-items/": 1,
        "PATCH /wishlists/user-collections/{pk}/": 1,
        "GET /wishlists/user-collections/": 1,
    }
    assert (log["total"], log["writes"]) == (6, 4)
    cleared = await client.delete("/__sandbox__/requests")
    assert cleared.status_code == 204
    assert (await client.get("/__sandbox__/requests")).json()["total"] == 0

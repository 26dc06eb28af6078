"""Fault knobs on the store sandbox: each one visibly happens, in-process and over real HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from collsync.sandbox.data import STORE_API_KEY, SeedSpec, generate
from collsync.sandbox.faults import Faults
from collsync.sandbox.server import serve_in_thread
from collsync.sandbox.store import create_store_app
from collsync.sandbox.transport import SandboxTransport

API = "/api/v1/products"
SERVER_ERROR = {"error": {"code": 500, "message": "Internal server error"}}
AUTH = {"authentication": {"apiKey": STORE_API_KEY}}


def make_app(**faults: Any) -> Starlette:
    seed = generate(SeedSpec(collections=20, products=10)).store
    return create_store_app(seed, faults=Faults(**faults))


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://store")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app()) as c:
        yield c


async def post(client: httpx.AsyncClient, handler: str, **params: Any) -> httpx.Response:
    return await client.post(f"{API}/{handler}", json={**AUTH, **params})


def collection(slug: str) -> dict[str, str]:
    return {"name": slug.replace("-", " ").title(), "slug": slug}


async def slugs_in_store(client: httpx.AsyncClient, *slugs: str) -> list[str]:
    answer = await post(client, "collections/get", filters={"slug": list(slugs)})
    return [r["slug"] for r in answer.json()]


async def set_faults(client: httpx.AsyncClient, **knobs: Any) -> httpx.Response:
    return await client.patch("/__sandbox__/faults", json=knobs)


async def test_latency_delays_every_answer() -> None:
    async with client_for(make_app(latency=0.2)) as c:
        started = time.perf_counter()
        response = await post(c, "collections/count")
        assert time.perf_counter() - started >= 0.2
        assert response.json() == {"count": "20"}


async def test_error_rate_answers_a_server_error_and_changes_nothing() -> None:
    async with client_for(make_app(error_rate=1)) as c:
        read = await post(c, "collections/get")
        assert (read.status_code, read.json()) == (200, SERVER_ERROR)
        write = await post(c, "collections/create", data=[collection("hata-testi")])
        assert write.json() == SERVER_ERROR
        await set_faults(c, error_rate=0)
        assert await slugs_in_store(c, "hata-testi") == []


async def test_throttle_rate_answers_429_with_retry_after() -> None:
    async with client_for(make_app(throttle_rate=1, retry_after=2.5)) as c:
        response = await post(c, "collections/get")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
        assert response.text == "Too Many Requests"


async def test_rate_limit_throttles_a_burst() -> None:
    async with client_for(make_app(rate_limit=5)) as c:
        statuses = [(await post(c, "collections/count")).status_code for _ in range(20)]
        assert statuses[:5] == [200] * 5
        assert statuses.count(429) >= 10
        throttled = await post(c, "collections/count")
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) >= 1


async def test_a_dropped_write_is_committed_but_its_answer_lost() -> None:
    async with client_for(make_app(drop_write_rate=1)) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await post(c, "collections/create", data=[collection("kayip-yanit")])
        # Reads are never dropped: the client can look and find its record.
        assert await slugs_in_store(c, "kayip-yanit") == ["kayip-yanit"]


async def test_a_refused_write_is_answered_even_when_writes_are_dropped() -> None:
    async with client_for(make_app(drop_write_rate=1)) as c:
        response = await post(c, "collections/create", data=[{"name": "No slug"}])
        assert response.json()["error"]["code"] == 500
        log = (await c.get("/__sandbox__/requests")).json()
        assert log["faults"] == {}


async def test_fail_containing_fails_a_targeted_record_n_times() -> None:
    app = make_app(fail_containing={"inat-koleksiyon": 2})
    store = app.state.sandbox.data  # looked at directly: a read naming the record would fail too
    async with client_for(app) as c:
        other = await post(c, "collections/create", data=[collection("baska-koleksiyon")])
        assert other.json()[0]["slug"] == "baska-koleksiyon"
        for _ in range(2):
            failed = await post(c, "collections/create", data=[collection("inat-koleksiyon")])
            assert failed.json() == SERVER_ERROR
            assert "inat-koleksiyon" not in {r["slug"] for r in store.collections}
        third = await post(c, "collections/create", data=[collection("inat-koleksiyon")])
        assert third.json()[0]["slug"] == "inat-koleksiyon"
        assert (await c.get("/__sandbox__/faults")).json()["fail_containing"] == {
            "inat-koleksiyon": 0
        }


async def test_fail_containing_can_be_set_at_run_time(client: httpx.AsyncClient) -> None:
    assert (await set_faults(client, fail_containing={"hedef": 1})).status_code == 200
    assert (await post(client, "collections/create", data=[collection("hedef")])).json() == (
        SERVER_ERROR
    )
    assert await slugs_in_store(client, "hedef") == []  # the one failure is used up


async def test_knobs_change_at_run_time(client: httpx.AsyncClient) -> None:
    changed = await set_faults(client, error_rate=1)
    assert (changed.status_code, changed.json()["error_rate"]) == (200, 1)
    assert (await post(client, "collections/count")).json() == SERVER_ERROR
    await set_faults(client, error_rate=0)
    assert (await post(client, "collections/count")).json() == {"count": "20"}
    assert (await client.get("/__sandbox__/faults")).json()["error_rate"] == 0


@pytest.mark.parametrize("knobs", [{"no_such_knob": 1}, {"error_rate": 2}, {"latency": -1}])
async def test_a_bad_knob_is_a_400(client: httpx.AsyncClient, knobs: dict[str, Any]) -> None:
    response = await set_faults(client, **knobs)
    assert response.status_code == 400
    assert next(iter(knobs)) in response.json()["detail"]


async def test_a_refused_knob_leaves_the_faults_as_they_were(client: httpx.AsyncClient) -> None:
    assert (await set_faults(client, error_rate=2)).status_code == 400
    assert (await post(client, "collections/count")).json() == {"count": "20"}


async def test_the_request_log_counts_writes_by_endpoint(client: httpx.AsyncClient) -> None:
    await post(client, "collections/get")
    await post(client, "collections/count")
    created = await post(client, "collections/create", data=[collection("sayilan")])
    await post(client, "collections/create", data=[{"name": "refused, still a write"}])
    new_id = created.json()[0]["id"]
    await post(client, "collections/delete", filter=[{"id": [new_id]}])
    await client.post(f"{API}/collections/nope", json=AUTH)
    await client.get("/__sandbox__/faults")  # control calls are not logged

    log = (await client.get("/__sandbox__/requests")).json()
    assert log["total"] == 6
    assert log["writes"] == 3
    assert log["by_endpoint"] == {
        f"POST {API}/collections/get": 1,
        f"POST {API}/collections/count": 1,
        f"POST {API}/collections/create": 2,
        f"POST {API}/collections/delete": 1,
        f"POST {API}/collections/nope": 1,
    }
    assert (await client.delete("/__sandbox__/requests")).status_code == 204
    assert (await client.get("/__sandbox__/requests")).json()["total"] == 0


def test_over_real_http_answers_and_a_dropped_write_is_committed() -> None:
    app = make_app()
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=5) as c:
        count = c.post(f"{API}/collections/count", json=AUTH)
        assert (count.status_code, count.json()) == (200, {"count": "20"})
        pseudo = f"{{'authentication' : {{'apiKey' : '{STORE_API_KEY}'}}}}".encode()
        assert c.post(f"{API}/collections/count", content=pseudo).json() == {"count": "20"}
        assert c.patch("/__sandbox__/faults", json={"drop_write_rate": 1}).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            c.post(f"{API}/collections/create", json={**AUTH, "data": [collection("ag-kaybi")]})
        found = c.post(f"{API}/collections/get", json={**AUTH, "filters": {"slug": ["ag-kaybi"]}})
        assert [r["slug"] for r in found.json()] == ["ag-kaybi"]
        assert c.get("/__sandbox__/requests").json()["faults"] == {"response_lost": 1}

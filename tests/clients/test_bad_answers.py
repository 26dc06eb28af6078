"""Answers that break the documents give one clear message naming the endpoint, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from collsync.errors import ProtocolError, TransientError
from collsync.sandbox import serve_in_thread
from collsync.source import StoreClient
from collsync.target import AkinonClient

from .conftest import LIMITS

Handler = Callable[[httpx.Request], httpx.Response]

HTML = httpx.Response(
    200, text="<html><body>Maintenance</body></html>", headers={"Content-Type": "text/html"}
)
TRUNCATED = httpx.Response(
    200, text='[{"id": "00000000-0000-0000-0000-0000', headers={"Content-Type": "application/json"}
)


def store(handler: Handler) -> StoreClient:
    return StoreClient(
        "http://store", "k" * 8, transport=httpx.MockTransport(handler), limits=LIMITS
    )


def akinon(handler: Handler) -> AkinonClient:
    return AkinonClient(
        "http://akinon", token="t" * 40, transport=httpx.MockTransport(handler), limits=LIMITS
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (HTML, r"store POST /api/v1/products/collections/count: expected JSON, got an HTML page"),
        (TRUNCATED, r"collections/count: expected JSON, got invalid or truncated JSON"),
        (httpx.Response(200, json=[{"count": "3"}]), r"collections/count: expected \{\"count\""),
        (httpx.Response(200, json={"count": "many"}), r"collections/count: expected \{\"count\""),
        (
            httpx.Response(200, json={"error": {"code": 999, "message": "?"}}),
            r"collections/count: unknown error body",
        ),
    ],
)
async def test_bad_store_count_answers(answer: httpx.Response, message: str) -> None:
    async with store(lambda r: answer) as client:
        with pytest.raises(ProtocolError, match=message):
            await client.count_collections()


async def test_an_object_where_the_store_lists_records() -> None:
    async with store(lambda r: httpx.Response(200, json={"id": "x"})) as client:
        with pytest.raises(ProtocolError, match=r"collections/get: expected a list of records"):
            await client.get_collections()


async def test_a_truncated_page_is_a_protocol_error() -> None:
    async with store(lambda r: TRUNCATED) as client:
        with pytest.raises(ProtocolError, match=r"POST /api/v1/products/collections/get"):
            await client.get_collections()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (HTML, r"akinon GET /wishlists/user-collections/: expected JSON, got an HTML page"),
        (httpx.Response(200, json=[]), r"GET /wishlists/user-collections/: unexpected answer"),
        (
            httpx.Response(200, json={"count": 1, "results": [{"pk": "x"}]}),
            r"unexpected answer shape at results\.0\.pk",
        ),
        (httpx.Response(418, json={"detail": "I'm a teapot"}), r"I'm a teapot"),
    ],
)
async def test_bad_akinon_list_answers(answer: httpx.Response, message: str) -> None:
    async with akinon(lambda r: answer) as client:
        with pytest.raises(Exception, match=message) as info:
            await client.list_collections()
    assert "akinon" in str(info.value)


async def test_a_gateway_error_page_is_retried_then_reported() -> None:
    calls: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            502, text="<h1>Bad Gateway</h1>", headers={"Content-Type": "text/html"}
        )

    async with akinon(gateway) as client:
        with pytest.raises(TransientError, match=r"GET /wishlists/user-collections/\{pk\}/: .*502"):
            await client.get_collection(1)
    assert len(calls) == LIMITS.attempts


async def test_a_create_answer_without_the_new_collection() -> None:
    body = {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [{"pk": 1, "name": "Other", "slug": "other", "status": "private"}],
    }
    async with akinon(lambda r: httpx.Response(201, json=body)) as client:
        with pytest.raises(ProtocolError, match="does not list a collection named 'Mine'"):
            await client.create_collection("Mine")


MINE = {"pk": 9, "name": "Mine", "slug": "mine", "status": "public", "items": []}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"count": 1, "results": [MINE]}, id="the documented envelope"),
        pytest.param(
            {"count": 3, "results": [{**MINE, "pk": 4}, {"pk": "?", "name": "Odd"}, MINE]},
            id="an envelope where another collection does not fit the document",
        ),
        pytest.param(MINE, id="a plain object"),
    ],
)
async def test_a_create_answer_gives_the_new_collection(body: dict[str, object]) -> None:
    async with akinon(lambda r: httpx.Response(201, json=body)) as client:
        created = await client.create_collection("Mine")
    assert (created.pk, created.slug) == (9, "mine")


async def test_a_create_answer_naming_a_collection_with_items_keeps_them() -> None:
    # Not the new collection after all (it is off the page): its items must not be forgotten,
    # or the read-back copy would lose them.
    item = {"pk": 5, "note": "n", "product": {"pk": 77, "sku": "S-77", "attributes": {}}}
    body = {"count": 1, "results": [{**MINE, "items": [item]}]}
    async with akinon(lambda r: httpx.Response(201, json=body)) as client:
        created = await client.create_collection("Mine")
    assert [(i.pk, i.product.pk) for i in created.items] == [(5, 77)]


def broken_services() -> Starlette:
    async def html(request: object) -> Response:
        return Response("<html>Store is down for maintenance</html>", media_type="text/html")

    return Starlette(routes=[Route("/{path:path}", html, methods=["GET", "POST"])])


def test_the_cli_reports_a_bad_answer_in_one_line(tmp_path: Path) -> None:
    with serve_in_thread(broken_services()) as url:
        config = tmp_path / "collsync.toml"
        config.write_text(
            f'[source]\nurl = "{url}"\napi_key = "${{STORE_API_KEY}}"\n'
            f'[products]\nresolve = "identity"\n'
            f'[target]\nurl = "{url}"\ntoken = "${{AKINON_TOKEN}}"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "STORE_API_KEY": "secret-store-key", "AKINON_TOKEN": "tok" * 10}
        done = subprocess.run(
            [sys.executable, "-m", "collsync", "check", "-c", str(config), "--log-level", "error"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert (
        "  source.url: store POST /api/v1/products/collections/count: expected JSON, got an HTML"
        " page" in done.stderr
    )
    assert "secret-store-key" not in done.stderr

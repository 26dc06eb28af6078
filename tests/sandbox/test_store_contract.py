"""The store sandbox answers as the vendor document says: examples, errors, filters, paging."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from collsync.sandbox.data import STORE_API_KEY, SeedSpec, StoreSeed, generate
from collsync.sandbox.store import create_store_app
from collsync.sandbox.transport import SandboxTransport

from . import store_examples as ex

API = "/api/v1/products"
# The vendor's document, as it was given to us, beside the examples transcribed from it.
DOC = Path(__file__).with_name("store-collections-rpc.txt")


def shape(value: Any) -> Any:
    """Keys and value types of a JSON value, without the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(shape(item), sort_keys=True) for item in value})
    return type(value).__name__


def doc_seed(**spec: Any) -> StoreSeed:
    """The document's two example collections, plus generated ones."""
    store = generate(SeedSpec(**{"collections": 30, "products": 20, **spec})).store
    store.collections[:0] = json.loads(ex.GET_RESPONSE)
    return store


@pytest.fixture
def app() -> Starlette:
    return create_store_app(doc_seed())


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://store") as c:
        yield c


async def rpc(client: httpx.AsyncClient, handler: str, **params: Any) -> Any:
    """A JSON request with the sandbox's key; the answer must be HTTP 200 JSON."""
    body = {"authentication": {"apiKey": STORE_API_KEY}, **params}
    response = await client.post(f"{API}/{handler}", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def send_example(client: httpx.AsyncClient, example: ex.Example, **ids: str) -> Any:
    """The example's body as raw bytes, with our key and the given id replacements."""
    text = example.request.replace(ex.DOC_API_KEY, STORE_API_KEY)
    for old, new in ids.items():
        text = text.replace(old, new)
    response = await client.post(example.path, content=text.encode())
    assert response.status_code == 200
    return response.json()


def error_of(answer: Any) -> tuple[int, str]:
    assert isinstance(answer, dict), answer
    assert set(answer) == {"error"}, answer
    return answer["error"]["code"], answer["error"]["message"]


# -- the document's examples -------------------------------------------------------------------


def test_examples_are_transcribed_verbatim() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for example in ex.EXAMPLES:
        assert example.request in doc
        assert example.response in doc.replace("\xa0", " ")
    assert "\t" in ex.GET_COMPLETE.request  # the tabs came along


@pytest.mark.parametrize("example", ex.READ_EXAMPLES, ids=lambda e: f"{e.handler}: {e.title}")
async def test_read_examples_answer_like_the_document(
    client: httpx.AsyncClient, example: ex.Example
) -> None:
    answer = await send_example(client, example)
    assert shape(answer) == shape(example.expected())


async def test_filtered_examples_find_exactly_the_documented_records(
    client: httpx.AsyncClient,
) -> None:
    assert await send_example(client, ex.GET_BY_ID) == json.loads(ex.GET_RESPONSE)
    assert await send_example(client, ex.GET_COMPLETE) == json.loads(ex.GET_RESPONSE)
    assert await send_example(client, ex.COUNT_COMPLETE) == {"count": "2"}
    everything = await rpc(client, "collections/count")
    assert await send_example(client, ex.COUNT_BY_DATE) == everything
    assert everything == {"count": "32"}


async def test_write_examples_create_update_and_delete(client: httpx.AsyncClient) -> None:
    created = await send_example(client, ex.CREATE)
    assert shape(created) == shape(ex.CREATE.expected())
    new_id = created[0]["id"]
    expected = ex.CREATE.expected()[0] | {"id": new_id, "createdon": created[0]["createdon"]}
    assert created == [expected]
    assert created[0]["author"] == ""

    updated = await send_example(client, ex.UPDATE, **{ex.DOC_CREATED_ID: new_id})
    assert shape(updated) == shape(ex.UPDATE.expected())
    assert updated == created

    deleted = await send_example(client, ex.DELETE, **{ex.DOC_CREATED_ID: new_id})
    assert deleted == ex.DELETE.expected()
    assert await rpc(client, "collections/get", filters={"id": [new_id]}) == []


# -- documented errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"authentication": {"apiKey": "wrong"}},
        {"authentication": {}},
        {"authentication": {"apiKey": None}},
        {"filters": {}},
    ],
)
async def test_a_missing_or_bad_api_key_is_refused(client: httpx.AsyncClient, body: Any) -> None:
    response = await client.post(f"{API}/collections/get", json=body)
    assert response.status_code == 200
    assert error_of(response.json()) == (401, "Invalid API key")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{API}/collections/list"),
        ("POST", "/api/v2/products/collections/get"),
        ("POST", f"{API}/collections/get/"),
        ("GET", f"{API}/collections/get"),
    ],
)
async def test_an_unknown_handler_is_a_404_error_body(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    body = {"authentication": {"apiKey": STORE_API_KEY}}
    response = await client.request(method, path, json=body)
    assert response.status_code == 200
    assert error_of(response.json()) == (404, f"Unknown handler: {path}")


@pytest.mark.parametrize(
    "content",
    [
        b"{'authentication': ",
        b"not json",
        b"[1, 2]",
        b'"text"',
        b"",
        b"\xff\xfe{}",
        b"{1, 2}",
        b"{'authentication': {'apiKey': {1, 2}}}",
        b'{"authentication": {"apiKey": "\\ud800"}}',
        b"[" * 100_000,
    ],
)
async def test_invalid_json_is_a_500_error_body(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(f"{API}/collections/get", content=content)
    assert response.status_code == 200
    assert error_of(response.json()) == (500, "Invalid JSON")


async def test_plain_json_and_pseudo_json_are_both_accepted(client: httpx.AsyncClient) -> None:
    pseudo = f"{{'authentication' : {{'apiKey' : '{STORE_API_KEY}'}}}}".encode()
    strict = json.dumps({"authentication": {"apiKey": STORE_API_KEY}}).encode()
    first = await client.post(f"{API}/collections/count", content=pseudo)
    second = await client.post(f"{API}/collections/count", content=strict)
    assert first.json() == second.json() == {"count": "32"}


@pytest.mark.parametrize(
    ("handler", "name", "value"),
    [
        ("collections/get", "id", ["not-a-guid"]),
        ("collections/get", "id", ex.DOC_IDS[0]),
        ("collections/count", "id", [42]),
        ("collections/get", "name", "Collection 1"),
        ("collections/get", "name", ["x" * 256]),
        ("collections/count", "slug", ["x" * 256]),
        ("collections/get", "slug", None),
        ("collections/get", "createdon_min", "2015-13-01"),
        ("collections/get", "createdon_min", "2015-01-01T10:00:00"),
        ("collections/count", "createdon_max", "yesterday"),
        ("collections/get", "createdon_max", ["2015-01-01"]),
        ("collections/get", "author", ["Mr Example"]),
        ("get", "sku", "SKU-000001"),
        ("get", "id", ["SKU-000001"]),
        ("get", "collections", [ex.DOC_IDS[0]]),
    ],
)
async def test_an_invalid_filter_is_a_500_naming_it(
    client: httpx.AsyncClient, handler: str, name: str, value: Any
) -> None:
    code, message = error_of(await rpc(client, handler, filters={name: value}))
    assert code == 500
    assert f"'{name}'" in message


async def test_filter_values_up_to_255_characters_are_accepted(client: httpx.AsyncClient) -> None:
    answer = await rpc(client, "collections/get", filters={"name": ["x" * 255]})
    assert answer == []


@pytest.mark.parametrize(
    ("field", "length", "ok"),
    [("name", 255, True), ("name", 256, False), ("slug", 256, False), ("description", 256, False)],
)
async def test_create_enforces_255_characters(
    client: httpx.AsyncClient, field: str, length: int, ok: bool
) -> None:
    item = {"name": "Uzunluk", "slug": "uzunluk", field: "ç" * length}
    answer = await rpc(client, "collections/create", data=[item])
    if ok:
        assert answer[0][field] == "ç" * length
    else:
        code, message = error_of(answer)
        assert code == 500
        assert f"'{field}'" in message
        assert await rpc(client, "collections/count") == {"count": "32"}


@pytest.mark.parametrize(
    "data",
    [
        [{"slug": "no-name"}],
        [{"name": "No slug"}],
        [{"name": "  ", "slug": "blank-name"}],
        [{"name": "Collection X", "slug": "collection-1"}],  # slug taken by the doc's record
        [{"name": "A", "slug": "twice"}, {"name": "B", "slug": "twice"}],
        [{"name": "Good", "slug": "good"}, {"name": "Bad", "slug": "bad", "author": "me"}],
        [{"name": "Good", "slug": "good"}, {"name": "Bad", "slug": "bad", "description": 7}],
        [{"name": "Good", "slug": "good"}, "not an object"],
    ],
)
async def test_an_invalid_create_changes_nothing(client: httpx.AsyncClient, data: Any) -> None:
    code, _ = error_of(await rpc(client, "collections/create", data=data))
    assert code == 500
    assert await rpc(client, "collections/count") == {"count": "32"}


async def test_update_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    before = (await rpc(client, "collections/get", filters={"id": [ex.DOC_IDS[0]]}))[0]
    answer = await rpc(
        client, "collections/update", data=[{"id": ex.DOC_IDS[0], "name": "Yeni Ad"}]
    )
    assert answer == [before | {"name": "Yeni Ad"}]
    assert await rpc(client, "collections/get", filters={"id": [ex.DOC_IDS[0]]}) == answer


@pytest.mark.parametrize(
    "data",
    [
        [{"id": "07bbae61-5623-4118-97be-368378b0abb0", "name": "Unknown"}],
        [{"name": "No id"}],
        [{"id": ex.DOC_IDS[0], "slug": "collection-2"}],  # another record's slug
        [{"id": ex.DOC_IDS[0], "name": "Fine"}, {"id": ex.DOC_IDS[1], "name": "x" * 256}],
    ],
)
async def test_an_invalid_update_changes_nothing(client: httpx.AsyncClient, data: Any) -> None:
    before = await rpc(client, "collections/get", filters={"id": list(ex.DOC_IDS)})
    code, _ = error_of(await rpc(client, "collections/update", data=data))
    assert code == 500
    assert await rpc(client, "collections/get", filters={"id": list(ex.DOC_IDS)}) == before


async def test_delete_of_an_unknown_id_deletes_nothing(client: httpx.AsyncClient) -> None:
    ids = [ex.DOC_IDS[0], ex.DOC_CREATED_ID]
    code, message = error_of(await rpc(client, "collections/delete", filter=[{"id": ids}]))
    assert code == 500
    assert ex.DOC_CREATED_ID in message
    assert await rpc(client, "collections/count") == {"count": "32"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"filter": [{"id": []}]},
        {"filter": {"id": [ex.DOC_IDS[0]]}},
        {"filter": [{"slug": ["collection-1"]}]},
        {"filters": {"id": ["collection-1"]}},
        {"filters": {}},
    ],
)
async def test_a_malformed_delete_deletes_nothing(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    code, _ = error_of(await rpc(client, "collections/delete", **params))
    assert code == 500
    assert await rpc(client, "collections/count") == {"count": "32"}


async def test_delete_takes_one_guid_as_the_filter_table_types_it(
    client: httpx.AsyncClient,
) -> None:
    answer = await rpc(client, "collections/delete", filter=[{"id": ex.DOC_IDS[0]}])
    assert answer == {"success": "true"}
    assert await rpc(client, "collections/count") == {"count": "31"}


async def test_delete_accepts_a_filters_object_and_unlinks_products(
    client: httpx.AsyncClient,
) -> None:
    products = await rpc(client, "get")
    linked = next(p for p in products if p["collections"])
    gone = linked["collections"][0]
    assert await rpc(client, "collections/delete", filters={"id": [gone]}) == {"success": "true"}
    assert await rpc(client, "collections/get", filters={"id": [gone]}) == []
    after = await rpc(client, "get", filters={"id": [linked["id"]]})
    assert after[0]["collections"] == linked["collections"][1:]


# -- paging and filters ------------------------------------------------------------------------


async def test_page_size_is_capped_at_1000() -> None:
    app = create_store_app(generate(SeedSpec(collections=1200, products=0)).store)
    async with httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://store") as c:
        assert len(await rpc(c, "collections/get")) == 1000
        big = {"pageNumber": "1", "pageSize": "5000"}
        assert len(await rpc(c, "collections/get", pagination=big)) == 1000
        second = await rpc(c, "collections/get", pagination={**big, "pageNumber": "2"})
        assert len(second) == 200
        assert await rpc(c, "collections/count") == {"count": "1200"}


@pytest.mark.parametrize(
    "pagination",
    [
        {"pageNumber": "0"},
        {"pageSize": "0"},
        {"pageSize": "abc"},
        {"pageNumber": "-1"},
        {"pageNumber": 1.5},
        {"pageSize": True},
        {"page": "1"},
        "1",
    ],
)
async def test_invalid_pagination_is_a_500(client: httpx.AsyncClient, pagination: Any) -> None:
    code, message = error_of(await rpc(client, "collections/get", pagination=pagination))
    assert code == 500
    assert "pagination" in message


async def walk(client: httpx.AsyncClient, handler: str, size: int, **params: Any) -> list[Any]:
    records: list[Any] = []
    page = 1
    while batch := await rpc(
        client, handler, pagination={"pageNumber": str(page), "pageSize": str(size)}, **params
    ):
        assert len(batch) <= size
        records.extend(batch)
        page += 1
    return records


async def test_walking_pages_of_7_returns_every_record_once() -> None:
    seed = generate(SeedSpec(collections=100, products=30, malformed=True)).store
    app = create_store_app(seed)
    async with httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://store") as c:
        records = await walk(c, "collections/get", 7)
        assert len(records) == int((await rpc(c, "collections/count"))["count"]) == 105
        assert sorted(r["id"] for r in records) == sorted(r["id"] for r in seed.collections)
        keys = [(r["createdon"], r["id"]) for r in records]
        assert keys == sorted(keys)
        products = await walk(c, "get", 7)
        assert [p["sku"] for p in products] == [p["sku"] for p in seed.products]
        # products/count is documented nowhere: the store answers it as an unknown handler
        assert (await rpc(c, "count"))["error"]["code"] == 404


async def test_malformed_records_are_returned_as_stored() -> None:
    seed = generate(SeedSpec(collections=5, products=0, malformed=True)).store
    app = create_store_app(seed)
    async with httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://store") as c:
        slugs = ["no-name", "too-long-name", "bad-guid", "bad-date", "bad-text"]
        answer = await rpc(c, "collections/get", filters={"slug": slugs})
        broken = [c for c in seed.collections if c["slug"] in slugs]
        assert sorted(answer, key=lambda r: r["slug"]) == sorted(broken, key=lambda r: r["slug"])
        assert "name" not in next(r for r in answer if r["slug"] == "no-name")


async def test_date_filters_are_inclusive_and_a_date_means_midnight(
    client: httpx.AsyncClient,
) -> None:
    first, second = json.loads(ex.GET_RESPONSE)  # 2016-10-03 16:03:21 and 16:07:40

    async def ids(**filters: str) -> list[str]:
        return [r["id"] for r in await rpc(client, "collections/get", filters=filters)]

    exact = {"createdon_min": first["createdon"], "createdon_max": second["createdon"]}
    assert await ids(**exact) == [first["id"], second["id"]]
    assert await ids(createdon_min="2016-10-03 16:03:22", createdon_max="2016-10-03 16:07:40") == [
        second["id"]
    ]
    assert first["id"] not in await ids(createdon_max="2016-10-03")
    assert first["id"] in await ids(createdon_max="2016-10-04")
    assert await ids(createdon_min="2016-10-04", createdon_max="2016-10-03") == []


async def test_name_and_slug_filters_match_exactly(client: httpx.AsyncClient) -> None:
    async def names(**filters: list[str]) -> list[str]:
        return [r["name"] for r in await rpc(client, "collections/get", filters=filters)]

    assert await names(name=["Collection 1"]) == ["Collection 1"]
    assert await names(name=["Collection"]) == []
    assert await names(name=["collection 1"]) == []
    assert await names(slug=["collection-2"]) == ["Collection 2"]
    assert await names(name=["Collection 1"], slug=["collection-2"]) == []
    assert await names(name=[]) == []


async def test_ids_match_whatever_their_case(client: httpx.AsyncClient) -> None:
    answer = await rpc(client, "collections/get", filters={"id": [ex.DOC_IDS[1].upper()]})
    assert [r["id"] for r in answer] == [ex.DOC_IDS[1]]


async def test_product_filters(client: httpx.AsyncClient) -> None:
    answer = await rpc(client, "get", filters={"sku": ["SKU-000003", "SKU-000005"]})
    assert [p["sku"] for p in answer] == ["SKU-000003", "SKU-000005"]
    assert set(answer[0]) == {"id", "sku", "name", "collections"}
    by_name = await rpc(client, "get", filters={"name": [answer[0]["name"]]})
    assert [p["sku"] for p in by_name] == ["SKU-000003"]


async def test_each_app_owns_its_data() -> None:
    seed = doc_seed()
    first, second = create_store_app(seed), create_store_app(seed)
    async with httpx.AsyncClient(transport=SandboxTransport(first), base_url="http://a") as a:
        await rpc(a, "collections/delete", filters={"id": list(ex.DOC_IDS)})
        assert await rpc(a, "collections/count") == {"count": "30"}
    async with httpx.AsyncClient(transport=SandboxTransport(second), base_url="http://b") as b:
        assert await rpc(b, "collections/count") == {"count": "32"}
    assert len(seed.collections) == 32

"""The Commerscale client: every method, paging, filters checked before sending, error bodies."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pytest
from pydantic import ValidationError

from collsync.errors import AuthenticationError, ConfigError, TransientError
from collsync.sandbox import STORE_API_KEY, SeedSpec, create_store_app, generate
from collsync.sandbox.transport import SandboxTransport
from collsync.source import (
    CollectionData,
    CollectionFilters,
    ProductFilters,
    StoreClient,
)

from .conftest import LIMITS, Service


async def test_count_and_every_page(store_client: StoreClient, store: Service) -> None:
    assert await store_client.count_collections() == 30
    pages = [page async for page in store_client.iter_collections(page_size=7)]
    assert [p.number for p in pages] == [1, 2, 3, 4, 5]
    assert [p.size for p in pages] == [7, 7, 7, 7, 2]
    ids = [r.id for p in pages for r in p.records]
    assert len(ids) == len(set(ids)) == 30
    # pagination travels as strings, as the store documents it
    assert store.log.counts()["POST /api/v1/products/collections/get"] == 5


async def test_an_exact_multiple_ends_on_an_empty_page(store_client: StoreClient) -> None:
    pages = [page async for page in store_client.iter_collections(page_size=10)]
    assert [p.size for p in pages] == [10, 10, 10]  # the empty fourth page is not yielded


async def test_records_are_typed(store_client: StoreClient) -> None:
    page = await store_client.get_collections(1, 5)
    record = page.records[0]
    assert isinstance(record.id, uuid.UUID)
    assert record.createdon.year >= 2016
    assert record.slug


async def test_filters(store_client: StoreClient) -> None:
    everything = [r async for p in store_client.iter_collections() for r in p.records]
    some = everything[3:6]
    by_id = CollectionFilters(id=tuple(r.id for r in some))
    assert await store_client.count_collections(by_id) == 3
    by_name = CollectionFilters(name=(some[0].name,))
    assert [r.id for r in (await store_client.get_collections(1, 10, by_name)).records] == [
        some[0].id
    ]
    day = some[1].createdon.date()
    by_date = CollectionFilters(createdon_min=day, createdon_max=date(day.year, 12, 31))
    within = [r for r in everything if day <= r.createdon.date() <= date(day.year, 12, 30)]
    assert await store_client.count_collections(by_date) >= len(within)


def test_filters_are_checked_before_sending() -> None:
    with pytest.raises(ValidationError, match="id"):
        CollectionFilters(id=("not-a-guid",))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="255"):
        CollectionFilters(name=("x" * 256,))
    with pytest.raises(ValidationError):
        CollectionFilters(createdon_min="yesterday")  # type: ignore[arg-type]


async def test_page_size_above_the_store_cap_is_refused(store_client: StoreClient) -> None:
    # The store silently caps at 1000; asking for more would make a full page look like the end.
    with pytest.raises(ValueError, match="between 1 and 1000"):
        await store_client.get_collections(1, 5000)


async def test_create_update_delete(store_client: StoreClient) -> None:
    [created] = await store_client.create_collections(
        [CollectionData(name="Yeni Sezon Çantaları", slug="yeni-sezon-cantalari")]
    )
    assert created.author == ""
    assert await store_client.count_collections() == 31
    [updated] = await store_client.update_collections(
        [CollectionData(id=created.id, name="Yeni Sezon", slug="yeni-sezon")]
    )
    assert updated.name == "Yeni Sezon"
    await store_client.delete_collections([created.id])
    assert await store_client.count_collections() == 31 - 1


async def test_products_carry_collection_ids(store_client: StoreClient) -> None:
    products = [r async for p in store_client.iter_products(page_size=15) for r in p.records]
    assert len(products) == 40
    members = sum(len(p.collection_ids) for p in products)
    assert members == 30 * 3
    one = await store_client.get_products(1, 10, ProductFilters(sku=(products[0].sku,)))
    assert [p.id for p in one.records] == [products[0].id]


async def test_a_custom_collection_field() -> None:
    seed = generate(SeedSpec(collections=4, products=6, collection_field="in_collections"))
    app = create_store_app(seed.store)
    async with StoreClient(
        "http://store",
        STORE_API_KEY,
        collection_field="in_collections",
        transport=SandboxTransport(app),
        limits=LIMITS,
    ) as client:
        products = (await client.get_products()).records
    assert sum(len(p.collection_ids) for p in products) == 4 * 5


async def test_a_bad_key_is_an_authentication_error_with_the_vendor_message(
    store: Service,
) -> None:
    async with StoreClient(
        store.base_url, "wrong-key", transport=store.transport, limits=LIMITS
    ) as client:
        with pytest.raises(AuthenticationError, match="refused the API key: Invalid API key"):
            await client.count_collections()
    assert store.log.counts()["POST /api/v1/products/collections/count"] == 1  # not retried


async def test_an_unknown_handler_is_a_config_error_naming_the_url(
    store_client: StoreClient,
) -> None:
    with pytest.raises(ConfigError, match=r"source\.url: .*/api/v1/products/collections/nope"):
        await store_client.call("collections/nope")


async def test_a_filter_the_store_refuses_names_the_filter(store_client: StoreClient) -> None:
    # Sent raw, past our own checks: the store says 500 for a bad request and a fault alike, so
    # it is tried again (a read is safe to repeat) and then reported with the store's words.
    with pytest.raises(TransientError, match="createdon_min"):
        await store_client.call("collections/count", {"filters": {"createdon_min": "soon"}})


async def test_malformed_records_come_back_rejected_not_lost() -> None:
    seed = generate(SeedSpec(collections=6, products=0, malformed=True))
    app = create_store_app(seed.store)
    async with StoreClient(
        "http://store", STORE_API_KEY, transport=SandboxTransport(app), limits=LIMITS
    ) as client:
        page = await client.get_collections()
    assert page.size == 11
    assert len(page.records) == 6
    reasons = {r.raw.get("slug"): r.reason for r in page.rejected}
    assert "name" in reasons["no-name"]
    assert "255" in reasons["too-long-name"]
    assert "UUID" in reasons["bad-guid"] or "uuid" in reasons["bad-guid"].lower()
    assert "2019-13-45" in reasons["bad-date"]
    assert reasons["bad-text"] == "name: text with an unpaired surrogate, not valid Unicode"
    assert {r.record_id for r in page.rejected} >= {"not-a-guid"}


async def test_text_utf8_cannot_hold_is_refused_by_key_and_a_valid_pair_is_kept() -> None:
    def record(number: int, extra: str) -> str:
        return (
            f'{{"id":"00000000-0000-0000-0000-00000000000{number}","name":"Yaz {number}",'
            f'"slug":"yaz-{number}","createdon":"2020-01-01 10:00:00",{extra}}}'
        )

    # as a store that escapes non-ASCII writes them: a pair is one emoji, half a pair is not text
    records = [
        record(1, r'"badge":"\ud83d\ude00"'),
        record(2, r'"badge":"\ud83d"'),
        record(3, r'"tags":[{"label":"ok"},{"label":"x\udc00"}]'),
    ]
    page = f"[{','.join(records)}]".encode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=page, headers={"Content-Type": "application/json"})

    async with StoreClient(
        "http://store", STORE_API_KEY, transport=httpx.MockTransport(answer), limits=LIMITS
    ) as client:
        got = await client.get_collections()
    assert [r.name for r in got.records] == ["Yaz 1"]
    assert got.raw[0]["badge"] == "😀"
    assert [(r.record_id, r.reason) for r in got.rejected] == [
        (
            "00000000-0000-0000-0000-000000000002",
            "badge: text with an unpaired surrogate, not valid Unicode",
        ),
        (
            "00000000-0000-0000-0000-000000000003",
            "tags[1].label: text with an unpaired surrogate, not valid Unicode",
        ),
    ]

"""The Akinon client: session and token auth, every endpoint, paging past the server's cap."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from collsync import __version__
from collsync.errors import AuthenticationError, NotFoundError, RejectedError
from collsync.sandbox import AKINON_EMAIL, AKINON_PASSWORD, Seed, create_commerce_app
from collsync.sandbox.transport import SandboxTransport
from collsync.target import AkinonClient

from .conftest import LIMITS, Service


def product_pks(seed: Seed) -> list[int]:
    return [p["pk"] for p in seed.commerce.products]


async def test_session_login_then_writes_carry_csrf(
    akinon: AkinonClient, commerce: Service
) -> None:
    created = await akinon.create_collection("Yaz İndirimi", "public")
    assert created.name == "Yaz İndirimi"
    assert created.slug.startswith("yaz-indirimi-")
    assert created.public_url == f"/wishlists/user-collection/{created.slug}/"
    assert akinon.auth.session_mode
    assert commerce.log.counts()["POST /users/login/"] == 1


async def test_token_mode_never_logs_in(commerce: Service) -> None:
    async with httpx.AsyncClient(base_url=commerce.base_url, transport=commerce.transport) as raw:
        key = (
            await raw.post(
                "/users/login/", json={"email": AKINON_EMAIL, "password": AKINON_PASSWORD}
            )
        ).json()["key"]
    commerce.log.clear()
    async with AkinonClient(
        commerce.base_url, token=key, transport=commerce.transport, limits=LIMITS
    ) as client:
        await client.create_collection("Jeton ile", "private")
        assert [c.name for c in await client.list_collections()] == ["Jeton ile"]
    assert "POST /users/login/" not in commerce.log.counts()


async def test_wrong_password_is_an_authentication_error(commerce: Service) -> None:
    async with AkinonClient(
        commerce.base_url,
        email=AKINON_EMAIL,
        password="wrong",
        transport=commerce.transport,
        limits=LIMITS,
    ) as client:
        with pytest.raises(AuthenticationError, match=r"login as migrator@example\.com refused"):
            await client.list_collections()


async def test_a_bad_token_is_not_retried_with_a_login(commerce: Service) -> None:
    async with AkinonClient(
        commerce.base_url, token="0" * 40, transport=commerce.transport, limits=LIMITS
    ) as client:
        with pytest.raises(AuthenticationError, match="Invalid token"):
            await client.list_collections()
    assert commerce.log.counts() == {"GET /wishlists/user-collections/": 1}


async def test_listing_walks_every_page_past_the_cap(
    akinon: AkinonClient, commerce: Service
) -> None:
    names = [f"Koleksiyon {n:02d}" for n in range(25)]
    for name in names:
        await akinon.create_collection(name)
    commerce.log.clear()
    akinon.page_size = 1000  # the sandbox caps pages at 10
    listed = await akinon.list_collections()
    assert sorted(c.name for c in listed) == names
    assert len({c.pk for c in listed}) == 25
    assert commerce.log.counts()["GET /wishlists/user-collections/"] == 3


async def test_owner_scoping_hides_other_accounts(akinon: AkinonClient, seed: Seed) -> None:
    # The seed gives another account a collection named like the first store collection.
    assert await akinon.list_collections() == []
    assert any(c["owner"] != AKINON_EMAIL for c in seed.commerce.collections)


async def test_search_and_product_filters(akinon: AkinonClient, seed: Seed) -> None:
    pk = product_pks(seed)[0]
    a = await akinon.create_collection("Kış Montları")
    await akinon.create_collection("Yaz Elbiseleri")
    await akinon.add_item(a.pk, pk)
    assert [c.pk for c in await akinon.list_collections(search="kış")] == [a.pk]
    assert [c.pk for c in await akinon.list_collections(product_id=pk)] == [a.pk]


async def test_get_update_delete(akinon: AkinonClient) -> None:
    created = await akinon.create_collection("Eski Ad")
    updated = await akinon.update_collection(created.pk, name="Yeni Ad", status="public")
    assert (updated.name, updated.status, updated.slug) == ("Yeni Ad", "public", created.slug)
    assert (await akinon.get_collection(created.pk)).name == "Yeni Ad"
    await akinon.delete_collection(created.pk)
    with pytest.raises(NotFoundError, match=r"GET /wishlists/user-collections/\{pk\}/"):
        await akinon.get_collection(created.pk)


async def test_items_add_remove_and_already_present(akinon: AkinonClient, seed: Seed) -> None:
    collection = await akinon.create_collection("Hediyeler")
    first, second = product_pks(seed)[:2]
    item = await akinon.add_item(collection.pk, first, "doğum günü")
    assert (item.product.pk, item.note) == (first, "doğum günü")
    with pytest.raises(RejectedError) as info:  # what it means, the collection tells
        await akinon.add_item(collection.pk, first)
    assert info.value.status == 400
    await akinon.add_item(collection.pk, second)
    await akinon.remove_item(item.pk)
    remaining = (await akinon.get_collection(collection.pk)).items
    assert [i.product.pk for i in remaining] == [second]


async def test_unknown_product_keeps_the_field_message(akinon: AkinonClient) -> None:
    collection = await akinon.create_collection("Boş")
    with pytest.raises(RejectedError) as info:
        await akinon.add_item(collection.pk, 999_999_999)
    assert "999999999" in info.value.fields["product_id"][0]


async def test_public_by_slug_and_private_is_not_found(akinon: AkinonClient) -> None:
    public = await akinon.create_collection("Açık Liste", "public")
    private = await akinon.create_collection("Gizli Liste", "private")
    assert (await akinon.get_public(public.slug)).pk == public.pk
    assert private.public_url is None
    with pytest.raises(NotFoundError):
        await akinon.get_public(private.slug)


@pytest.mark.parametrize("shape", ["envelope", "object"])
async def test_create_accepts_both_answer_shapes(seed: Seed, shape: str) -> None:
    app = create_commerce_app(seed.commerce, create_response=shape)  # type: ignore[arg-type]
    async with AkinonClient(
        "http://commerce",
        email=AKINON_EMAIL,
        password=AKINON_PASSWORD,
        transport=SandboxTransport(app),
        limits=LIMITS,
    ) as client:
        older = await client.create_collection("Aynı Ad")
        newer = await client.create_collection("Aynı Ad")
    assert newer.pk > older.pk  # with duplicate names, the new one is picked, not the old one


async def test_a_compressed_answer_is_read_and_requests_say_who_sends_them() -> None:
    seen: list[httpx.Request] = []
    body = {"pk": 7, "name": "Kış", "slug": "kis", "status": "private", "items": []}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            content=gzip.compress(json.dumps(body).encode()),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    transport = httpx.MockTransport(answer)
    async with AkinonClient(
        "http://akinon", token="t" * 40, transport=transport, limits=LIMITS
    ) as client:
        collection = await client.get_collection(7)
    assert (collection.pk, collection.name) == (7, "Kış")
    assert seen[0].headers["User-Agent"] == f"collsync/{__version__}"
    assert "gzip" in seen[0].headers["Accept-Encoding"]

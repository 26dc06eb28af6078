"""One full conversation with each service, used both to record the cassettes and to replay them."""

from __future__ import annotations

from typing import Any

from collsync.errors import AuthenticationError, NotFoundError, RejectedError
from collsync.source import CollectionData, CollectionFilters, StoreClient
from collsync.target import AkinonClient


async def store_conversation(client: StoreClient, wrong_key: StoreClient) -> dict[str, Any]:
    seen: dict[str, Any] = {"count": await client.count_collections()}
    pages = [page async for page in client.iter_collections(page_size=10)]
    seen["page_sizes"] = [p.size for p in pages]
    first = pages[0].records[0]
    seen["by_slug"] = await client.count_collections(CollectionFilters(slug=(first.slug,)))
    products = [p async for p in client.iter_products(page_size=25)]
    seen["products"] = sum(p.size for p in products)
    [created] = await client.create_collections(
        [CollectionData(name="Kayıt Koleksiyonu", slug="kayit-koleksiyonu")]
    )
    [updated] = await client.update_collections(
        [CollectionData(id=created.id, name="Kayıt Koleksiyonu 2", slug="kayit-koleksiyonu-2")]
    )
    seen["updated"] = updated.name
    await client.delete_collections([created.id])
    seen["count_after"] = await client.count_collections()
    try:
        await wrong_key.count_collections()
    except AuthenticationError as exc:
        seen["wrong_key"] = exc.reason
    return seen


async def akinon_conversation(client: AkinonClient, product_pks: list[int]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    public = await client.create_collection("Kayıt Listesi", "public")
    private = await client.create_collection("Gizli Kayıt", "private")
    for n in range(3):
        await client.create_collection(f"Sayfa {n}")
    seen["listed"] = sorted(c.name for c in await client.list_collections())
    renamed = await client.update_collection(private.pk, name="Gizli Kayıt 2")
    seen["renamed"] = renamed.name
    item = await client.add_item(public.pk, product_pks[0], "not")
    try:
        await client.add_item(public.pk, product_pks[0])
    except RejectedError:
        seen["already"] = True
    await client.add_item(public.pk, product_pks[1])
    await client.remove_item(item.pk)
    seen["items"] = [i.product.pk for i in (await client.get_collection(public.pk)).items]
    seen["public"] = (await client.get_public(public.slug)).name
    await client.delete_collection(private.pk)
    try:
        await client.get_collection(private.pk)
    except NotFoundError:
        seen["deleted"] = True
    return seen

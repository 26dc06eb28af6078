"""Date filters as people mean them: a day is all of that day, a moment is taken as given."""

from __future__ import annotations

from datetime import date, datetime

import click
import pytest

from collsync.commands.migrate import CREATED_ON
from collsync.sandbox import STORE_API_KEY, SandboxTransport, create_store_app
from collsync.sandbox.data import StoreSeed
from collsync.source import CollectionFilters, StoreClient

CREATED = {
    "before": "2019-06-14 23:59:59",
    "midnight": "2019-06-15 00:00:00",
    "midday": "2019-06-15 12:00:00",
    "last second": "2019-06-15 23:59:59",
    "next day": "2019-06-16 00:00:00",
}


def store_with_one_collection_at_each_moment() -> StoreSeed:
    return StoreSeed(
        [
            {
                "id": f"00000000-0000-0000-0000-00000000000{n}",
                "name": name,
                "slug": name.replace(" ", "-"),
                "createdon": createdon,
            }
            for n, (name, createdon) in enumerate(CREATED.items())
        ]
    )


async def selected(filters: CollectionFilters) -> list[str]:
    app = create_store_app(store_with_one_collection_at_each_moment())
    async with StoreClient(
        "http://store", STORE_API_KEY, transport=SandboxTransport(app)
    ) as client:
        page = await client.get_collections(1, 100, filters)
        assert await client.count_collections(filters) == len(page.records)
    return [record.name for record in page.records]


async def test_until_a_day_includes_all_of_that_day() -> None:
    chosen = await selected(CollectionFilters(createdon_max=date(2019, 6, 15)))
    assert chosen == ["before", "midnight", "midday", "last second"]


async def test_since_a_day_includes_all_of_that_day() -> None:
    chosen = await selected(CollectionFilters(createdon_min=date(2019, 6, 15)))
    assert chosen == ["midnight", "midday", "last second", "next day"]


async def test_one_day_is_since_and_until_that_day() -> None:
    day = date(2019, 6, 15)
    chosen = await selected(CollectionFilters(createdon_min=day, createdon_max=day))
    assert chosen == ["midnight", "midday", "last second"]


async def test_a_moment_is_taken_as_given() -> None:
    chosen = await selected(CollectionFilters(createdon_max=datetime(2019, 6, 15, 12, 0)))
    assert chosen == ["before", "midnight", "midday"]


def test_the_options_take_a_day_or_a_moment() -> None:
    assert CREATED_ON.convert("2019-06-15", None, None) == date(2019, 6, 15)
    assert CREATED_ON.convert("2019-06-15 05:38:00", None, None) == datetime(2019, 6, 15, 5, 38)
    assert CREATED_ON.convert("2019-06-15T05:38:00", None, None) == datetime(2019, 6, 15, 5, 38)
    with pytest.raises(click.BadParameter, match="is not a day"):
        CREATED_ON.convert("15/06/2019", None, None)

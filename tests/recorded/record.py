"""Record the cassettes from the sandbox on 127.0.0.1: ``python -m tests.recorded.record``.

Secrets are scrubbed as each interaction is recorded (see ``scrub.py``); the replay tests then run
the same conversations with the placeholders as credentials, with recording off.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vcr

from collsync.http import Limits
from collsync.sandbox import (
    AKINON_EMAIL,
    AKINON_PASSWORD,
    STORE_API_KEY,
    Seed,
    SeedSpec,
    create_commerce_app,
    create_store_app,
    generate,
    serve_in_thread,
)
from collsync.source import StoreClient
from collsync.target import AkinonClient

from . import scrub
from .conversations import akinon_conversation, store_conversation

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
MATCH_ON = ("method", "path", "query", "body")
LIMITS = Limits(concurrency=1, attempts=1)
SEED_SPEC = SeedSpec(collections=25, products=30, items_per_collection=2, seed=11)


def recorder(scrubber: scrub.Scrubber | None = None, *, record_mode: str = "none") -> vcr.VCR:
    return vcr.VCR(
        serializer="yaml",
        record_mode=record_mode,
        match_on=MATCH_ON,
        before_record_request=scrubber.request if scrubber else None,
        before_record_response=scrubber.response if scrubber else None,
        decode_compressed_response=True,
    )


def seed() -> Seed:
    return generate(SEED_SPEC)


@dataclass
class Recording:
    store: dict[str, Any]
    akinon: dict[str, Any]
    secrets: set[str] = field(default_factory=set)
    """Every credential used or handed out while recording."""


async def record(directory: Path = CASSETTES) -> Recording:
    data = seed()
    store_app = create_store_app(data.store)
    commerce_app = create_commerce_app(data.commerce)
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any request
    with serve_in_thread(store_app) as store_url, serve_in_thread(commerce_app) as commerce_url:
        store_scrubber = scrub.Scrubber({STORE_API_KEY: scrub.STORE_KEY})
        store_cassette = directory / "store.yaml"
        store_cassette.unlink(missing_ok=True)
        with recorder(store_scrubber, record_mode="all").use_cassette(str(store_cassette)):
            async with (
                StoreClient(store_url, STORE_API_KEY, limits=LIMITS) as client,
                StoreClient(store_url, "wrong-key", limits=LIMITS) as wrong,
            ):
                store_seen = await store_conversation(client, wrong)

        akinon_scrubber = scrub.Scrubber({AKINON_PASSWORD: scrub.PASSWORD})
        akinon_cassette = directory / "akinon.yaml"
        akinon_cassette.unlink(missing_ok=True)
        with recorder(akinon_scrubber, record_mode="all").use_cassette(str(akinon_cassette)):
            async with AkinonClient(
                commerce_url, email=AKINON_EMAIL, password=AKINON_PASSWORD, limits=LIMITS
            ) as akinon:
                akinon_seen = await akinon_conversation(akinon, product_pks(data))
                jar = {akinon.auth.csrf_token} - {None}
    state = commerce_app.state.sandbox.data
    issued = set(state._by_session) | set(state._by_token)  # the sandbox's own record
    secrets = {STORE_API_KEY, AKINON_PASSWORD} | {str(s) for s in jar} | issued
    return Recording(store_seen, akinon_seen, secrets)


def product_pks(data: Seed) -> list[int]:
    return [p["pk"] for p in data.commerce.products[:2]]


if __name__ == "__main__":
    result = asyncio.run(record())
    print(f"recorded {CASSETTES}/store.yaml and akinon.yaml")
    print(result.store)
    print(result.akinon)

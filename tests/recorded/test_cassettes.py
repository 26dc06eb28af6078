"""Recorded conversations with both services, replayed with recording off, free of secrets."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from collsync.sandbox import AKINON_EMAIL
from collsync.source import StoreClient
from collsync.target import AkinonClient

from . import scrub
from .conversations import akinon_conversation, store_conversation
from .record import CASSETTES, LIMITS, product_pks, record, recorder, seed

STORE_SEEN = {
    "count": 25,
    "page_sizes": [10, 10, 5],
    "by_slug": 1,
    "products": 30,
    "updated": "Kayıt Koleksiyonu 2",
    "count_after": 25,
    "wrong_key": "the store refused the API key: Invalid API key",
}
AKINON_SEEN = {
    "listed": ["Gizli Kayıt", "Kayıt Listesi", "Sayfa 0", "Sayfa 1", "Sayfa 2"],
    "renamed": "Gizli Kayıt 2",
    "already": True,
    "public": "Kayıt Listesi",
    "deleted": True,
}


async def test_store_conversation_replays_from_the_cassette() -> None:
    with recorder().use_cassette(str(CASSETTES / "store.yaml")) as cassette:
        async with (
            StoreClient("http://store.invalid", scrub.STORE_KEY, limits=LIMITS) as client,
            StoreClient("http://store.invalid", "wrong-key", limits=LIMITS) as wrong,
        ):
            seen = await store_conversation(client, wrong)
    assert seen == STORE_SEEN
    assert cassette.all_played
    assert cassette.play_count == len(cassette) == 12


async def test_akinon_conversation_replays_from_the_cassette() -> None:
    with recorder().use_cassette(str(CASSETTES / "akinon.yaml")) as cassette:
        async with AkinonClient(
            "http://akinon.invalid", email=AKINON_EMAIL, password=scrub.PASSWORD, limits=LIMITS
        ) as client:
            seen = await akinon_conversation(client, product_pks(seed()))
    assert {k: v for k, v in seen.items() if k != "items"} == AKINON_SEEN
    assert seen["items"] == [product_pks(seed())[1]]
    assert cassette.all_played
    # the replayed login handed out placeholders, and the client used them as real ones
    assert client.auth.csrf_token == scrub.CSRF


def test_committed_cassettes_hold_only_placeholders() -> None:
    for path in sorted(CASSETTES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        for interaction in yaml.safe_load(text)["interactions"]:
            for name, values in interaction["request"]["headers"].items():
                if name.lower() in scrub.SECRET_HEADERS:
                    assert values == ["FILTERED"], (path.name, name)
            for cookie in interaction["response"]["headers"].get("set-cookie", []):
                assert re.match(r"\w+=FILTERED-(SESSION|CSRF);", cookie), cookie
        assert not re.search(r"\b[0-9a-f]{40}\b", text), f"{path.name} holds a token-like value"
        assert "sandbox-store-key" not in text
        assert "sandbox-password" not in text


async def test_recording_scrubs_every_secret_it_used(tmp_path: Path) -> None:
    recording = await record(tmp_path)
    assert recording.store == STORE_SEEN
    assert len(recording.secrets) >= 5  # key, password, session, CSRF, token
    for path in sorted(tmp_path.glob("*.yaml")):  # noqa: ASYNC240 - after the recording
        text = path.read_text(encoding="utf-8")
        for secret in recording.secrets:
            assert secret not in text, f"{path.name} leaks a secret used to record it"

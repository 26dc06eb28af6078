"""Every request is logged at debug level with its timing, and never with a credential."""

from __future__ import annotations

import json

import pytest

from collsync import logging as collsync_logging
from collsync.sandbox import AKINON_PASSWORD, STORE_API_KEY
from collsync.source import StoreClient
from collsync.target import AkinonClient

from .conftest import Service


async def test_requests_are_logged_without_secrets(
    store_client: StoreClient,
    akinon: AkinonClient,
    commerce: Service,
    capsys: pytest.CaptureFixture[str],
) -> None:
    collsync_logging.configure(json_logs=True, level="debug")
    capsys.readouterr()
    await store_client.count_collections()
    created = await akinon.create_collection("Günlük", "public")
    await akinon.update_collection(created.pk, status="private")
    output = capsys.readouterr().err
    events = [json.loads(line) for line in output.splitlines()]
    requests = [e for e in events if e["event"] == "collsync.http.request"]
    assert {(e["method"], e["endpoint"]) for e in requests} >= {
        ("POST", "POST /api/v1/products/collections/count"),
        ("POST", "POST /users/login/"),
        ("POST", "POST /wishlists/user-collections/"),
        ("PATCH", "PATCH /wishlists/user-collections/{pk}/"),
    }
    assert all(e["level"] == "debug" and e["status"] < 300 for e in requests)
    assert all(isinstance(e["duration_ms"], float) for e in requests)
    issued = commerce.app.state.sandbox.data
    secrets = [
        STORE_API_KEY,
        AKINON_PASSWORD,
        str(akinon.auth.csrf_token),
        *issued._by_session,
        *issued._by_token,
    ]
    for secret in secrets:
        assert secret not in output


async def test_info_level_hides_request_noise(
    store_client: StoreClient, capsys: pytest.CaptureFixture[str]
) -> None:
    collsync_logging.configure(json_logs=True, level="info")
    capsys.readouterr()
    await store_client.count_collections()
    assert "collsync.http.request" not in capsys.readouterr().err

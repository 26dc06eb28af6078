"""HTTPS: the service's certificate is verified against the store the environment names."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from collsync.errors import TransientError
from collsync.http import Limits, ServiceClient

LIMITS = Limits(concurrency=1, attempts=2, wait_initial=0.01, wait_max=0.01, timeout=5.0)


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def fresh_trust_store(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    # Each test names its own store (httpx reads it from the environment for each client).
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
async def https_url(authority: trustme.CA) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}')
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client refused the certificate
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/"


async def test_a_certificate_from_the_named_store_is_trusted(
    authority: trustme.CA, fresh_trust_store: pytest.MonkeyPatch, https_url: str, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    fresh_trust_store.setenv("SSL_CERT_FILE", str(bundle))
    async with ServiceClient(https_url, limits=LIMITS) as client:
        response = await client.send("GET", "items/", endpoint="GET", idempotent=True)
    assert response.json() == {"ok": True}


async def test_an_unknown_certificate_is_refused_before_anything_is_sent(
    fresh_trust_store: pytest.MonkeyPatch, https_url: str
) -> None:
    async with ServiceClient(https_url, limits=LIMITS) as client:
        with pytest.raises(TransientError, match=r"could not connect.*(?i:certificate)"):
            await client.send("POST", "items/", endpoint="POST", idempotent=False, json_body={})

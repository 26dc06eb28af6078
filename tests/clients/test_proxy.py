"""Requests go through the proxy the environment names, as with any httpx client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest

from collsync.errors import ServiceError, TransientError
from collsync.http import Limits, ServiceClient
from collsync.sandbox import free_port

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
TARGET = "http://akinon.collsync-test.invalid/api/"


@pytest.fixture
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


class RecordingProxy:
    """A proxy that answers every request itself and keeps its request lines."""

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        self.heads: list[str] = []
        self.port = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.request_lines.append(head.split(b"\r\n", 1)[0].decode())
        self.heads.append(head.decode())
        body = b'{"ok": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[RecordingProxy]:
    recording = RecordingProxy()
    server = await asyncio.start_server(recording, "127.0.0.1", 0)
    recording.port = server.sockets[0].getsockname()[1]
    async with server:
        yield recording


@pytest.mark.parametrize("scheme", ["http://", ""], ids=["with a scheme", "host:port alone"])
async def test_requests_go_through_the_environment_proxy(
    clean_proxy_environment: pytest.MonkeyPatch, proxy: RecordingProxy, scheme: str
) -> None:
    clean_proxy_environment.setenv("HTTP_PROXY", f"{scheme}127.0.0.1:{proxy.port}")
    async with ServiceClient(TARGET, limits=Limits(concurrency=2)) as client:
        response = await client.send("GET", "collections/", endpoint="GET", idempotent=True)
    assert response.json() == {"ok": True}
    # the proxy was asked for the target's address (a host that does not exist)
    assert proxy.request_lines == [f"GET {TARGET}collections/ HTTP/1.1"]


async def test_proxy_credentials_in_its_url_are_sent_to_it(
    clean_proxy_environment: pytest.MonkeyPatch, proxy: RecordingProxy
) -> None:
    clean_proxy_environment.setenv("HTTP_PROXY", f"http://mig:s%40fe@127.0.0.1:{proxy.port}")
    async with ServiceClient(TARGET, limits=Limits(concurrency=1)) as client:
        await client.send("GET", "collections/", endpoint="GET", idempotent=True)
    assert proxy.request_lines == [f"GET {TARGET}collections/ HTTP/1.1"]
    sent = base64.b64encode(b"mig:s@fe").decode()
    assert f"Proxy-Authorization: Basic {sent}" in proxy.heads[0]
    assert "mig" not in proxy.request_lines[0]


async def test_an_https_target_is_tunnelled_with_the_proxy_credentials(
    clean_proxy_environment: pytest.MonkeyPatch, proxy: RecordingProxy
) -> None:
    # the proxy answers the CONNECT, then hangs up: no tunnel
    clean_proxy_environment.setenv("HTTPS_PROXY", f"http://mig:pw@127.0.0.1:{proxy.port}")
    target = "https://akinon.collsync-test.invalid/api/"
    limits = Limits(concurrency=1, attempts=1)
    async with ServiceClient(target, limits=limits) as client:
        with pytest.raises(ServiceError):
            await client.send("GET", "collections/", endpoint="GET", idempotent=True)
    assert proxy.request_lines == ["CONNECT akinon.collsync-test.invalid:443 HTTP/1.1"]
    assert f"Proxy-Authorization: Basic {base64.b64encode(b'mig:pw').decode()}" in proxy.heads[0]


async def test_no_proxy_exempts_a_host(
    clean_proxy_environment: pytest.MonkeyPatch, proxy: RecordingProxy
) -> None:
    clean_proxy_environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    clean_proxy_environment.setenv("NO_PROXY", "127.0.0.1")
    target = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there
    limits = Limits(concurrency=1, attempts=1)
    async with ServiceClient(target, limits=limits) as client:
        with pytest.raises(TransientError, match="could not connect"):
            await client.send("GET", "collections/", endpoint="GET", idempotent=True)
    assert proxy.request_lines == []

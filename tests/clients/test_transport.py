"""What the network can do to a request, as the clients see it through collsync's transport.

A raw TCP server plays each misbehaviour; the point is what collsync concludes: a request that
never left is retried, one that may have been applied is never sent again.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from collsync.errors import OutcomeUnknownError, TransientError
from collsync.http import Limits, ServiceClient
from collsync.sandbox import free_port

Serve = Callable[["RawServer"], Awaitable[str]]
LIMITS = Limits(concurrency=2, attempts=3, wait_initial=0.01, wait_max=0.01, timeout=2.0)


class RawServer:
    """Counts the requests it read and answers each with ``answer``."""

    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                reply = self.answer(head + body)
                if reply is None:  # hang up without a word
                    break
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _http(body: bytes, *headers: bytes, status: bytes = b"200 OK") -> bytes:
    lines = [b"HTTP/1.1 " + status, b"Content-Length: %d" % len(body), *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(handler: RawServer) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_a_hang_up_after_a_write_is_outcome_unknown_and_not_resent(serve: Serve) -> None:
    server = RawServer(lambda request: None)
    async with ServiceClient(await serve(server), limits=LIMITS) as client:
        with pytest.raises(OutcomeUnknownError, match="may have been applied"):
            await client.send("POST", "items/", endpoint="POST", idempotent=False, json_body={})
    assert len(server.requests) == 1


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_nothing_is_sent_again_behind_the_retries(serve: Serve, method: str) -> None:
    # aiohttp would resend an idempotent request once on a dropped connection: unpaced, uncounted
    server = RawServer(lambda request: None)
    async with ServiceClient(await serve(server), limits=LIMITS) as client:
        with pytest.raises(TransientError, match="connection lost"):
            await client.send(method, "items/1/", endpoint=method, idempotent=True)
    assert len(server.requests) == LIMITS.attempts


async def test_a_hang_up_on_a_read_is_retried(serve: Serve) -> None:
    answers = iter([None, _http(b'{"n": 1}', b"Content-Type: application/json")])
    server = RawServer(lambda request: next(answers))
    async with ServiceClient(await serve(server), limits=LIMITS) as client:
        response = await client.send("GET", "items/", endpoint="GET", idempotent=True)
    assert response.json() == {"n": 1}
    assert len(server.requests) == 2


async def test_a_truncated_answer_to_a_write_is_outcome_unknown(serve: Serve) -> None:
    truncated = b'HTTP/1.1 201 Created\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{"pk"'
    server = RawServer(lambda request: truncated)
    async with ServiceClient(await serve(server), limits=LIMITS) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.send("POST", "items/", endpoint="POST", idempotent=False, json_body={})
    assert len(server.requests) == 1


async def test_an_answer_that_is_not_http_is_never_taken_for_one(serve: Serve) -> None:
    server = RawServer(lambda request: b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    async with ServiceClient(await serve(server), limits=LIMITS) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.send("POST", "items/", endpoint="POST", idempotent=False, json_body={})
        with pytest.raises(TransientError, match="connection lost"):
            await client.send("GET", "items/", endpoint="GET", idempotent=True)
    assert len(server.requests) == 1 + LIMITS.attempts  # the write once, the read retried


async def test_connections_are_kept_alive_and_cookies_are_not_kept(serve: Serve) -> None:
    server = RawServer(lambda request: _http(b"{}", b"Set-Cookie: sessionid=abc; Path=/"))
    async with ServiceClient(await serve(server), limits=Limits(concurrency=1)) as client:
        for _ in range(3):
            await client.send("GET", "items/", endpoint="GET", idempotent=True)
    assert server.connections == 1
    assert len(server.requests) == 3
    assert not any(b"cookie:" in r.lower() for r in server.requests)


async def test_gzip_answers_are_decoded_and_bodies_sent_as_given(serve: Serve) -> None:
    packed = gzip.compress(b'{"name": "K\xc4\xb1\xc5\x9f"}')
    server = RawServer(
        lambda request: _http(packed, b"Content-Encoding: gzip", b"Content-Type: application/json")
    )
    async with ServiceClient(await serve(server), limits=LIMITS) as client:
        response = await client.send(
            "POST", "items/", endpoint="POST", idempotent=False, content=b"raw bytes"
        )
    assert response.json() == {"name": "Kış"}
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert body == b"raw bytes"
    assert b"content-type" not in head.lower()  # nothing invented for a bare body


async def test_a_service_that_stops_reading_a_write_times_out(serve: Serve) -> None:
    stalled: list[bool] = []

    async def never_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stalled.append(True)
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_reads, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/"
    limits = Limits(concurrency=1, attempts=1, timeout=0.3)
    async with server, ServiceClient(url, limits=limits) as client:
        with pytest.raises(OutcomeUnknownError, match="timed out"):
            await asyncio.wait_for(
                client.send(
                    "POST", "items/", endpoint="POST", idempotent=False, content=b"x" * 2**25
                ),
                timeout=10,
            )
        server.close()
    assert stalled == [True]


async def test_a_closed_transport_opens_nothing_again(serve: Serve) -> None:
    server = RawServer(lambda request: _http(b"{}"))
    client = ServiceClient(await serve(server), limits=LIMITS)
    await client.send("GET", "items/", endpoint="GET", idempotent=True)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.send("GET", "items/", endpoint="GET", idempotent=True)
    assert len(server.requests) == 1


async def test_a_refused_proxy_is_a_connection_failure_not_a_lost_write(
    monkeypatch: pytest.MonkeyPatch, serve: Serve
) -> None:
    server = RawServer(lambda request: _http(b"{}"))  # would answer, were the proxy not named
    url = await serve(server)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with ServiceClient(url, limits=LIMITS) as client:
        with pytest.raises(TransientError, match="could not connect"):
            await client.send("POST", "items/", endpoint="POST", idempotent=False, json_body={})
    assert server.requests == []


async def test_a_status_line_only_is_read_as_the_status_it_gives(serve: Serve) -> None:
    server = RawServer(lambda request: _http(b"", status=b"503 Service Unavailable"))
    async with ServiceClient(await serve(server), limits=LIMITS) as client:
        with pytest.raises(OutcomeUnknownError, match="server error 503"):
            await client.send("POST", "items/", endpoint="POST", idempotent=False, json_body={})
        with pytest.raises(TransientError, match="server error 503"):
            await client.send("GET", "items/", endpoint="GET", idempotent=True)
    assert len(server.requests) == 1 + LIMITS.attempts

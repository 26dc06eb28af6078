"""The HTTP floor under collsync's CPU per request: the transport alone, the way collsync sends.

Sends ``--requests`` POSTs (the store's count call: a small JSON body and a small JSON answer)
to a sandbox, ``--concurrency`` at a time, on collsync's own lanes and event loop, and prints
the CPU and wall seconds of the sending alone as JSON. ``--transport collsync`` is the
transport collsync sends through (httpx requests, aiohttp underneath); ``--transport httpx`` is
httpx's own (httpcore), one connection for each lane, for comparison. Run by ``bench/run.py``
beside the cold migration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import resource
import time
from typing import TYPE_CHECKING

import httpx

from collsync.aio import run
from collsync.http import Limits, _exchange, _Lanes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class HttpxLanes:
    """httpx's own transport, one connection for each lane (its pool polls every idle socket
    on each request, so a shared pool of 16 would cost more)."""

    def __init__(self, concurrency: int) -> None:
        connection = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.transports = [httpx.AsyncHTTPTransport(limits=connection) for _ in range(concurrency)]
        self._idle: asyncio.LifoQueue[httpx.AsyncBaseTransport] = asyncio.LifoQueue()
        for transport in self.transports:
            self._idle.put_nowait(transport)

    @contextlib.asynccontextmanager
    async def lane(self) -> AsyncIterator[httpx.AsyncBaseTransport]:
        transport = await self._idle.get()
        try:
            yield transport
        finally:
            self._idle.put_nowait(transport)

    async def aclose(self) -> None:
        for transport in self.transports:
            await transport.aclose()


async def send_all(
    url: str, api_key: str, requests: int, concurrency: int, transport: str
) -> dict[str, float | bool]:
    # collsync's own lanes and exchange, without its retries, pacing, journal or parsing
    lanes: HttpxLanes | _Lanes = (
        HttpxLanes(concurrency)
        if transport == "httpx"
        else _Lanes(httpx.URL(url), Limits(concurrency=concurrency), transport=None)
    )
    # URL and headers parsed once, as collsync's clients do
    endpoint = httpx.URL(f"{url}/api/v1/products/collections/count")
    headers = httpx.Headers({"Content-Type": "application/json"})
    body = json.dumps({"authentication": {"apiKey": api_key}}).encode()

    async def one() -> None:
        request = httpx.Request("POST", endpoint, content=body, headers=headers)
        async with lanes.lane() as transport:
            response = await _exchange(transport, request)
        json.loads(response.content)

    await asyncio.gather(*(one() for _ in range(concurrency)))  # connections open, code warm
    cpu, started = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    result: dict[str, float | bool] = {
        "requests": requests,
        "cpu": cpu_seconds() - cpu,
        "wall": time.perf_counter() - started,
    }
    await lanes.aclose()
    # httpcore looks for sniffio on every lock and cancel scope, and costs a third more CPU a
    # request without it (encode/httpcore#1103); collsync no longer installs it.
    result["sniffio"] = importlib.util.find_spec("sniffio") is not None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the store sandbox's base URL")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--transport", choices=("collsync", "httpx"), default="collsync")
    args = parser.parse_args()
    sending = send_all(args.url, args.api_key, args.requests, args.concurrency, args.transport)
    print(json.dumps(run(sending)))


if __name__ == "__main__":
    main()

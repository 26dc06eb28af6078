"""The HTTP floor under collsync's CPU per request: httpx alone, and collsync's client on it.

Sends ``--requests`` POSTs (the store's count call: a small JSON body and a small JSON answer)
to a sandbox, ``--concurrency`` at a time, and prints the CPU and wall seconds of the sending
alone as JSON. ``--transport httpx`` is a bare ``httpx.AsyncClient`` (the floor: what any httpx
program pays); ``--transport collsync`` is collsync's ``ServiceClient`` on the same httpx, with
its lanes, pacing, retries and error translation, without its parsing, journal or state. Run by
``bench/run.py`` beside the cold migration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from typing import TYPE_CHECKING

import httpx

from collsync import logging as collsync_logging
from collsync.http import Limits, ServiceClient

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def send_all(
    url: str, api_key: str, requests: int, concurrency: int, transport: str
) -> dict[str, float]:
    path = "/api/v1/products/collections/count"
    body = {"authentication": {"apiKey": api_key}}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    bare = httpx.AsyncClient(base_url=url, limits=limits)
    client = ServiceClient(url, limits=Limits(concurrency=concurrency))
    lanes = asyncio.Semaphore(concurrency)

    async def by_httpx() -> None:
        async with lanes:
            response = await bare.post(path, json=body)
        response.json()

    async def by_collsync() -> None:
        response = await client.send("POST", path, endpoint=path, idempotent=True, json_body=body)
        response.json()

    one: Callable[[], Awaitable[None]] = by_httpx if transport == "httpx" else by_collsync
    await asyncio.gather(*(one() for _ in range(concurrency)))  # connections open, code warm
    cpu, started = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    result = {
        "requests": requests,
        "cpu": cpu_seconds() - cpu,
        "wall": time.perf_counter() - started,
    }
    await bare.aclose()
    await client.aclose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the store sandbox's base URL")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--transport", choices=("collsync", "httpx"), default="collsync")
    args = parser.parse_args()
    collsync_logging.configure(json_logs=True, level="error")  # stdout carries the result
    sending = send_all(args.url, args.api_key, args.requests, args.concurrency, args.transport)
    print(json.dumps(asyncio.run(sending)))


if __name__ == "__main__":
    main()

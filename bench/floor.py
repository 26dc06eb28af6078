"""The HTTP floor under collsync's CPU per request: httpx alone, the way collsync sends.

Sends ``--requests`` POSTs (the store's count call: a small JSON body and a small JSON answer)
to a sandbox, ``--concurrency`` at a time, on collsync's own lanes (one-connection httpx
transports) and event loop, and prints the CPU and wall seconds of the sending
alone as JSON. Run by ``bench/run.py`` beside the cold migration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

import httpx

from collsync.aio import run
from collsync.http import Limits, _exchange, _Lanes


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def send_all(url: str, api_key: str, requests: int, concurrency: int) -> dict[str, float]:
    # collsync's own lanes and exchange, without its retries, pacing, journal or parsing
    lanes = _Lanes(httpx.URL(url), Limits(concurrency=concurrency), transport=None)
    endpoint = f"{url}/api/v1/products/collections/count"
    body = json.dumps({"authentication": {"apiKey": api_key}}).encode()

    async def one() -> None:
        request = httpx.Request(
            "POST", endpoint, content=body, headers={"Content-Type": "application/json"}
        )
        async with lanes.lane() as transport:
            response = await _exchange(transport, request)
        json.loads(response.content)

    await asyncio.gather(*(one() for _ in range(concurrency)))  # connections open, code warm
    cpu, started = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    result = {
        "requests": requests,
        "cpu": cpu_seconds() - cpu,
        "wall": time.perf_counter() - started,
    }
    await lanes.aclose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the store sandbox's base URL")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps(run(send_all(args.url, args.api_key, args.requests, args.concurrency))))


if __name__ == "__main__":
    main()

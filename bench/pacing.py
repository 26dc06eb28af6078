"""Adaptive pacing against simulated services: what it gets accepted, and how often it is refused.

    python bench/pacing.py              # every service, 6 seeds, 60 simulated seconds each
    python bench/pacing.py --seeds 20

Runs collsync's ``AdaptiveRate`` on a simulated clock (no network, a few seconds in all), for
60 s a run; the last 30 s are judged. Services are token buckets (a rate after an opening burst),
refusals at random whatever the rate, and both together. Two tables:

- answered at once, a client offering requests at a fixed rate (or slower, as it is paced):
  requests accepted per second as a share of the most the service would accept, and the share
  answered 429;
- 16 requests in flight, each answered after a random latency, with ``Retry-After`` waits where
  said and a backlog that never runs out: accepted per second, 429s, and the cuts undone. Two
  services refuse every request for a while (2 s or 20 s from 10 s on): what is judged there is
  the recovery.

The worst seed is shown first: pacing that holds only on average is not pacing a user can rely on.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import math
import random
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from structlog.testing import capture_logs

from collsync.logging import configure
from collsync.pacing import AdaptiveRate

if TYPE_CHECKING:
    from collections.abc import Generator


class Clock:
    """Simulated time; a paced wait moves it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay


@dataclass
class Service:
    """Refuses past a token bucket (``rate`` a second after ``burst``), and ``random`` of the
    rest whatever the rate."""

    clock: Clock
    rate: float | None
    burst: float
    random: float
    draw: random.Random
    outage: tuple[float, float] = (0.0, 0.0)
    """From when to when every request is refused."""
    tokens: float = 0.0
    at: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def refuses(self) -> bool:
        if self.outage[0] <= self.clock.now < self.outage[1]:
            return True
        if self.rate is not None:
            self.tokens = min(self.burst, self.tokens + (self.clock.now - self.at) * self.rate)
            self.at = self.clock.now
            if self.tokens < 1:
                return True
            self.tokens -= 1
        return self.draw.random() < self.random


@dataclass(frozen=True)
class Scenario:
    name: str
    offered: float
    rate: float | None = None
    burst: float = 1
    random: float = 0.0

    @property
    def best(self) -> float:
        """Requests a second the service accepts at most."""
        ceiling = self.offered if self.rate is None else min(self.offered, self.rate)
        return ceiling * (1 - self.random)


SCENARIOS = [
    *(
        Scenario(f"{share:.0%} refused at random, {offered}/s offered", offered, random=share)
        for share in (0.03, 0.1, 0.3)
        for offered in (20, 200)
    ),
    Scenario("limit 20/s after a burst of 200, 400/s offered", 400, 20, 200),
    Scenario("limit 20/s, 80/s offered", 80, 20),
    Scenario("limit 10/s, 15/s offered", 15, 10),
    Scenario("limit 5/s, 8/s offered", 8, 5),
    Scenario("limit 100/s after a burst of 100, 300/s offered", 300, 100, 100),
    Scenario("limit 20/s and 10% at random, 400/s offered", 400, 20, 100, 0.1),
    Scenario("limit 100/s and 5% at random, 300/s offered", 300, 100, 100, 0.05),
    Scenario("limit 10/s and 10% at random, 30/s offered", 30, 10, 1, 0.1),
]


async def offer(pace: AdaptiveRate, clock: Clock, scenario: Scenario, service: Service) -> bool:
    """One request, offered as soon as the client may send; whether it was refused."""
    clock.now += 1 / min(scenario.offered, pace.rate or scenario.offered)
    epoch = await pace.acquire()
    refused = service.refuses()
    pace.throttled(epoch) if refused else pace.accepted(epoch)
    return refused


async def run(scenario: Scenario, seed: int, seconds: float) -> tuple[float, float]:
    """Accepted a second (a share of the best) and the share refused, over the second half."""
    clock = Clock()
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    service = Service(clock, scenario.rate, scenario.burst, scenario.random, random.Random(seed))
    judged_from = seconds / 2
    accepted = refused = 0
    while clock.now < seconds:
        was_refused = await offer(pace, clock, scenario, service)
        if clock.now >= judged_from:
            refused += was_refused
            accepted += not was_refused
    accepted_share = accepted / (seconds - judged_from) / scenario.best
    return accepted_share, refused / max(1, accepted + refused)


@dataclass(frozen=True)
class InFlight:
    """A service answered by ``lanes`` requests in flight, each taking about ``latency`` s."""

    name: str
    rate: float | None
    random: float = 0.0
    retry_after: float = 0.0
    lanes: int = 16
    latency: float = 0.1
    outage: float = 0.0
    """Seconds, from 10 s on, when every request is refused."""


IN_FLIGHT = [
    InFlight("limit 10/s, 0.5 s latency", 10, latency=0.5),
    InFlight("limit 20/s, 0.3 s latency", 20, latency=0.3),
    InFlight("limit 20/s, 0.3 s latency, Retry-After 1 s", 20, retry_after=1, latency=0.3),
    InFlight("limit 50/s, 0.2 s latency", 50, latency=0.2),
    InFlight("limit 100/s", 100),
    InFlight("10% refused at random", None, 0.1),
    InFlight("10% refused at random, Retry-After 1 s", None, 0.1, retry_after=1),
    InFlight("5% at random, Retry-After 1 s, 0.05 s latency", None, 0.05, 1, latency=0.05),
    InFlight("limit 100/s and 5% at random", 100, 0.05),
    InFlight("every request refused for 2 s, Retry-After 1 s", None, retry_after=1, outage=2),
    InFlight("every request refused for 20 s, Retry-After 1 s", None, retry_after=1, outage=20),
]


class _Wait:
    """A wait of ``delay`` simulated seconds, handed to the scheduler in :func:`run_in_flight`."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __await__(self) -> Generator[_Wait, None, None]:
        yield self


async def _lane(
    pace: AdaptiveRate,
    service: Service,
    setup: InFlight,
    draw: random.Random,
    answers: list[tuple[float, bool]],
) -> None:
    """One request after another, as a collsync lane sends them; a refused one waits."""
    while True:
        epoch = await pace.acquire()
        took = setup.latency * math.exp(0.5 * draw.gauss(0, 1) - 0.125)  # lognormal, mean kept
        await _Wait(took / 2)
        refused = service.refuses()
        await _Wait(took / 2)
        pace.throttled(epoch) if refused else pace.accepted(epoch)
        answers.append((service.clock.now, refused))
        if refused and setup.retry_after:
            await _Wait(setup.retry_after)


def run_in_flight(setup: InFlight, seed: int, seconds: float) -> tuple[float, float, int]:
    """Accepted a second and the share refused over the second half, and the cuts undone."""
    clock = Clock()
    draw = random.Random(seed)
    outage = (10.0, 10.0 + setup.outage)
    service = Service(clock, setup.rate, setup.rate or 1, setup.random, draw, outage)
    pace = AdaptiveRate(None, clock=clock, sleep=_Wait)
    answers: list[tuple[float, bool]] = []
    order = itertools.count()
    lanes = (_lane(pace, service, setup, draw, answers) for _ in range(setup.lanes))
    queue = [(0.0, next(order), lane) for lane in lanes]
    with capture_logs() as events:
        while queue[0][0] < seconds:
            clock.now, _, lane = heapq.heappop(queue)
            wait = lane.send(None)
            heapq.heappush(queue, (clock.now + wait.delay, next(order), lane))
    for _, _, lane in queue:
        lane.close()
    judged = [refused for at, refused in answers if at >= seconds / 2]
    accepted = (len(judged) - sum(judged)) / (seconds / 2)
    undone = sum(e["event"] == "collsync.pacing.rate_restored" for e in events)
    return accepted, sum(judged) / max(1, len(judged)), undone


async def main(seeds: int, seconds: float) -> None:
    print("Answered at once, offered at a fixed rate:\n")
    print("| service | accepted, worst seed | accepted, median | 429s, worst seed |")
    print("|---|---|---|---|")
    for scenario in SCENARIOS:
        with capture_logs():  # the pacing's events, kept off the table
            results = [await run(scenario, seed, seconds) for seed in range(seeds)]
        accepted = [a for a, _ in results]
        refused = [r for _, r in results]
        print(
            f"| {scenario.name} | {min(accepted):.0%} | {statistics.median(accepted):.0%} "
            f"| {max(refused):.1%} |"
        )
    print("\n16 requests in flight, latency 0.1 s unless said, a backlog that never runs out:\n")
    print("| service | accepted/s, worst seed | median | 429s, worst seed | cuts undone, most |")
    print("|---|---|---|---|---|")
    for setup in IN_FLIGHT:
        runs = [run_in_flight(setup, seed, seconds) for seed in range(seeds)]
        rates = [a for a, _, _ in runs]
        print(
            f"| {setup.name} | {min(rates):.1f} | {statistics.median(rates):.1f} "
            f"| {max(r for _, r, _ in runs):.1%} | {max(u for _, _, u in runs)} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    configure(level="info")  # the cuts undone are counted from the pacing's events
    asyncio.run(main(args.seeds, args.seconds))

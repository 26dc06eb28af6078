"""Adaptive pacing against simulated services: what it gets accepted, and how often it is refused.

    python bench/pacing.py              # every service, 6 seeds, 60 simulated seconds each
    python bench/pacing.py --seeds 20

Runs collsync's ``AdaptiveRate`` on a simulated clock (no network, a few seconds in all). Each
service answers at once; a client offers requests at a fixed rate, or slower as it is paced, for
60 s. The last 30 s are judged: requests accepted per second as a share of the most the service
would accept, and the share of requests answered 429. Services are token buckets (a rate after an
opening burst), refusals at random whatever the rate, and both together. The worst seed is shown
first: pacing that holds only on average is not pacing a user can rely on.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
from dataclasses import dataclass

from collsync.http import AdaptiveRate
from collsync.logging import configure


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
    tokens: float = 0.0
    at: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def refuses(self) -> bool:
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


async def main(seeds: int, seconds: float) -> None:
    print("| service | accepted, worst seed | accepted, median | 429s, worst seed |")
    print("|---|---|---|---|")
    for scenario in SCENARIOS:
        results = [await run(scenario, seed, seconds) for seed in range(seeds)]
        accepted = [a for a, _ in results]
        refused = [r for _, r in results]
        print(
            f"| {scenario.name} | {min(accepted):.0%} | {statistics.median(accepted):.0%} "
            f"| {max(refused):.1%} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    configure(level="warning")
    asyncio.run(main(args.seeds, args.seconds))

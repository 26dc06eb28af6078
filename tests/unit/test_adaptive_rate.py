"""Adaptive pacing: how the rate answers 429s, on a clock the test moves."""

from __future__ import annotations

import pytest

from collsync.http import AdaptiveRate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def send(pace: AdaptiveRate, clock: Clock, count: int, per_second: float) -> list[int]:
    """``count`` requests sent and accepted at ``per_second``; the pacing each was sent under."""
    epochs = []
    for _ in range(count):
        clock.now += 1 / per_second
        epochs.append(await pace.acquire())
        pace.accepted()
    return epochs


async def test_no_pacing_until_the_service_refuses(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock)
    await send(pace, clock, 500, per_second=400)
    assert pace.rate is None


async def test_a_429_cuts_the_rate_to_a_fraction_of_what_was_sent(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock)
    epochs = await send(pace, clock, 200, per_second=200)
    for epoch in epochs[-10:]:  # the last 10 of 200 in the second: 5% refused
        pace.throttled(epoch)
    assert pace.rate == pytest.approx(200 * AdaptiveRate.decrease, rel=0.05)


async def test_one_overshoot_is_one_cut_not_one_per_refused_request(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock)
    epochs = await send(pace, clock, 200, per_second=200)
    for epoch in epochs[-20:]:  # answered after the cut, but sent before it
        pace.throttled(epoch)
    assert pace.rate == pytest.approx(160, rel=0.05)


async def test_rare_refusals_are_retried_without_slowing_everyone(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock)
    epochs = await send(pace, clock, 200, per_second=200)
    pace.throttled(epochs[-1])  # one in 200: under the tolerance
    assert pace.rate is None


async def test_the_rate_grows_back_additively_up_to_the_ceiling(clock: Clock) -> None:
    pace = AdaptiveRate(100, clock=clock)
    epochs = await send(pace, clock, 100, per_second=100)
    for epoch in epochs[-5:]:
        pace.throttled(epoch)
    cut = pace.rate
    assert cut == pytest.approx(80, rel=0.05)
    clock.now += 5  # five quiet seconds
    await pace.acquire()
    assert pace.rate == pytest.approx(cut * 1.15, rel=0.01)  # 3% of the cut rate a second
    clock.now += 600
    await pace.acquire()
    assert pace.rate == 100  # never above the configured limit


async def test_a_service_that_always_refuses_some_cannot_stop_the_run(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock)
    await send(pace, clock, 100, per_second=100)  # the best second the floor is kept from
    for _ in range(50):  # every request paced at the new rate is refused again
        clock.now += 10  # past any turn, even at the lowest rate
        pace.throttled(await pace.acquire())
    assert pace.rate == pytest.approx(100 * AdaptiveRate.keep, rel=0.05)

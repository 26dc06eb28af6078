"""Adaptive pacing: how the rate answers 429s, on a clock the test moves."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Generator

import pytest

from collsync.pacing import AdaptiveRate, Turn


class Clock:
    """A clock the test moves; waiting for a paced turn moves it too, instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def send(pace: AdaptiveRate, clock: Clock, count: int, per_second: float) -> list[Turn]:
    """``count`` requests sent and accepted at ``per_second``; the turn of each."""
    epochs = []
    for _ in range(count):
        clock.now += 1 / per_second
        epoch = await pace.acquire()
        epochs.append(epoch)
        pace.accepted(epoch)
    return epochs


async def test_no_pacing_until_the_service_refuses(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    await send(pace, clock, 500, per_second=400)
    assert pace.rate is None


async def answer_each(
    pace: AdaptiveRate, clock: Clock, count: int, per_second: float, refused: Callable[[int], bool]
) -> list[Turn]:
    """``count`` requests sent at ``per_second`` (or as paced), the n-th refused when
    ``refused(n)``; the turn of each."""
    turns = []
    for n in range(count):
        clock.now += 1 / min(per_second, pace.rate or per_second)
        turn = await pace.acquire()
        turns.append(turn)
        pace.throttled(turn) if refused(n) else pace.accepted(turn)
    return turns


async def test_an_overload_cuts_the_rate_to_what_the_service_accepted(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    await answer_each(pace, clock, 201, 200, lambda n: n % 4 == 0)  # a quarter refused
    assert pace.rate == pytest.approx(150, rel=0.05)  # what it accepted in that second


async def test_refusals_of_requests_sent_before_a_cut_do_not_cut_again(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    turns = await answer_each(pace, clock, 201, 200, lambda n: n % 4 == 0)
    cut = pace.rate
    assert cut is not None
    for turn in turns:  # more answers to requests sent before the cut, all refused
        clock.now += 0.01
        pace.throttled(turn)
    assert pace.rate == cut


async def test_rare_refusals_are_retried_without_slowing_everyone(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    epochs = await send(pace, clock, 200, per_second=200)
    pace.throttled(epochs[-1])  # one in 200: under the tolerance
    assert pace.rate is None


async def test_the_rate_grows_back_and_never_past_the_ceiling(clock: Clock) -> None:
    pace = AdaptiveRate(100, clock=clock, sleep=clock.sleep)
    bucket = TokenBucket(clock, 60, 60)
    await offer(pace, clock, 20, 200, bucket.refuses)
    assert pace.rate is not None
    assert pace.rate < 90  # it found the limit of 60 (and probes a little past it)
    rates = []
    for _ in range(120):  # the limit lifted: two minutes of nothing refused
        await offer(pace, clock, 1, 200, lambda: False)
        rates.append(pace.rate)
    assert rates == sorted(rates)  # only up
    assert rates[-1] == 100  # to the configured ceiling, never above


class TokenBucket:
    """A service limit: ``rate`` a second after an opening burst of ``burst``."""

    def __init__(self, clock: Clock, rate: float, burst: float) -> None:
        self.clock, self.rate, self.tokens, self.at = clock, rate, burst, clock.now
        self.burst = burst

    def refuses(self) -> bool:
        self.tokens = min(self.burst, self.tokens + (self.clock.now - self.at) * self.rate)
        self.at = self.clock.now
        if self.tokens >= 1:
            self.tokens -= 1
            return False
        return True


async def offer(
    pace: AdaptiveRate, clock: Clock, seconds: float, per_second: float, refuses: Callable[[], bool]
) -> list[bool]:
    """Requests offered at ``per_second`` (or slower, as paced) for ``seconds``; refused or not."""
    answers = []
    end = clock.now + seconds
    while clock.now < end:
        clock.now += 1 / min(per_second, pace.rate or per_second)
        epoch = await pace.acquire()
        refused = refuses()
        pace.throttled(epoch) if refused else pace.accepted(epoch)
        answers.append(refused)
    return answers


async def test_a_token_bucket_is_found_and_followed(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    # 400/s offered to a service that takes 20/s after letting 200 through at once
    answers = await offer(pace, clock, 60, 400, TokenBucket(clock, 20, 200).refuses)
    last_half = answers[len(answers) // 2 :]
    assert sum(last_half) < 0.1 * len(last_half)  # refusals are rare once it has found the limit
    assert len(last_half) - sum(last_half) > 0.85 * 20 * 30  # and it uses most of it


async def test_rare_refusals_at_a_low_rate_do_not_slow_it(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    draw = random.Random(3)
    await offer(pace, clock, 60, 40, lambda: draw.random() < 0.01)
    assert pace.rate is None or pace.rate > 30


def accepted_per_second(answers: list[bool], seconds: float) -> float:
    return (len(answers) - sum(answers)) / seconds


async def test_refusals_that_do_not_follow_the_rate_do_not_slow_it(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    draw = random.Random(5)
    await offer(pace, clock, 30, 200, lambda: draw.random() < 0.1)
    answers = await offer(pace, clock, 30, 200, lambda: draw.random() < 0.1)
    # Slowing down does not lower the share refused: it sees that, and keeps sending all it can.
    assert accepted_per_second(answers, 30) > 0.85 * 0.9 * 200


async def test_a_limit_that_appears_later_is_found_within_seconds(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    draw = random.Random(5)
    await offer(pace, clock, 30, 200, lambda: draw.random() < 0.1)  # learns 10% as background
    bucket = TokenBucket(clock, 20, 20)
    # accepting a ninth of what it did a moment ago looks like an outage at first (the refused
    # requests wait their Retry-After); a limit that stays is taken for one within seconds
    await offer(pace, clock, 15, 200, bucket.refuses)
    answers = await offer(pace, clock, 30, 200, bucket.refuses)
    assert accepted_per_second(answers, 30) > 0.85 * 20
    # overrun at first by about the background share it learned, which fades
    assert sum(answers) < 0.15 * len(answers)
    answers = await offer(pace, clock, 30, 200, bucket.refuses)
    assert accepted_per_second(answers, 30) > 0.9 * 20
    assert sum(answers) < 0.05 * len(answers)


async def test_a_limit_with_background_refusals_is_followed(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    draw, bucket = random.Random(5), TokenBucket(clock, 100, 100)
    await offer(pace, clock, 30, 300, lambda: bucket.refuses() or draw.random() < 0.05)
    answers = await offer(pace, clock, 30, 300, lambda: bucket.refuses() or draw.random() < 0.05)
    assert accepted_per_second(answers, 30) > 0.9 * 0.95 * 100


async def test_a_service_that_accepts_nothing_is_not_paced(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    epochs = [await pace.acquire() for _ in range(40)]  # 16 lanes' first requests, and more
    clock.now += 1.5  # answered 1.5 s later, every one refused: an outage, not a limit
    for epoch in epochs:
        clock.now += 0.02
        pace.throttled(epoch)
    assert pace.rate is None  # the refused requests wait their Retry-After; no pace helps


async def test_a_token_bucket_alone_is_followed_with_few_429s(clock: Clock) -> None:
    # (offered at 11, 9% refused: within the noise of a second's answers, not paced)
    for offered in (13, 15, 25, 40):
        pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
        bucket = TokenBucket(clock, 10, 10)
        answers = await offer(pace, clock, 60, offered, bucket.refuses)
        last_half = answers[len(answers) // 2 :]
        assert len(last_half) - sum(last_half) > 0.9 * 10 * 30, offered  # most of the limit
        assert sum(last_half) < 0.05 * len(last_half), offered  # and few 429s


async def test_a_cut_judged_after_a_long_pause_stands(clock: Clock) -> None:
    pace = AdaptiveRate(None, clock=clock, sleep=clock.sleep)
    await answer_each(pace, clock, 101, 100, lambda n: n % 5 == 0)  # a fifth refused: a cut
    cut = pace.rate
    assert cut is not None
    for _ in range(5):  # a few answers at the new rate, accepted
        clock.now += 1 / cut
        pace.accepted(await pace.acquire())
    clock.now += 60  # then a pause (the run was reading the store)
    pace.accepted(await pace.acquire())
    assert pace.rate is not None  # too few answers to undo it: it stands


class Wait:
    """A wait of ``delay`` simulated seconds, handed to :func:`in_flight`'s scheduler."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __await__(self) -> Generator[Wait, None, None]:
        yield self


def in_flight(
    pace: AdaptiveRate,
    clock: Clock,
    seconds: float,
    refuses: Callable[[], bool],
    retry_after: float,
    latency: float = 0.1,
) -> list[tuple[float, bool]]:
    """16 lanes sending one request after another, each answered ``latency`` later; a refused
    one waits out its ``Retry-After`` (0: sent again at once). When each was answered, and
    whether it was refused."""
    answers: list[tuple[float, bool]] = []

    async def lane() -> None:
        while True:
            epoch = await pace.acquire()
            await Wait(latency)
            refused = refuses()
            pace.throttled(epoch) if refused else pace.accepted(epoch)
            answers.append((clock.now, refused))
            if refused and retry_after:
                await Wait(retry_after)

    order = itertools.count()
    lanes = [(clock.now, next(order), lane()) for _ in range(16)]
    end = clock.now + seconds
    while lanes[0][0] < end:
        clock.now, _, running = heapq.heappop(lanes)
        wait = running.send(None)
        heapq.heappush(lanes, (clock.now + wait.delay, next(order), running))
    for _, _, running in lanes:
        running.close()
    return answers


@pytest.mark.parametrize(("seconds", "retry_after"), [(2, 1.0), (2, 0.0), (20, 1.0), (30, 5.0)])
def test_an_outage_costs_seconds_once_it_is_over(
    clock: Clock, seconds: float, retry_after: float
) -> None:
    # A service that refuses everything for a while, as a gateway may while it restarts: the
    # cuts land near the floor, and 16 lanes queue for turns a couple of seconds apart.
    pace = AdaptiveRate(None, clock=clock, sleep=Wait)
    outage = (clock.now + 10, clock.now + 10 + seconds)
    answers = in_flight(
        pace, clock, 40 + seconds, lambda: outage[0] <= clock.now < outage[1], retry_after
    )

    def accepted_per_second(start: float, end: float) -> float:
        accepted = [at for at, refused in answers if start <= at < end and not refused]
        return len(accepted) / (end - start)

    before = accepted_per_second(outage[0] - 5, outage[0])
    assert before > 140  # 16 lanes, 0.1 s each
    # Doubled back while nothing is refused, and the requests already waiting for their turn
    # follow the grown rate: within about ten seconds, not the minutes of 3% a second.
    assert accepted_per_second(outage[1] + 12, outage[1] + 27) > 0.8 * before

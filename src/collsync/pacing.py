"""Pacing: how many requests a second one service is sent, following what it accepts.

Rules, for :class:`AdaptiveRate`:

- nothing is paced (but at the ``rate_limit`` ceiling, if set) until a window of answers (a
  second and 20 answers at least) holds clearly more 429s than the service's background share
  (2% until one is measured), or 20 answers two thirds refused (no need to wait the second);
- then the rate is cut to what the service accepted in that window (a paced rate by a fifth at
  least), and the next window, of requests sent at the new rate, judges the cut:
  - refusals that fell with the rate were a limit: the cut stays; the rate doubles back each
    second to 0.9 of where the limit was met, grows by 3% a second to it and by 1% past it;
  - refusals that rose, or as many accepted for fewer sent, mean the limit is lower still: cut
    again, to what is accepted now (a burst allowance ran out);
  - refusals that stayed as they were are the background: the cut is undone, and only a share
    clearly above that one (which fades, halved every 30 s) slows the run again;
- a window that accepts nothing, or under a quarter of what the calm one before it did, is an
  outage, not a limit: it changes nothing, the refused requests wait their ``Retry-After``, and
  the rate is where it was when the service comes back (a limit that stays is taken for one
  once that calm is 10 s old).

A cut costs the share refused, not a fixed fraction, and is undone when it did not help: a
random share cannot wear the rate down, and a limit is reached in one step. The clock and the
sleep are injected: tests and ``bench/pacing.py`` run on simulated time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from typing import TYPE_CHECKING

from collsync.logging import get_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = get_logger("collsync.pacing")


@dataclasses.dataclass(frozen=True, slots=True)
class Turn:
    """A request's turn: the cuts made before it was sent (a cut is judged by the requests sent
    at the new rate only)."""

    epoch: int


@dataclasses.dataclass(slots=True)
class _Window:
    """Answers counted from ``since``: to requests of one epoch only, when judging a cut."""

    since: float
    epoch: int | None = None
    accepted: int = 0
    refused: int = 0
    until: float = 0.0
    """When it was closed (by a cut)."""
    first: float | None = None
    """When its first answer came: answers to requests sent at a new rate take a round trip."""

    @property
    def answers(self) -> int:
        return self.accepted + self.refused

    @property
    def share(self) -> float:
        return self.refused / self.answers if self.answers else 0.0

    def accepting(self, now: float) -> float:
        """Answers accepted a second."""
        return self.accepted / self._span(now)

    def answering(self, now: float) -> float:
        """Answers a second."""
        return self.answers / self._span(now)

    def _span(self, now: float) -> float:
        start = self.since if self.epoch is None or self.first is None else self.first
        return max(now - start, 1e-3)


class AdaptiveRate:
    """Requests per second that follow what the service accepts (the rules are the module's)."""

    window_seconds = 1.0
    window_answers = 20
    shortest_window = 0.1  # seconds: a rate measured over less is too noisy to act on
    judge_answers = 40  # answers at the new rate that judge a cut
    judge_within = 10.0  # seconds; a cut whose window is still short of answers then stands
    tolerance = 0.02  # the background share until one is measured
    margin = 0.02  # refused above the background (and its noise) that counts as a limit
    background_at_most = 0.5  # a service refusing more is limiting, not unlucky
    background_half_life = 30.0  # seconds
    growth = 0.03  # a second
    growth_past_limit = 0.01  # a second, past where a limit was met
    limit_remembered = 30.0  # seconds
    regain_to = 0.9  # of where a limit was met: regained by doubling each second
    fall_by = 1.0  # standard errors by which the share refused must fall to show a limit
    least_cut = 0.8  # a paced rate is cut to this share of it at most
    outage_below = 0.25  # of what the last calm window accepted: an outage's edge, not a limit
    calm_remembered = 10.0  # seconds; a limit that stays is one, whatever was accepted before

    def __init__(
        self,
        ceiling: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        service: str = "",
    ) -> None:
        self.service = service
        self.ceiling = ceiling
        self.rate: float | None = ceiling
        self._clock = clock
        self._sleep = sleep
        self._epoch = 0
        now = clock()
        self._window = _Window(now)
        self._judged: _Window | None = None  # the window before the cut being judged
        self._rate_before: float | None = None
        self._calm = (0.0, now)  # accepted a second in the last window without a cut, and when
        # refused and answered at the new rate after cuts that did not help, fading
        self._background = (0.0, 0.0)
        self._background_at = now
        self._limit: tuple[float, float] | None = None  # the rate a limit was met at, and when
        self._turns = 0
        self._turn_base = (0.0, now)  # (turn, time): turn k is due (k - turn) / rate after time
        self._grown_at = now

    # -- what the client calls ----------------------------------------------------------------

    async def acquire(self) -> Turn:
        """Wait for this request's turn (evenly spaced at the rate, when there is one)."""
        now = self._clock()
        if self.rate is not None:
            turn = self._take_turn(now)
            while self.rate is not None:
                self._grow(now)
                due = self._due(turn)
                if due <= now:
                    break
                # a waiting request looks again each second: a rate grown meanwhile comes sooner
                wait = min(due - now, 1.0)
                await self._sleep(wait)
                now = max(self._clock(), now + wait)
        return Turn(self._epoch)

    def accepted(self, turn: Turn) -> None:
        """The request of ``turn`` was answered (anything but 429)."""
        self._answer(turn, refused=False)

    def throttled(self, turn: Turn) -> None:
        """The request of ``turn`` was answered 429."""
        self._answer(turn, refused=True)

    # -- the rules ------------------------------------------------------------------------------

    def _answer(self, turn: Turn, *, refused: bool) -> None:
        window = self._window
        if window.epoch is not None and turn.epoch != window.epoch:
            return  # sent before the cut being judged: it says nothing of the new rate
        now = self._clock()
        if window.first is None:
            window.first = now
        if refused:
            window.refused += 1
        else:
            window.accepted += 1
        wanted = self.window_answers if window.epoch is None else self.judge_answers
        ready = window.answers >= wanted and now - window.since >= self.window_seconds
        if not (ready or self._evident(window, now)):
            if window.epoch is not None and now - window.since >= self.judge_within:
                # too few answers to judge: the cut stands, unless nothing was accepted
                if not window.accepted:
                    self._set_rate(self._rate_before, now)
                self._settle(now)
            return
        if window.epoch is not None:
            self._judge(window, now)
            return
        accepting = window.accepting(now)
        calm, calm_at = self._calm
        recent = now - calm_at < self.calm_remembered
        if not window.accepted or (recent and accepting < self.outage_below * calm):
            # far fewer accepted than a moment ago: an outage (a limit goes on accepting), which
            # a slower pace would not shorten; the refused requests wait their Retry-After, and
            # the rate is where it was when the service comes back. (A limit that stays is
            # taken for one once the calm is forgotten; a service that accepts nothing is not
            # a limit, however long.)
            if not window.accepted:
                self._calm = (calm, now)
            self._window = _Window(now)
        elif window.refused > self._allowed(window.answers, now):
            self._cut(window, now)
        else:
            self._calm = (accepting, now)
            self._window = _Window(now)

    def _evident(self, window: _Window, now: float) -> bool:
        """A limit overrun three times over, acted on as soon as its answers show it rather than
        a second later (at 800 requests a second, a second is hundreds of 429s); a share that
        may be chance waits for the whole window."""
        return (
            window.refused > window.answers * 2 / 3
            and window.answers >= self.window_answers
            and now - window.since >= self.shortest_window
            and window.refused > self._allowed(window.answers, now)
        )

    def _allowed(self, answers: int, now: float) -> float:
        """Refusals in ``answers`` that the background share explains, with its noise."""
        share = self._background_now(now)
        noise = 2 * math.sqrt(max(share, self.tolerance) * (1 - share) / answers)
        return (share + self.margin + noise) * answers

    def _cut(self, window: _Window, now: float) -> None:
        """Pace at what the service accepted in ``window``, and judge that by the next one."""
        self._rate_before = self.rate
        window.until = now
        self._judged = window
        self._epoch += 1
        cut = window.accepting(now)
        if self.rate is not None:  # a cut that tells something: by a fifth at least
            cut = min(cut, self.rate * self.least_cut)
        cut = self._capped(cut)
        self._set_rate(cut, now)
        self._window = _Window(now, epoch=self._epoch)
        log.info("collsync.pacing.rate_lowered", service=self.service, rate=round(cut, 1))

    def _judge(self, after: _Window, now: float) -> None:
        """The window after a cut says what the refusals were."""
        before = self._judged
        assert before is not None
        if not after.accepted:  # an outage began: no measure of anything; pace as before it
            self._set_rate(self._rate_before, now)
            self._settle(now)
            return
        difference = _difference(before, after, self.fall_by)
        held = _accepted_as_many(before, after, now)
        if difference > 0 or (difference == 0 and held):
            # refusals rose (a burst allowance ran out), or as many were accepted for fewer
            # sent (still above a limit): cut again, to what is accepted now
            self._cut(after, now)
            return
        if difference < 0:  # refusals fell with the rate: a limit, about what was accepted
            accepted_before = before.accepting(before.until)
            sent = self._rate_before or before.answering(before.until)
            # a limiter with no burst allowance, overrun a little, accepts about half
            met_at = accepted_before if accepted_before > 0.6 * sent else 0.8 * sent
            self._limit = (met_at, now)
            # and what is still refused below it is all the background there is
            self._background = (after.refused, after.answers)
            self._background_at = now
        elif self._rate_before is not None:
            # Refusals that do not follow a paced rate are the background: slowing down only
            # slows the run, so the cut is undone. (Cut from unpaced, the window before may
            # have held the end of a burst allowance: no measure.)
            refused, answers = self._background_counts(now)
            self._background = (refused + after.refused, answers + after.answers)
            self._background_at = now
            self._limit = None
            self._set_rate(self._rate_before, now)
            log.info(
                "collsync.pacing.rate_restored",
                service=self.service,
                rate=round(self._rate_before, 1),
                refused_share=round(self._background_now(now), 3),
            )
        self._settle(now)

    def _settle(self, now: float) -> None:
        self._judged = None
        self._window = _Window(now)
        self._grown_at = now  # no growth while a cut was judged

    def _background_counts(self, now: float) -> tuple[float, float]:
        fade = math.pow(0.5, (now - self._background_at) / self.background_half_life)
        refused, answers = self._background
        return refused * fade, answers * fade

    def _background_now(self, now: float) -> float:
        """The share refused whatever the rate; the tolerance while none is measured (the counts
        fade, so a share measured long ago weighs little against a new window)."""
        refused, answers = self._background_counts(now)
        share = refused / answers if answers >= 1 else 0.0
        return min(max(share, self.tolerance), self.background_at_most)

    # -- turns ----------------------------------------------------------------------------------

    def _capped(self, rate: float) -> float:
        rate = max(rate, 0.1)
        return min(rate, self.ceiling) if self.ceiling else rate

    def _grow(self, now: float) -> None:
        """Grow the rate, once a second at most, but not while a cut is judged: doubling back
        towards a limit met lately, slowly past it, by ``growth`` otherwise."""
        assert self.rate is not None
        elapsed = now - self._grown_at
        if elapsed < 1.0 or self._judged is not None:
            return
        met_at, found = self._limit or (math.inf, -math.inf)
        if now - found >= self.limit_remembered:
            grown = self.rate * (1 + self.growth) ** elapsed
        elif self.rate < self.regain_to * met_at:
            grown = min(self.rate * 2, self.regain_to * met_at)
        elif self.rate < met_at:
            grown = min(self.rate * (1 + self.growth) ** elapsed, met_at)
        else:
            grown = self.rate * (1 + self.growth_past_limit) ** elapsed
        self._set_rate(self._capped(grown), now)

    def _take_turn(self, now: float) -> int:
        """The next turn to send; when nothing waits, it is now."""
        if self._due(self._turns) < now:
            self._turn_base = (self._turns, now)
        self._turns += 1
        return self._turns - 1

    def _due(self, turn: int) -> float:
        assert self.rate is not None
        base_turn, base_time = self._turn_base
        return base_time + (turn - base_turn) / self.rate

    def _set_rate(self, rate: float | None, now: float) -> None:
        """Change the rate from ``now``: the turns still to come are spaced at it."""
        if self.rate is not None and rate is not None:
            base_turn, base_time = self._turn_base
            due_now = base_turn + (now - base_time) * self.rate
            self._turn_base = (min(due_now, self._turns), now)
        else:
            self._turn_base = (self._turns, now)
        self.rate = rate
        self._grown_at = now


def _accepted_as_many(before: _Window, after: _Window, now: float) -> bool:
    """Whether sending less lost fewer acceptances than half the requests it saved: a share
    refused whatever the rate loses them in step; a limit overrun loses none."""
    sent_before, sent_after = before.answering(before.until), after.answering(now)
    if sent_after >= 0.9 * sent_before:
        return False  # not sending less: no answer from this
    lost = before.accepting(before.until) - after.accepting(now)
    return lost < 0.5 * (sent_before - sent_after)


def _difference(before: _Window, after: _Window, fall_by: float = 1.0) -> int:
    """-1, 0 or 1: whether the share refused fell, stayed or rose from ``before`` to ``after``:
    a fall by one standard error of the difference, a rise by two (taking a limit for
    background costs more than the reverse: the limit is overrun until the share fades)."""
    pooled = (before.refused + after.refused) / (before.answers + after.answers)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / before.answers + 1 / after.answers))
    change = after.share - before.share
    if change < -fall_by * spread:
        return -1
    return 1 if change > 2 * spread else 0

"""Pacing: how many requests a second one service is sent, following what it accepts.

Rules, for :class:`AdaptiveRate`:

- ``rate_limit`` (if set) is a ceiling from the start; nothing is paced below it until the
  service refuses (429) clearly more than chance would at 2% of a second's answers;
- then the rate is cut to what the service accepted since it began refusing (at most 0.8 times
  what was being sent), requests are evenly spaced, and each quiet second adds 3% back;
- every cut is judged by what follows it: refusals that do not fall with the rate are the
  service's background share, the cut is undone, and only refusals well above that share slow
  the run again (the share wears off, halved every 30 s);
- a cut far below what was accepted just before it (an outage refusing everything) doubles
  back each second while nothing is refused.

The clock and the sleep are injected: tests and ``bench/pacing.py`` run on simulated time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections import deque
from typing import TYPE_CHECKING

from collsync.logging import get_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = get_logger("collsync.pacing")


class AdaptiveRate:
    """Requests per second that follow what the service accepts (AIMD).

    No pacing until the service first refuses too much, but for the configured ceiling (requests
    evenly spaced at it). When more than ``tolerance`` of the last second's answers are 429,
    the rate is cut to ``decrease`` times what was really being sent, or to what the service
    accepted since it began refusing when that is known and lower; from then on requests are
    evenly spaced at the adapted rate. Only a request paced at the current rate can cut it
    again, so one overshoot's burst of 429s is one signal. Each second without a cut adds back
    ``increase`` times the rate at the cut, up to the ceiling.

    Some services refuse a share of requests whatever the rate: a lone refusal, or refusals
    not clearly above ``tolerance`` (by the noise of the count), are only retried. Every cut is
    a trial, and no other cut comes until it is judged (but for the first cut that can measure
    what the service accepts, which joins the trial of the cut before it): when the requests
    sent at the new rate are refused in the same share as before it (within the noise of the
    counts; at least ``trial_refusals`` of them, above the tolerance, at most
    ``background_at_most``) and fewer are accepted, by at least half the cut, slowing down did
    not help. The cut is undone and that share is taken as the service's background, which
    wears off; until it does, only refusals well above it slow the run. There is no floor above
    ``floor``: a limit with a burst allowance or a per-minute quota looks, in its first second,
    much faster than it is.

    A cut below ``regain_below`` of what the service accepted in the second before it (an
    outage refusing everything for a while measures what it accepts as nothing; the cuts that
    follow it keep that measure while nothing is accepted) is regained fast: the rate doubles
    each second in which a request sent since the cut is accepted and nothing paced at it is
    refused, back to ``decrease`` times that, as TCP's slow start does; the first refusal after
    a doubling ends it. Requests waiting for their turn follow every change of the rate.
    """

    decrease = 0.8
    increase = 0.03
    tolerance = 0.02
    floor = 0.5
    shortest_window = 0.02  # seconds; a rate measured over less is too noisy to act on
    measure_accepting = 0.1  # seconds of overload before what the service accepts is trusted
    measure_answers = 10  # and answers: two random refusals in a row are no measure
    trial_answers = 20  # answers at the new rate, and a second since the cut, to judge a cut
    trial_longest = 10.0  # seconds; a cut still unjudged by then stands
    trial_refusals = 3  # refusals at the new rate, at least, before a cut can be undone
    above_background = 1.5  # a share of refusals this many times the background slows the run
    background_at_most = 0.5  # a service refusing more than this is limiting, not unlucky
    background_half_life = 30.0  # seconds
    regain_below = 0.25  # a cut below this share of what was accepted just before it doubles back

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
        self._clock = clock
        self._sleep = sleep
        self.rate: float | None = ceiling
        self._cuts = 0
        self._step = 0.0  # additive increase per second; 0 until the first cut
        self._turns = 0  # turns handed out since pacing began
        self._turn_base = (0.0, 0.0)  # (turn, time): turn k comes (k - turn) / rate after time
        self._last_change = self._clock()
        self._sent: deque[float] = deque()
        self._accepted: deque[float] = deque()
        # the last answers (when, refused): a slow second holds too few to judge a cut by
        self._recent: deque[tuple[float, bool]] = deque(maxlen=self.trial_answers)
        self._refused: deque[float] = deque()
        self._first_sent: float | None = None
        self._accepted_total = 0
        self._answers_total = 0
        # when the current overload began, and answers accepted and given by then
        self._overload = (0.0, 0, 0)
        self._cut_measured = False
        self._trial: _Trial | None = None
        self._background = 0.0  # the share of requests refused whatever the rate
        self._background_at = 0.0
        # what the service accepted just before the last cut, less the decrease: a cut far
        # below it (an outage refusing everything for a moment) is regained fast
        self._recover_to = 0.0
        self._slow_start = False  # whether the last cut fell far below it (regain_below)
        self._doubled = False
        self._accepted_since_change = 0  # answers at the current pacing since the rate changed
        self._refused_since_change = False

    async def acquire(self) -> Turn:
        """Wait for this request's turn; returns it, to be handed back with the answer."""
        paced_under = self._cuts
        now = self._clock()
        if self.rate is not None and (self._step or self.ceiling):
            # Turns are evenly spaced at the rate, on the injected clock. A waiting request looks
            # again at least once a second, so a rate grown meanwhile brings its turn nearer.
            turn = self._take_turn(now)
            while self.rate is not None:
                self._grow(now)
                due = self._due(turn)
                if due <= now:
                    break
                wait = min(due - now, 1.0)
                await self._sleep(wait)
                # a sleep that ends a hair early is no cause to sleep again
                now = max(self._clock(), now + wait)
        if self._first_sent is None:
            self._first_sent = now
        _last_second(self._sent, now)
        return Turn(paced_under, self._cuts)

    def accepted(self, turn: Turn) -> None:
        """The request of ``turn`` (from :meth:`acquire`) was answered (anything but 429)."""
        now = self._clock()
        self._accepted_total += 1
        self._answers_total += 1
        _last_second(self._accepted, now)
        self._recent.append((now, False))
        if turn.sent_under == self._cuts:  # sent since the last cut: accepting again
            self._accepted_since_change += 1
        if self._trial is not None and turn.paced_under == self._trial.epoch:
            self._trial.accepted += 1
            self._judge(now)

    def throttled(self, turn: Turn) -> None:
        """The request of ``turn`` (from :meth:`acquire`) was answered 429."""
        now = self._clock()
        if not _count_last_second(self._refused, now):
            self._overload = (now, self._accepted_total, self._answers_total)  # one begins
        self._answers_total += 1
        refused = _last_second(self._refused, now)
        self._recent.append((now, True))
        if turn.paced_under != self._cuts:  # paced before the last cut: already answered
            return
        self._refused_since_change = True
        if self._doubled:  # back where the service refuses: on by the usual steps
            self._slow_start = False
        if self._trial is not None:
            self._trial.refused += 1
            self._judge(now)
        answers = refused + _count_last_second(self._accepted, now)
        if refused < 2 or refused <= self._refusals_allowed(now, answers):
            return
        accepting = self._accepting(now)
        # One cut per trial, like one per round trip in TCP, so that refusals which do not
        # follow the rate cannot cascade; but the first cut that can see what the service
        # accepts may come at once, as it lands on the limit instead of stepping towards it.
        if self._trial is not None and (self._cut_measured or math.isinf(accepting)):
            return
        # Nothing sent in the last second (slow answers) is no measure of the rate.
        before = min(self._sending(now) or math.inf, self.rate or math.inf)
        if math.isinf(before):
            before = accepting
            if math.isinf(before):
                return
        # What the service accepted since it began refusing is its limit: no need to reach it
        # by repeated cuts, each of which costs a round of refusals. So is what it accepted in
        # the last second, once refusals taken for background have kept an overload going.
        if now - self._overload[0] >= 1.0 and answers >= self.measure_answers:
            accepting = min(accepting, (answers - refused) / self._window(now))
        cut = min(before * self.decrease, accepting)
        # What was accepted before the first cut of an outage is kept by the cuts that follow
        # it while the service accepts nothing at all, until the rate has doubled back; a
        # token bucket's opening burst is not kept by the cuts that find its limit.
        accepted_lately = _count_last_second(self._accepted, now) / self._window(now)
        outage_goes_on = not self._doubled and not accepted_lately
        joined = self._recover_to if self._trial is not None or outage_goes_on else 0.0
        self._recover_to = max(self.decrease * accepted_lately, joined)
        rate = max(self.floor, cut)
        self._slow_start = rate <= self._recover_to * self.regain_below
        self._doubled = False
        self._cut_measured = not math.isinf(accepting)
        self._trial = self._next_trial(now, refused, answers, before, accepting, rate)
        self._set_rate(rate, now)
        self._step = max(self.floor / 10, rate * self.increase)
        self._cuts += 1
        self._accepted_since_change, self._refused_since_change = 0, False
        if rate < before:
            log.info("collsync.pacing.rate_lowered", service=self.service, rate=round(rate, 1))

    def _next_trial(
        self, now: float, refused: int, answers: int, sending: float, accepting: float, rate: float
    ) -> _Trial:
        """The trial of a cut to ``rate``: a new one, or, for the measured cut that corrects an
        unmeasured one, the same trial with the answers before the first cut."""
        pending = self._trial
        if pending is None:
            refused, answers, accepted_per_second = self._before(now, refused, answers)
            pending = _Trial(
                0, now, self.rate, self._step, sending, refused, answers, accepted_per_second
            )
        # In a young overload, what was accepted since it began leaves out a token bucket's
        # opening burst; in an old one it is an average over rates long gone.
        young = now - self._overload[0] < 1.0
        accepted_before = min(pending.accepting_before, accepting if young else math.inf)
        return dataclasses.replace(
            pending,
            epoch=self._cuts + 1,
            at=now,
            accepted=0,
            refused=0,
            first_answer=None,
            accepting_before=accepted_before,
            ratio=rate / pending.sending_before if pending.sending_before > 0 else 1.0,
        )

    def _judge(self, now: float) -> None:
        """Undo the trial's cut if it did not help: the requests sent at the new rate were
        refused above the tolerance and as often as before, and fewer were accepted, in step
        with the cut (sent above a real limit, as many are accepted as before; sent below it,
        hardly any are refused). A trial older than ``trial_longest`` gets no verdict."""
        trial = self._trial
        assert trial is not None
        if now - trial.at >= self.trial_longest:  # too few answers, or a pause: no verdict
            self._trial = None
            return
        if trial.first_answer is None:
            trial.first_answer = now
        answers = trial.accepted + trial.refused
        if now - trial.at < 1.0 or answers < self.trial_answers:
            return
        self._trial = None
        span = max(now - trial.first_answer, self.shortest_window)
        accepting = trial.accepted * (answers - 1) / answers / span
        if not (
            trial.answers_before >= self.trial_answers
            and trial.refused <= self.background_at_most * answers
            and trial.refused >= self.trial_refusals
            and trial.refused > self.tolerance * answers
            and trial.same_share()
            and accepting < trial.accepting_before * (1 + trial.ratio) / 2
        ):
            return
        # The refusals did not follow the rate: slowing down only slows the run.
        self._background = (trial.refused_before + trial.refused) / (trial.answers_before + answers)
        self._background_at = now
        if trial.rate_before is None or self.rate is None:
            self._set_rate(trial.rate_before, now)
            self._step = trial.step_before
        else:  # never below what the rate has grown back to since
            self._set_rate(max(self.rate, trial.rate_before), now)
        log.info(
            "collsync.pacing.rate_restored",
            service=self.service,
            rate=None if self.rate is None else round(self.rate, 1),
            refused_share=round(self._background, 3),
        )

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
        """Change the rate, from ``now``: the turns still to come are spaced at it, and growth
        counts its seconds from it."""
        if self.rate is not None and rate is not None:
            base_turn, base_time = self._turn_base
            due_now = base_turn + (now - base_time) * self.rate
            self._turn_base = (min(due_now, self._turns), now)
        else:
            self._turn_base = (self._turns, now)
        self.rate = rate
        self._last_change = now

    def _grow(self, now: float) -> None:
        """Grow the rate, once a second at most, up to the ceiling."""
        assert self.rate is not None
        if now - self._last_change < 1.0:
            return
        grown = self._grown(self.rate, now)
        self._set_rate(min(grown, self.ceiling) if self.ceiling else grown, now)
        self._accepted_since_change, self._refused_since_change = 0, False

    def _grown(self, rate: float, now: float) -> float:
        """The rate a second or more after its last change: ``increase`` of the rate at the cut
        added a second, or doubled while the service refuses nothing and accepted more before
        the cut (as TCP's slow start does), so that a moment's outage, whose cut lands near
        the floor, costs seconds and not minutes."""
        if (
            self._slow_start
            and rate < self._recover_to
            and self._accepted_since_change
            and not self._refused_since_change
        ):
            grown = min(2 * rate, self._recover_to)
            self._step = max(self._step, grown * self.increase)
            self._doubled = True
            return grown
        return rate + self._step * (now - self._last_change)

    def _before(self, now: float, refused: int, answers: int) -> tuple[int, int, float]:
        """Refused, answers and accepted per second before a cut: over the last second, or
        over the last ``trial_answers`` answers when the second holds fewer."""
        if answers >= self.trial_answers or len(self._recent) < answers:
            return refused, answers, (answers - refused) / self._window(now)
        refused = sum(r for _, r in self._recent)
        span = max(now - self._recent[0][0], self.shortest_window)
        return refused, len(self._recent), (len(self._recent) - refused) / span

    def _refusals_allowed(self, now: float, answers: int) -> float:
        """Refusals in a second of ``answers`` that do not slow the run: the tolerance, or well
        above the background share (by its ratio and two standard deviations of the count)."""
        background = self._background_now(now)
        above = (self.above_background - 1) * background * answers
        return max(_noise_above(self.tolerance, answers), above + _noise_above(background, answers))

    def _background_now(self, now: float) -> float:
        """The background share, halved every ``background_half_life`` seconds: a share taken
        wrongly for background (or gone since) is tried again before long."""
        age = now - self._background_at
        return self._background * math.pow(0.5, age / self.background_half_life)

    def _sending(self, now: float) -> float:
        """Requests sent per second over the last second, or since the first request when that
        is more recent (a second's count would understate the opening burst)."""
        count = _count_last_second(self._sent, now)
        if self._first_sent is None or not count:
            return 0.0
        return count / self._window(now)

    def _window(self, now: float) -> float:
        """The last second, or the time since the first request when that is shorter."""
        since = now if self._first_sent is None else self._first_sent
        return min(1.0, max(now - since, self.shortest_window))

    def _accepting(self, now: float) -> float:
        """Answers accepted per second since the overload began: once a limiter refuses, what
        it still accepts is its limit. Unknown (infinite) until long enough to measure."""
        since, accepted_then, answers_then = self._overload
        measured = self._answers_total - answers_then
        if now - since < self.measure_accepting or measured < self.measure_answers:
            return math.inf
        return (self._accepted_total - accepted_then) / (now - since)


@dataclasses.dataclass(frozen=True, slots=True)
class Turn:
    """A request's turn: the cuts made before it asked for it (what judges a cut is the
    requests paced at the new rate) and before it was sent (what shows the service accepting
    again after a cut)."""

    paced_under: int
    sent_under: int


@dataclasses.dataclass(slots=True)
class _Trial:
    """A cut on trial: the pacing and the answers before it, and the answers at the new rate."""

    epoch: int
    at: float
    rate_before: float | None
    step_before: float
    sending_before: float  # requests sent per second before
    refused_before: int
    answers_before: int
    accepting_before: float  # answers accepted per second before
    ratio: float = 1.0  # the new rate over what was sent before
    accepted: int = 0
    refused: int = 0
    first_answer: float | None = None

    def same_share(self) -> bool:
        """Whether the share refused at the new rate is the share before, within two standard
        errors of the difference: refusals that follow the rate fall with it (or rise, when a
        burst allowance ran out)."""
        answers = self.accepted + self.refused
        before = self.refused_before / self.answers_before
        pooled = (self.refused_before + self.refused) / (self.answers_before + answers)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / self.answers_before + 1 / answers))
        return abs(self.refused / answers - before) <= 2 * spread


def _noise_above(share: float, answers: int) -> float:
    """``share`` of ``answers``, and two standard deviations of the count above it."""
    return share * answers + 2 * math.sqrt(answers * share * (1 - share))


def _last_second(times: deque[float], now: float) -> int:
    """Add ``now`` to ``times``, keep only the last second of it, and count that second."""
    times.append(now)
    return _count_last_second(times, now)


def _count_last_second(times: deque[float], now: float) -> int:
    while times and times[0] < now - 1.0:
        times.popleft()
    return len(times)

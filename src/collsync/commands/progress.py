"""How a run shows its progress: bars on a terminal, a log line every few seconds elsewhere.

Both implement the pipeline's progress protocol (``start`` a stage with its total when known,
``advance`` it). Under cron or in a pod nobody watches a bar, and a line per collection would be
thousands of lines: a ``collsync.progress`` event every ``every`` seconds, and one when a stage
ends, says as much with a few lines.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collsync.logging import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from rich.progress import Progress, TaskID

LABELS = {
    "extract": "Reading store collections",
    "products": "Reading store products",
    "read-back": "Reading Akinon collections",
    "load": "Migrating collections",
}
LINE_EVERY_S = 5.0

log = get_logger("collsync.progress")


class ProgressBars:
    """Rich progress bars on stderr, one per stage, with the time left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress: Progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBars:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def start(self, stage: str, total: int | None) -> None:
        label = LABELS.get(stage, stage)
        if stage in self._tasks:
            self._progress.reset(self._tasks[stage], total=total)
        else:
            self._tasks[stage] = self._progress.add_task(label, total=total)

    def advance(self, stage: str, amount: int = 1) -> None:
        if stage in self._tasks:
            self._progress.advance(self._tasks[stage], amount)


@dataclass(slots=True)
class _Stage:
    total: int | None
    started: float
    done: int = 0
    logged_at: float = 0.0


class ProgressLines:
    """A ``collsync.progress`` info event per stage every ``every`` seconds and at its end:
    done and total, the rate so far, and the time left at that rate."""

    def __init__(self, every: float = LINE_EVERY_S, clock: Callable[[], float] = time.monotonic):
        self._every = every
        self._clock = clock
        self._stages: dict[str, _Stage] = {}

    def __enter__(self) -> ProgressLines:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def start(self, stage: str, total: int | None) -> None:
        now = self._clock()
        self._stages[stage] = _Stage(total, now, logged_at=now)

    def advance(self, stage: str, amount: int = 1) -> None:
        current = self._stages.get(stage)
        if current is None:
            return
        current.done += amount
        now = self._clock()
        finished = current.total is not None and current.done >= current.total
        if finished or now - current.logged_at >= self._every:
            current.logged_at = now
            self._log(stage, current, now)

    @staticmethod
    def _log(stage: str, current: _Stage, now: float) -> None:
        elapsed = now - current.started
        rate = current.done / elapsed if elapsed > 0 else None
        left = (
            round((current.total - current.done) / rate)
            if rate and current.total is not None
            else None
        )
        log.info(
            "collsync.progress",
            stage=stage,
            done=current.done,
            total=current.total,
            per_s=round(rate, 1) if rate is not None else None,
            eta_s=left,
        )


def stage_progress(*, bars: bool | None = None) -> ProgressBars | ProgressLines:
    """Bars when stderr is a terminal (or ``bars`` says so), log lines otherwise."""
    show = sys.stderr.isatty() if bars is None else bars
    return ProgressBars() if show else ProgressLines()

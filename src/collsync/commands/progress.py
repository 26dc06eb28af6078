"""Rich progress bars on stderr, one per stage, with the totals known up front."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from types import TracebackType

    from rich.progress import TaskID

LABELS = {
    "extract": "Reading store collections",
    "products": "Reading store products",
    "read-back": "Reading Akinon collections",
    "load": "Migrating collections",
}


class StageProgress:
    """Implements the pipeline's progress protocol; silent when stderr is not a terminal."""

    def __init__(self, *, enabled: bool | None = None) -> None:
        console = Console(stderr=True)
        show = sys.stderr.isatty() if enabled is None else enabled
        self._progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> StageProgress:
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

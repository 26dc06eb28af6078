"""A run's failures: kept for its report and summary, and recorded in the state unless the run
only previews (``diff``, ``--dry-run``: the state's failures are not touched)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collsync.logging import get_logger

if TYPE_CHECKING:
    from collections.abc import Iterable

    from collsync.pipeline.models import Failure
    from collsync.state import State

log = get_logger("collsync.failures")


class FailureLog:
    def __init__(self, state: State, run_id: int, *, preview: bool) -> None:
        self._state = state
        self._run_id = run_id
        self._preview = preview
        self.recorded: list[Failure] = []

    def record(self, failure: Failure) -> None:
        self.recorded.append(failure)
        log.debug(
            "collsync.failures.recorded",
            record=failure.record_id,
            stage=failure.stage,
            kind=failure.kind,
        )
        if not self._preview:
            self._state.failures.record(failure, self._run_id)

    def resolve(self, record_id: str, stages: Iterable[str]) -> None:
        """The record made it this time: its earlier failures of these stages are over."""
        if not self._preview:
            self._state.failures.resolve(record_id, stages)

    def resolve_stale(self, stages: Iterable[str]) -> None:
        """Failures of these stages that this run (a full read) did not record again are over."""
        if not self._preview:
            self._state.failures.resolve_stale(stages, self._run_id)

    def records(self, stages: Iterable[str]) -> list[Failure]:
        wanted = set(stages)
        return [f for f in self.recorded if f.stage in wanted]

"""What a run works on: its mode, the store collections it reads, and what it records after.

``migrate`` and ``diff`` take their selection from the command line and the config. ``sync``
chooses for itself, from the state: the store has no "updated since" filter, so an incremental
sync reads the collections created since the stored watermark (less ``[sync] overlap``, for
late arrivals) and the failed records due again; a full one (``--full``, ``--mirror``, the
first sync, or once ``[sync] reconcile_every`` has passed) reads everything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from collsync.config import format_duration
from collsync.errors import ConfigError
from collsync.pipeline.plan import SYNC, SYNC_FULL, SYNC_MIRROR, Existing, Mode
from collsync.source import CollectionFilters

if TYPE_CHECKING:
    from collsync.config import Config
    from collsync.state import State

WATERMARK = "sync.watermark"
RECONCILED = "sync.reconciled"

Bookkeeping = Literal["none", "watermark", "reconciled", "forget"]
"""What a finished run records for the next sync: nothing; the watermark (an incremental
pass); the watermark and the time of a full reconcile; or neither any more (a rollback: the
next sync reads everything)."""


@dataclass(frozen=True, slots=True)
class Scope:
    mode: Mode
    filters: CollectionFilters = field(default_factory=CollectionFilters)
    limit: int | None = None
    also_ids: tuple[str, ...] = ()
    """Collections read as well, whatever the filters (failed records due again)."""
    reads_store: bool = True
    bookkeeping: Bookkeeping = "none"
    label: str = ""
    """How the run is described in the summary (a sync's ``full`` or ``incremental``)."""
    reason: str = ""
    """Why a sync chose its mode."""

    @property
    def full_read(self) -> bool:
        """Every store collection is read: what a run does not see is gone from the store."""
        return self.reads_store and self.limit is None and not self.filters.to_wire()


def config_filters(config: Config) -> CollectionFilters:
    return CollectionFilters.model_validate(config.source.filters.model_dump())  # the one place


def merge_filters(config: Config, cli: CollectionFilters) -> CollectionFilters:
    """Command-line filters replace the config's filter of the same name."""
    changes = {k: v for k, v in cli.model_dump().items() if v not in ((), None)}
    return config_filters(config).model_copy(update=changes)


def selected(config: Config, mode: Mode, cli: CollectionFilters, limit: int | None) -> Scope:
    """``migrate`` and ``diff``: what the command line and the config select."""
    filters = merge_filters(config, cli)
    scope = Scope(mode, filters, limit)
    if mode.mirror and not scope.full_read:
        raise ConfigError(
            "--mirror deletes what the store no longer has, so it reads the whole store: "
            "remove the filters (and [source.filters] from the config) to use it"
        )
    if scope.full_read and mode.collections:
        return Scope(mode, filters, limit, bookkeeping="reconciled")
    return scope


@dataclass(frozen=True, slots=True)
class SyncChoice:
    full: bool = False
    mirror: bool = False
    retry: bool = False
    """Retry parked failures too."""
    existing: Existing = "report"


def sync_scope(state: State, config: Config, choice: SyncChoice) -> Scope:
    """The scope of a ``collsync sync``, from the state's watermark and last reconcile."""
    base = config_filters(config)
    if choice.mirror and base.to_wire():
        raise ConfigError(
            "--mirror deletes what the store no longer has, so it reads the whole store: "
            "remove [source.filters] from the config to use it"
        )
    reason = _full_reason(state, config, choice)
    if reason is not None:
        mode = SYNC_MIRROR if choice.mirror else SYNC_FULL
        return Scope(
            mode.taking(choice.existing),
            base,
            bookkeeping="reconciled",
            label="full",
            reason=reason,
        )
    mark = datetime.fromisoformat(str(state.checkpoints.get(WATERMARK)["createdon"]))
    since = mark - config.sync.overlap
    return Scope(
        SYNC.taking(choice.existing),
        base.model_copy(update={"createdon_min": since}),
        also_ids=tuple(state.failures.due(force=choice.retry)),
        bookkeeping="watermark",
        label="incremental",
        reason="incremental",
    )


def _full_reason(state: State, config: Config, choice: SyncChoice) -> str | None:
    if choice.full:
        return "--full"
    if choice.mirror:
        return "--mirror needs a full read"
    last = state.checkpoints.get(RECONCILED)
    if last is None or state.checkpoints.get(WATERMARK) is None:
        return "first sync"
    if time.time() - float(last["at"]) >= config.sync.reconcile_every.total_seconds():
        return f"reconcile_every ({format_duration(config.sync.reconcile_every)}) has passed"
    return None


def record_bookkeeping(state: State, scope: Scope, run_id: int) -> None:
    """After a finished run: what the next sync needs to know."""
    if scope.bookkeeping == "forget":
        with state.transaction():
            state.checkpoints.clear(WATERMARK)
            state.checkpoints.clear(RECONCILED)
        return
    if scope.bookkeeping == "none":
        return
    with state.transaction():
        newest = state.staging.newest_createdon()
        if newest:
            state.checkpoints.set(WATERMARK, {"createdon": newest}, run_id)
        if scope.bookkeeping == "reconciled":
            state.checkpoints.set(RECONCILED, {"at": time.time()}, run_id)

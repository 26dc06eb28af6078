"""Before planning: the store read into staging while Akinon is read back, then the journal's
open intents settled against what Akinon holds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collsync.pipeline import extract
from collsync.pipeline.read_back import ReadBack
from collsync.pipeline.resolve import IntentResolver
from collsync.source import CollectionFilters

if TYPE_CHECKING:
    import asyncio

    from collsync.config import Config
    from collsync.pipeline.extract import Progress
    from collsync.pipeline.failure_log import FailureLog
    from collsync.pipeline.scope import Scope
    from collsync.source import StoreClient
    from collsync.state import State
    from collsync.target import AkinonClient


CONFIRM_BATCH = 200
"""Ids asked of the store in one filter when confirming that mapped collections are gone."""


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every stage of one run works with; made whole, never filled in later."""

    config: Config
    state: State
    store: StoreClient
    akinon: AkinonClient
    failures: FailureLog
    run_id: int
    resumed: bool
    progress: Progress
    stop: asyncio.Event


@dataclass(frozen=True, slots=True)
class Prepared:
    generation: int
    """The staging generation this run read (0: it did not read the store)."""
    blocked: frozenset[str]
    """Records with an open intent that could not be settled: left out of the plan."""
    counts: Counter[str]
    """What was read: ``staged``, ``rejected``, ``memberships``, ``retried``, ``adopted``..."""
    store_complete: bool = True
    """The store's count matched what was read: what was not read is gone from the store."""


async def prepare(ctx: RunContext, scope: Scope) -> Prepared:
    reading_back = ReadBack(ctx.akinon, ctx.progress)
    counts: Counter[str] = Counter()
    generation, complete = 0, True
    try:
        if scope.reads_store:
            generation, complete = await _extract(ctx, scope, counts)
        await reading_back.save(ctx.state)
    finally:
        await reading_back.close()  # nothing to stop once saved
    resolver = IntentResolver(ctx.akinon, ctx.state, ctx.failures, ctx.config.target.email)
    blocked = await resolver.resolve_all()
    if resolver.adopted:
        counts["adopted"] = resolver.adopted
    ctx.progress.start("load", scope.limit or counts["staged"])
    return Prepared(generation, blocked, counts, complete)


async def _extract(ctx: RunContext, scope: Scope, counts: Counter[str]) -> tuple[int, bool]:
    """Products, collections and memberships from the store into the state."""
    config, state = ctx.config, ctx.state
    if config.products.resolve == "sku-map":
        assert config.products.path is not None
        counts["products_mapped"] = extract.load_sku_map(state, ctx.failures, config.products.path)
    staged = await extract.extract_collections(
        ctx.store,
        state,
        ctx.failures,
        ctx.run_id,
        scope.filters,
        page_size=config.source.page_size,
        limit=scope.limit,
        resume=ctx.resumed,
        progress=ctx.progress,
        stop=ctx.stop,
        max_age=config.run.snapshot_max_age.total_seconds(),
    )
    if scope.also_ids:
        extra = await extract.extract_collections(
            ctx.store,
            state,
            ctx.failures,
            ctx.run_id,
            CollectionFilters(id=scope.also_ids),
            page_size=config.source.page_size,
            progress=ctx.progress,
            stop=ctx.stop,
            generation=staged.generation,
        )
        counts["retried"] = extra.expected  # what the store still has of them
    if scope.mode.mirror:
        await _confirm_gone(ctx, staged.generation)
    counts["staged"] = state.staging.count(staged.generation)
    counts["rejected"] = staged.rejected
    if config.items.from_ == "store":
        counts["memberships"] = await extract.extract_items_from_store(
            ctx.store,
            state,
            ctx.failures,
            ctx.run_id,
            staged.generation,
            page_size=config.source.page_size,
            resume=ctx.resumed,
            progress=ctx.progress,
            stop=ctx.stop,
        )
    elif config.items.from_ == "file":
        assert config.items.path is not None
        counts["memberships"] = extract.extract_items_from_file(
            state, ctx.failures, staged.generation, config.items.path
        )
    return staged.generation, not staged.count_mismatch


async def _confirm_gone(ctx: RunContext, generation: int) -> None:
    """Before ``--mirror`` plans a deletion, ask the store for the mapped collections the scan
    did not see, by id: a record that moved between pages while they were read is not gone."""
    missing = [e.source_id for e in ctx.state.ids.not_staged(generation)]
    for start in range(0, len(missing), CONFIRM_BATCH):
        await extract.extract_collections(
            ctx.store,
            ctx.state,
            ctx.failures,
            ctx.run_id,
            CollectionFilters(id=tuple(missing[start : start + CONFIRM_BATCH])),
            page_size=ctx.config.source.page_size,
            stop=ctx.stop,
            generation=generation,
        )

"""Orders the stages of a migration: extract, read back, resolve, transform + plan, load.

Holds the state lock for the whole run. A run that did not finish is resumed by the next one
(unless ``restart``): finished pages are not read again, and open journal intents are resolved
against Akinon before anything is planned.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collsync.errors import EXIT_OK, EXIT_RECORD_FAILURES
from collsync.logging import get_logger
from collsync.pipeline import extract
from collsync.pipeline.load import Loader
from collsync.pipeline.models import (
    ActualCollection,
    ActualItem,
    CollectionPlan,
    Mapping,
    SourceItem,
)
from collsync.pipeline.plan import plan_collection
from collsync.pipeline.transform import Rules, StatusRule, TransformError, transform
from collsync.source import CollectionFilters, StoreClient
from collsync.state import State
from collsync.target import AkinonClient

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from collsync.config import Config
    from collsync.pipeline.extract import Progress

log = get_logger("collsync.run")


@dataclass(frozen=True, slots=True)
class MigrateOptions:
    filters: CollectionFilters = field(default_factory=CollectionFilters)
    limit: int | None = None
    dry_run: bool = False
    restart: bool = False

    @property
    def full_selection(self) -> bool:
        return self.limit is None and not self.filters.to_wire()


@dataclass
class RunSummary:
    run_id: int
    command: str
    counts: Counter[str] = field(default_factory=Counter)
    planned: Counter[str] = field(default_factory=Counter)
    resumed: bool = False
    open_failures: int = 0
    state_path: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT_RECORD_FAILURES if self.open_failures else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "command": self.command,
            "resumed": self.resumed,
            "counts": dict(sorted(self.counts.items())),
            "planned": dict(sorted(self.planned.items())),
            "open_failures": self.open_failures,
            "exit_code": self.exit_code,
            "state": self.state_path,
        }


@dataclass
class Transports:
    """Optional transports (tests and the demo use the sandbox in-process)."""

    store: httpx.AsyncBaseTransport | None = None
    akinon: httpx.AsyncBaseTransport | None = None


def rules_from(config: Config) -> Rules:
    t = config.transform
    return Rules(
        status=t.status,
        name_template=t.name_template,
        note_template=t.note_template,
        rules=tuple(StatusRule(status=r.status, slug=r.slug, name=r.name) for r in t.rules),
    )


def merge_filters(config: Config, cli: CollectionFilters) -> CollectionFilters:
    """Command-line filters replace the config's filter of the same name."""
    base = CollectionFilters.model_validate(config.source.filters.model_dump())
    changes = {k: v for k, v in cli.model_dump().items() if v not in ((), None)}
    return base.model_copy(update=changes)


async def migrate(
    config: Config,
    options: MigrateOptions,
    *,
    progress: Progress | None = None,
    transports: Transports | None = None,
) -> RunSummary:
    transports = transports or Transports()
    state = State.open(config.state.path)
    try:
        command = "migrate --dry-run" if options.dry_run else "migrate"
        with state.locked(command, stale_after=config.state.lock_stale_after):
            async with (
                StoreClient.from_config(config, transport=transports.store) as store,
                AkinonClient.from_config(config, transport=transports.akinon) as akinon,
            ):
                return await _migrate(config, options, state, store, akinon, command, progress)
    finally:
        state.close()


async def _migrate(
    config: Config,
    options: MigrateOptions,
    state: State,
    store: StoreClient,
    akinon: AkinonClient,
    command: str,
    progress: Progress | None,
) -> RunSummary:
    progress = progress or extract.NoProgress()
    unfinished = None if options.restart else state.unfinished_run(command)
    if unfinished is not None:
        run_id = int(unfinished["id"])
        state.resume_run(run_id)
        log.info("collsync.run.resumed", run_id=run_id, command=command)
    else:
        if options.restart:
            state.clear_checkpoints("extract.")
        run_id = state.start_run(command, options.filters.to_wire())
    summary = RunSummary(
        run_id, command, resumed=unfinished is not None, state_path=str(state.path)
    )
    try:
        await _stages(config, options, state, store, akinon, run_id, summary, progress)
    except BaseException:
        state.finish_run(run_id, "failed", summary.to_dict())
        raise
    summary.open_failures = state.open_failures_of_run(run_id)
    state.finish_run(run_id, "done", summary.to_dict())
    log.info("collsync.run.finished", **summary.to_dict())
    return summary


async def _stages(
    config: Config,
    options: MigrateOptions,
    state: State,
    store: StoreClient,
    akinon: AkinonClient,
    run_id: int,
    summary: RunSummary,
    progress: Progress,
) -> None:
    if config.products.resolve == "sku-map":
        assert config.products.path is not None
        summary.counts["products_mapped"] = extract.load_sku_map(
            state, config.products.path, run_id
        )
    staged = await extract.extract_collections(
        store,
        state,
        run_id,
        options.filters,
        page_size=config.source.page_size,
        limit=options.limit,
        resume=summary.resumed,
        progress=progress,
    )
    summary.counts["staged"] = staged.staged
    summary.counts["rejected"] = staged.rejected
    if config.items.from_ == "store":
        summary.counts["memberships"] = await extract.extract_items_from_store(
            store,
            state,
            run_id,
            staged.generation,
            page_size=config.source.page_size,
            resume=summary.resumed,
            progress=progress,
        )
    elif config.items.from_ == "file":
        assert config.items.path is not None
        summary.counts["memberships"] = extract.extract_items_from_file(
            state, run_id, staged.generation, config.items.path
        )
    await read_back(akinon, state, progress)
    loader = Loader(akinon, state, run_id, config.target.email)
    blocked = loader.resolve_open_intents()
    rules = rules_from(config)
    resolver = _resolver(config, state)
    workers = max(1, config.run.concurrency)
    queue: asyncio.Queue[CollectionPlan | None] = asyncio.Queue(maxsize=workers * 2)
    progress.start("load", options.limit or staged.staged)

    async def worker() -> None:
        while (plan := await queue.get()) is not None:
            await loader.apply(plan)
            progress.advance("load")

    tasks = [asyncio.create_task(worker()) for _ in range(0 if options.dry_run else workers)]
    try:
        for plan in _plans(
            state, staged.generation, options, rules, resolver, blocked, run_id, summary
        ):
            for op in plan.operations:
                summary.planned[f"{op.action.value}:{op.origin.value}"] += 1
            if options.dry_run:
                progress.advance("load")
                continue
            await queue.put(plan)
        for _ in tasks:
            await queue.put(None)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    summary.counts.update(loader.counts)
    if options.full_selection:
        state.resolve_stale_failures(("extract", "extract.products", "transform"), run_id)


def _resolver(config: Config, state: State) -> Any:
    if config.products.resolve == "identity":

        def identity(item: SourceItem) -> int | None:
            value = item.product_id or ""
            return int(value) if value.isdigit() else None

        return identity

    def by_sku(item: SourceItem) -> int | None:
        return state.product_pk(item.sku)

    return by_sku


def _plans(
    state: State,
    generation: int,
    options: MigrateOptions,
    rules: Rules,
    resolver: Any,
    blocked: set[str],
    run_id: int,
    summary: RunSummary,
) -> Iterator[CollectionPlan]:
    """Transform and plan every staged collection, one at a time (memory stays flat)."""
    for row in state.iter_staged(generation, options.limit):
        sid = row["source_id"]
        if sid in blocked:
            summary.counts["blocked"] += 1
            continue
        items = [
            SourceItem(
                sku=i["sku"],
                product_id=i["product_source_id"],
                name=i["name"] or "",
                note=i["note"] or "",
            )
            for i in state.staged_items_of(sid, generation)
        ]
        try:
            desired = transform(row["raw"], items, rules, resolver)
        except TransformError as exc:
            state.record_failure(
                sid,
                "transform",
                "invalid_collection",
                f"collection {sid} ({row['raw'].get('slug')}): {exc}",
                raw=row["raw"],
                run_id=run_id,
            )
            summary.counts["failed"] += 1
            continue
        summary.counts["fields_dropped"] += len(desired.dropped_fields)
        for problem in desired.item_problems:
            summary.counts["unresolved_items"] += 1
            state.record_failure(
                f"{sid}/{problem.sku}",
                "transform",
                "unresolved_product",
                f"collection {desired.source_slug}: {problem.reason}",
                raw={"collection": sid, "sku": problem.sku},
                run_id=run_id,
            )
        yield plan_collection(desired, _mapping(state, sid), _actual(state, sid))


def _mapping(state: State, source_id: str) -> Mapping | None:
    entry = state.mapped(source_id)
    if entry is None:
        return None
    return Mapping(entry.akinon_pk, entry.synced_hash, state.items_mapped(source_id))


def _actual(state: State, source_id: str) -> ActualCollection | None:
    entry = state.mapped(source_id)
    target = state.target_collection(entry.akinon_pk) if entry else None
    if target is None:
        return None
    return ActualCollection(
        pk=target["pk"],
        name=target["name"],
        slug=target["slug"],
        status=target["status"],
        public_url=target["public_url"],
        items=tuple(ActualItem(int(i[0]), int(i[1]), str(i[2])) for i in target["items"]),
    )


async def read_back(akinon: AkinonClient, state: State, progress: Progress) -> int:
    """Read every collection of the Akinon account into the state (replacing the last copy)."""
    count = 0
    with state.transaction() as conn:
        conn.execute("DELETE FROM target_items")
        conn.execute("DELETE FROM target_collections")
        on_count = lambda total: progress.start("read-back", total)  # noqa: E731
        async for collection in akinon.iter_collections(on_count=on_count):
            state.insert_target(conn, collection)
            count += 1
            progress.advance("read-back")
    log.info("collsync.run.read_back", collections=count)
    return count

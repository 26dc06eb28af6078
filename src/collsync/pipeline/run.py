"""Orders the stages of a migration: extract, read back, resolve, transform + plan, load.

Holds the state lock for the whole run. A run that did not finish is resumed by the next one
(unless ``restart``): finished pages are not read again, and open journal intents are resolved
against Akinon before anything is planned.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from collsync.config import parse_duration
from collsync.errors import EXIT_OK, EXIT_RECORD_FAILURES, InterruptedRunError
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
from collsync.pipeline.plan import Removals, plan_collection
from collsync.pipeline.read_back import ReadBack
from collsync.pipeline.transform import Rules, StatusRule, TransformError, transform
from collsync.source import CollectionFilters, StoreClient
from collsync.state import State
from collsync.target import AkinonClient

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

    import httpx

    from collsync.config import Config
    from collsync.pipeline.extract import Progress

log = get_logger("collsync.run")

STOP_GRACE = 30.0
"""Seconds in-flight work may take to finish after SIGTERM or SIGINT."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MigrateOptions:
    filters: CollectionFilters = field(default_factory=CollectionFilters)
    limit: int | None = None
    dry_run: bool = False
    restart: bool = False
    removals: Removals = "ours"
    """Items the source no longer lists: remove ``none``, ``ours`` (collsync added) or ``all``."""

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
    mode: str = ""
    started: float = field(default_factory=time.time)

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
            **({"mode": self.mode} if self.mode else {}),
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


@dataclass
class Context:
    """Everything one run of a command works with."""

    config: Config
    options: MigrateOptions
    state: State
    store: StoreClient
    akinon: AkinonClient
    run_id: int
    summary: RunSummary
    progress: Progress
    generation: int = 0
    blocked: set[str] = field(default_factory=set)
    loader: Loader | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by SIGTERM or SIGINT: take no new work, finish what is in flight."""


async def run_command(
    config: Config,
    options: MigrateOptions,
    command: str,
    body: Callable[[Context], Awaitable[T]],
    *,
    progress: Progress | None = None,
    transports: Transports | None = None,
    resumable: bool = True,
) -> T:
    """Open the state, take the lock, open both clients, record the run, and run ``body``."""
    transports = transports or Transports()
    state = State.open(config.state.path)
    try:
        with state.locked(command, stale_after=config.state.lock_stale_after):
            async with (
                StoreClient.from_config(config, transport=transports.store) as store,
                AkinonClient.from_config(config, transport=transports.akinon) as akinon,
            ):
                unfinished = None
                if resumable and not options.restart:
                    unfinished = state.unfinished_run(command)
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
                ctx = Context(
                    config,
                    options,
                    state,
                    store,
                    akinon,
                    run_id,
                    summary,
                    progress or extract.NoProgress(),
                )
                try:
                    with _stop_on_signals(ctx.stop):
                        result = await body(ctx)
                        if ctx.stop.is_set():
                            raise InterruptedRunError()
                except InterruptedRunError:
                    state.finish_run(run_id, "interrupted", summary.to_dict())
                    log.warning("collsync.run.interrupted", run_id=run_id)
                    raise
                except BaseException:
                    state.finish_run(run_id, "failed", summary.to_dict())
                    raise
                summary.open_failures = state.open_failures_of_run(run_id)
                state.schedule_retries(
                    run_id,
                    backoff=parse_duration(config.sync.retry_backoff),
                    limit=config.sync.retry_limit,
                )
                state.finish_run(run_id, "done", summary.to_dict())
                log.info("collsync.run.finished", **summary.to_dict())
                return result
    finally:
        state.close()


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` instead of killing the run mid-write."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (RuntimeError, ValueError):  # not the main thread (tests, the demo's servers)
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def migrate(
    config: Config,
    options: MigrateOptions,
    *,
    progress: Progress | None = None,
    transports: Transports | None = None,
) -> RunSummary:
    """The whole migration (or, with ``dry_run``, its plan): exactly once, resumable."""

    async def body(ctx: Context) -> RunSummary:
        await prepare(ctx)
        plans = (plan for plan, _actual in planned(ctx))
        if ctx.options.dry_run:
            for plan in plans:
                count_planned(ctx.summary, plan)
                ctx.progress.advance("load")
        else:
            await load(ctx, plans)
            if ctx.options.full_selection and not ctx.stop.is_set():
                from collsync.pipeline.sync import record_progress

                record_progress(ctx, full=True)  # a full pass: the next sync can be incremental
        return ctx.summary

    command = "migrate --dry-run" if options.dry_run else "migrate"
    return await run_command(
        config, options, command, body, progress=progress, transports=transports
    )


def count_planned(summary: RunSummary, plan: CollectionPlan) -> None:
    for op in plan.operations:
        summary.planned[f"{op.action.value}:{op.origin.value}"] += 1


async def prepare(ctx: Context, also_ids: Sequence[str] = ()) -> None:
    """Products, extract and membership from the store while Akinon is read back, then the
    intents left open by an earlier run.

    ``also_ids``: collections to stage as well, whatever the filters (failed records that are
    due for another try in an incremental sync).
    """
    reading_back = ReadBack(ctx.akinon, ctx.progress)
    try:
        await _extract(ctx, also_ids)
        await reading_back.save(ctx.state)
    finally:
        await reading_back.close()  # nothing to stop once saved
    ctx.loader = Loader(ctx.akinon, ctx.state, ctx.run_id, ctx.config.target.email)
    ctx.blocked = await ctx.loader.resolve_open_intents()
    ctx.progress.start("load", ctx.options.limit or ctx.summary.counts["staged"])


async def _extract(ctx: Context, also_ids: Sequence[str]) -> None:
    """Products, collections and memberships from the store into the state."""
    config, state, summary = ctx.config, ctx.state, ctx.summary
    if config.products.resolve == "sku-map":
        assert config.products.path is not None
        summary.counts["products_mapped"] = extract.load_sku_map(
            state, config.products.path, ctx.run_id
        )
    staged = await extract.extract_collections(
        ctx.store,
        state,
        ctx.run_id,
        ctx.options.filters,
        page_size=config.source.page_size,
        limit=ctx.options.limit,
        resume=summary.resumed,
        progress=ctx.progress,
        stop=ctx.stop,
    )
    ctx.generation = staged.generation
    if also_ids:
        extra = await extract.extract_collections(
            ctx.store,
            state,
            ctx.run_id,
            CollectionFilters(id=tuple(also_ids)),
            page_size=config.source.page_size,
            progress=ctx.progress,
            stop=ctx.stop,
            generation=staged.generation,
        )
        summary.counts["retried"] = extra.expected  # what the store still has of them
    summary.counts["staged"] = state.staged_count(staged.generation)
    summary.counts["rejected"] = staged.rejected
    if config.items.from_ == "store":
        summary.counts["memberships"] = await extract.extract_items_from_store(
            ctx.store,
            state,
            ctx.run_id,
            staged.generation,
            page_size=config.source.page_size,
            resume=summary.resumed,
            progress=ctx.progress,
            stop=ctx.stop,
        )
    elif config.items.from_ == "file":
        assert config.items.path is not None
        summary.counts["memberships"] = extract.extract_items_from_file(
            state, ctx.run_id, staged.generation, config.items.path
        )


async def load(ctx: Context, plans: Iterable[CollectionPlan]) -> None:
    """Apply plans with ``run.concurrency`` collections in flight."""
    loader = ctx.loader
    assert loader is not None
    workers = max(1, ctx.config.run.concurrency)
    queue: asyncio.Queue[CollectionPlan | None] = asyncio.Queue(maxsize=workers * 2)

    async def worker() -> None:
        while (plan := await queue.get()) is not None:
            await loader.apply(plan)
            ctx.progress.advance("load")

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        for plan in plans:
            if ctx.stop.is_set():
                break  # take no new work; what is queued or in flight finishes
            count_planned(ctx.summary, plan)
            await queue.put(plan)
        for _ in tasks:
            await queue.put(None)
        # In-flight requests finish, within a bound: an open journal intent covers the rest.
        await asyncio.wait_for(
            asyncio.gather(*tasks), timeout=None if not ctx.stop.is_set() else STOP_GRACE
        )
    except TimeoutError:
        log.warning("collsync.run.stop_grace_exceeded", seconds=STOP_GRACE)
    finally:
        for task in tasks:
            task.cancel()
    ctx.summary.counts.update(loader.counts)
    if ctx.options.full_selection:
        ctx.state.resolve_stale_failures(("extract", "extract.products", "transform"), ctx.run_id)


def planned(ctx: Context) -> Iterator[tuple[CollectionPlan, ActualCollection | None]]:
    """Transform and plan every staged collection, one at a time (memory stays flat)."""
    state, summary, run_id = ctx.state, ctx.summary, ctx.run_id
    rules, by_identity = rules_from(ctx.config), ctx.config.products.resolve == "identity"
    for row in state.iter_staged(ctx.generation, ctx.options.limit):
        sid = row["source_id"]
        if sid in ctx.blocked:
            summary.counts["blocked"] += 1
            continue
        staged = state.staged_items_of(sid, ctx.generation)
        items = [
            SourceItem(
                sku=i["sku"],
                product_id=i["product_source_id"],
                name=i["name"] or "",
                note=i["note"] or "",
            )
            for i in staged
        ]
        resolver = _by_identity if by_identity else _by_sku(staged)
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
        actual = _actual(state, sid)
        plan = plan_collection(desired, _mapping(state, sid), actual, removals=ctx.options.removals)
        yield plan, actual


def _by_sku(staged: list[dict[str, Any]]) -> Callable[[SourceItem], int | None]:
    """``products.resolve = "sku-map"``: the product the SKU map gives, read with the items."""
    mapped = {i["sku"]: i["product_pk"] for i in staged}
    return lambda item: mapped.get(item.sku)


def _by_identity(item: SourceItem) -> int | None:
    """``products.resolve = "identity"``: the store's product id is the Akinon product's."""
    value = item.product_id or ""
    return int(value) if value.isdigit() else None


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
        items=tuple(ActualItem(int(i[0]), int(i[1]), str(i[2]), i[3]) for i in target["items"]),
    )

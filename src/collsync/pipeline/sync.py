"""The scheduled sync: an incremental pass, a periodic full reconcile, and guarded mirroring.

Commerscale has no "updated since" filter, so an incremental pass reads only collections created
since the stored watermark (less an overlap window, for late arrivals) plus the failed records
that are due for another try; renames, status rules and item changes of older collections come
across in the full reconcile, run with ``--full`` or when ``[sync] reconcile_every`` has passed.

``--mirror`` deletes on Akinon what the store no longer has, and removes items the store no
longer lists. It needs a full, unfiltered read, and it is guarded: a store answering with no
collections while many are mapped is a source fault, and more deletions than ``--max-deletes``
delete nothing at all.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from collsync.config import parse_duration, parse_max_deletes
from collsync.errors import CollsyncError, ConfigError, NotFoundError
from collsync.logging import get_logger
from collsync.pipeline.run import (
    Context,
    MigrateOptions,
    RunSummary,
    load,
    planned,
    prepare,
    run_command,
)
from collsync.source import CollectionFilters

if TYPE_CHECKING:
    from collsync.config import Config
    from collsync.pipeline.extract import Progress
    from collsync.pipeline.run import Transports

log = get_logger("collsync.sync")

WATERMARK = "sync.watermark"
RECONCILED = "sync.reconciled"


class DeleteGuardError(CollsyncError):
    """Mirroring would delete more than allowed, or the store looks broken: nothing deleted."""


@dataclass(frozen=True, slots=True)
class SyncOptions:
    full: bool = False
    mirror: bool = False
    max_deletes: str | None = None
    """Overrides ``[sync] max_deletes``: a count, or a percentage of the mapped collections."""
    retry: bool = False
    """Retry parked failures too."""
    dry_run: bool = False


def _full_due(config: Config, ctx: Context, options: SyncOptions) -> tuple[bool, str]:
    if options.full:
        return True, "--full"
    if options.mirror:
        return True, "--mirror needs a full read"
    last = ctx.state.checkpoint(RECONCILED)
    if last is None or ctx.state.checkpoint(WATERMARK) is None:
        return True, "first sync"
    if time.time() - float(last["at"]) >= parse_duration(config.sync.reconcile_every):
        return True, f"reconcile_every ({config.sync.reconcile_every}) has passed"
    return False, "incremental"


def record_progress(ctx: Context, *, full: bool) -> None:
    """After a pass: the new watermark, and when the last full reconcile ran."""
    row = ctx.state.db.conn.execute(
        "SELECT MAX(createdon) FROM staged_collections WHERE valid = 1"
    ).fetchone()
    with ctx.state.transaction() as conn:
        if row and row[0]:
            ctx.state.set_checkpoint(WATERMARK, {"createdon": row[0]}, ctx.run_id, conn)
        if full:
            ctx.state.set_checkpoint(RECONCILED, {"at": time.time()}, ctx.run_id, conn)


async def _mirror_deletes(ctx: Context, options: SyncOptions) -> list[tuple[str, int, str | None]]:
    """What the store no longer has; raises :class:`DeleteGuardError` past the guards."""
    gone = ctx.state.mapped_not_staged(ctx.generation)
    mapped = ctx.state.map_counts()["collections"]
    staged = ctx.state.staged_count(ctx.generation)
    if staged == 0 and mapped > 0:
        raise DeleteGuardError(
            f"the store answered with no collections while {mapped} are mapped; treated as a "
            "store fault, nothing was changed"
        )
    limit_text = options.max_deletes or ctx.config.sync.max_deletes
    try:
        limit = parse_max_deletes(limit_text, mapped)
    except ValueError as exc:
        raise ConfigError(f"--max-deletes: {exc}") from None
    if len(gone) > limit:
        shown = ", ".join(str(slug or sid) for sid, _pk, slug in gone[:5])
        raise DeleteGuardError(
            f"{len(gone)} of {mapped} mapped collections are gone from the store ({shown}"
            f"{', ...' if len(gone) > 5 else ''}), more than --max-deletes {limit_text} "
            f"allows ({limit}); nothing was changed. Check the store, or raise --max-deletes."
        )
    return gone


async def sync(
    config: Config,
    options: SyncOptions,
    *,
    progress: Progress | None = None,
    transports: Transports | None = None,
) -> RunSummary:
    if (
        options.mirror
        and CollectionFilters.model_validate(config.source.filters.model_dump()).to_wire()
    ):
        raise ConfigError(
            "--mirror deletes what the store no longer has, so it reads the whole store: "
            "remove [source.filters] from the config to use it"
        )

    async def body(ctx: Context) -> RunSummary:
        full, why = _full_due(config, ctx, options)
        ctx.summary.mode = "full" if full else "incremental"
        log.info("collsync.sync.mode", mode=ctx.summary.mode, reason=why)
        due = ctx.state.due_failures(force=options.retry)
        base = CollectionFilters.model_validate(config.source.filters.model_dump())
        if not full:
            mark = datetime.fromisoformat(str(ctx.state.checkpoint(WATERMARK)["createdon"]))
            since = mark - timedelta(seconds=parse_duration(config.sync.overlap))
            ctx.options = MigrateOptions(
                filters=base.model_copy(update={"createdon_min": since}),
                removals="all" if options.mirror else "none",
            )
        else:
            ctx.options = MigrateOptions(filters=base, removals="all" if options.mirror else "none")
        await prepare(ctx, also_ids=[] if full else due)
        gone = await _mirror_deletes(ctx, options) if options.mirror else []
        plans = (plan for plan, _actual in planned(ctx))
        if options.dry_run:
            for plan in plans:
                for op in plan.operations:
                    ctx.summary.planned[f"{op.action.value}:{op.origin.value}"] += 1
            ctx.summary.planned["delete:source"] += len(gone)
            return ctx.summary
        await load(ctx, plans)
        for source_id, akinon_pk, slug in gone:
            if ctx.stop.is_set():
                break
            with contextlib.suppress(NotFoundError):  # already gone: the desired state holds
                await ctx.akinon.delete_collection(akinon_pk)
            ctx.state.unmap_collection(source_id)
            ctx.summary.counts["deleted"] += 1
            log.info(
                "collsync.sync.collection_deleted",
                source_id=source_id,
                slug=slug,
                akinon_pk=akinon_pk,
            )
        if not ctx.stop.is_set():
            record_progress(ctx, full=full)
        return ctx.summary

    command = "sync --dry-run" if options.dry_run else "sync"
    return await run_command(
        config, MigrateOptions(), command, body, progress=progress, transports=transports
    )

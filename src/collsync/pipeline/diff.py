"""Diff and saved plans: what a sync would change, written nowhere but the report.

``diff`` reads both sides exactly as ``migrate`` does, plans, and returns a report. With a saved
plan it also returns the operations and fingerprints of the three things the plan depends on:
the source (every selected collection's content hash), the target (every Akinon collection of the
account, with its items) and the state (the id and item maps). ``apply`` refuses a plan when any
of them moved, naming the records that did, and otherwise applies exactly those operations.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from collsync.errors import CollsyncError
from collsync.pipeline.models import (
    Action,
    CollectionPlan,
    DesiredCollection,
    DesiredItem,
    Operation,
    Origin,
)
from collsync.pipeline.plan import plan_collection
from collsync.pipeline.run import (
    Context,
    MigrateOptions,
    RunSummary,
    _actual,
    _mapping,
    load,
    planned,
    prepare,
    run_command,
)
from collsync.report.model import DiffReport, NotCarried, change_of, sorted_changes

if TYPE_CHECKING:
    from pathlib import Path

    from collsync.config import Config
    from collsync.pipeline.extract import Progress
    from collsync.pipeline.run import Transports
    from collsync.state import State

PLAN_FORMAT = "collsync-plan"
PLAN_VERSION = 1
FIELD_LABELS = {
    "description": "a description",
    "seopagetitle": "an SEO page title",
    "seometakeywords": "SEO meta keywords",
    "seopagedescription": "an SEO page description",
    "author": "an author",
}


class StalePlanError(CollsyncError):
    """The source, the target or the state changed since the plan was made."""


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def target_fingerprint(state: State) -> dict[str, str]:
    conn = state.db.conn
    items: dict[int, list[Any]] = {}
    for collection_pk, product_pk, note in conn.execute(
        "SELECT collection_pk, product_pk, note FROM target_items ORDER BY product_pk"
    ):
        items.setdefault(collection_pk, []).append([product_pk, note])
    return {
        str(pk): _digest([name, slug, status, items.get(pk, [])])
        for pk, name, slug, status in conn.execute(
            "SELECT pk, name, slug, status FROM target_collections"
        )
    }


def state_fingerprint(state: State) -> dict[str, str]:
    conn = state.db.conn
    items: dict[str, list[Any]] = {}
    for source_id, product_pk, item_pk, note in conn.execute(
        "SELECT source_id, product_pk, akinon_item_pk, note FROM item_map ORDER BY product_pk"
    ):
        items.setdefault(source_id, []).append([product_pk, item_pk, note])
    return {
        source_id: _digest([pk, synced, items.get(source_id, [])])
        for source_id, pk, synced in conn.execute(
            "SELECT source_id, akinon_pk, synced_hash FROM collection_map"
        )
    }


def _moved(label: str, then: dict[str, str], now: dict[str, str]) -> list[str]:
    changed = sorted(k for k in then.keys() & now.keys() if then[k] != now[k])
    added = sorted(now.keys() - then.keys())
    gone = sorted(then.keys() - now.keys())
    lines = []
    for what, keys in (("changed", changed), ("new", added), ("gone", gone)):
        if keys:
            shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            lines.append(f"{label}: {len(keys)} {what} ({shown})")
    return lines


def _not_carried(ctx: Context, dropped: dict[str, int]) -> list[NotCarried]:
    rows = ctx.state.db.conn.execute(
        "SELECT record_id, kind, reason FROM failures WHERE run_id = ? AND resolved = 0"
        " AND stage IN ('extract', 'extract.products', 'extract.items', 'transform')"
        " ORDER BY stage, record_id",
        (ctx.run_id,),
    ).fetchall()
    kinds = {"unresolved_product": "unresolved_product"}
    entries = [
        NotCarried(kinds.get(kind, "rejected_record"), record_id, reason)
        for record_id, kind, reason in rows
    ]
    entries += [
        NotCarried(
            "dropped_field",
            name,
            f"{count} collection(s) have {FIELD_LABELS.get(name, name)}; Akinon "
            "collections cannot hold it (kept in the state)",
        )
        for name, count in sorted(dropped.items())
    ]
    return entries


async def diff(
    config: Config,
    options: MigrateOptions,
    *,
    progress: Progress | None = None,
    transports: Transports | None = None,
) -> tuple[DiffReport, dict[str, Any]]:
    """The report, and the plan document ``apply`` takes. Nothing is written to either service."""

    async def body(ctx: Context) -> tuple[DiffReport, dict[str, Any]]:
        await prepare(ctx)
        report = DiffReport(
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            source_url=str(config.source.url),
            target_url=str(config.target.url),
        )
        source: dict[str, str] = {}
        saved: list[dict[str, Any]] = []
        for plan, actual in planned(ctx):
            source[plan.desired.source_id] = plan.desired.content_hash
            report.dropped_fields.update(plan.desired.dropped_fields)
            change = change_of(plan, actual)
            if change is None:
                report.unchanged += 1
                continue
            report.changes.append(change)
            saved.append(
                {
                    "desired": _desired_dict(plan.desired),
                    "operations": [_op_dict(op) for op in plan.operations],
                }
            )
            ctx.progress.advance("load")
        report.changes = sorted_changes(report.changes)
        report.not_carried = _not_carried(ctx, dict(report.dropped_fields))
        document = {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "created_at": report.generated_at,
            "source": report.source_url,
            "target": report.target_url,
            "account": config.target.email,
            "filters": options.filters.to_wire(),
            "limit": options.limit,
            "summary": report.summary,
            "fingerprints": {
                "source": source,
                "target": target_fingerprint(ctx.state),
                "state": state_fingerprint(ctx.state),
            },
            "collections": saved,
        }
        return report, document

    return await run_command(
        config, options, "diff", body, progress=progress, transports=transports, resumable=False
    )


def _desired_dict(desired: DesiredCollection) -> dict[str, Any]:
    data = asdict(desired)
    data.pop("item_problems")
    return data


def _op_dict(op: Operation) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in asdict(op).items()}


def _plan_from(entry: dict[str, Any]) -> CollectionPlan:
    d = entry["desired"]
    desired = DesiredCollection(
        source_id=d["source_id"],
        source_slug=d["source_slug"],
        name=d["name"],
        status=d["status"],
        content_hash=d["content_hash"],
        items=tuple(DesiredItem(**i) for i in d["items"]),
        dropped_fields=tuple(d.get("dropped_fields", ())),
    )
    ops = tuple(
        Operation(**{**op, "action": Action(op["action"]), "origin": Origin(op["origin"])})
        for op in entry["operations"]
    )
    return CollectionPlan(desired, ops)


def read_plan(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StalePlanError(f"cannot read plan {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise StalePlanError(f"{path} is not a collsync plan (not JSON: {exc})") from None
    if not isinstance(document, dict) or document.get("format") != PLAN_FORMAT:
        raise StalePlanError(f"{path} is not a collsync plan (made by `collsync diff --save-plan`)")
    if document.get("version") != PLAN_VERSION:
        raise StalePlanError(
            f"{path} is a version {document.get('version')} plan; this "
            f"collsync applies version {PLAN_VERSION}"
        )
    return document


async def apply(
    config: Config,
    document: dict[str, Any],
    *,
    progress: Progress | None = None,
    transports: Transports | None = None,
) -> RunSummary:
    """Apply a saved plan exactly, or refuse (writing nothing) if the world moved under it."""
    from collsync.source import CollectionFilters

    if (document.get("source"), document.get("target")) != (
        str(config.source.url),
        str(config.target.url),
    ):
        raise StalePlanError(
            f"the plan was made for {document.get('source')} -> {document.get('target')}, "
            f"not for this config ({config.source.url} -> {config.target.url})"
        )
    options = MigrateOptions(
        filters=CollectionFilters.model_validate(document["filters"]), limit=document.get("limit")
    )

    async def body(ctx: Context) -> RunSummary:
        await prepare(ctx)
        fingerprints = document["fingerprints"]
        resuming = ctx.summary.resumed
        now_source = {plan.desired.source_id: plan.desired.content_hash for plan, _ in planned(ctx)}
        moved = _moved("source collections", fingerprints["source"], now_source)
        if not resuming:  # a resumed apply has already changed the target and the state
            moved += _moved(
                "Akinon collections", fingerprints["target"], target_fingerprint(ctx.state)
            )
            moved += _moved(
                "mapped collections", fingerprints["state"], state_fingerprint(ctx.state)
            )
        if moved:
            raise StalePlanError(
                "the plan is stale; nothing was applied. Since it was made:\n  "
                + "\n  ".join(moved)
                + "\nRun `collsync diff --save-plan` again and review the new plan."
            )
        plans = [_plan_from(entry) for entry in document["collections"]]
        if resuming:  # what is left of each saved collection plan
            plans = [
                plan_collection(
                    p.desired,
                    _mapping(ctx.state, p.desired.source_id),
                    _actual(ctx.state, p.desired.source_id),
                )
                for p in plans
            ]
        ctx.progress.start("load", len(plans))
        await load(ctx, plans)
        return ctx.summary

    return await run_command(
        config,
        options,
        f"apply {document['created_at']}",
        body,
        progress=progress,
        transports=transports,
    )

"""A plan rendered instead of run: the report ``diff`` and ``--dry-run`` show, and what a saved
plan holds. Nothing is written to either service, nor to the state's failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from collsync.pipeline.inputs import actual
from collsync.pipeline.models import Action
from collsync.report.model import (
    DiffReport,
    Existing,
    NotCarried,
    change_of,
    deletion_of,
    sorted_changes,
)

if TYPE_CHECKING:
    from collsync.config import Config
    from collsync.pipeline.extract import Progress
    from collsync.pipeline.failure_log import FailureLog
    from collsync.pipeline.models import CollectionPlan, Operation
    from collsync.pipeline.plan import Plan
    from collsync.state import State

FIELD_LABELS = {
    "description": "a description",
    "seopagetitle": "an SEO page title",
    "seometakeywords": "SEO meta keywords",
    "seopagedescription": "an SEO page description",
    "author": "an author",
}
NOT_CARRIED_STAGES = ("extract", "extract.products", "extract.items", "products", "transform")


@dataclass
class Preview:
    report: DiffReport
    deletions: tuple[Operation, ...] = ()
    changed: list[CollectionPlan] = field(default_factory=list)
    """The collection plans with operations, in plan order (what a saved plan holds)."""
    source: dict[str, str] = field(default_factory=dict)
    """Source id -> content hash of every collection planned (a saved plan's fingerprint)."""


def preview(
    plan: Plan,
    *,
    config: Config,
    state: State,
    failures: FailureLog,
    dropped_fields: dict[str, int],
    progress: Progress,
) -> Preview:
    """Read the whole plan into a report (the plan's collection stream is used up)."""
    report = DiffReport(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source_url=str(config.source.url),
        target_url=str(config.target.url),
        mode=plan.mode.name,
    )
    result = Preview(report, plan.deletions)
    for collection in plan.collections:
        sid = collection.desired.source_id
        result.source[sid] = collection.desired.content_hash
        progress.advance("load")
        if collection.existing:
            desired = collection.desired
            report.existing.append(
                Existing(sid, desired.source_slug, desired.name, collection.existing)
            )
            continue
        change = change_of(
            collection, actual(state, sid) if collection.change is Action.UPDATE else None
        )
        if change is None:
            report.unchanged += 1
            continue
        report.changes.append(change)
        result.changed.append(collection)
    report.changes += [deletion_of(op) for op in plan.deletions]
    report.changes = sorted_changes(report.changes)
    report.existing.sort(key=lambda e: (e.source_slug, e.source_id))
    if plan.guard is not None:
        report.guard = plan.guard.describe(len(plan.deletions))
        report.refused = plan.refusal is not None
    report.dropped_fields.update(dropped_fields)
    report.not_carried = _not_carried(failures, dropped_fields)
    return result


def _not_carried(failures: FailureLog, dropped: dict[str, int]) -> list[NotCarried]:
    entries = [
        NotCarried(
            "unresolved_product" if f.kind == "unresolved_product" else "rejected_record",
            f.record_id,
            f.reason,
        )
        for f in sorted(failures.records(NOT_CARRIED_STAGES), key=lambda f: (f.stage, f.record_id))
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

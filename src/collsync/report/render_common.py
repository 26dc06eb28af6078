"""What every report format says the same way: counts per action, labels, and change wording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from collsync.report.model import CHANGE_ACTIONS

if TYPE_CHECKING:
    from collsync.report.model import Change, DiffReport, FieldChange, ItemChange, NotCarried

ARROW = "→"

ACTION_HELP = {
    "create": "never migrated: will be created on Akinon",
    "adopt": "on Akinon already, not mapped: will be mapped to it",
    "recreate": "deleted on Akinon: will be created again",
    "update": "name, status or items differ",
    "delete": "will be deleted on Akinon, with its items",
}
ORIGIN_HELP = {
    "source": "the store changed",
    "drift": "Akinon was changed outside collsync",
    "rollback": "collsync undoes what it created",
}
_KIND_LABELS = {
    "unresolved_product": "unresolved product",
    "rejected_record": "rejected source record",
    "dropped_field": "source field Akinon cannot hold",
}


@dataclass(frozen=True, slots=True)
class ActionCounts:
    """One summary line: the collections an action touches, split by origin, and their items."""

    action: str
    collections: int
    source: int
    drift: int
    rollback: int
    items_added: int
    items_removed: int


def action_counts(report: DiffReport) -> list[ActionCounts]:
    """A line for every action, zeros included, so a reader sees "0 to delete" said outright."""
    lines = []
    for action in _actions(report):
        changes = [c for c in report.changes if c.action == action]
        lines.append(
            ActionCounts(
                action=action,
                collections=len(changes),
                source=sum(c.origin == "source" for c in changes),
                drift=sum(c.origin == "drift" for c in changes),
                rollback=sum(c.origin == "rollback" for c in changes),
                items_added=sum(len(c.items_added) for c in changes),
                items_removed=sum(len(c.items_removed) for c in changes),
            )
        )
    return lines


def plan_line(report: DiffReport) -> str:
    """``Plan: 2 to create, 0 to recreate, 5 to update, 0 to delete.``"""
    summary = report.summary
    return "Plan: " + ", ".join(f"{summary[a]} to {a}" for a in _actions(report)) + "."


def _actions(report: DiffReport) -> list[str]:
    """Every action, zeros included, but adoption, which only ``--adopt-existing`` plans."""
    adopting = any(c.action == "adopt" for c in report.changes)
    return [a for a in CHANGE_ACTIONS if a != "adopt" or adopting]


def no_changes_line(report: DiffReport) -> str:
    return f"No changes: `collsync {report.mode}` has nothing to do."


def gone_line(report: DiffReport) -> str | None:
    """Mapped collections the store no longer has, which this mode leaves on Akinon."""
    if not report.gone_from_store:
        return None
    count = plural(report.gone_from_store, "mapped collection")
    return (
        f"{count} gone from the store stay on Akinon in this mode: `collsync diff --mirror` "
        "shows their deletion."
    )


def notices(report: DiffReport) -> list[tuple[str, str]]:
    """What a reader must see before the changes: (text, ``stop`` / ``warn``)."""
    found = []
    for line, severity in (
        (stop_line(report), "stop"),
        (guard_line(report), "stop" if report.refused else "warn"),
        (existing_line(report), "warn"),
        (gone_line(report), "warn"),
    ):
        if line is not None:
            found.append((line, severity))
    return found


def stop_line(report: DiffReport) -> str | None:
    if report.stop is None:
        return None
    return f"The run would stop before any write: {report.stop}"


def existing_line(report: DiffReport) -> str | None:
    """Store collections never mapped whose names Akinon already has (unmapped)."""
    if not report.existing:
        return None
    count = plural(len(report.existing), "store collection")
    return (
        f"{count} never mapped, and already on Akinon by name (not mapped): each is a conflict "
        "until `--adopt-existing` maps it or `--allow-duplicates` creates it anyway."
    )


def existing_rows(report: DiffReport) -> list[tuple[str, str, str]]:
    """(source slug, name, Akinon pks) for each store collection already on Akinon by name."""
    return [
        (e.source_slug, e.name, ", ".join(f"pk {pk}" for pk in e.akinon_pks))
        for e in report.existing
    ]


def mode_line(report: DiffReport) -> str:
    """What runs this plan: ``collsync sync --full --mirror`` would make exactly these changes."""
    return f"What `collsync {report.mode}` would change, and nothing else."


def guard_line(report: DiffReport) -> str | None:
    """The delete guard's verdict, when the mode deletes."""
    if report.guard is None:
        return None
    if report.refused:
        return f"{report.guard}: the run would stop before any write and change nothing."
    return f"{report.guard}."


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def origin_split(line: ActionCounts) -> str:
    """``4 source, 1 drift``, leaving out an origin with nothing in it."""
    counts = (("source", line.source), ("drift", line.drift), ("rollback", line.rollback))
    return ", ".join(f"{n} {o}" for o, n in counts if n)


def item_split(line: ActionCounts) -> str:
    parts = []
    if line.items_added:
        parts.append(f"+{line.items_added}")
    if line.items_removed:
        parts.append(f"-{line.items_removed}")
    return " ".join(parts) + " items" if parts else ""


def field_parts(change: FieldChange) -> tuple[str, str | None, str]:
    """Label, old value (``None`` when the collection does not exist yet) and new value."""
    return change.field, change.old, "(none)" if change.new is None else change.new


def field_text(change: FieldChange) -> str:
    """``name: Old → New``; a collection being created has no old value to show."""
    label, old, new = field_parts(change)
    if old is None:
        return f"{label}: {new}"
    return f"{label}: {old} {ARROW} {new}"


def item_parts(item: ItemChange) -> tuple[str | None, str]:
    """The SKU (to set as code) and the rest: ``("SKU-1", "(pk 101)")``; either may be unknown."""
    if item.sku:
        return item.sku, f"(pk {item.product_pk})" if item.product_pk else "(no product pk)"
    return None, f"product pk {item.product_pk}" if item.product_pk else "unknown product"


def item_text(item: ItemChange, sign: str) -> str:
    """``+ SKU-1 (pk 101) "note"`` or ``- SKU-2 (pk 102)``."""
    sku, rest = item_parts(item)
    note = f' "{item.note}"' if item.note else ""
    return f"{sign} {sku} {rest}{note}" if sku else f"{sign} {rest}{note}"


def change_lines(change: Change) -> list[str]:
    """Every atomic change of one collection, one line each, in the order a reader checks them."""
    lines = [field_text(f) for f in change.fields]
    lines += [item_text(i, "+") for i in change.items_added]
    lines += [item_text(i, "-") for i in change.items_removed]
    if change.action == "delete":
        return [deletion_text(change)]
    return lines or [ACTION_HELP.get(change.action, change.action)]


def deletion_text(change: Change) -> str:
    """``delete the collection and its 5 items``: what a delete takes with it."""
    count = change.item_count or 0
    return (
        f"delete the collection and its {plural(count, 'item')}"
        if count
        else ("delete the collection (no items)")
    )


def akinon_parts(change: Change) -> tuple[str, str | None]:
    """``("pk 123", slug)``; a collection still to be created has neither: ``("new", None)``."""
    if change.akinon_pk is None:
        return ("new" if change.action in ("create", "recreate") else "-"), None
    return f"pk {change.akinon_pk}", change.akinon_slug


def dropped_fields_left(report: DiffReport) -> dict[str, int]:
    """Dropped source fields not already listed as ``dropped_field`` entries of ``not_carried``."""
    listed = {n.record for n in report.not_carried if n.kind == "dropped_field"}
    return {k: v for k, v in sorted(report.dropped_fields.items()) if k not in listed and v}


def kind_label(entry: NotCarried) -> str:
    return _KIND_LABELS.get(entry.kind, entry.kind)

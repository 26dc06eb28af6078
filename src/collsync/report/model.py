"""The diff report: what a sync would change, collection by collection, and what cannot carry over.

Built from the plan (``pipeline.plan``) by :func:`build_report`; rendered by ``report.render``.
The JSON form is a public contract, described by ``diff.schema.json`` beside this module.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from collsync.pipeline.models import Action

if TYPE_CHECKING:
    from collections.abc import Iterable

    from collsync.pipeline.models import ActualCollection, CollectionPlan, Operation

SCHEMA_VERSION = 2
CHANGE_ACTIONS = ("create", "adopt", "recreate", "update", "delete")
ORIGINS = ("source", "drift", "rollback")


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    """``name`` or ``status``."""
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class ItemChange:
    sku: str | None
    product_pk: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class Change:
    """Everything that would change for one collection."""

    action: str
    """``create`` (never migrated), ``recreate`` (deleted on Akinon), ``update``, ``delete``."""
    origin: str
    """``source``: the store changed; ``drift``: Akinon was changed outside collsync;
    ``rollback``: collsync undoes what it created."""
    source_id: str
    source_slug: str
    name: str
    akinon_pk: int | None = None
    akinon_slug: str | None = None
    fields: tuple[FieldChange, ...] = ()
    items_added: tuple[ItemChange, ...] = ()
    items_removed: tuple[ItemChange, ...] = ()
    item_count: int | None = None
    """A delete: how many items the Akinon collection holds (they go with it)."""


@dataclass(frozen=True, slots=True)
class Existing:
    """A store collection never mapped whose name Akinon already has, unmapped."""

    source_id: str
    source_slug: str
    name: str
    akinon_pks: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NotCarried:
    """Something in the store that will not reach Akinon, and why."""

    kind: str
    """``unresolved_product``, ``rejected_record`` or ``dropped_field``."""
    record: str
    reason: str


@dataclass(slots=True)
class DiffReport:
    generated_at: str
    source_url: str
    target_url: str
    mode: str = "sync --full"
    """The command whose plan this is (``sync --full``, ``sync --full --mirror``, ``rollback``)."""
    guard: str | None = None
    """Deletions against ``--max-deletes``: ``3 deletions; the guard allows 2 ...``."""
    refused: bool = False
    """The guard refuses the plan: the command of this mode would change nothing."""
    gone_from_store: int = 0
    """Mapped collections the store no longer has, which this mode leaves on Akinon."""
    existing: list[Existing] = field(default_factory=list)
    """Store collections never mapped whose names Akinon already has (unmapped)."""
    stop: str | None = None
    """Why the command of this mode would stop before any write (nothing would change)."""
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    not_carried: list[NotCarried] = field(default_factory=list)
    dropped_fields: Counter[str] = field(default_factory=Counter)
    """Source field name -> how many collections have a value Akinon cannot hold."""

    @property
    def summary(self) -> dict[str, int]:
        """Collections per action and per origin, items added and removed, and the rest."""
        counts = dict.fromkeys((*CHANGE_ACTIONS, *ORIGINS, "items_added", "items_removed"), 0)
        for change in self.changes:
            counts[change.action] += 1
            counts[change.origin] += 1
            counts["items_added"] += len(change.items_added)
            counts["items_removed"] += len(change.items_removed)
        counts["unchanged"] = self.unchanged
        counts["not_carried"] = len(self.not_carried)
        counts["existing"] = len(self.existing)
        return counts

    @property
    def has_changes(self) -> bool:
        """Anything the command of this mode would change, or would be stopped by."""
        return bool(self.changes or self.existing or self.stop)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "generated_at": self.generated_at,
            "source": self.source_url,
            "target": self.target_url,
            "mode": self.mode,
            "guard": {"text": self.guard, "refused": self.refused} if self.guard else None,
            "gone_from_store": self.gone_from_store,
            "existing": [asdict(e) for e in self.existing],
            "stop": self.stop,
            "summary": self.summary,
            "changes": [asdict(c) for c in self.changes],
            "not_carried": [asdict(n) for n in self.not_carried],
            "dropped_fields": dict(sorted(self.dropped_fields.items())),
        }


def change_of(plan: CollectionPlan, actual: ActualCollection | None) -> Change | None:
    """The report entry for one collection's plan (``None`` when nothing would change)."""
    change = plan.change
    if change is None:
        return None
    desired = plan.desired
    ops = plan.operations
    fields: tuple[FieldChange, ...]
    if change in (Action.CREATE, Action.RECREATE):
        fields = (
            FieldChange("name", None, desired.name),
            FieldChange("status", None, desired.status),
        )
    else:
        fields = tuple(
            FieldChange(name, old, new)
            for op in ops
            if op.action is Action.UPDATE
            for name, old, new in (
                ("name", op.old_name, op.name),
                ("status", op.old_status, op.status),
            )
            if old != new
        )
    removed = tuple(
        ItemChange(op.sku, op.product_pk or 0, op.note)
        for op in ops
        if op.action is Action.REMOVE_ITEM
    )
    added = tuple(
        ItemChange(op.sku, op.product_pk or 0, op.note)
        for op in ops
        if op.action is Action.ADD_ITEM
    )
    pk, slug = (actual.pk, actual.slug) if actual and change is Action.UPDATE else (None, None)
    if change is Action.ADOPT:  # the collection it is mapped to
        pk, slug = ops[0].akinon_pk, ops[0].akinon_slug
    return Change(
        action=change.value,
        origin=ops[0].origin.value,
        source_id=desired.source_id,
        source_slug=desired.source_slug,
        name=desired.name,
        akinon_pk=pk,
        akinon_slug=slug,
        fields=fields,
        items_added=added,
        items_removed=removed,
    )


def deletion_of(op: Operation) -> Change:
    """The report entry for a collection to delete."""
    return Change(
        action="delete",
        origin=op.origin.value,
        source_id=op.source_id,
        source_slug=op.source_slug or "",
        name=op.name or "",
        akinon_pk=op.akinon_pk,
        akinon_slug=op.akinon_slug,
        item_count=op.item_count,
    )


def sorted_changes(changes: Iterable[Change]) -> list[Change]:
    order = {action: n for n, action in enumerate(CHANGE_ACTIONS)}
    return sorted(changes, key=lambda c: (order.get(c.action, 9), c.source_slug, c.source_id))

"""The one planner: desired state vs what collsync mapped and what Akinon holds -> a plan.

Every command that writes is a :class:`Mode` of it; ``diff`` and ``--dry-run`` render the plan of
a mode, the command of that mode executes exactly that plan. Per collection:

- never mapped -> create, then add every item;
- mapped but gone from Akinon -> recreate (drift: someone deleted it);
- name or status differ -> update;
- items: add what is missing; a changed note is remove + add (Akinon has no item update);
  remove what the store no longer lists: the items collsync added (every mode), and with
  ``--mirror`` also items someone else added.

Deletions: ``--mirror`` deletes the mapped collections gone from the store, ``rollback`` those
collsync created; never a collection collsync did not map. A mapped collection already gone
from Akinon is only forgotten. Every change is labelled: ``source`` when the store changed since
collsync last synced the collection (or never did), ``drift`` when it did not and Akinon
differs all the same, ``rollback`` when collsync undoes its own work.

Pure: no I/O. What the planner reads comes through :class:`PlanInputs`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from collsync.pipeline.models import Action, CollectionPlan, Mapping, Operation, Origin

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Iterable

    from collsync.pipeline.models import ActualCollection, Candidate, DesiredCollection

Removals = Literal["ours", "all"]
"""Items the store no longer lists that are removed: those collsync added, or ``all``."""
Deletes = Literal["none", "gone", "created"]
"""Collections deleted: none, the mapped ones gone from the store, or those collsync created."""
Existing = Literal["report", "adopt", "duplicate"]
"""A never-mapped store collection whose name an unmapped Akinon collection has: reported as a
conflict, adopted (mapped to it), or created anyway."""
EXISTING_FLAGS: dict[Existing, str] = {
    "report": "",
    "adopt": "--adopt-existing",
    "duplicate": "--allow-duplicates",
}


@dataclass(frozen=True, slots=True)
class Mode:
    """What a command does, as the planner sees it."""

    name: str
    """As the user typed it: ``migrate``, ``sync --full --mirror``, ``rollback --run 3``..."""
    removals: Removals = "ours"
    deletes: Deletes = "none"
    collections: bool = True
    """Plan the store's collections (``rollback`` plans deletions only)."""
    run: int | None = None
    """``rollback --run N``: only what run N created."""
    existing: Existing = "report"

    @property
    def mirror(self) -> bool:
        return self.deletes == "gone"

    def taking(self, existing: Existing) -> Mode:
        """This mode, doing ``existing`` with collections already on Akinon, unmapped."""
        if existing == self.existing:
            return self
        return dataclasses.replace(
            self, name=f"{self.name} {EXISTING_FLAGS[existing]}".strip(), existing=existing
        )


MIGRATE = Mode("migrate")
SYNC = Mode("sync")
SYNC_FULL = Mode("sync --full")
SYNC_MIRROR = Mode("sync --full --mirror", removals="all", deletes="gone")


def rollback(run: int | None = None) -> Mode:
    name = "rollback" if run is None else f"rollback --run {run}"
    return Mode(name, deletes="created", collections=False, run=run)


def mode_named(name: str) -> Mode:
    """The mode a saved plan names."""
    for existing, flag in EXISTING_FLAGS.items():
        if flag and name.endswith(f" {flag}"):
            return mode_named(name.removesuffix(f" {flag}")).taking(existing)
    for mode in (MIGRATE, SYNC, SYNC_FULL, SYNC_MIRROR):
        if mode.name == name:
            return mode
    if name == "rollback":
        return rollback()
    if name.startswith("rollback --run ") and name.rsplit(" ", 1)[1].isdigit():
        return rollback(int(name.rsplit(" ", 1)[1]))
    raise ValueError(f"unknown mode {name!r}")


@dataclass(frozen=True, slots=True)
class DeleteGuard:
    """``--max-deletes``, judged on the plan before the first write."""

    setting: str
    """As configured: a count (``10``) or a percentage of the mapped collections (``5%``)."""
    allowed: int
    mapped: int
    store_empty: bool = False
    """The store answered with no collections while some are mapped: a store fault."""
    store_incomplete: bool = False
    """The store's count did not match what was read: what was not read may still exist."""

    def describe(self, deletions: int) -> str:
        """``3 deletions; the guard allows 2 (--max-deletes 10 of 40 mapped)``."""
        noun = "deletion" if deletions == 1 else "deletions"
        return (
            f"{deletions} {noun}; the guard allows {self.allowed} "
            f"(--max-deletes {self.setting} of {self.mapped} mapped)"
        )

    def refusal(self, deletions: int) -> str | None:
        """Why the plan may not run, or None."""
        if self.store_empty and self.mapped:
            return (
                f"the store answered with no collections while {self.mapped} are mapped; "
                "treated as a store fault"
            )
        if self.store_incomplete and deletions:
            return (
                f"{deletions} deletions, but the store's count did not match what was read "
                "(it changed during the scan), so they may still exist there; run again"
            )
        if deletions > self.allowed:
            return self.describe(deletions)
        return None


@dataclass(frozen=True, slots=True)
class Plan:
    """A mode's operations: the deletions, known before the first write, and the store's
    collections, streamed one at a time (a store of any size plans in flat memory)."""

    mode: Mode
    deletions: tuple[Operation, ...]
    forgotten: tuple[Mapping, ...]
    """To delete, but already gone from Akinon: the id map forgets them; no request."""
    collections: Iterable[CollectionPlan]
    guard: DeleteGuard | None = None

    @property
    def refusal(self) -> str | None:
        return None if self.guard is None else self.guard.refusal(len(self.deletions))


class PlanInputs(Protocol):
    """What the planner reads: the desired collections with their mapping and Akinon copy, and
    the mapped collections a mode may delete."""

    def collections(self) -> Iterable[Candidate]: ...

    def deletion_candidates(
        self, mode: Mode
    ) -> Iterable[tuple[Mapping, ActualCollection | None]]: ...


def plan(mode: Mode, inputs: PlanInputs, guard: DeleteGuard | None = None) -> Plan:
    """The plan of ``mode``."""
    origin = Origin.ROLLBACK if mode.deletes == "created" else Origin.SOURCE
    deletions: list[Operation] = []
    forgotten: list[Mapping] = []
    if mode.deletes != "none":
        for mapping, actual in inputs.deletion_candidates(mode):
            if actual is None:
                forgotten.append(mapping)
            else:
                deletions.append(plan_deletion(mapping, actual, origin))
    collections: Iterable[CollectionPlan] = ()
    if mode.collections:
        collections = (plan_candidate(c, mode) for c in inputs.collections())
    return Plan(
        mode,
        tuple(deletions),
        tuple(forgotten),
        collections,
        guard if mode.mirror else None,
    )


def plan_candidate(candidate: Candidate, mode: Mode) -> CollectionPlan:
    """A store collection's plan in ``mode``; one never mapped whose name Akinon already has
    (unmapped) is reported, adopted or created as the mode says."""
    desired, namesakes = candidate.desired, candidate.namesakes
    if candidate.mapping is not None or not namesakes or mode.existing == "duplicate":
        return plan_collection(desired, candidate.mapping, candidate.actual, removals=mode.removals)
    if mode.existing == "report" or len(namesakes) > 1 or candidate.rivals:  # never a guess
        return CollectionPlan(desired, (), existing=tuple(n.pk for n in namesakes))
    [there] = namesakes
    adopt = Operation(
        Action.ADOPT,
        desired.source_id,
        Origin.SOURCE,
        akinon_pk=there.pk,
        name=there.name,
        source_slug=desired.source_slug,
        akinon_slug=there.slug,
        item_count=len(there.items),
    )
    # Its items are nobody's that collsync knows of: none is removed unless by --mirror.
    rest = plan_collection(
        desired, Mapping(desired.source_id, there.pk), there, removals=mode.removals
    )
    return CollectionPlan(desired, (adopt, *rest.operations))


def plan_deletion(mapping: Mapping, actual: ActualCollection, origin: Origin) -> Operation:
    return Operation(
        Action.DELETE,
        mapping.source_id,
        origin,
        akinon_pk=actual.pk,
        name=actual.name,
        source_slug=mapping.source_slug,
        akinon_slug=actual.slug,
        item_count=len(actual.items),
    )


def plan_collection(
    desired: DesiredCollection,
    mapping: Mapping | None,
    actual: ActualCollection | None,
    *,
    removals: Removals = "ours",
) -> CollectionPlan:
    sid = desired.source_id
    if mapping is None or actual is None:
        action, origin = (
            (Action.CREATE, Origin.SOURCE) if mapping is None else (Action.RECREATE, Origin.DRIFT)
        )
        created = [Operation(action, sid, origin, name=desired.name, status=desired.status)]
        created += [
            Operation(Action.ADD_ITEM, sid, origin, product_pk=i.product_pk, sku=i.sku, note=i.note)
            for i in desired.items
        ]
        return CollectionPlan(desired, tuple(created))

    source_changed = mapping.synced_hash != desired.content_hash
    origin = Origin.SOURCE if source_changed else Origin.DRIFT
    ops: list[Operation] = []
    if actual.name != desired.name or actual.status != desired.status:
        ops.append(
            Operation(
                Action.UPDATE,
                sid,
                origin,
                akinon_pk=actual.pk,
                name=desired.name,
                status=desired.status,
                old_name=actual.name,
                old_status=actual.status,
            )
        )
    present = {i.product_pk: i for i in actual.items}
    wanted = {i.product_pk: i for i in desired.items}
    for product_pk, item in sorted(present.items()):
        want = wanted.get(product_pk)
        if want is None and removals == "ours" and product_pk not in mapping.items:
            continue  # someone else's item: only --mirror removes it
        if want is None and item.sku is not None and item.sku in desired.uncertain_skus:
            continue  # the store may still list it: its product is just not known this run
        if want is None or want.note != item.note:
            ops.append(
                Operation(
                    Action.REMOVE_ITEM,
                    sid,
                    origin,
                    akinon_pk=actual.pk,
                    product_pk=product_pk,
                    sku=want.sku if want else item.sku,
                    item_pk=item.item_pk,
                    note=item.note,
                )
            )
    for product_pk, want in sorted(wanted.items()):
        there = present.get(product_pk)
        if there is None or there.note != want.note:
            ops.append(
                Operation(
                    Action.ADD_ITEM,
                    sid,
                    origin,
                    akinon_pk=actual.pk,
                    product_pk=product_pk,
                    sku=want.sku,
                    note=want.note,
                )
            )
    return CollectionPlan(desired, tuple(ops))


def tally(counts: Counter[str], collection: CollectionPlan) -> None:
    """Add a collection's plan to per-action counts, with the names the diff uses: the change
    (``create``, ``recreate``, ``update``), ``items_added`` and ``items_removed``."""
    change = collection.change
    if change is not None:
        counts[change.value] += 1
    counts["items_added"] += collection.count(Action.ADD_ITEM)
    counts["items_removed"] += collection.count(Action.REMOVE_ITEM)

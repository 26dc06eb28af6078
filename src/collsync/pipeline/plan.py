"""Pure plan: desired state vs what collsync mapped and what Akinon holds -> operations.

For one collection at a time, so a store of any size streams through it:

- never mapped -> create, then add every item;
- mapped but gone from Akinon -> create again (drift: someone deleted it);
- name or status differ -> update;
- items: add what is missing; a changed note is remove + add (Akinon has no item update);
  remove items collsync added that the source no longer lists, and with ``mirror`` also items
  someone else added.

Every change is labelled: ``source`` when the store changed since collsync last synced the
collection (or never did), ``drift`` when the store did not and Akinon differs all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from collsync.pipeline.models import Action, CollectionPlan, Operation, Origin

Removals = Literal["none", "ours", "all"]

if TYPE_CHECKING:
    from collsync.pipeline.models import ActualCollection, DesiredCollection, Mapping


def plan_collection(
    desired: DesiredCollection,
    mapping: Mapping | None,
    actual: ActualCollection | None,
    *,
    mirror: bool = False,
    removals: Removals = "ours",
) -> CollectionPlan:
    """``removals``: which items the source no longer lists are removed: ``none``, the ones
    collsync added (``ours``), or ``all`` (also implied by ``mirror``)."""
    sid = desired.source_id
    if mapping is None or actual is None:
        origin = Origin.SOURCE if mapping is None else Origin.DRIFT
        created = [Operation(Action.CREATE, sid, origin, name=desired.name, status=desired.status)]
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
    policy: Removals = "all" if mirror else removals
    present = {i.product_pk: i for i in actual.items}
    wanted = {i.product_pk: i for i in desired.items}
    for product_pk, item in sorted(present.items()):
        want = wanted.get(product_pk)
        ours = product_pk in mapping.items
        if want is None and (policy == "none" or (policy == "ours" and not ours)):
            continue  # not to be removed: someone else's item, or removals are off
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

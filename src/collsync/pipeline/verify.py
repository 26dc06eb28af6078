"""Verify: after a run writes, read back what it touched and compare it with the desired state.

The collections a run changed are read again from Akinon (each one when they are fewer than the
account's pages, otherwise the account's pages) and planned again with the run's own rules: a
collection that still has an operation left is a named failure (stage ``verify``), tried again
by the next sync. A deleted collection must be gone. A run that wrote nothing reads nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collsync.errors import NotFoundError, ServiceError
from collsync.logging import get_logger
from collsync.pipeline.extract import NoProgress
from collsync.pipeline.inputs import mapped
from collsync.pipeline.models import Action, Failure
from collsync.pipeline.plan import plan_collection
from collsync.pipeline.read_back import ReadBack, actual_of

if TYPE_CHECKING:
    from collsync.pipeline.failure_log import FailureLog
    from collsync.pipeline.inputs import StateInputs
    from collsync.pipeline.models import CollectionPlan
    from collsync.pipeline.plan import Removals
    from collsync.state import State
    from collsync.target import AkinonClient

log = get_logger("collsync.verify")


@dataclass(frozen=True, slots=True)
class Verification:
    collections: int
    of_collections: int
    items: int
    of_items: int

    @property
    def line(self) -> str:
        return (
            f"verified {self.collections} of {self.of_collections} collections, "
            f"{self.items} of {self.of_items} items"
        )

    @property
    def complete(self) -> bool:
        return (self.collections, self.items) == (self.of_collections, self.of_items)


async def verify(
    akinon: AkinonClient,
    state: State,
    inputs: StateInputs,
    failures: FailureLog,
    *,
    touched: set[str],
    deleted: dict[int, str],
    removals: Removals,
) -> Verification:
    if not touched and not deleted:
        return Verification(0, 0, 0, 0)
    pks = {e.akinon_pk: sid for sid in sorted(touched) if (e := state.ids.get(sid)) is not None}
    checked = len(touched) + len(deleted)
    unread = await _read_again(akinon, state, {**pks, **deleted}, failures)
    touched = touched - unread
    collections = items = of_items = 0
    for sid in sorted(touched):
        desired = inputs.desired_of(sid)
        mapping = mapped(state, sid)
        if desired is None or mapping is None:
            continue  # changed under the run (the store, or a failure): the next run sees it
        of_items += len(desired.items)
        actual = state.readback.get(mapping.akinon_pk)
        left = plan_collection(desired, mapping, actual, removals=removals)
        if actual is not None:
            held = {(i.product_pk, i.note) for i in actual.items}
            items += sum((i.product_pk, i.note) in held for i in desired.items)
        if left.unchanged:
            collections += 1
            continue
        failures.record(
            Failure(
                sid,
                "verify",
                "mismatch",
                f"collection {desired.source_slug} (Akinon pk {mapping.akinon_pk}) does not "
                f"match the store after the run: {_what_differs(left)}",
            )
        )
    for pk, sid in sorted(deleted.items()):
        if sid in unread:
            continue
        if state.readback.get(pk) is None:
            collections += 1
        else:
            failures.record(
                Failure(
                    sid, "verify", "mismatch", f"Akinon pk {pk} is still there after its delete"
                )
            )
    result = Verification(collections, checked, items, of_items)
    log.info("collsync.verify.done", **dataclasses.asdict(result))
    return result


async def _read_again(
    akinon: AkinonClient, state: State, pks: dict[int, str], failures: FailureLog
) -> set[str]:
    """Refresh the read-back copy of ``pks`` (Akinon pk -> source id): one GET each when that
    is fewer requests than reading the account's pages again. A collection that cannot be read
    is a failure of its own, and its source id is returned (unverified, not mismatched)."""
    pages = math.ceil(max(1, state.readback.count()) / max(1, akinon.page_size))
    if len(pks) > pages:
        reading = ReadBack(akinon, NoProgress())
        try:
            await reading.save(state)
        except ServiceError as exc:
            for sid in pks.values():
                failures.record(_unread(sid, exc))
            return set(pks.values())
        finally:
            await reading.close()
        return set()

    async def one(pk: int, sid: str) -> str | None:
        try:
            state.readback.replace(actual_of(await akinon.get_collection(pk)))
        except NotFoundError:
            state.readback.remove(pk)
        except ServiceError as exc:
            failures.record(_unread(sid, exc))
            return sid
        return None

    unread = await asyncio.gather(*(one(pk, sid) for pk, sid in pks.items()))
    return {sid for sid in unread if sid is not None}


def _unread(source_id: str, exc: ServiceError) -> Failure:
    return Failure(
        source_id, "verify", "unverified", f"could not be read back after the run: {exc}"
    )


def _what_differs(plan: CollectionPlan) -> str:
    parts = []
    if plan.change in (Action.CREATE, Action.RECREATE):
        return "it is missing on Akinon"
    for op in plan.operations:
        if op.action is Action.UPDATE:
            parts.append(
                f"name/status {op.old_name!r}/{op.old_status} instead of {op.name!r}/{op.status}"
            )
    added, removed = plan.count(Action.ADD_ITEM), plan.count(Action.REMOVE_ITEM)
    if added:
        parts.append(f"{added} item(s) missing")
    if removed:
        parts.append(f"{removed} item(s) that should not be there")
    return "; ".join(parts)

"""Settle the journal intents an earlier run left open, by reading Akinon, before planning.

An open intent is a call that may or may not have reached Akinon (a crash, a lost answer):

- create: the account's collection with exactly that name that no other source collection is
  mapped to is adopted; none -> the intent is abandoned (the plan creates it again); several ->
  a conflict for a person to settle, and the record is left alone;
- add_item: the product in the collection -> adopted; absent -> abandoned;
- remove_item, delete: gone from Akinon -> done; still there -> abandoned (the plan decides
  again whether to send it);
- update: superseded: the plan compares the read-back with the desired state again.

The read-back answers most of them; an absence is confirmed by asking Akinon directly before
an intent is abandoned and its call possibly sent again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collsync.errors import NotFoundError, RecordFailed, ServiceError
from collsync.logging import get_logger
from collsync.pipeline.models import Failure
from collsync.pipeline.read_back import actual_of
from collsync.state import Outcome, Write

if TYPE_CHECKING:
    from collsync.pipeline.failure_log import FailureLog
    from collsync.pipeline.models import ActualCollection, ActualItem
    from collsync.state import JournalEntry, State
    from collsync.target import AkinonClient

log = get_logger("collsync.resolve")


def conflict(source_id: str, name: str, candidates: list[int]) -> Failure:
    pks = ", ".join(str(pk) for pk in candidates)
    return Failure(
        source_id,
        "load",
        "conflict",
        f"a create of {name!r} may have succeeded, and Akinon has {len(candidates)} collections "
        f"of that name made since it was sent (pk {pks}) that no store collection is mapped to; "
        "check them on Akinon, delete the copies collsync made twice, and run again",
    )


def create_payload(
    name: str, status: str, source_slug: str, *, existing: list[int], replaces: int | None
) -> dict[str, Any]:
    """What a create intent records: enough to tell, after a lost answer, which collection of
    that name (if any) the create made. ``existing``: the account's collections of that name
    before it was sent (never adopted); ``replaces``: the mapped collection it re-creates."""
    return {
        "name": name,
        "status": status,
        "source_slug": source_slug,
        "existing": existing,
        "replaces": replaces,
    }


def adoptable(payload: dict[str, Any], named: list[int], mapped_elsewhere: set[int]) -> list[int]:
    """Of the account's collections with the intent's name, those its create may have made:
    not there before it was sent, and mapped to no other store collection."""
    before = set(payload.get("existing") or ()) | {payload.get("replaces")}
    return sorted(pk for pk in named if pk not in before and pk not in mapped_elsewhere)


class IntentResolver:
    def __init__(
        self, akinon: AkinonClient, state: State, failures: FailureLog, owner: str | None
    ) -> None:
        self.akinon = akinon
        self.state = state
        self.failures = failures
        self.owner = owner
        self.adopted = 0
        self._fetched: dict[int, ActualCollection | None] = {}  # one GET per collection

    async def resolve_all(self) -> frozenset[str]:
        """Settle every open intent; the source ids still blocked (left out of the plan)."""
        blocked: set[str] = set()
        for entry in self.state.journal.open_intents():
            try:
                if not await self._resolve(entry):
                    blocked.add(entry.source_id)
            except RecordFailed as exc:
                blocked.add(entry.source_id)
                self.failures.record(Failure(entry.source_id, exc.stage, exc.kind, exc.reason))
            except ServiceError as exc:  # cannot tell now: keep the intent, skip the record
                blocked.add(entry.source_id)
                self.failures.record(
                    Failure(
                        entry.source_id,
                        "load",
                        "unresolved_intent",
                        f"could not check an earlier unanswered call: {exc}",
                    )
                )
        return frozenset(blocked)

    async def _resolve(self, entry: JournalEntry) -> bool:
        if entry.operation is Write.CREATE:
            return await self._create(entry)
        if entry.operation is Write.ADD_ITEM:
            await self._add_item(entry)
        elif entry.operation is Write.REMOVE_ITEM:
            await self._remove_item(entry)
        elif entry.operation is Write.DELETE:
            await self._delete(entry)
        else:
            self.state.journal.close(entry.id, Outcome.SUPERSEDED)
        return True

    async def _collection(self, pk: int) -> ActualCollection | None:
        """The collection as Akinon holds it now (None: gone), asked once per run."""
        if pk not in self._fetched:
            try:
                self._fetched[pk] = actual_of(await self.akinon.get_collection(pk))
            except NotFoundError:
                self._fetched[pk] = None
        return self._fetched[pk]

    async def _create(self, entry: JournalEntry) -> bool:
        name = str(entry.payload["name"])
        mapped = self.state.ids.get(entry.source_id)
        if mapped is not None and mapped.akinon_pk != entry.payload.get("replaces"):
            self.state.journal.close(entry.id, Outcome.SUPERSEDED)  # mapped since, another way
            return True
        elsewhere = self.state.ids.pks(excluding=entry.source_id)
        candidates = adoptable(entry.payload, self.state.readback.pks_named(name), elsewhere)
        if not candidates:  # the read-back may have missed it: ask
            found = [c for c in await self.akinon.list_collections(search=name) if c.name == name]
            candidates = adoptable(entry.payload, [c.pk for c in found], elsewhere)
            for collection in found:
                if collection.pk in candidates:
                    self.state.readback.replace(actual_of(collection))
        if len(candidates) > 1:
            self.failures.record(conflict(entry.source_id, name, candidates))
            return False
        if not candidates:
            self.state.journal.close(entry.id, Outcome.ABANDONED)
            return True
        target = self.state.readback.get(candidates[0])
        assert target is not None
        with self.state.transaction():
            self.state.ids.map_collection(
                entry.source_id,
                str(entry.payload.get("source_slug") or ""),
                pk=target.pk,
                slug=target.slug,
                public_url=target.public_url,
                owner=self.owner,
                created_run=entry.run_id,
            )
            self.state.journal.close(entry.id, Outcome.ADOPTED, {"pk": target.pk})
        self.adopted += 1
        log.info("collsync.resolve.collection_adopted", source_id=entry.source_id, pk=target.pk)
        return True

    async def _add_item(self, entry: JournalEntry) -> None:
        collection_pk = int(entry.payload["collection_pk"])
        product_pk = int(entry.payload["product_pk"])
        target = self.state.readback.get(collection_pk)
        found = _item(target, product_pk)
        if found is None and target is not None:  # confirm the absence with Akinon itself
            found = _item(await self._collection(collection_pk), product_pk)
        if found is None:
            self.state.journal.close(entry.id, Outcome.ABANDONED)
            return
        with self.state.transaction():
            self.state.ids.map_item(entry.source_id, product_pk, found.item_pk, found.note)
            self.state.journal.close(entry.id, Outcome.ADOPTED, {"pk": found.item_pk})
        self.adopted += 1

    async def _remove_item(self, entry: JournalEntry) -> None:
        collection_pk, item_pk = int(entry.payload["collection_pk"]), int(entry.payload["item_pk"])
        target = self.state.readback.get(collection_pk)
        if target is None:  # the read-back may have missed the collection: ask
            target = await self._collection(collection_pk)
        there = target is not None and any(i.item_pk == item_pk for i in target.items)
        if there:
            self.state.journal.close(entry.id, Outcome.ABANDONED)
            return
        with self.state.transaction():
            if entry.product_pk is not None:
                self.state.ids.unmap_item(entry.source_id, entry.product_pk)
            self.state.journal.close(entry.id, Outcome.ADOPTED)

    async def _delete(self, entry: JournalEntry) -> None:
        pk = int(entry.payload["akinon_pk"])
        if self.state.readback.get(pk) is not None or await self._collection(pk) is not None:
            self.state.journal.close(entry.id, Outcome.ABANDONED)
            return
        with self.state.transaction():
            mapped = self.state.ids.get(entry.source_id)
            if mapped is not None and mapped.akinon_pk == pk:
                self.state.ids.unmap(entry.source_id)
            self.state.journal.close(entry.id, Outcome.ADOPTED)
        log.info("collsync.resolve.deletion_confirmed", source_id=entry.source_id, pk=pk)


def _item(collection: ActualCollection | None, product_pk: int) -> ActualItem | None:
    if collection is None:
        return None
    return next((i for i in collection.items if i.product_pk == product_pk), None)

"""Load: apply a collection's plan to Akinon, every non-idempotent call journaled.

Create and add-item are plain POSTs with no idempotency key, so each one is:

1. an ``intent`` committed to the journal before it is sent;
2. sent;
3. on an answer, the map row and the journal confirmation committed in one transaction (a
   collection's item confirmations together, with its synced content, once its items are
   answered: until then their intents stay open, and a crash leaves them to be resolved like
   any other);
   on a clean rejection, the intent is closed as ``failed``;
4. on an unknown outcome (timeout, dropped connection, 5xx, or a crash), resolved by reading
   Akinon before anything is sent again: adopt what the lost answer created, resend only when
   nothing is there, and for several candidates record a conflict instead of guessing.

Intents left open by a crashed run are resolved the same way, from the read-back, before planning.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import TYPE_CHECKING, Any

from collsync.errors import (
    NotFoundError,
    OutcomeUnknownError,
    RejectedError,
    ServiceError,
)
from collsync.logging import get_logger
from collsync.pipeline.models import (
    Action,
    ActualCollection,
    ActualItem,
    CollectionPlan,
    Mapping,
    Operation,
    Origin,
)
from collsync.pipeline.plan import plan_collection
from collsync.state import ItemConfirmation
from collsync.target import AlreadyInCollectionError

if TYPE_CHECKING:
    from collsync.state import JournalEntry, State
    from collsync.target import AkinonClient, Collection

log = get_logger("collsync.load")

RESEND_LIMIT = 3


class RecordFailed(Exception):
    """A record could not be loaded; caught in :meth:`Loader.apply` and recorded."""

    def __init__(self, stage: str, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.stage, self.kind, self.reason = stage, kind, reason


class Loader:
    """Applies plans for one run; safe to use from many tasks at once."""

    def __init__(self, akinon: AkinonClient, state: State, run_id: int, owner: str | None) -> None:
        self.akinon = akinon
        self.state = state
        self.run_id = run_id
        self.owner = owner
        self.counts: Counter[str] = Counter()

    # -- intents left by an earlier run ---------------------------------------------------------

    async def resolve_open_intents(self) -> set[str]:
        """Settle intents a crashed run left open; returns the source ids still blocked.

        The read-back answers most of them; an absence is confirmed by asking Akinon directly
        before an intent is abandoned (and its call may be sent again).
        """
        blocked: set[str] = set()
        fetched: dict[int, dict[int, tuple[int, str]]] = {}  # one GET per collection, not item
        for entry in self.state.open_intents():
            try:
                if entry.operation == "create":
                    if not await self._resolve_create_intent(entry):
                        blocked.add(entry.source_id)
                elif entry.operation == "add_item":
                    await self._resolve_item_intent(entry, fetched)
            except ServiceError as exc:  # cannot tell now: keep the intent, skip the record
                blocked.add(entry.source_id)
                self.state.record_failure(
                    entry.source_id,
                    "load",
                    "unresolved_intent",
                    f"could not check an earlier unanswered call: {exc}",
                    run_id=self.run_id,
                )
        return blocked

    async def _resolve_create_intent(self, entry: JournalEntry) -> bool:
        name = str(entry.payload["name"])
        if self.state.mapped(entry.source_id) is not None:
            self._close(entry.id, "superseded")
            return True
        candidates = self.state.unmapped_target_named(name, entry.source_id)
        if not candidates:  # the read-back may have missed it: ask
            found = await self.akinon.list_collections(search=name)
            mapped = self.state.mapped_pks(excluding=entry.source_id)
            candidates = [c.pk for c in found if c.name == name and c.pk not in mapped]
            for collection in found:
                if collection.pk in candidates:
                    self.state.upsert_target(collection)
        if len(candidates) > 1:
            self._conflict(entry.source_id, name, candidates)
            return False
        if not candidates:
            self._close(entry.id, "abandoned")  # nothing was created: the plan sends it again
            return True
        target = self.state.target_collection(candidates[0])
        assert target is not None
        with self.state.transaction() as conn:
            self.state.map_collection(
                conn,
                source_id=entry.source_id,
                source_slug=str(entry.payload.get("source_slug") or ""),
                pk=target["pk"],
                slug=target["slug"],
                public_url=target["public_url"],
                owner=self.owner,
            )
            self.state.journal_close(conn, entry.id, "adopted", {"pk": target["pk"]})
        self.counts["adopted"] += 1
        log.info(
            "collsync.load.collection_adopted", source_id=entry.source_id, akinon_pk=target["pk"]
        )
        return True

    async def _resolve_item_intent(
        self, entry: JournalEntry, fetched: dict[int, dict[int, tuple[int, str]]]
    ) -> None:
        collection_pk = int(entry.payload["collection_pk"])
        product_pk = int(entry.payload["product_pk"])
        target = self.state.target_collection(collection_pk)
        found = [
            (int(i[0]), str(i[2])) for i in (target or {}).get("items", []) if i[1] == product_pk
        ]
        if not found and target is not None:  # confirm the absence with Akinon itself
            if collection_pk not in fetched:
                try:
                    fetched[collection_pk] = await self._items_of(collection_pk)
                except NotFoundError:
                    fetched[collection_pk] = {}
            present = fetched[collection_pk].get(product_pk)
            found = [present] if present else []
        if not found:
            self._close(entry.id, "abandoned")
            return
        with self.state.transaction() as conn:
            self.state.map_item(conn, entry.source_id, product_pk, found[0][0], found[0][1])
            self.state.journal_close(conn, entry.id, "adopted", {"pk": found[0][0]})
        self.counts["adopted"] += 1

    def _close(self, entry_id: int, outcome: str, result: Any = None) -> None:
        with self.state.transaction() as conn:
            self.state.journal_close(conn, entry_id, outcome, result)

    def _conflict(self, source_id: str, name: str, candidates: list[int]) -> None:
        pks = ", ".join(str(pk) for pk in candidates)
        self.state.record_failure(
            source_id,
            "load",
            "conflict",
            f"a create of {name!r} may have succeeded, and Akinon has {len(candidates)} unmapped "
            f"collections with that name (pk {pks}); delete the extra ones on Akinon and run again",
            run_id=self.run_id,
        )

    # -- applying a plan ------------------------------------------------------------------------

    async def apply(self, plan: CollectionPlan) -> bool:
        """Apply one collection's plan; False if any part failed (and was recorded)."""
        desired = plan.desired
        sid = desired.source_id
        try:
            akinon_pk: int | None = None
            latest: Collection | None = None
            plan = await self._confirm_absence(plan)
            items = [op for op in plan.operations if op.action is Action.ADD_ITEM]
            for op in plan.operations:
                if op.action is Action.CREATE:
                    latest = await self._create(desired.source_id, desired.source_slug, op)
                    akinon_pk = latest.pk
                    self.counts["created"] += 1
                    if op.origin is Origin.DRIFT:
                        self.counts["recreated"] += 1  # deleted on Akinon since it was mapped
                elif op.action is Action.UPDATE:
                    assert op.akinon_pk is not None
                    latest = await self._update(op)
                    akinon_pk = op.akinon_pk
                elif op.action is Action.REMOVE_ITEM:
                    await self._remove_item(op)
            pk = akinon_pk if akinon_pk is not None else _pk_of(plan)
            confirmed: list[ItemConfirmation] = []
            if items and pk is not None:
                confirmed = await self._add_items(sid, pk, items)
        except RecordFailed as failure:
            self.counts["failed"] += 1
            self.state.record_failure(
                sid,
                failure.stage,
                failure.kind,
                failure.reason,
                raw={"name": desired.name},
                run_id=self.run_id,
            )
            return False
        except ServiceError as exc:
            self.counts["failed"] += 1
            self.state.record_failure(
                sid,
                "load",
                type(exc).__name__,
                str(exc),
                raw={"name": desired.name},
                run_id=self.run_id,
            )
            return False
        self.state.settle_collection(sid, desired.content_hash, latest, confirmed)
        if plan.unchanged:
            self.counts["unchanged"] += 1
        return True

    async def _confirm_absence(self, plan: CollectionPlan) -> CollectionPlan:
        """Before re-creating a mapped collection the read-back did not see, ask Akinon."""
        first = plan.operations[0] if plan.operations else None
        if first is None or first.action is not Action.CREATE or first.origin is not Origin.DRIFT:
            return plan
        entry = self.state.mapped(plan.desired.source_id)
        if entry is None:
            return plan
        try:
            existing = await self.akinon.get_collection(entry.akinon_pk)
        except NotFoundError:
            return plan  # really gone: create it again
        self.state.upsert_target(existing)
        actual = ActualCollection(
            pk=existing.pk,
            name=existing.name,
            slug=existing.slug,
            status=existing.status,
            public_url=existing.public_url,
            items=tuple(
                ActualItem(i.pk, i.product.pk, i.note or "", i.product.sku) for i in existing.items
            ),
        )
        mapping = Mapping(
            entry.akinon_pk, entry.synced_hash, self.state.items_mapped(plan.desired.source_id)
        )
        return plan_collection(plan.desired, mapping, actual)

    async def _create(self, source_id: str, source_slug: str, op: Operation) -> Collection:
        assert op.name is not None
        assert op.status is not None
        payload = {"name": op.name, "status": op.status, "source_slug": source_slug}
        for _attempt in range(RESEND_LIMIT):
            entry = self.state.journal_intent(self.run_id, "create", source_id, payload)
            try:
                created = await self.akinon.create_collection(op.name, op.status)
            except OutcomeUnknownError as exc:
                log.warning(
                    "collsync.load.create_outcome_unknown", source_id=source_id, error=str(exc)
                )
                adopted = await self._find_created(entry, source_id, op.name)
                if adopted is None:
                    continue  # nothing there: the intent is closed, send again
                created = adopted
                outcome = "adopted"
            except RejectedError as exc:
                self._close(entry, "failed", str(exc))
                raise RecordFailed(
                    "load", "rejected", f"Akinon refused to create {op.name!r}: {exc.reason}"
                ) from exc
            else:
                outcome = "confirmed"
            with self.state.transaction() as conn:
                self.state.map_collection(
                    conn,
                    source_id=source_id,
                    source_slug=source_slug,
                    pk=created.pk,
                    slug=created.slug,
                    public_url=created.public_url,
                    owner=self.owner,
                )
                self.state.journal_close(conn, entry, outcome, {"pk": created.pk})
                self.state.replace_target(conn, created)
            log.info(
                "collsync.load.collection_created",
                source_id=source_id,
                akinon_pk=created.pk,
                outcome=outcome,
            )
            return created
        raise RecordFailed(
            "load", "unknown_outcome", f"creating {op.name!r}: no answer after {RESEND_LIMIT} tries"
        )

    async def _find_created(self, entry: int, source_id: str, name: str) -> Collection | None:
        found = [c for c in await self.akinon.list_collections(search=name) if c.name == name]
        mapped = self.state.mapped_pks(excluding=source_id) if found else set()
        candidates = [c for c in found if c.pk not in mapped]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            self._close(entry, "abandoned")
            return None
        self._conflict(source_id, name, [c.pk for c in candidates])
        raise RecordFailed("load", "conflict", f"several unmapped collections named {name!r}")

    async def _update(self, op: Operation) -> Collection:
        assert op.akinon_pk is not None
        try:
            updated = await self.akinon.update_collection(
                op.akinon_pk, name=op.name, status=op.status
            )
        except RejectedError as exc:
            raise RecordFailed(
                "load", "rejected", f"Akinon refused to update pk {op.akinon_pk}: {exc.reason}"
            ) from exc
        self.counts["updated"] += 1
        return updated

    async def _remove_item(self, op: Operation) -> None:
        assert op.item_pk is not None
        assert op.product_pk is not None
        with contextlib.suppress(NotFoundError):  # already gone: the desired state holds
            await self.akinon.remove_item(op.item_pk)
        self.state.unmap_item(op.source_id, op.product_pk)
        self.counts["items_removed"] += 1

    async def _add_items(
        self, source_id: str, collection_pk: int, items: list[Operation]
    ) -> list[ItemConfirmation]:
        """Add a collection's items concurrently, their intents in one commit.

        The confirmations are returned, to be committed with the collection's own (one commit);
        if an item fails, or the run stops, those answered are committed here before it goes up.
        """
        entries = self.state.journal_intents(
            self.run_id,
            "add_item",
            source_id,
            [(_item_payload(collection_pk, op), op.product_pk) for op in items],
        )
        confirmed: list[ItemConfirmation] = []
        try:
            results = await asyncio.gather(
                *(
                    self._add_item(source_id, collection_pk, op, entry, confirmed)
                    for op, entry in zip(items, entries, strict=True)
                ),
                return_exceptions=True,
            )
        except BaseException:  # cancelled: keep what was answered
            self.state.confirm_items(source_id, confirmed)
            raise
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self.state.confirm_items(source_id, confirmed)
            raise errors[0]
        return confirmed

    async def _add_item(
        self,
        source_id: str,
        collection_pk: int,
        op: Operation,
        entry: int,
        confirmed: list[ItemConfirmation],
    ) -> None:
        assert op.product_pk is not None
        for attempt in range(RESEND_LIMIT):
            if attempt:
                entry = self.state.journal_intent(
                    self.run_id,
                    "add_item",
                    source_id,
                    _item_payload(collection_pk, op),
                    product_pk=op.product_pk,
                )
            try:
                item = await self.akinon.add_item(collection_pk, op.product_pk, op.note)
                item_pk, note, outcome = item.pk, item.note or "", "confirmed"
            except (OutcomeUnknownError, AlreadyInCollectionError) as exc:
                present = await self._item_present(collection_pk, op.product_pk)
                if present is None:
                    if isinstance(exc, AlreadyInCollectionError):
                        self._close(entry, "failed", str(exc))
                        raise RecordFailed("load", "rejected", str(exc)) from exc
                    self._close(entry, "abandoned")
                    continue
                item_pk, note = present
                outcome = "adopted"
            except RejectedError as exc:
                self._close(entry, "failed", str(exc))
                raise RecordFailed(
                    "load",
                    "rejected",
                    f"Akinon refused product {op.product_pk} (sku {op.sku}): {exc.reason}",
                ) from exc
            confirmed.append(ItemConfirmation(entry, op.product_pk, item_pk, note, outcome))
            self.counts["items_added"] += 1
            return
        raise RecordFailed(
            "load",
            "unknown_outcome",
            f"adding product {op.product_pk}: no answer after {RESEND_LIMIT} tries",
        )

    async def _item_present(self, collection_pk: int, product_pk: int) -> tuple[int, str] | None:
        return (await self._items_of(collection_pk)).get(product_pk)

    async def _items_of(self, collection_pk: int) -> dict[int, tuple[int, str]]:
        """Product pk -> (item pk, note) of the items Akinon holds in the collection."""
        collection = await self.akinon.get_collection(collection_pk)
        return {item.product.pk: (item.pk, item.note or "") for item in collection.items}


def _item_payload(collection_pk: int, op: Operation) -> dict[str, Any]:
    return {"collection_pk": collection_pk, "product_pk": op.product_pk, "note": op.note}


def _pk_of(plan: CollectionPlan) -> int | None:
    for op in plan.operations:
        if op.akinon_pk is not None:
            return op.akinon_pk
    return None

"""The one executor: a plan's operations sent to Akinon, every one of them journaled.

Each write is an ``intent`` committed before it is sent, and an outcome committed after, in
one transaction with the map row it produces. When an answer is lost (timeout, dropped
connection, 5xx on a write, a crash), Akinon is read before anything is sent again:

- create: the collection with that name no other source collection is mapped to is adopted;
  several are a conflict, never guessed between; none -> sent again;
- add_item: the product in the collection is adopted; absent -> sent again;
- remove_item, delete: gone -> done; still there -> sent again.

Nothing outside the plan is written. The delete guard is judged on the plan before the first
write. Collections run ``run.concurrency`` at a time; SIGTERM or SIGINT (``stop``) takes no new
work and lets what is in flight finish.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from collsync.errors import (
    DeleteGuardError,
    NotFoundError,
    OutcomeUnknownError,
    RecordFailed,
    RejectedError,
    ServiceError,
)
from collsync.logging import get_logger
from collsync.pipeline.models import Action, CollectionPlan, Failure, Mapping, Operation
from collsync.pipeline.plan import plan_collection, tally
from collsync.pipeline.read_back import actual_of
from collsync.pipeline.resolve import adoptable, conflict, create_payload
from collsync.state import Outcome, Write
from collsync.state.database import now_iso

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from collsync.pipeline.extract import Progress
    from collsync.pipeline.failure_log import FailureLog
    from collsync.pipeline.models import DesiredCollection
    from collsync.pipeline.plan import Plan, Removals
    from collsync.state import State
    from collsync.target import AkinonClient, Collection
    from collsync.values import Status

log = get_logger("collsync.execute")

RESEND_LIMIT = 3
"""Sends of one write whose answers were lost (each after reading Akinon) before giving up."""
STOP_GRACE = 30.0
"""Seconds in-flight work may take to finish after SIGTERM or SIGINT."""

Work = CollectionPlan | Operation | Mapping
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ItemConfirmation:
    """An answered add-item: the item Akinon holds, and the intent it closes."""

    entry_id: int
    product_pk: int
    item_pk: int
    note: str
    outcome: Outcome


class _Stopped(Exception):
    """SIGTERM or SIGINT came between two operations of a collection: it stops there."""


@dataclass(frozen=True, slots=True)
class Applied:
    """A collection's plan as carried out (after any correction the executor read)."""

    plan: CollectionPlan
    latest: Collection | None
    """Akinon's last answer describing the collection (a create or an update), if any."""
    confirmed: list[ItemConfirmation]


class Executor:
    """Executes one run's plan; :attr:`planned` and :attr:`done` count it by action."""

    def __init__(
        self,
        akinon: AkinonClient,
        state: State,
        failures: FailureLog,
        *,
        run_id: int,
        owner: str | None,
        concurrency: int,
        stop: asyncio.Event,
        progress: Progress,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        self.akinon = akinon
        self.state = state
        self.failures = failures
        self.run_id = run_id
        self.owner = owner
        self.concurrency = max(1, concurrency)
        self.stop = stop
        self.stop_grace = stop_grace
        self.progress = progress
        self.removals: Removals = "ours"
        self.planned: Counter[str] = Counter()
        self.done: Counter[str] = Counter()
        self.touched: set[str] = set()
        """Source ids whose changes were all applied (the verification reads them back)."""
        self.deleted: dict[int, str] = {}
        """Akinon pk -> source id of the collections deleted."""
        self._creating: dict[str, asyncio.Lock] = {}

    async def execute(self, plan: Plan) -> None:
        """Every operation of ``plan``, or none when its delete guard refuses it."""
        refusal = plan.refusal
        if refusal is not None:
            named = [op.source_slug or op.source_id for op in plan.deletions]
            shown = ", ".join(named[:5]) + (", ..." if len(named) > 5 else "")
            raise DeleteGuardError(
                f"{refusal}{f' ({shown})' if shown else ''}; nothing was changed. Review them "
                "with `collsync diff --mirror`, check the store, or raise --max-deletes."
            )
        self.removals = plan.mode.removals
        self.planned["delete"] += len(plan.deletions)
        work: Iterable[Work] = itertools.chain(plan.collections, plan.deletions, plan.forgotten)
        pool = asyncio.ensure_future(self._pool(work))
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({pool, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not pool.done():  # stopping: what is in flight gets a bounded time to finish
                await asyncio.wait({pool}, timeout=self.stop_grace)
            if not pool.done():
                log.warning("collsync.execute.stop_grace_exceeded", seconds=self.stop_grace)
                pool.cancel()  # answered items are confirmed; open intents cover the rest
                await asyncio.wait({pool})
                return
            pool.result()  # raises what a worker raised
        finally:
            stopped.cancel()
            pool.cancel()

    async def _pool(self, work: Iterable[Work]) -> None:
        queue: asyncio.Queue[Work | None] = asyncio.Queue(maxsize=self.concurrency)
        failed: list[Exception] = []  # a step no record can survive (the state not written)

        async def feed() -> None:
            for item in work:
                if self.stop.is_set() or failed:
                    break  # take no new work
                if isinstance(item, CollectionPlan):
                    tally(self.planned, item)
                await queue.put(item)
            for _ in range(self.concurrency):
                await queue.put(None)

        async def worker() -> None:
            while (item := await queue.get()) is not None:
                if self.stop.is_set() or failed:
                    continue
                try:
                    await self._do(item)
                except Exception as exc:
                    failed.append(exc)

        # A step that fails for every record (the state cannot be written) takes no new work,
        # lets the requests in flight finish (the journal keeps what they leave unknown), and
        # ends the run with its own error. Anything else ends the pool at once.
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(feed())
                for _ in range(self.concurrency):
                    group.create_task(worker())
        except BaseExceptionGroup as group_failed:
            raise group_failed.exceptions[0] from None
        if failed:
            raise failed[0]

    async def _do(self, item: Work) -> None:
        if isinstance(item, CollectionPlan):
            await self._apply(item)
            self.progress.advance("load")
        elif isinstance(item, Operation):
            await self._guarded(item.source_id, item.name, self._delete(item))
        else:
            await self._guarded(item.source_id, None, self._forget(item))

    async def _guarded(self, source_id: str, name: str | None, step: Awaitable[T]) -> T | None:
        """One record's step; a failure is recorded against the record (None) and the run goes
        on."""
        try:
            return await step
        except RecordFailed as exc:
            self.failures.record(
                Failure(source_id, exc.stage, exc.kind, exc.reason, {"name": name})
            )
        except ServiceError as exc:
            self.failures.record(
                Failure(source_id, "load", type(exc).__name__, str(exc), {"name": name})
            )
        return None

    # -- a collection ---------------------------------------------------------------------------

    async def _apply(self, plan: CollectionPlan) -> None:
        desired = plan.desired
        if plan.existing:
            self.failures.record(existing_unmapped(plan))
            return
        try:
            applied = await self._guarded(desired.source_id, desired.name, self._run(plan))
        except _Stopped:
            return  # the journal holds what was sent; the next run plans the rest
        if applied is None:
            return
        self._settle(desired, applied)
        change = applied.plan.change
        if change is None:
            self.done["unchanged"] += 1
        else:
            self.done[change.value] += 1
            self.touched.add(desired.source_id)

    async def _run(self, plan: CollectionPlan) -> Applied:
        desired = plan.desired
        plan = await self._confirm_absence(plan)
        latest: Collection | None = None
        pk = next((op.akinon_pk for op in plan.operations if op.akinon_pk is not None), None)
        for op in plan.operations:
            if self.stop.is_set():
                raise _Stopped
            if op.action in (Action.CREATE, Action.RECREATE):
                latest = await self._create(desired, op)
                pk = latest.pk
            elif op.action is Action.ADOPT:
                self._adopt(desired, op)
            elif op.action is Action.UPDATE:
                latest = await self._update(op)
            elif op.action is Action.REMOVE_ITEM:
                await self._remove_item(op)
        adds = [op for op in plan.operations if op.action is Action.ADD_ITEM]
        confirmed = await self._add_items(desired.source_id, pk, adds) if adds and pk else []
        return Applied(plan, latest, confirmed)

    def _settle(self, desired: DesiredCollection, applied: Applied) -> None:
        """A collection is done: its added items mapped and their intents closed, the content it
        now matches recorded, its earlier failures resolved, in one transaction. One that was in
        step already (a rerun with nothing to do) is not written at all."""
        sid, latest, confirmed = desired.source_id, applied.latest, applied.confirmed
        if applied.plan.unchanged and not confirmed and latest is None:
            entry = self.state.ids.get(sid)
            if (
                entry is not None
                and entry.synced_hash == desired.content_hash
                and not self.state.failures.is_open(sid, "load")
                and not self.state.failures.is_open(sid, "verify")
            ):
                return
        with self.state.transaction():
            self._confirm_items(sid, confirmed)
            self.state.ids.mark_synced(
                sid,
                desired.content_hash,
                slug=latest.slug if latest else None,
                public_url=latest.public_url if latest else None,
                refresh_urls=latest is not None,
            )
            self.failures.resolve(sid, ["load", "verify"])

    def _confirm_items(self, source_id: str, confirmed: list[ItemConfirmation]) -> None:
        stamp = now_iso()  # one commit, one time
        with self.state.transaction():
            for c in confirmed:
                self.state.ids.map_item(source_id, c.product_pk, c.item_pk, c.note)
                self.state.journal.close(c.entry_id, c.outcome, {"pk": c.item_pk}, at=stamp)

    async def _confirm_absence(self, plan: CollectionPlan) -> CollectionPlan:
        """Before re-creating a mapped collection the read-back did not see, ask Akinon: a list
        that moved while it was read can hide one."""
        if plan.change is not Action.RECREATE:
            return plan
        entry = self.state.ids.get(plan.desired.source_id)
        if entry is None:
            return plan
        try:
            existing = actual_of(await self.akinon.get_collection(entry.akinon_pk))
        except NotFoundError:
            return plan  # really gone: create it again
        self.state.readback.replace(existing)
        mapping = Mapping(
            entry.source_id,
            entry.akinon_pk,
            entry.synced_hash,
            frozenset(self.state.ids.items(entry.source_id)),
        )
        return plan_collection(plan.desired, mapping, existing, removals=self.removals)

    def _adopt(self, desired: DesiredCollection, op: Operation) -> None:
        """Map a collection Akinon already has (``--adopt-existing``): nothing is sent, and
        collsync did not create it, so no rollback ever deletes it."""
        assert op.akinon_pk is not None
        holder = self.state.ids.holder(op.akinon_pk)
        if holder is not None and holder != desired.source_id:
            raise RecordFailed(
                "load",
                "conflict",
                f"Akinon pk {op.akinon_pk} ({op.name!r}) is mapped to store collection {holder} "
                "already; check both and run again",
            )
        there = self.state.readback.get(op.akinon_pk)
        self.state.ids.map_collection(
            desired.source_id,
            desired.source_slug,
            pk=op.akinon_pk,
            slug=op.akinon_slug,
            public_url=there.public_url if there else None,
            owner=self.owner,
            created_run=None,
        )
        log.debug(
            "collsync.execute.collection_adopted", source_id=desired.source_id, pk=op.akinon_pk
        )

    async def _create(self, desired: DesiredCollection, op: Operation) -> Collection:
        assert op.name is not None
        assert op.status is not None
        # Two creates of one name never overlap: Akinon's answer lists the account's collections
        # of that name, and the newest must be this one; after a lost answer, so must the one
        # adopted.
        async with self._creating.setdefault(op.name, asyncio.Lock()):
            return await self._create_alone(desired, op, op.name, op.status)

    async def _create_alone(
        self, desired: DesiredCollection, op: Operation, name: str, status: Status
    ) -> Collection:
        sid = desired.source_id
        mapped = self.state.ids.get(sid) if op.action is Action.RECREATE else None
        payload = create_payload(
            name,
            status,
            desired.source_slug,
            existing=self.state.readback.pks_named(name),
            replaces=mapped.akinon_pk if mapped else None,
        )
        for _attempt in range(RESEND_LIMIT):
            entry = self.state.journal.intend(self.run_id, Write.CREATE, sid, payload)
            try:
                created = await self.akinon.create_collection(name, status)
                outcome = Outcome.CONFIRMED
            except OutcomeUnknownError as exc:
                log.warning(
                    "collsync.execute.create_outcome_unknown", source_id=sid, error=str(exc)
                )
                adopted = await self._find_created(entry, sid, name, payload)
                if adopted is None:
                    continue  # nothing there: the intent is closed, send again
                created, outcome = adopted, Outcome.ADOPTED
            except RejectedError as exc:
                self.state.journal.close(entry, Outcome.FAILED, str(exc))
                raise RecordFailed(
                    "load", "rejected", f"Akinon refused to create {op.name!r}: {exc.reason}"
                ) from exc
            self._refuse_taken(entry, sid, created.pk)
            with self.state.transaction():
                self.state.ids.map_collection(
                    sid,
                    desired.source_slug,
                    pk=created.pk,
                    slug=created.slug,
                    public_url=created.public_url,
                    owner=self.owner,
                    created_run=self.run_id,
                )
                self.state.journal.close(entry, outcome, {"pk": created.pk})
                self.state.readback.replace(actual_of(created))
            log.debug(
                "collsync.execute.collection_created",
                source_id=sid,
                akinon_pk=created.pk,
                outcome=outcome.value,
            )
            return created
        raise RecordFailed(
            "load", "unknown_outcome", f"creating {name!r}: no answer after {RESEND_LIMIT} tries"
        )

    def _refuse_taken(self, entry: int, source_id: str, pk: int) -> None:
        """A collection mapped to another store collection is never taken over (its map row
        would go): the create is refused for a person to look at."""
        holder = self.state.ids.holder(pk)
        if holder is not None and holder != source_id:
            self.state.journal.close(entry, Outcome.FAILED, {"pk": pk, "mapped_to": holder})
            raise RecordFailed(
                "load",
                "conflict",
                f"Akinon answered the create with pk {pk}, which is mapped to store collection "
                f"{holder}; check both on Akinon and run again",
            )

    async def _find_created(
        self, entry: int, source_id: str, name: str, payload: dict[str, Any]
    ) -> Collection | None:
        found = [c for c in await self.akinon.list_collections(search=name) if c.name == name]
        mapped = self.state.ids.pks(excluding=source_id) if found else set()
        candidates = adoptable(payload, [c.pk for c in found], mapped)
        if len(candidates) == 1:
            return next(c for c in found if c.pk == candidates[0])
        if not candidates:
            self.state.journal.close(entry, Outcome.ABANDONED)
            return None
        failure = conflict(source_id, name, candidates)
        raise RecordFailed(failure.stage, failure.kind, failure.reason)

    async def _update(self, op: Operation) -> Collection:
        assert op.akinon_pk is not None
        payload = {"akinon_pk": op.akinon_pk, "name": op.name, "status": op.status}
        entry = self.state.journal.intend(self.run_id, Write.UPDATE, op.source_id, payload)
        try:
            updated = await self.akinon.update_collection(
                op.akinon_pk, name=op.name, status=op.status
            )
        except (RejectedError, NotFoundError) as exc:
            self.state.journal.close(entry, Outcome.FAILED, str(exc))
            raise RecordFailed(
                "load", "rejected", f"Akinon refused to update pk {op.akinon_pk}: {exc.reason}"
            ) from exc
        with self.state.transaction():
            self.state.journal.close(entry, Outcome.CONFIRMED, {"pk": updated.pk})
            self.state.readback.replace(actual_of(updated))
        return updated

    async def _remove_item(self, op: Operation) -> None:
        assert op.akinon_pk is not None
        assert op.item_pk is not None
        collection_pk, item_pk = op.akinon_pk, op.item_pk
        payload = {"collection_pk": collection_pk, "item_pk": item_pk, "product_pk": op.product_pk}
        entry, outcome = await self._journaled_delete(
            Write.REMOVE_ITEM,
            op,
            payload,
            send=lambda: self.akinon.remove_item(item_pk),
            still_there=lambda: self._item_there(collection_pk, item_pk),
            what=f"remove item {item_pk}",
        )
        with self.state.transaction():
            if op.product_pk is not None:
                self.state.ids.unmap_item(op.source_id, op.product_pk)
            self.state.readback.remove_item(item_pk)
            self.state.journal.close(entry, outcome)
        self.done["items_removed"] += 1

    async def _journaled_delete(
        self,
        write: Write,
        op: Operation,
        payload: dict[str, Any],
        *,
        send: Callable[[], Awaitable[None]],
        still_there: Callable[[], Awaitable[bool]],
        what: str,
    ) -> tuple[int, Outcome]:
        """A DELETE through the journal: the open intent and its outcome once it is done (the
        caller closes it with what it changes). Gone already is done; a lost answer is settled
        by reading Akinon, and the DELETE is sent again only when the thing is still there."""
        for _attempt in range(RESEND_LIMIT):
            entry = self.state.journal.intend(
                self.run_id, write, op.source_id, payload, product_pk=op.product_pk
            )
            try:
                await send()
            except NotFoundError:
                return entry, Outcome.CONFIRMED  # already gone: the desired state holds
            except OutcomeUnknownError:
                if await still_there():
                    self.state.journal.close(entry, Outcome.ABANDONED)
                    continue
                return entry, Outcome.ADOPTED
            except RejectedError as exc:
                self.state.journal.close(entry, Outcome.FAILED, str(exc))
                raise RecordFailed(
                    "load", "rejected", f"Akinon refused to {what}: {exc.reason}"
                ) from exc
            return entry, Outcome.CONFIRMED
        raise RecordFailed(
            "load", "unknown_outcome", f"{what}: no answer after {RESEND_LIMIT} tries"
        )

    async def _add_items(
        self, source_id: str, collection_pk: int, items: list[Operation]
    ) -> list[ItemConfirmation]:
        """Add a collection's items concurrently, their intents in one commit.

        The confirmations are returned, to be committed with the collection's own (one commit);
        if an item fails, or the run stops, those answered are committed here before it goes up.
        """
        entries = self.state.journal.intend_many(
            self.run_id,
            Write.ADD_ITEM,
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
            self._confirm_items(source_id, confirmed)
            raise
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self._confirm_items(source_id, confirmed)
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
                entry = self.state.journal.intend(
                    self.run_id,
                    Write.ADD_ITEM,
                    source_id,
                    _item_payload(collection_pk, op),
                    product_pk=op.product_pk,
                )
            try:
                item = await self.akinon.add_item(collection_pk, op.product_pk, op.note)
                item_pk, note, outcome = item.pk, item.note or "", Outcome.CONFIRMED
            except (OutcomeUnknownError, RejectedError) as exc:
                # A lost answer, or a refusal (perhaps "already in the collection", in whatever
                # words: Akinon's messages are not documented and may be localised): the
                # collection says whether the product is there.
                present = (await self._items_of(collection_pk)).get(op.product_pk)
                if present is None and isinstance(exc, OutcomeUnknownError):
                    self.state.journal.close(entry, Outcome.ABANDONED)
                    continue
                if present is None:
                    self.state.journal.close(entry, Outcome.FAILED, str(exc))
                    raise RecordFailed(
                        "load",
                        "rejected",
                        f"Akinon refused product {op.product_pk} (sku {op.sku}): {exc.reason}",
                    ) from exc
                item_pk, note = present
                outcome = Outcome.ADOPTED
            confirmed.append(ItemConfirmation(entry, op.product_pk, item_pk, note, outcome))
            self.done["items_added"] += 1
            return
        raise RecordFailed(
            "load",
            "unknown_outcome",
            f"adding product {op.product_pk}: no answer after {RESEND_LIMIT} tries",
        )

    async def _items_of(self, collection_pk: int) -> dict[int, tuple[int, str]]:
        """Product pk -> (item pk, note) of the items Akinon holds in the collection."""
        try:
            collection = await self.akinon.get_collection(collection_pk)
        except NotFoundError:
            return {}
        return {item.product.pk: (item.pk, item.note or "") for item in collection.items}

    async def _item_there(self, collection_pk: int, item_pk: int) -> bool:
        return any(pk == item_pk for pk, _note in (await self._items_of(collection_pk)).values())

    # -- deletions ------------------------------------------------------------------------------

    async def _delete(self, op: Operation) -> None:
        assert op.akinon_pk is not None
        pk = op.akinon_pk
        entry, outcome = await self._journaled_delete(
            Write.DELETE,
            op,
            {"akinon_pk": pk, "name": op.name, "origin": op.origin.value},
            send=lambda: self.akinon.delete_collection(pk),
            still_there=lambda: self._exists(pk),
            what=f"delete pk {pk}",
        )
        with self.state.transaction():
            self.state.ids.unmap(op.source_id)
            self.state.readback.remove(pk)
            self.state.journal.close(entry, outcome)
        self.done["delete"] += 1
        self.deleted[pk] = op.source_id
        log.debug(
            "collsync.execute.collection_deleted",
            source_id=op.source_id,
            slug=op.source_slug,
            akinon_pk=pk,
            origin=op.origin.value,
        )

    async def _exists(self, pk: int) -> bool:
        try:
            await self.akinon.get_collection(pk)
        except NotFoundError:
            return False
        return True

    async def _forget(self, mapping: Mapping) -> None:
        """A collection to delete that the read-back did not see: forgotten once Akinon says it
        is gone; if it is there after all, left for the next run's plan to name."""
        if await self._exists(mapping.akinon_pk):
            log.warning(
                "collsync.execute.not_forgotten",
                source_id=mapping.source_id,
                akinon_pk=mapping.akinon_pk,
                reason="still on Akinon; the next plan deletes it",
            )
            return
        self.state.ids.unmap(mapping.source_id)
        self.done["forgotten"] += 1


def existing_unmapped(plan: CollectionPlan) -> Failure:
    """A store collection never mapped whose name Akinon already has, unmapped: a conflict for
    a person to settle, the rest of the run going on."""
    pks = ", ".join(str(pk) for pk in plan.existing)
    desired = plan.desired
    return Failure(
        desired.source_id,
        "load",
        "exists_unmapped",
        f"Akinon already has {len(plan.existing)} collection(s) named {desired.name!r} (pk "
        f"{pks}) that no store collection is mapped to: `--adopt-existing` maps one to store "
        f"collection {desired.source_slug}, `--allow-duplicates` creates another",
    )


def _item_payload(collection_pk: int, op: Operation) -> dict[str, Any]:
    return {"collection_pk": collection_pk, "product_pk": op.product_pk, "note": op.note}

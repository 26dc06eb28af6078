"""The planner: properties that hold for any store, Akinon and state (hypothesis), and labels."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from collsync.pipeline.models import (
    Action,
    ActualCollection,
    ActualItem,
    Candidate,
    DesiredCollection,
    DesiredItem,
    Mapping,
    Operation,
    Origin,
)
from collsync.pipeline.plan import (
    MIGRATE,
    SYNC_FULL,
    SYNC_MIRROR,
    DeleteGuard,
    Mode,
    Plan,
    plan,
    plan_collection,
    rollback,
)

notes = st.sampled_from(["", "not", "çok güzel"])
item_sets = st.dictionaries(st.integers(1, 40), notes, max_size=8)
names = st.sampled_from(["Yaz", "Kış", "Ev & Yaşam"])
statuses = st.sampled_from(["public", "private"])


def desired_of(
    name: str, status: str, items: dict[int, str], digest: str = "h1", sid: str = "s1"
) -> DesiredCollection:
    return DesiredCollection(
        source_id=sid,
        source_slug=f"slug-{sid}",
        name=name,
        status=status,  # type: ignore[arg-type]
        items=tuple(DesiredItem(pk, note, f"SKU-{pk}") for pk, note in sorted(items.items())),
        content_hash=digest,
    )


def actual_of(name: str, status: str, items: dict[int, str], pk: int = 7) -> ActualCollection:
    return ActualCollection(
        pk=pk,
        name=name,
        slug=f"c-{pk}",
        status=status,
        public_url=None,
        items=tuple(ActualItem(1000 + p, p, note) for p, note in sorted(items.items())),
    )


def mapping(synced: str | None, ours: set[int] | frozenset[int] = frozenset()) -> Mapping:
    return Mapping("s1", 7, synced, frozenset(ours))


def apply(actual: ActualCollection, ops: tuple[Operation, ...]) -> ActualCollection:
    """What Akinon would hold after the operations (the sandbox's semantics, in miniature)."""
    name, status = actual.name, actual.status
    items = {i.product_pk: i.note for i in actual.items}
    for op in ops:
        if op.action is Action.UPDATE:
            name, status = op.name or name, op.status or status
        elif op.action is Action.REMOVE_ITEM:
            assert op.product_pk in items
            del items[op.product_pk]
        elif op.action is Action.ADD_ITEM:
            assert op.product_pk not in items, "would answer 'already in the collection'"
            items[op.product_pk] = op.note
    return actual_of(name, status or "private", items)


@given(names, statuses, item_sets)
def test_the_desired_state_plans_nothing(name: str, status: str, items: dict[int, str]) -> None:
    planned = plan_collection(
        desired_of(name, status, items), mapping("h1", set(items)), actual_of(name, status, items)
    )
    assert planned.unchanged


@given(names, statuses, item_sets, names, statuses, item_sets, st.booleans())
def test_applying_a_collection_plan_reaches_the_desired_state(
    name: str,
    status: str,
    items: dict[int, str],
    old_name: str,
    old_status: str,
    old_items: dict[int, str],
    mirror: bool,
) -> None:
    desired = desired_of(name, status, items, digest="h2")
    actual = actual_of(old_name, old_status, old_items)
    ours = set(old_items)  # collsync added all of them
    removals = "all" if mirror else "ours"
    planned = plan_collection(desired, mapping("h1", ours), actual, removals=removals)
    after = apply(actual, planned.operations)
    assert (after.name, after.status) == (name, status)
    assert {i.product_pk: i.note for i in after.items} == items
    assert plan_collection(desired, mapping("h2", ours), after).unchanged


@given(item_sets, st.randoms())
def test_input_order_does_not_change_the_plan(items: dict[int, str], rnd: object) -> None:
    pairs = list(items.items())
    shuffled = pairs[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    one = plan_collection(
        desired_of("Yaz", "public", dict(pairs)),
        mapping("h0"),
        actual_of("Yaz", "public", dict(reversed(pairs))),
    )
    two = plan_collection(
        desired_of("Yaz", "public", dict(shuffled)),
        mapping("h0"),
        actual_of("Yaz", "public", dict(shuffled)),
    )
    assert one.operations == two.operations


def test_never_mapped_creates_then_adds_every_item() -> None:
    planned = plan_collection(desired_of("Yaz", "public", {1: "", 2: "x"}), None, None)
    assert [op.action for op in planned.operations] == [
        Action.CREATE,
        Action.ADD_ITEM,
        Action.ADD_ITEM,
    ]
    assert {op.origin for op in planned.operations} == {Origin.SOURCE}


def test_mapped_but_deleted_on_akinon_is_recreated_as_drift() -> None:
    planned = plan_collection(desired_of("Yaz", "public", {1: ""}), mapping("h1"), None)
    assert planned.operations[0].action is Action.RECREATE
    assert planned.operations[0].origin is Origin.DRIFT
    assert planned.change is Action.RECREATE


def test_a_rename_on_akinon_with_an_unchanged_source_is_drift() -> None:
    planned = plan_collection(
        desired_of("Yaz", "public", {}),
        mapping("h1"),
        actual_of("Renamed by hand", "public", {}),
    )
    [op] = planned.operations
    assert (op.action, op.origin, op.old_name, op.name) == (
        Action.UPDATE,
        Origin.DRIFT,
        "Renamed by hand",
        "Yaz",
    )


def test_a_source_rename_is_labelled_source() -> None:
    planned = plan_collection(
        desired_of("Yeni", "public", {}, digest="h2"),
        mapping("h1"),
        actual_of("Yaz", "public", {}),
    )
    assert planned.operations[0].origin is Origin.SOURCE


def test_a_changed_note_is_remove_then_add() -> None:
    planned = plan_collection(
        desired_of("Yaz", "public", {1: "yeni"}, digest="h2"),
        mapping("h1", {1}),
        actual_of("Yaz", "public", {1: "eski"}),
    )
    assert [(op.action, op.item_pk) for op in planned.operations] == [
        (Action.REMOVE_ITEM, 1001),
        (Action.ADD_ITEM, None),
    ]


def test_items_the_store_dropped_go_when_collsync_added_them_and_others_only_by_mirror() -> None:
    desired = desired_of("Yaz", "public", {})
    actual = actual_of("Yaz", "public", {4: "ours", 5: "someone else's"})
    [op] = plan_collection(desired, mapping("h1", {4}), actual).operations
    assert (op.action, op.product_pk) == (Action.REMOVE_ITEM, 4)
    mirrored = plan_collection(desired, mapping("h1", {4}), actual, removals="all").operations
    assert [(o.action, o.product_pk) for o in mirrored] == [
        (Action.REMOVE_ITEM, 4),
        (Action.REMOVE_ITEM, 5),
    ]


def test_the_guard_counts_the_plan_deletions_and_names_its_limit() -> None:
    guard = DeleteGuard("2", 2, 40)
    assert guard.refusal(2) is None
    assert guard.refusal(3) == "3 deletions; the guard allows 2 (--max-deletes 2 of 40 mapped)"
    assert DeleteGuard("10", 10, 40, store_empty=True).refusal(0) is not None


# -- the whole plan, over a random world -------------------------------------------------------

ME, OTHER = "me@example.com", "other@example.com"


@dataclass
class Held:
    """An Akinon collection, as the fake service holds it."""

    owner: str
    name: str
    status: str
    items: dict[int, tuple[int, str]]  # product pk -> (item pk, note)


@dataclass
class Mapped:
    pk: int
    synced: str | None
    ours: set[int]
    created_run: int | None


@dataclass
class World:
    """The store, Akinon (two accounts) and collsync's map, and the planner's inputs from them."""

    store: dict[str, DesiredCollection]
    akinon: dict[int, Held]
    ids: dict[str, Mapped]
    next_pk: Iterator[int] = field(default_factory=lambda: itertools.count(500))

    def actual(self, pk: int) -> ActualCollection | None:
        held = self.akinon.get(pk)
        if held is None or held.owner != ME:  # the read-back sees the account's own only
            return None
        items = tuple(ActualItem(i, p, n) for p, (i, n) in sorted(held.items.items()))
        return ActualCollection(pk, held.name, f"c-{pk}", held.status, None, items)

    def mapping(self, sid: str) -> Mapping | None:
        m = self.ids.get(sid)
        if m is None:
            return None
        return Mapping(sid, m.pk, m.synced, frozenset(m.ours), f"slug-{sid}", m.created_run)

    def collections(self) -> Iterator[Candidate]:
        mapped = {m.pk for m in self.ids.values()}
        for sid, desired in sorted(self.store.items()):
            m = self.ids.get(sid)
            namesakes = tuple(
                actual
                for pk, held in sorted(self.akinon.items())
                if held.name == desired.name
                and pk not in mapped
                and (actual := self.actual(pk)) is not None
            )
            rivals = sum(
                1
                for other, d in self.store.items()
                if other != sid and other not in self.ids and d.name == desired.name
            )
            yield Candidate(
                desired,
                self.mapping(sid),
                self.actual(m.pk) if m else None,
                () if m else namesakes,
                rivals if namesakes and not m else 0,
            )

    def deletion_candidates(self, mode: Mode) -> Iterator[tuple[Mapping, ActualCollection | None]]:
        for sid, m in sorted(self.ids.items()):
            gone = mode.deletes == "gone" and sid not in self.store
            created = mode.deletes == "created" and m.created_run is not None
            if gone or (created and (mode.run is None or m.created_run == mode.run)):
                mapped = self.mapping(sid)
                assert mapped is not None
                yield mapped, self.actual(m.pk)

    def execute(self, planned: Plan, run_id: int) -> None:
        """What the executor does with a plan, on the fake service and map."""
        for collection in planned.collections:
            sid = collection.desired.source_id
            pk = next((op.akinon_pk for op in collection.operations if op.akinon_pk), None)
            for op in collection.operations:
                if op.action in (Action.CREATE, Action.RECREATE):
                    pk = next(self.next_pk)
                    self.akinon[pk] = Held(ME, op.name or "", op.status or "private", {})
                    self.ids[sid] = Mapped(pk, None, set(), run_id)
                elif op.action is Action.ADOPT:
                    assert op.akinon_pk is not None
                    assert self.akinon[op.akinon_pk].owner == ME
                    pk = op.akinon_pk
                    self.ids[sid] = Mapped(pk, None, set(), None)
                elif op.action is Action.UPDATE:
                    assert pk is not None
                    held = self.akinon[pk]
                    held.name, held.status = op.name or held.name, op.status or held.status
                elif op.action is Action.REMOVE_ITEM:
                    assert pk is not None
                    assert op.product_pk is not None
                    del self.akinon[pk].items[op.product_pk]
                    self.ids[sid].ours.discard(op.product_pk)
                elif op.action is Action.ADD_ITEM:
                    assert pk is not None
                    assert op.product_pk is not None
                    assert op.product_pk not in self.akinon[pk].items
                    self.akinon[pk].items[op.product_pk] = (next(self.next_pk), op.note)
                    self.ids[sid].ours.add(op.product_pk)
            if sid in self.ids:
                self.ids[sid].synced = collection.desired.content_hash
        for op in planned.deletions:
            assert op.akinon_pk is not None
            del self.akinon[op.akinon_pk]
            del self.ids[op.source_id]
        for gone in planned.forgotten:
            del self.ids[gone.source_id]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    sids = [f"s{n}" for n in range(draw(st.integers(0, 6)))]
    store = {
        sid: desired_of(
            draw(names), draw(statuses), draw(item_sets), draw(st.sampled_from(["h1", "h2"])), sid
        )
        for sid in sids
        if draw(st.booleans()) or sid == "s0"
    }
    akinon: dict[int, Held] = {}
    for pk in range(1, draw(st.integers(0, 8)) + 1):
        items = {p: (2000 + 50 * pk + p, n) for p, n in draw(item_sets).items()}
        owner = draw(st.sampled_from([ME, ME, OTHER]))
        akinon[pk] = Held(owner, draw(names), draw(statuses), items)
    ids: dict[str, Mapped] = {}
    taken: set[int] = set()
    for sid in sids:
        if not draw(st.booleans()):
            continue
        pk = draw(st.integers(1, 10))  # 9 and 10 never exist: deleted on Akinon since
        if pk in taken:
            continue
        taken.add(pk)
        held = akinon.get(pk)
        ours = set(
            draw(st.sets(st.sampled_from(sorted(held.items)))) if held and held.items else set()
        )
        ids[sid] = Mapped(
            pk, draw(st.sampled_from([None, "h1", "h2"])), ours, draw(st.sampled_from([None, 1, 2]))
        )
    return World(store, akinon, ids)


modes = st.sampled_from(
    [
        MIGRATE,
        MIGRATE.taking("adopt"),
        MIGRATE.taking("duplicate"),
        SYNC_FULL,
        SYNC_MIRROR,
        SYNC_MIRROR.taking("adopt"),
        rollback(),
        rollback(1),
    ]
)


def materialised(planned: Plan) -> Plan:
    return Plan(planned.mode, planned.deletions, planned.forgotten, list(planned.collections))


@settings(max_examples=300)
@given(worlds(), modes)
def test_executing_a_plan_then_planning_again_leaves_nothing(world: World, mode: Mode) -> None:
    mapped_before = {sid: m.pk for sid, m in world.ids.items()}
    owners_before = {pk: held.owner for pk, held in world.akinon.items()}
    first = materialised(plan(mode, world))
    for op in first.deletions:  # only what collsync mapped, only in the account
        assert mapped_before.get(op.source_id) == op.akinon_pk
        assert owners_before[op.akinon_pk] == ME
    for collection in first.collections:
        for op in collection.operations:
            if op.akinon_pk is not None:
                assert owners_before[op.akinon_pk] == ME, "another user's collection touched"
    if mode.deletes == "created":
        assert all(world.ids[op.source_id].created_run is not None for op in first.deletions)
    world.execute(first, run_id=3)
    assert {pk for pk, held in world.akinon.items() if held.owner == OTHER} == {
        pk for pk, owner in owners_before.items() if owner == OTHER
    }
    again = materialised(plan(mode, world))
    assert again.deletions == ()
    assert again.forgotten == ()
    # what is left is only what a person must settle: never-mapped namesakes, not adopted
    assert all(not c.operations for c in again.collections)
    if mode.existing == "duplicate":
        assert all(c.unchanged for c in again.collections)
    if mode.existing == "adopt":  # what stays is ambiguous: several on either side
        for c in again.collections:
            assert (
                not c.existing
                or len(c.existing) > 1
                or sum(d.name == c.desired.name for d in world.store.values()) > 1
            )

"""Plan: properties that hold for any desired and actual state (hypothesis), and the labels."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collsync.pipeline.models import (
    Action,
    ActualCollection,
    ActualItem,
    DesiredCollection,
    DesiredItem,
    Mapping,
    Operation,
    Origin,
)
from collsync.pipeline.plan import plan_collection

notes = st.sampled_from(["", "not", "çok güzel"])
item_sets = st.dictionaries(st.integers(1, 40), notes, max_size=8)
names = st.sampled_from(["Yaz", "Kış", "Ev & Yaşam"])
statuses = st.sampled_from(["public", "private"])


def desired_of(
    name: str, status: str, items: dict[int, str], digest: str = "h1"
) -> DesiredCollection:
    return DesiredCollection(
        source_id="s1",
        source_slug="s",
        name=name,
        status=status,  # type: ignore[arg-type]
        items=tuple(DesiredItem(pk, note, f"SKU-{pk}") for pk, note in sorted(items.items())),
        content_hash=digest,
    )


def actual_of(name: str, status: str, items: dict[int, str]) -> ActualCollection:
    return ActualCollection(
        pk=7,
        name=name,
        slug="s-x",
        status=status,
        public_url=None,
        items=tuple(ActualItem(1000 + pk, pk, note) for pk, note in sorted(items.items())),
    )


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
    plan = plan_collection(
        desired_of(name, status, items),
        Mapping(7, "h1", {pk: (1000 + pk, n) for pk, n in items.items()}),
        actual_of(name, status, items),
    )
    assert plan.unchanged


@given(names, statuses, item_sets, names, statuses, item_sets, st.booleans())
def test_applying_a_plan_reaches_the_desired_state(
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
    ours = {pk: (1000 + pk, n) for pk, n in old_items.items()}  # collsync added all of them
    plan = plan_collection(desired, Mapping(7, "h1", ours), actual, mirror=mirror)
    after = apply(actual, plan.operations)
    assert (after.name, after.status) == (name, status)
    assert {i.product_pk: i.note for i in after.items} == items
    assert plan_collection(desired, Mapping(7, "h2", ours), after).unchanged


@given(item_sets, st.randoms())
def test_input_order_does_not_change_the_plan(items: dict[int, str], rnd: object) -> None:
    pairs = list(items.items())
    shuffled = pairs[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    one = plan_collection(
        desired_of("Yaz", "public", dict(pairs)),
        Mapping(7, "h0"),
        actual_of("Yaz", "public", dict(reversed(pairs))),
    )
    two = plan_collection(
        desired_of("Yaz", "public", dict(shuffled)),
        Mapping(7, "h0"),
        actual_of("Yaz", "public", dict(shuffled)),
    )
    assert one.operations == two.operations


def test_never_mapped_creates_then_adds_every_item() -> None:
    plan = plan_collection(desired_of("Yaz", "public", {1: "", 2: "x"}), None, None)
    assert [op.action for op in plan.operations] == [
        Action.CREATE,
        Action.ADD_ITEM,
        Action.ADD_ITEM,
    ]
    assert {op.origin for op in plan.operations} == {Origin.SOURCE}


def test_mapped_but_deleted_on_akinon_is_recreated_as_drift() -> None:
    plan = plan_collection(desired_of("Yaz", "public", {1: ""}), Mapping(7, "h1"), None)
    assert plan.operations[0].action is Action.CREATE
    assert plan.operations[0].origin is Origin.DRIFT


def test_a_rename_on_akinon_with_an_unchanged_source_is_drift() -> None:
    plan = plan_collection(
        desired_of("Yaz", "public", {}),
        Mapping(7, "h1"),
        actual_of("Renamed by hand", "public", {}),
    )
    [op] = plan.operations
    assert (op.action, op.origin, op.old_name, op.name) == (
        Action.UPDATE,
        Origin.DRIFT,
        "Renamed by hand",
        "Yaz",
    )


def test_a_source_rename_is_labelled_source() -> None:
    plan = plan_collection(
        desired_of("Yeni", "public", {}, digest="h2"),
        Mapping(7, "h1"),
        actual_of("Yaz", "public", {}),
    )
    assert plan.operations[0].origin is Origin.SOURCE


def test_a_changed_note_is_remove_then_add() -> None:
    plan = plan_collection(
        desired_of("Yaz", "public", {1: "yeni"}, digest="h2"),
        Mapping(7, "h1", {1: (1001, "eski")}),
        actual_of("Yaz", "public", {1: "eski"}),
    )
    assert [(op.action, op.item_pk) for op in plan.operations] == [
        (Action.REMOVE_ITEM, 1001),
        (Action.ADD_ITEM, None),
    ]


def test_items_someone_else_added_stay_unless_mirroring() -> None:
    desired, actual = desired_of("Yaz", "public", {}), actual_of("Yaz", "public", {5: "mine"})
    assert plan_collection(desired, Mapping(7, "h1"), actual).unchanged
    [op] = plan_collection(desired, Mapping(7, "h1"), actual, mirror=True).operations
    assert op.action is Action.REMOVE_ITEM

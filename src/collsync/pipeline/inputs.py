"""What the planner reads, from the state: each staged collection transformed into its desired
shape, with what collsync mapped for it and what Akinon holds; and the mapped collections a
mode may delete.

A staged collection that cannot be transformed, and an item with no Akinon product, are
recorded as failures here and left out of the plan; everything else in the record is used.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from collsync.errors import TransformError
from collsync.pipeline.models import Candidate, Failure, Mapping
from collsync.pipeline.transform import transform

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from collsync.config import Config
    from collsync.pipeline.failure_log import FailureLog
    from collsync.pipeline.models import ActualCollection, DesiredCollection, SourceItem
    from collsync.pipeline.plan import Mode
    from collsync.state import MapEntry, StagedCollection, StagedItem, State


def mapping_of(state: State, entry: MapEntry) -> Mapping:
    return Mapping(
        source_id=entry.source_id,
        akinon_pk=entry.akinon_pk,
        synced_hash=entry.synced_hash,
        items=frozenset(state.ids.items(entry.source_id)),
        source_slug=entry.source_slug,
        created_run=entry.created_run,
    )


def mapped(state: State, source_id: str) -> Mapping | None:
    entry = state.ids.get(source_id)
    return None if entry is None else mapping_of(state, entry)


def actual(state: State, source_id: str) -> ActualCollection | None:
    entry = state.ids.get(source_id)
    return None if entry is None else state.readback.get(entry.akinon_pk)


@dataclass
class StateInputs:
    """:class:`~collsync.pipeline.plan.PlanInputs` read from the state of one run."""

    state: State
    config: Config
    failures: FailureLog
    generation: int
    limit: int | None = None
    blocked: frozenset[str] = frozenset()
    """Records with an intent that could not be resolved: not planned until it is."""
    dropped_fields: dict[str, int] = field(default_factory=dict)
    """Filled while :meth:`collections` is read: source field -> collections that have it."""

    def __post_init__(self) -> None:
        self._rules = self.config.transform
        self._by_identity = self.config.products.resolve == "identity"
        self._uncertain: frozenset[str] | None = None  # known once the store has been read
        self._names: Counter[str] | None = None

    def collections(self) -> Iterator[Candidate]:
        """Transform every staged collection, one at a time (memory stays flat)."""
        for staged in self.state.staging.valid(self.generation, self.limit):
            sid = staged.source_id
            if sid in self.blocked:
                continue
            try:
                desired = self._transform(staged)
            except TransformError as exc:
                self.failures.record(
                    Failure(
                        sid,
                        "transform",
                        "invalid_collection",
                        f"collection {sid} ({staged.raw.get('slug')}): {exc}",
                        raw=staged.raw,
                    )
                )
                continue
            for name in desired.dropped_fields:
                self.dropped_fields[name] = self.dropped_fields.get(name, 0) + 1
            for problem in desired.item_problems:
                self.failures.record(
                    Failure(
                        f"{sid}/{problem.sku}",
                        "transform",
                        "unresolved_product",
                        f"collection {desired.source_slug}: {problem.reason}",
                        raw={"collection": sid, "sku": problem.sku},
                    )
                )
            mapping = mapped(self.state, sid)
            namesakes = () if mapping is not None else self.namesakes(desired.name)
            rivals = self._unmapped_names()[desired.name] - 1 if namesakes else 0
            yield Candidate(desired, mapping, actual(self.state, sid), namesakes, rivals)

    def _unmapped_names(self) -> Counter[str]:
        """How many never-mapped store collections bear each name (read once, when a clash
        first asks)."""
        if self._names is None:
            self._names = Counter()
            for staged in self.state.staging.valid(self.generation, self.limit):
                if staged.source_id in self.blocked or self.state.ids.get(staged.source_id):
                    continue
                with contextlib.suppress(TransformError):
                    self._names[self._transform(staged).name] += 1
        return self._names

    def namesakes(self, name: str) -> tuple[ActualCollection, ...]:
        """The account's collections named ``name`` that no store collection is mapped to."""
        return tuple(
            collection
            for pk in self.state.readback.pks_named(name)
            if self.state.ids.holder(pk) is None
            and (collection := self.state.readback.get(pk)) is not None
        )

    def clashes(self) -> list[str]:
        """Names of the store collections never mapped that Akinon already has, unmapped: what a
        run with a new (or lost) state would create a second time. Nothing is recorded."""
        names = []
        for staged in self.state.staging.valid(self.generation, self.limit):
            if staged.source_id in self.blocked or self.state.ids.get(staged.source_id):
                continue
            try:
                name = self._transform(staged).name
            except TransformError:
                continue
            if self.namesakes(name):
                names.append(name)
        return names

    def desired_of(self, source_id: str) -> DesiredCollection | None:
        """One staged collection's desired shape again (None if it no longer transforms)."""
        staged = self.state.staging.get(source_id, self.generation)
        if staged is None:
            return None
        try:
            return self._transform(staged)
        except TransformError:
            return None

    def _transform(self, staged: StagedCollection) -> DesiredCollection:
        members = self.state.staging.items_of(staged.source_id, self.generation)
        resolver = _by_identity if self._by_identity else _by_sku(members)
        desired = transform(staged.raw, [m.item for m in members], self._rules, resolver)
        if self._uncertain is None:
            self._uncertain = self._malformed_product_skus()
        if not self._uncertain:
            return desired
        return dataclasses.replace(desired, uncertain_skus=desired.uncertain_skus | self._uncertain)

    def _malformed_product_skus(self) -> frozenset[str]:
        """SKUs of the product records the store sent malformed in this run: which collections
        list them is not known, so no collection loses their items."""
        return frozenset(
            f.raw["sku"]
            for f in self.failures.records(["extract.products"])
            if isinstance(f.raw, dict) and isinstance(f.raw.get("sku"), str)
        )

    def deletion_candidates(self, mode: Mode) -> Iterator[tuple[Mapping, ActualCollection | None]]:
        if mode.deletes == "gone":
            entries = self.state.ids.not_staged(self.generation)
        elif mode.deletes == "created":
            entries = self.state.ids.created(mode.run)
        else:
            return
        for entry in entries:
            if entry.source_id not in self.blocked:
                yield mapping_of(self.state, entry), self.state.readback.get(entry.akinon_pk)


def _by_sku(members: list[StagedItem]) -> Callable[[SourceItem], int | None]:
    """``products.resolve = "sku-map"``: the product the SKU map gives, read with the items."""
    pks = {m.item.sku: m.product_pk for m in members}
    return lambda item: pks.get(item.sku)


def _by_identity(item: SourceItem) -> int | None:
    """``products.resolve = "identity"``: the store's product id is the Akinon product's."""
    value = item.product_id or ""
    return int(value) if value.isdigit() else None

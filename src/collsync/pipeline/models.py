"""Frozen values passed between the pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collsync.values import Status


@dataclass(frozen=True, slots=True)
class SourceItem:
    """A product of a source collection, as staged (``product_id`` is the store's id)."""

    sku: str
    product_id: str | None = None
    name: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class DesiredItem:
    product_pk: int
    note: str
    sku: str


@dataclass(frozen=True, slots=True)
class ItemProblem:
    """A source item that cannot be carried over (no Akinon product for it)."""

    sku: str
    reason: str


@dataclass(frozen=True, slots=True)
class DesiredCollection:
    """What one source collection should look like on Akinon."""

    source_id: str
    source_slug: str
    name: str
    status: Status
    items: tuple[DesiredItem, ...]
    content_hash: str
    dropped_fields: tuple[str, ...] = ()
    item_problems: tuple[ItemProblem, ...] = ()
    uncertain_skus: frozenset[str] = frozenset()
    """SKUs the store may list in the collection whose Akinon product is not known this run
    (unresolved, or on a product record the store sent malformed): their items are kept."""


@dataclass(frozen=True, slots=True)
class ActualItem:
    item_pk: int
    product_pk: int
    note: str
    sku: str | None = None


@dataclass(frozen=True, slots=True)
class ActualCollection:
    """An Akinon collection as read back."""

    pk: int
    name: str
    slug: str | None
    status: str | None
    public_url: str | None
    items: tuple[ActualItem, ...] = ()


@dataclass(frozen=True, slots=True)
class Mapping:
    """What collsync recorded for a source collection: its Akinon collection, and its items."""

    source_id: str
    akinon_pk: int
    synced_hash: str | None = None
    """The source content Akinon last matched (None: its load never finished)."""
    items: frozenset[int] = frozenset()
    """Product pks of the items collsync added."""
    source_slug: str | None = None
    created_run: int | None = None
    """The run that created the Akinon collection; None when collsync did not create it."""


class Action(StrEnum):
    CREATE = "create"
    """A collection never migrated."""
    ADOPT = "adopt"
    """A collection never mapped, but one of that name is on Akinon already: it is mapped."""
    RECREATE = "recreate"
    """A mapped collection deleted on Akinon since: created again."""
    UPDATE = "update"
    ADD_ITEM = "add_item"
    REMOVE_ITEM = "remove_item"
    DELETE = "delete"


class Origin(StrEnum):
    SOURCE = "source"
    """The store changed (or the collection was never migrated)."""
    DRIFT = "drift"
    """Akinon was changed outside collsync."""
    ROLLBACK = "rollback"
    """Undoing what collsync created (``collsync rollback``)."""


@dataclass(frozen=True, slots=True)
class Operation:
    action: Action
    source_id: str
    origin: Origin
    akinon_pk: int | None = None
    name: str | None = None
    status: Status | None = None
    old_name: str | None = None
    old_status: str | None = None
    product_pk: int | None = None
    sku: str | None = None
    note: str = ""
    item_pk: int | None = None
    source_slug: str | None = None
    """A delete: the store slug the collection was migrated from."""
    akinon_slug: str | None = None
    """A delete: the Akinon slug of the collection."""
    item_count: int | None = None
    """A delete: how many items the collection holds."""


@dataclass(frozen=True, slots=True)
class CollectionPlan:
    """The operations for one source collection; none means it is already as desired (or, with
    ``existing``, that it cannot be planned until a person says how)."""

    desired: DesiredCollection
    operations: tuple[Operation, ...]
    existing: tuple[int, ...] = ()
    """Never mapped, and Akinon already has collections of its name that no store collection is
    mapped to (pks): neither created nor adopted, but reported (``--adopt-existing`` maps it,
    ``--allow-duplicates`` creates it anyway)."""

    @property
    def unchanged(self) -> bool:
        return not self.operations and not self.existing

    @property
    def change(self) -> Action | None:
        """What happens to the collection as a whole: create, adopt, recreate, update, or
        nothing."""
        if not self.operations:
            return None
        first = self.operations[0].action
        if first in (Action.CREATE, Action.RECREATE, Action.ADOPT):
            return first
        return Action.UPDATE

    def count(self, action: Action) -> int:
        return sum(op.action is action for op in self.operations)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A store collection as the planner sees it: what it should be, what collsync mapped for
    it, what Akinon holds there, and (never mapped) the unmapped Akinon collections of its
    name."""

    desired: DesiredCollection
    mapping: Mapping | None
    actual: ActualCollection | None
    namesakes: tuple[ActualCollection, ...] = ()
    rivals: int = 0
    """With namesakes: the other never-mapped store collections of the same name (adopting one
    Akinon collection for several store collections would be a guess)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A record (or an entry of one) that did not make it, and why."""

    record_id: str
    stage: str
    """``extract``, ``extract.products``, ``transform``, ``load``, ``verify``..."""
    kind: str
    reason: str
    raw: Any = None

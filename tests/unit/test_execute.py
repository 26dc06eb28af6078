"""The executor on its own, against a fake Akinon: stopping, and a worker's failure."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from collsync.pipeline.execute import Executor
from collsync.pipeline.extract import NoProgress
from collsync.pipeline.failure_log import FailureLog
from collsync.pipeline.models import DesiredCollection, DesiredItem
from collsync.pipeline.plan import MIGRATE, Plan, plan_collection
from collsync.state import State, Write
from collsync.target import Collection


class HangingAkinon:
    """Creates at once; every add-item waits for ever (a service that stopped answering)."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.sent: list[str] = []

    async def create_collection(self, name: str, status: str = "private") -> Collection:
        self.sent.append(f"create {name}")
        return Collection(pk=len(self.sent), name=name, slug=name.lower(), status="public")

    async def add_item(self, collection_pk: int, product_pk: int, note: str = "") -> Any:
        self.sent.append(f"add {product_pk}")
        self.stop.set()  # SIGTERM arrives while items are in flight
        await asyncio.Event().wait()


def collection(n: int) -> DesiredCollection:
    items = tuple(DesiredItem(100 * n + i, "", f"SKU-{n}-{i}") for i in range(3))
    return DesiredCollection(f"s{n}", f"slug-{n}", f"Koleksiyon {n}", "public", items, f"h{n}")


def executor(state: State, akinon: Any, stop: asyncio.Event) -> Executor:
    return Executor(
        akinon,
        state,
        FailureLog(state, 1, preview=False),
        run_id=1,
        owner=None,
        concurrency=1,
        stop=stop,
        progress=NoProgress(),
        stop_grace=0.0,
    )


async def test_a_stop_takes_no_new_work_and_in_flight_work_gets_only_its_grace(
    tmp_path: Path,
) -> None:
    state = State.open(tmp_path / "state.db")
    stop = asyncio.Event()
    akinon = HangingAkinon(stop)
    plans = [plan_collection(collection(n), None, None) for n in (1, 2)]
    await executor(state, akinon, stop).execute(Plan(MIGRATE, (), (), plans))
    # the first collection was created and its items sent; the second was never started
    assert akinon.sent == ["create Koleksiyon 1", "add 100", "add 101", "add 102"]
    entry = state.ids.get("s1")
    assert entry is not None
    assert entry.synced_hash is None  # not settled: the next run plans what is left
    assert {e.operation for e in state.journal.open_intents()} == {Write.ADD_ITEM}
    state.close()


async def test_a_state_that_cannot_be_written_ends_the_run_with_its_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = State.open(tmp_path / "state.db")

    def locked(*args: Any, **kwargs: Any) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(state.journal, "intend", locked)
    plans = [plan_collection(collection(n), None, None) for n in range(1, 6)]
    stop = asyncio.Event()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        await executor(state, HangingAkinon(stop), stop).execute(Plan(MIGRATE, (), (), plans))
    state.close()

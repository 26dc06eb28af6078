"""The state file: versioned schema, the run lock, atomic journal confirmations."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from collsync.errors import ConfigError, LockHeldError
from collsync.pipeline.execute import Applied, Executor, ItemConfirmation
from collsync.pipeline.extract import NoProgress
from collsync.pipeline.failure_log import FailureLog
from collsync.pipeline.models import (
    ActualCollection,
    ActualItem,
    CollectionPlan,
    DesiredCollection,
    Failure,
)
from collsync.state import SCHEMA_VERSION, Outcome, State, Write, run_lock
from collsync.state.schema import MIGRATIONS
from collsync.target import Collection


def raw(state: State) -> sqlite3.Connection:
    return state.database.conn


def test_a_new_file_gets_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    state = State.open(tmp_path / "sub" / "state.db")
    assert raw(state).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw(state).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    state.close()
    State.open(tmp_path / "sub" / "state.db").close()  # opening again migrates nothing


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    raw(state).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    state.close()
    with pytest.raises(ConfigError, match="written by a newer collsync"):
        State.open(tmp_path / "state.db")


def test_a_first_version_state_learns_which_run_created_each_collection(tmp_path: Path) -> None:
    """A state written before rollback existed: the journal tells which run created what."""
    import sqlite_utils

    conn = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    MIGRATIONS[0](sqlite_utils.Database(conn))
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO journal (run_id, operation, source_id, payload, state, created_at, result)"
        " VALUES (4, 'create', 's1', '{}', 'confirmed', 'now', '{\"pk\": 5}')"
    )
    conn.execute(
        "INSERT INTO collection_map (source_id, akinon_pk, updated_at) VALUES ('s1', 5, 'now')"
    )
    conn.execute(
        "INSERT INTO collection_map (source_id, akinon_pk, updated_at) VALUES ('s2', 6, 'now')"
    )
    conn.close()
    state = State.open(tmp_path / "state.db")
    assert [e.source_id for e in state.ids.created(4)] == ["s1"]
    entry = state.ids.get("s2")
    assert entry is not None
    assert entry.created_run is None
    state.close()


def test_the_lock_is_held_by_the_os_and_freed_when_its_holder_dies(tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from collsync.state import run_lock\n"
            "with run_lock(Path(sys.argv[1]), 'sync'):\n"
            "    print('held', flush=True); time.sleep(30)",
            str(state_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    with (
        pytest.raises(LockHeldError, match=rf"collsync sync` \(pid {holder.pid} on .*, since "),
        run_lock(state_path, "migrate"),
    ):
        pass
    holder.kill()  # as SIGKILL or an OOM kill would: nothing of it runs again
    holder.wait()
    with run_lock(state_path, "migrate"):
        assert json.loads((tmp_path / "state.db.lock").read_text())["pid"] == os.getpid()


def _map(state: State, source_id: str = "s1", pk: int = 5) -> None:
    state.ids.map_collection(
        source_id, "yaz", pk=pk, slug="yaz-1", public_url=None, owner=None, created_run=1
    )


def test_a_confirmation_is_all_or_nothing(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    entry = state.journal.intend(1, Write.CREATE, "s1", {"name": "Yaz"})

    def crash_between_the_writes() -> None:
        with state.transaction():
            _map(state)
            raise RuntimeError("crash between the two writes")

    with pytest.raises(RuntimeError):
        crash_between_the_writes()
    assert state.ids.get("s1") is None
    assert [e.id for e in state.journal.open_intents()] == [entry]
    state.close()


def test_a_write_joins_the_transaction_it_is_called_in(tmp_path: Path) -> None:
    """Nested writes commit with the outer transaction; one that fails inside and is caught
    leaves the rest of the transaction to commit."""
    state = State.open(tmp_path / "state.db")
    statements: list[str] = []
    raw(state).set_trace_callback(statements.append)
    with state.transaction():
        _map(state, "s1", 5)
        with pytest.raises(sqlite3.IntegrityError):  # this one write is undone alone
            state.failures.record(Failure("s2", None, "kind", "reason"), 1)  # type: ignore[arg-type]
        state.journal.intend(1, Write.CREATE, "s1", {"name": "Yaz"})
    raw(state).set_trace_callback(None)
    assert statements.count("COMMIT") == 1
    assert state.ids.get("s1") is not None
    assert state.failures.listed() == []
    assert len(state.journal.open_intents()) == 1
    state.close()


def test_failures_are_counted_and_resolved(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    state.failures.record(Failure("r1", "load", "rejected", "first"), 1)
    state.failures.record(Failure("r1", "load", "rejected", "second"), 2)
    [failure] = state.failures.listed()
    assert (failure.attempts, failure.reason) == (2, "second")
    state.failures.resolve("r1", ["load"])
    assert state.failures.listed() == []
    state.close()


def test_an_acknowledgement_holds_until_the_failure_changes(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    sku = Failure("c1/SKU-9", "transform", "unresolved_product", "no product", raw={"sku": "9"})
    state.failures.record(sku, 1)
    state.failures.record(Failure("c2", "load", "rejected", "400"), 1)
    assert state.failures.acknowledge(records=["c1"], reason="not sold") == 1  # c1's entries
    assert (state.failures.count_open(), state.failures.count_acknowledged()) == (1, 1)
    assert state.failures.due() == ["c2"]  # an acknowledged one is not tried again
    state.failures.record(sku, 2)  # the same failure again: still accepted
    assert state.failures.count_open(2) == 0
    state.failures.record(Failure("c1/SKU-9", "transform", "unresolved_product", "other"), 3)
    assert state.failures.count_open(3) == 1  # it changed: news again
    assert state.failures.acknowledge(kind="rejected") == 1
    assert state.failures.count_acknowledged() == 1
    state.close()


def _executor(state: State) -> Executor:
    """An executor whose settling is tested without a service (settling sends nothing)."""
    return Executor(
        None,  # type: ignore[arg-type]
        state,
        FailureLog(state, 2, preview=False),
        run_id=2,
        owner=None,
        concurrency=1,
        stop=asyncio.Event(),
        progress=NoProgress(),
    )


def _desired(content_hash: str) -> DesiredCollection:
    return DesiredCollection("s1", "yaz", "Yaz", "public", (), content_hash)


def _settle(state: State, content_hash: str, *, latest: Collection | None = None) -> None:
    desired = _desired(content_hash)
    _executor(state)._settle(desired, Applied(CollectionPlan(desired, ()), latest, []))


def _settle_with_one_item(
    state: State, content_hash: str, statements: list[str] | None = None
) -> None:
    """Settle ``s1`` with product 77 added (item 901); its intent must close. ``statements``
    collects the SQL of the settling alone."""
    [entry] = state.journal.intend_many(2, Write.ADD_ITEM, "s1", [({"product_pk": 77}, 77)])
    if statements is not None:
        raw(state).set_trace_callback(statements.append)
    desired = _desired(content_hash)
    confirmed = [ItemConfirmation(entry, 77, 901, "", Outcome.CONFIRMED)]
    _executor(state)._settle(desired, Applied(CollectionPlan(desired, ()), None, confirmed))
    raw(state).set_trace_callback(None)
    assert {p: (i.item_pk, i.note) for p, i in state.ids.items("s1").items()} == {77: (901, "")}
    assert state.journal.open_intents() == []


def test_a_settled_collection_has_its_items_hash_and_failures_in_one_commit(
    tmp_path: Path,
) -> None:
    state = State.open(tmp_path / "state.db")
    _map(state)
    state.failures.record(Failure("s1", "load", "ThrottledError", "throttled (429)"), 1)
    statements: list[str] = []
    _settle_with_one_item(state, "hash-2", statements)
    mapped = state.ids.get("s1")
    assert mapped is not None
    assert mapped.synced_hash == "hash-2"
    assert statements.count("COMMIT") == 1
    assert state.failures.listed() == []
    state.close()


def test_a_collection_already_in_step_is_not_written_again(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    _map(state)
    _settle(state, "hash-1")
    written = raw(state).total_changes
    _settle(state, "hash-1")  # a no-op rerun
    assert raw(state).total_changes == written
    # ...unless it has a load failure left to resolve
    state.failures.record(Failure("s1", "load", "ThrottledError", "throttled (429)"), 1)
    _settle(state, "hash-1")
    assert state.failures.listed() == []
    state.close()


def test_an_in_step_collection_still_records_what_was_done_to_it(tmp_path: Path) -> None:
    """Same content, but items re-added after drift, or a slug Akinon changed: written."""
    state = State.open(tmp_path / "state.db")
    _map(state)
    _settle(state, "hash-1")
    _settle_with_one_item(state, "hash-1")
    renamed = Collection(
        pk=5,
        name="Yaz",
        slug="yaz-2",
        status="public",
        public_url="/wishlists/user-collection/yaz-2/",
    )
    _settle(state, "hash-1", latest=renamed)
    mapped = state.ids.get("s1")
    assert mapped is not None
    assert (mapped.akinon_slug, mapped.public_url) == ("yaz-2", renamed.public_url)
    state.close()


def test_a_refusal_text_utf8_cannot_hold_still_closes_its_intent(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    entry = state.journal.intend(1, Write.CREATE, "s1", {"name": "Yaz"})
    # "\ud800" can arrive as an escape in a JSON answer
    state.journal.close(entry, Outcome.FAILED, "name: bad \ud800 text")
    assert state.journal.open_intents() == []
    state.close()


def test_a_failure_about_text_utf8_cannot_hold_is_recorded_escaped(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    record = {"id": "x\ud800", "name": "Bozuk \udfff"}  # decoded from JSON escapes
    state.failures.record(
        Failure("x\ud800", "extract", "invalid_record", "name: \udfff here", raw=record), None
    )
    [failure] = state.failures.listed()
    assert failure.record_id == "x\\ud800"
    assert failure.reason == "name: \\udfff here"
    assert failure.raw is not None
    assert json.loads(failure.raw) == record  # the raw JSON keeps the escape: nothing is lost
    state.close()


def test_an_akinon_name_utf8_cannot_hold_is_kept_escaped(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.db")
    listed = ActualCollection(
        pk=3,
        name="Yaz \ud800",
        slug="yaz",
        status="private",
        public_url=None,
        items=(ActualItem(9, 77, "not \udc00", "SKU-\ud800"),),
    )
    state.readback.replace(listed)
    assert state.readback.get(3) == ActualCollection(
        pk=3,
        name="Yaz \\ud800",
        slug="yaz",
        status="private",
        public_url=None,
        items=(ActualItem(9, 77, "not \\udc00", "SKU-\\ud800"),),
    )
    state.close()
